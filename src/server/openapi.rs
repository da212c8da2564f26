//! The OpenAPI 3.1 document (`GET /openapi.json`) and Swagger UI (`/docs`,
//! served from the binary).
//!
//! The document is generated from the code: each handler carries its
//! `#[utoipa::path]` (the statuses and bodies particular to it) and each
//! response body is the type that serializes it. The failures that come from
//! the shared extractors rather than from a handler are added here, by the same
//! rules the extractors follow, so no handler has to repeat them:
//!
//! - an authenticated route (`security` set) can answer 401, 429 (with
//!   `Retry-After`) and 500; so can login, without the 401;
//! - a route with a body can answer 400 (not a JSON object) and 413 (over
//!   [`crate::http::BODY_LIMIT`]).
//!
//! Every panel route is registered at `/api/...` and again at `/v1/api/...`.
//!
//! The routes that create something link, on their 200, to the routes that
//! use it ([`LINKS`]), which is what Schemathesis's stateful phase follows.

use std::sync::OnceLock;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi, RefOr};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::faces::{native, panel, vn};
use crate::http::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "linekeeper",
        description = "Number (line) management for an SMS platform. Two faces over one core: \
            the panel face (IPPanel Edge compatible, every route at `/api/...` and at \
            `/v1/api/...`; Persian messages by default, English with `Accept-Language: en`) \
            and the virtual-number face (Cellcast compatible, under \
            `/api/v1/apiClient/virtual-number`).",
    ),
    paths(crate::http::service::healthz),
    tags(
        (name = "panel", description = "The panel face: `{\"data\", \"meta\"}` envelopes"),
        (name = "virtual-number", description = "The virtual-number face: the fourteen-field success envelope and `{code, message, stack}` failures"),
        (name = "native", description = "The native face under `/lk/v1`: Bearer credentials, RFC 9457 problem details (`application/problem+json`), cursor-paginated lists, RFC 3339 times"),
        (name = "service", description = "Liveness"),
    ),
)]
struct ServiceDoc;

/// The security scheme's name, as the handlers' `security(...)` use it.
const API_KEY: &str = "api_key";

/// The whole document.
pub fn document() -> OpenApi {
    let mut panel_doc = panel::ApiDoc::openapi();
    complete(&mut panel_doc, Face::Panel);
    blank_paging(&mut panel_doc);
    let v1: Vec<_> = panel_doc
        .paths
        .paths
        .iter()
        .map(|(path, item)| (format!("/v1{path}"), item.clone()))
        .collect();
    panel_doc.paths.paths.extend(v1);

    let mut vn_doc = vn::ApiDoc::openapi();
    complete(&mut vn_doc, Face::Vn);

    let mut doc = ServiceDoc::openapi();
    doc.merge(panel_doc);
    doc.merge(vn_doc);
    // The native face documents its own problems (RFC 9457), not the
    // other faces' failures, so `complete` is not for it.
    doc.merge(native::openapi::document());
    name_operations(&mut doc);
    link_operations(&mut doc);
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An API key or a session token from login, as `Bearer <token>` or the bare token.",
            ))),
        );
    doc
}

/// The panel's `page` and `per_page` are read as Laravel reads a query:
/// a blank value (`?page=`) is no value, so the default applies. The
/// parameter's schema says so: its integer range, or a blank string.
fn blank_paging(doc: &mut OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::OneOfBuilder;
    let blank: Schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^{}*$",
            crate::faces::panel::input::schema::TRIM
        )))
        .description(Some("Blank: the default"))
        .into();
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(p) = p else { continue };
                let paging = matches!(p.name.as_str(), "page" | "per_page")
                    && p.parameter_in == ParameterIn::Query;
                if !paging {
                    continue;
                }
                if let Some(range) = p.schema.take() {
                    let either = OneOfBuilder::new().item(range).item(blank.clone());
                    p.schema = Some(RefOr::T(either.into()));
                }
            }
        }
    }
}

