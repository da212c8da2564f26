//! The native face's part of `/openapi.json`: every route under the tag
//! `native`, each with its success and every problem it can answer, as
//! `application/problem+json` of the [`ProblemBody`] schema.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, OpenApi, OpenApiBuilder, Ref};
use utoipa::{PartialSchema, ToSchema};

use super::problem::{KINDS, ProblemBody};

/// `(method, path, summary, success status, what succeeds, problems beyond
/// the shared ones, authenticated)`.
type Route = (
    HttpMethod,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
);

const ROUTES: &[Route] = &[
    (
        HttpMethod::Post,
        "/lk/v1/sessions",
        "Log in (username, password)",
        "201",
        "{token, expires_at}",
        &["validation", "unauthenticated", "rate-limited"],
        false,
    ),
    (
        HttpMethod::Delete,
        "/lk/v1/sessions/current",
        "Log out (a session token only)",
        "204",
        "Revoked",
        &["forbidden"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/keys",
        "Create an API key (session token only), shown once",
        "201",
        "{id, key, created_at}",
        &["forbidden"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/keys",
        "The caller's API keys (never their secrets)",
        "200",
        "{items: [{id, created_at}], next_cursor}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Delete,
        "/lk/v1/keys/{id}",
        "Revoke one of the caller's API keys",
        "204",
        "Revoked",
        &["not-found"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/me",
        "The caller: account, role, credential kind, limits",
        "200",
        "The caller",
        &[],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/accounts",
        "The caller's downline (parent, direct, reseller, q; limit, cursor)",
        "200",
        "{items, next_cursor}",
        &["validation", "forbidden"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/accounts",
        "Create an account directly beneath the caller",
        "201",
        "The account",
        &["validation", "forbidden"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/accounts/{id}",
        "An account of the downline with its visible ancestors",
        "200",
        "The account with `ancestors`",
        &["not-found", "forbidden"],
        true,
    ),
    (
        HttpMethod::Patch,
        "/lk/v1/accounts/{id}",
        "Rename, suspend or resume (name, status)",
        "200",
        "The account",
        &["validation", "not-found", "forbidden"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/numbers",
        "What the caller holds (state, country, prefix, contains, owned, granted_to; limit, cursor)",
        "200",
        "{items, next_cursor}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/numbers/{number}",
        "One number (id, E.164 or uid): state, owner, permissions, grant tree",
        "200",
        "The number",
        &["not-found"],
        true,
    ),
    (
        HttpMethod::Put,
        "/lk/v1/numbers/{number}/grants/{account}",
        "Assign (send, gets)",
        "201",
        "The grant",
        &[
            "validation",
            "not-found",
            "forbidden",
            "already-assigned",
            "permission-exceeded",
        ],
        true,
    ),
    (
        HttpMethod::Delete,
        "/lk/v1/numbers/{number}/grants/{account}",
        "Unassign, with the cascade",
        "200",
        "{removed: [grant, ...]}; with ?dry_run=true {dry_run: true, changes: [...]}, nothing written",
        &["validation", "not-found", "forbidden", "not-assigned"],
        true,
    ),
    (
        HttpMethod::Patch,
        "/lk/v1/numbers/{number}/grants/{account}",
        "Change a grant (send, gets, expires_at or null); lowering cascades; ?dry_run=true",
        "200",
        "{changes: [...]} (each grant changed, before/after, cascaded, chain); with ?dry_run=true {dry_run: true, changes}",
        &[
            "validation",
            "not-found",
            "forbidden",
            "not-assigned",
            "permission-exceeded",
        ],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/grants/bulk",
        "Up to 1000 assign / change / unassign items in order in one transaction (atomic, items); ?dry_run=true",
        "200",
        "{committed, results: [{status, changes} | {status, problem}]}, in the items' order",
        &["validation", "forbidden"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/reservations",
        "Reserve an available number (number, duration_secs)",
        "201",
        "{id, uid, number, country, until}",
        &["validation", "not-found", "conflict"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/reservations",
        "The caller's running reservations (limit, cursor)",
        "200",
        "{items: [{id, uid, number, country, until}], next_cursor}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Patch,
        "/lk/v1/reservations/{number}",
        "Extend the caller's reservation (duration_secs from now)",
        "200",
        "{id, uid, number, country, until}",
        &["validation", "not-found"],
        true,
    ),
    (
        HttpMethod::Delete,
        "/lk/v1/reservations/{number}",
        "Cancel the caller's reservation",
        "204",
        "Cancelled",
        &["not-found"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/subscriptions",
        "Subscribe, postpaid (number, resubscribe)",
        "201",
        "The number, with its subscription",
        &["validation", "not-found", "forbidden", "conflict"],
        true,
    ),
    (
        HttpMethod::Delete,
        "/lk/v1/subscriptions/{number}",
        "Unsubscribe into quarantine, removing every grant; ?dry_run=true",
        "200",
        "{changes: [...]} ending with number.unsubscribed and its quarantine_until; with ?dry_run=true {dry_run: true, changes}",
        &["validation", "not-found"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/admin/numbers/{number}/release",
        "Release a number from quarantine early (administrators only)",
        "200",
        "The number, back in the pool",
        &["forbidden", "not-found", "conflict"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/numbers/{number}/history",
        "The number's custody history as far as the caller may see it, newest first",
        "200",
        "{items, next_cursor}",
        &["validation", "not-found"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/history",
        "The caller's audit trail, newest first",
        "200",
        "{items, next_cursor}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/events",
        "The caller's events in commit order after an id (after, limit, wait: long-polls up to 30 s)",
        "200",
        "{items, next_after}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/webhooks",
        "Create a webhook endpoint (url, types, description); its whsec_ secret is shown only here",
        "201",
        "{id, url, types, description, enabled, disabled_at, disabled_reason, failing_since, created_at, secret}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/webhooks",
        "The caller's webhook endpoints (never their secrets)",
        "200",
        "{items, next_cursor}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/webhooks/{id}",
        "One of the caller's webhook endpoints",
        "200",
        "{id, url, types, description, enabled, disabled_at, disabled_reason, failing_since, created_at}",
        &["not-found"],
        true,
    ),
    (
        HttpMethod::Patch,
        "/lk/v1/webhooks/{id}",
        "Change a webhook endpoint (url, types, description, enabled)",
        "200",
        "The endpoint",
        &["not-found", "validation"],
        true,
    ),
    (
        HttpMethod::Delete,
        "/lk/v1/webhooks/{id}",
        "Delete a webhook endpoint and its delivery log",
        "204",
        "Deleted",
        &["not-found"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/webhooks/{id}/deliveries",
        "An endpoint's delivery log, newest first: each delivery with its attempts (status, latency, response excerpt)",
        "200",
        "{items, next_cursor}",
        &["not-found", "validation"],
        true,
    ),
    (
        HttpMethod::Post,
        "/lk/v1/webhooks/{id}/deliveries/{delivery}/retry",
        "Send a delivery again, with a fresh round of attempts",
        "202",
        "The delivery, pending",
        &["not-found", "validation"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/pool",
        "Available numbers (country, prefix, contains, min/max_monthly_price; limit, cursor)",
        "200",
        "{items, next_cursor}",
        &["validation"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/routing/{e164}",
        "Owner, senders and receivers of a number (administrators only)",
        "200",
        "{number, state, owner, send, gets, holders}",
        &["forbidden", "not-found"],
        true,
    ),
    (
        HttpMethod::Get,
        "/lk/v1/problems/{kind}",
        "A page describing a problem type",
        "200",
        "text/html",
        &["not-found"],
        false,
    ),
];

fn status_of(slug: &str) -> String {
    KINDS
        .iter()
        .find(|k| k.0 == slug)
        .map(|k| k.1.to_string())
        .unwrap_or_else(|| "500".into())
}

/// The face's routes, tagged `native`.
pub fn document() -> OpenApi {
    let problem = |slugs: &[&str]| {
        let described: Vec<String> = slugs
            .iter()
            .map(|s| format!("`/lk/v1/problems/{s}`"))
            .collect();
        ResponseBuilder::new()
            .description(described.join(", "))
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ProblemBody::name())))
                    .build(),
            )
            .build()
    };
    // An authenticated request's answer tells its credential's bucket on
    // this instance (`http::limits::Quota`); a 429's also when to retry.
    let seconds = |what: &str| {
        HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some(0)),
            ))
            .description(Some(what))
            .build()
    };
    let quota = [
        (
            "RateLimit-Limit",
            "Requests the credential may make at once here (its burst)",
        ),
        ("RateLimit-Remaining", "Of those, how many are left now"),
        ("RateLimit-Reset", "Seconds until all are available again"),
    ];
    let told = |mut r: ResponseBuilder, rate_limited: bool| {
        for (name, what) in quota {
            r = r.header(name, seconds(what));
        }
        if rate_limited {
            r = r.header(
                "Retry-After",
                seconds("Seconds to wait before trying again"),
            );
        }
        r.build()
    };
    let mut doc = OpenApiBuilder::new().build();
    for (method, path, summary, ok, what, own, auth) in ROUTES {
        let success = ResponseBuilder::new().description(*what);
        let success = match auth {
            true => told(success, false),
            false => success.build(),
        };
        let mut op = OperationBuilder::new()
            .tag("native")
            .summary(Some(*summary))
            .response(*ok, success);
        // Each `{name}` of the path: an id is an integer; a number (an id,
        // an E.164 or a uid), an account or a problem kind is a string.
        for name in path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        {
            let schema: utoipa::openapi::schema::Schema = match name {
                "id" => utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some(1))
                    .into(),
                _ => utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .into(),
            };
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(utoipa::openapi::Required::True)
                    .schema(Some(schema)),
            );
        }
        let mut slugs: Vec<&str> = own.to_vec();
        if *auth {
            op = op.security(SecurityRequirement::new("api_key", Vec::<String>::new()));
            slugs.extend(["unauthenticated", "rate-limited", "internal"]);
        }
        if matches!(
            method,
            HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
        ) {
            let object = utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Object)
                .build();
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(object)).build(),
                    )
                    .required(Some(utoipa::openapi::Required::True))
                    .build(),
            ));
            slugs.extend(["bad-body", "too-large"]);
        }
        slugs.extend(["method-not-allowed", "timeout", "unavailable"]);
        // One response per status, naming every problem type it may carry.
        let mut by_status: Vec<(String, Vec<&str>)> = Vec::new();
        for s in slugs {
            let status = status_of(s);
            match by_status.iter_mut().find(|(st, _)| *st == status) {
                Some((_, list)) if !list.contains(&s) => list.push(s),
                Some(_) => {}
                None => by_status.push((status, vec![s])),
            }
        }
        for (status, list) in by_status {
            // Every answer after the credential was known tells its quota.
            let response = match *auth && status != "401" {
                true => told(ResponseBuilder::from(problem(&list)), status == "429"),
                false => problem(&list),
            };
            op = op.response(status, response);
        }
        doc.paths
            .add_path_operation(*path, vec![method.clone()], op.build());
    }
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .insert(ProblemBody::name().into_owned(), ProblemBody::schema());
    doc
}