/// `GET /openapi.json` and Swagger UI at `/docs`, which reads it.
pub fn routes() -> Router<AppState> {
    let docs: Router<AppState> = SwaggerUi::new("/docs")
        .config(Config::new(["/openapi.json"]))
        .into();
    docs.route("/openapi.json", get(openapi_json))
}

/// The document, built on first use rather than at startup, so that a
/// server answers its first requests as soon as it listens.
async fn openapi_json() -> Response {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    let json = || -> Result<String, String> {
        let mut doc = serde_json::to_value(document()).map_err(|e| e.to_string())?;
        native::contract::complete(&mut doc);
        serde_json::to_string(&doc).map_err(|e| e.to_string())
    };
    match JSON.get_or_init(json) {
        Ok(json) => ([("content-type", "application/json")], json.as_str()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Clone, Copy)]
enum Face {
    Panel,
    Vn,
}

impl Face {
    /// The schema of the face's failure body, with the components it names.
    fn failure(self, doc: &mut OpenApi) -> RefOr<Schema> {
        match self {
            Face::Panel => {
                use panel::envelope::{Envelope, FailureMeta, Meta, Null};
                // A generic's schema names its arguments without collecting them.
                collect::<Null>(doc);
                collect::<Meta>(doc);
                collect::<FailureMeta>(doc);
                schema_of::<Envelope<Null, FailureMeta>>(doc)
            }
            Face::Vn => {
                collect::<vn::envelope::Failure>(doc);
                schema_of::<vn::envelope::Failure>(doc)
            }
        }
    }
}

/// `T`'s schema (inline), with the schemas it names added to the components.
fn schema_of<T: ToSchema>(doc: &mut OpenApi) -> RefOr<Schema> {
    let mut found = Vec::new();
    T::schemas(&mut found);
    add(doc, found);
    T::schema()
}

/// Adds the non-generic `T` and the schemas it names to the components.
fn collect<T: ToSchema>(doc: &mut OpenApi) {
    let mut found = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut found);
    add(doc, found);
}

fn add(doc: &mut OpenApi, found: Vec<(String, RefOr<Schema>)>) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in found {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// Adds the failures of the shared extractors to every operation of a face.
fn complete(doc: &mut OpenApi, face: Face) {
    let failure = face.failure(doc);
    let response = |description: &str| -> ApiResponse {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(failure.clone())).build(),
            )
            .build()
    };
    let retry_after = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some("Seconds to wait before trying again"))
        .build();
    let too_many = ResponseBuilder::from(response(
        "Too many requests (login throttling, or the credential's rate limit)",
    ))
    .header("Retry-After", retry_after)
    .build();

    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let login = op.operation_id.as_deref() == Some("login");
            let add = |op: &mut Operation, status: &str, r: &ApiResponse| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(r.clone()));
            };
            if authenticated {
                add(
                    op,
                    "401",
                    &response("Missing, unknown, revoked or expired credential"),
                );
            }
            if authenticated || login {
                add(op, "429", &too_many);
                add(
                    op,
                    "500",
                    &response("A server failure (logged; the message is generic)"),
                );
            }
            if op.request_body.is_some() {
                add(op, "400", &response("The body is not a JSON object"));
                let over = format!("The body is over {} KiB", crate::http::BODY_LIMIT / 1024);
                add(op, "413", &response(&over));
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Unique operation ids from method and path (`post_api_numbers_assign`,
/// `post_v1_api_numbers_assign`), since two routes share a handler.
fn name_operations(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let slug: String = path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let slug = slug.trim_matches('_').replace("__", "_");
        for (method, op) in [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ] {
            if let Some(op) = op {
                op.operation_id = Some(format!("{method}_{slug}"));
            }
        }
    }
}

/// The OpenAPI links: from the operation (method and path, panel paths
/// without their prefix) whose 200 makes something, the link's name, the
/// operation that uses it, and where the value goes (`query.`, `path.` or
/// `header.` a parameter, or `body.` a field of the body) with the runtime
/// expression that reads it from the 200. A panel link joins operations of
/// the same prefix.
const LINKS: [(&str, &str, &str, &str, &str, &str); 7] = [
    (
        "post /user/create",
        "ShowCreated",
        "get /user/show",
        "query.user_id",
        "$response.body#/data/user_id",
        "The account just created",
    ),
    (
        "post /user/create",
        "ParentsOfCreated",
        "get /user/parents_tree",
        "query.user_id",
        "$response.body#/data/user_id",
        "The chain of parents of the account just created",
    ),
    (
        "post /user/create",
        "AssignToCreated",
        "post /numbers/assign",
        "body.target_user_id",
        "$response.body#/data/user_id",
        "Grant a number to the account just created",
    ),
    (
        "post /acl/auth/login",
        "CheckToken",
        "post /acl/auth/check_token",
        "header.Authorization",
        "Bearer {$response.body#/data/token}",
        "Who holds the session token just issued",
    ),
    (
        "post /acl/auth/login",
        "Logout",
        "post /acl/auth/logout",
        "header.Authorization",
        "Bearer {$response.body#/data/token}",
        "Revoke the session token just issued",
    ),
    (
        "post /api/v1/apiClient/virtual-number/purchase-postpaid",
        "Unsubscribe",
        "put /api/v1/apiClient/virtual-number/unsubscribe/{id}",
        "path.id",
        "$response.body#/data/_id",
        "End the subscription just made",
    ),
    (
        "post /api/v1/apiClient/virtual-number/purchase-postpaid",
        "ListOwned",
        "get /api/v1/apiClient/virtual-number",
        "",
        "",
        "The caller's numbers, the one just bought among them",
    ),
];

/// Adds [`LINKS`] to the 200 of their operations (after [`name_operations`],
/// whose ids they name).
fn link_operations(doc: &mut OpenApi) {
    use utoipa::openapi::link::LinkBuilder;

    let panel = panel::PREFIXES.map(Some);
    for (from, name, to, target, expression, description) in LINKS {
        let split = |s: &'static str| s.split_once(' ').unwrap_or(("get", s));
        let ((from_method, from_path), (to_method, to_path)) = (split(from), split(to));
        let prefixes: &[Option<&str>] = if from_path.starts_with(vn::PREFIX) {
            &[None]
        } else {
            &panel
        };
        for prefix in prefixes {
            let full = |path: &str| format!("{}{path}", prefix.unwrap_or(""));
            let Some(target_id) = doc
                .paths
                .paths
                .get(&full(to_path))
                .and_then(|item| operation(item, to_method))
                .and_then(|op| op.operation_id.clone())
            else {
                continue;
            };
            let mut link = LinkBuilder::new()
                .operation_id(target_id)
                .description(description);
            if let Some(field) = target.strip_prefix("body.") {
                link = link.request_body(Some(serde_json::json!({ field: expression })));
            } else if !target.is_empty() {
                link = link.parameter(target, expression);
            }
            let link = link.build();
            let Some(op) = doc
                .paths
                .paths
                .get_mut(&full(from_path))
                .and_then(|item| operation_mut(item, from_method))
            else {
                continue;
            };
            if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                ok.links.insert(name.to_owned(), RefOr::T(link));
            }
        }
    }
}

fn operation<'a>(item: &'a utoipa::openapi::PathItem, method: &str) -> Option<&'a Operation> {
    match method {
        "get" => item.get.as_ref(),
        "put" => item.put.as_ref(),
        "post" => item.post.as_ref(),
        _ => None,
    }
}

fn operation_mut<'a>(
    item: &'a mut utoipa::openapi::PathItem,
    method: &str,
) -> Option<&'a mut Operation> {
    match method {
        "get" => item.get.as_mut(),
        "put" => item.put.as_mut(),
        "post" => item.post.as_mut(),
        _ => None,
    }
}
