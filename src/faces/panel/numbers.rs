//! `POST /api/numbers/unassign` (the seed), `POST /api/numbers/assign`,
//! `GET /api/number/numbers`.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::envelope::{
    Envelope, FailureMeta, Meta, Null, PageMeta, Paginator, PanelError, success,
    success_page_rendered,
};
use super::input::{Authed, Body, Fields, Reseller, Rid, query_map, schema};
use super::messages::Lang;
use crate::core::{AccountRef, Assign, CoreError, NumberRef, Perms, Unassign};
use crate::domain::E164;
use crate::http::AppState;
use crate::store::Page;

/// The wire names of the two references, as `PanelError::from_core` wants them.
const REF_FIELDS: [&str; 4] = ["number_id", "number", "target_user_id", "target_user"];

/// Reads `number_id | number` and `target_user_id | target_user`, with the
/// route's other fields (`extra`) validated by `more`.
fn references(v: &mut Fields<'_>) -> (Option<i64>, Option<i64>, Option<E164>, Option<String>) {
    v.required_without("number_id", "number");
    let number_id = v.integer("number_id");
    v.required_without("target_user_id", "target_user");
    let target_user_id = v.integer("target_user_id");
    v.required_without("number", "number_id");
    let number = v.formatted("number", E164::parse);
    v.required_without("target_user", "target_user_id");
    let target_user = v.string("target_user");
    (number_id, target_user_id, number, target_user)
}

fn refs(
    number_id: Option<i64>,
    number: Option<E164>,
    user_id: Option<i64>,
    user: Option<String>,
) -> (NumberRef, AccountRef) {
    (
        NumberRef {
            id: number_id,
            e164: number.map(|n| n.to_string()),
            uid: None,
        },
        AccountRef {
            id: user_id,
            username: user,
        },
    )
}

/// Validates an unassign body: the two references, or the 422. Pure, and
/// public for the fuzzers.
pub fn unassign_fields(
    lang: Lang,
    body: &Map<String, Value>,
) -> Result<(NumberRef, AccountRef), PanelError> {
    let mut v = Fields::new(lang, body);
    let (number_id, user_id, number, user) = references(&mut v);
    v.finish(&["number_id", "target_user_id", "number", "target_user"])?;
    Ok(refs(number_id, number, user_id, user))
}

/// Validates an assign body: the two references, the permissions and the
/// optional end, or the 422. Pure, and public for the fuzzers.
pub fn assign_fields(
    lang: Lang,
    body: &Map<String, Value>,
) -> Result<(NumberRef, AccountRef, Perms, Option<i64>), PanelError> {
    let mut v = Fields::new(lang, body);
    let (number_id, user_id, number, user) = references(&mut v);
    v.required("send");
    let send = v.boolean("send");
    v.required("gets");
    let gets = v.boolean("gets");
    let expires_at = v.instant("expires_at");
    v.finish(&[
        "number_id",
        "target_user_id",
        "number",
        "target_user",
        "send",
        "gets",
        "expires_at",
    ])?;
    let (n, t) = refs(number_id, number, user_id, user);
    let perms = Perms {
        send: send.unwrap_or(false),
        gets: gets.unwrap_or(false),
    };
    Ok((n, t, perms, expires_at))
}

/// The body of `unassign`: a number (`number_id` or `number`, at least one)
/// and an account (`target_user_id` or `target_user`, at least one). Also
/// accepted as a form.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field by `Fields`; this is its schema.
pub struct UnassignRequest {
    #[schema(schema_with = schema::optional_integer)]
    number_id: Option<i64>,
    /// E.164, e.g. `+989123456789`.
    #[schema(pattern = r"^[ \t\n\r\x00\x0B]*(\+[1-9][0-9]{7,14})?[ \t\n\r\x00\x0B]*$")]
    number: Option<String>,
    #[schema(schema_with = schema::optional_integer)]
    target_user_id: Option<i64>,
    /// A username.
    target_user: Option<String>,
}

/// The body of `assign`: as `unassign`, plus the two permissions.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field by `Fields`; this is its schema.
pub struct AssignRequest {
    #[schema(schema_with = schema::optional_integer)]
    number_id: Option<i64>,
    /// E.164, e.g. `+989123456789`.
    #[schema(pattern = r"^[ \t\n\r\x00\x0B]*(\+[1-9][0-9]{7,14})?[ \t\n\r\x00\x0B]*$")]
    number: Option<String>,
    #[schema(schema_with = schema::optional_integer)]
    target_user_id: Option<i64>,
    /// A username.
    target_user: Option<String>,
    /// May send from the number.
    #[schema(schema_with = schema::required_boolean)]
    send: bool,
    /// May receive on the number.
    #[schema(schema_with = schema::required_boolean)]
    gets: bool,
    /// When the grant ends (optional): Unix seconds, or an RFC 3339
    /// date-time such as `2026-02-01T00:00:00Z`. It must be in the future
    /// and no later than the end of the caller's own grant; without it the
    /// grant ends with the caller's own (or never, for an owner).
    #[schema(value_type = Option<String>, example = "2026-02-01T00:00:00Z")]
    expires_at: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/api/numbers/unassign",
    tag = "panel",
    security(("api_key" = [])),
    request_body(content(
        (UnassignRequest = "application/json"),
        (UnassignRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The grant is removed, with its cascade", body = Envelope<Null, Meta>),
        (status = 400, description = "`number not assigned to user`, or the body is not a JSON object", body = Envelope<Null, FailureMeta>),
        (status = 403, description = "Resellers only", body = Envelope<Null, FailureMeta>),
        (status = 422, description = "A field is missing, malformed, or names nothing the caller may see", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn unassign(
    State(s): State<AppState>,
    lang: Lang,
    Rid(rid): Rid,
    Reseller(caller): Reseller,
    Body(body): Body,
) -> Result<Response, PanelError> {
    let (n, t) = unassign_fields(lang, &body)?;
    s.core
        .unassign(
            &caller,
            Unassign {
                number: n,
                target: t,
            },
            false,
            &rid,
        )
        .await
        .map_err(|e| PanelError::from_core(lang, e, REF_FIELDS))?;
    Ok(success(lang, Null))
}

#[utoipa::path(
    post,
    path = "/api/numbers/assign",
    tag = "panel",
    security(("api_key" = [])),
    request_body(content(
        (AssignRequest = "application/json"),
        (AssignRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The grant is made", body = Envelope<Null, Meta>),
        (status = 400, description = "`number already assigned to user`, `cannot grant a permission you do not hold`, `cannot grant beyond the end of your own grant`, or the body is not a JSON object", body = Envelope<Null, FailureMeta>),
        (status = 403, description = "Resellers only", body = Envelope<Null, FailureMeta>),
        (status = 422, description = "A field is missing, malformed, or names nothing the caller may see", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn assign(
    State(s): State<AppState>,
    lang: Lang,
    Rid(rid): Rid,
    Reseller(caller): Reseller,
    Body(body): Body,
) -> Result<Response, PanelError> {
    let (n, t, perms, expires_at) = assign_fields(lang, &body)?;
    let cmd = Assign {
        number: n,
        target: t,
        perms,
        expires_at,
    };
    s.core
        .assign(&caller, cmd, &rid)
        .await
        .map_err(|e| match e {
            // A well-formed end in the past is the field's format error.
            CoreError::InvalidExpiry => PanelError::invalid(lang, {
                let mut errors = Map::new();
                errors.insert(
                    "expires_at".into(),
                    serde_json::json!([lang.rule(super::messages::Rule::Format, "expires_at")]),
                );
                errors
            }),
            e => PanelError::from_core(lang, e, REF_FIELDS),
        })?;
    Ok(success(lang, Null))
}

/// The largest `page`, so that `(page - 1) * per_page` fits 64 bits (the
/// routes' `#[utoipa::path]` state it as a literal; a test holds them equal).
pub const MAX_PAGE: i64 = i64::MAX / 100;

/// Reads `page` (≥ 1, default 1) and `per_page` (1..100, default 10).
pub fn paging(lang: Lang, query: &Map<String, Value>) -> Result<(i64, i64), PanelError> {
    let mut v = Fields::new(lang, query);
    let paged = paging_fields(&mut v);
    v.finish(&["page", "per_page"])?;
    Ok(paged)
}

/// [`paging`]'s two fields, read into `v` beside a route's other query
/// fields so that every field's error is reported at once.
pub fn paging_fields(v: &mut Fields<'_>) -> (i64, i64) {
    let page = v.bounded("page", 1, 1, MAX_PAGE);
    let per_page = v.bounded("per_page", 10, 1, 100);
    (page, per_page)
}

/// The paginator of `meta` (`from`/`to` null on an empty page).
pub fn paginator(page: i64, per_page: i64, total: i64, shown: usize) -> Paginator {
    let last_page = ((total + per_page - 1) / per_page).max(1);
    let from = (page - 1) * per_page + 1;
    let (from, to) = if shown == 0 {
        (None, None)
    } else {
        (Some(from), Some(from + shown as i64 - 1))
    };
    Paginator {
        current_page: page,
        per_page,
        total,
        last_page,
        from,
        to,
    }
}

/// A number the caller holds.
#[derive(Serialize, ToSchema)]
pub struct HeldNumber {
    id: i64,
    /// E.164.
    number: String,
    operator_id: Option<i64>,
    alias: Option<String>,
    /// The caller may receive on it: 1 or 0.
    #[schema(minimum = 0, maximum = 1)]
    gets: i32,
    /// The caller may send from it: 1 or 0.
    #[schema(minimum = 0, maximum = 1)]
    send: i32,
    #[schema(minimum = 0, maximum = 1)]
    is_66_char: i32,
    /// The caller owns it (rather than holding a grant).
    owned: bool,
}

#[utoipa::path(
    get,
    path = "/api/number/numbers",
    tag = "panel",
    security(("api_key" = [])),
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 92_233_720_368_547_758_i64, description = "From 1 (default 1); at most `i64::MAX / 100`"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 10)"),
    ),
    responses(
        (status = 200, description = "The numbers the caller holds, ordered by id", body = Envelope<Vec<HeldNumber>, PageMeta>),
        (status = 422, description = "`page` or `per_page` is not an integer in range", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn list(
    State(s): State<AppState>,
    lang: Lang,
    Authed(caller): Authed,
    RawQuery(query): RawQuery,
) -> Result<Response, PanelError> {
    let (page, per_page) = paging(lang, &query_map(query.as_deref()))?;
    let window = Page {
        offset: (page - 1) * per_page,
        limit: per_page,
    };
    let listing = s
        .core
        .held_numbers(&caller, window)
        .await
        .map_err(|e| PanelError::from_core(lang, e, REF_FIELDS))?;
    let meta = paginator(page, per_page, listing.total, listing.items.len());
    // Writing strings into memory does not fail; were it to, the face's 500.
    let items = render_held(&listing.items).map_err(|_| PanelError::internal(lang))?;
    Ok(success_page_rendered(lang, items, meta))
}

/// The page's items as a JSON array of [`HeldNumber`], byte for byte what
/// serde_json makes of them (a unit test holds it to that), without its
/// per-field machinery: the list is the hottest answer, and generic
/// serialization was about a quarter of its cost. Only the two strings go
/// through serde_json, for their escaping.
pub fn render_held(items: &[crate::store::HeldNumber]) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(2 + items.len() * 128);
    let mut int = itoa::Buffer::new();
    let flag = |b: bool| if b { b"1" as &[u8] } else { b"0" };
    out.push(b'[');
    for (i, h) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        out.extend_from_slice(int.format(h.id).as_bytes());
        out.extend_from_slice(b",\"number\":");
        serde_json::to_writer(&mut out, &h.number)?;
        out.extend_from_slice(b",\"operator_id\":");
        match h.operator_id {
            Some(v) => out.extend_from_slice(int.format(v).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"alias\":");
        match &h.alias {
            Some(a) => serde_json::to_writer(&mut out, a)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"gets\":");
        out.extend_from_slice(flag(h.gets));
        out.extend_from_slice(b",\"send\":");
        out.extend_from_slice(flag(h.send));
        out.extend_from_slice(b",\"is_66_char\":");
        out.extend_from_slice(flag(h.is_66_char));
        out.extend_from_slice(b",\"owned\":");
        out.extend_from_slice(if h.owned { b"true" } else { b"false" });
        out.push(b'}');
    }
    out.push(b']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(
        id: i64,
        alias: Option<&str>,
        operator_id: Option<i64>,
        flags: bool,
    ) -> crate::store::HeldNumber {
        crate::store::HeldNumber {
            id,
            number: format!("+98912{id:07}"),
            operator_id,
            alias: alias.map(str::to_owned),
            is_66_char: flags,
            send: !flags,
            gets: flags,
            owned: !flags,
        }
    }

    fn serde_rendering(items: &[crate::store::HeldNumber]) -> String {
        let typed: Vec<HeldNumber> = items
            .iter()
            .map(|h| HeldNumber {
                id: h.id,
                number: h.number.clone(),
                operator_id: h.operator_id,
                alias: h.alias.clone(),
                gets: i32::from(h.gets),
                send: i32::from(h.send),
                is_66_char: i32::from(h.is_66_char),
                owned: h.owned,
            })
            .collect();
        serde_json::to_string(&typed).unwrap_or_default()
    }

    #[test]
    fn the_documented_page_maximum_is_the_enforced_one() {
        assert_eq!(MAX_PAGE, 92_233_720_368_547_758);
    }

    #[test]
    fn rendered_items_match_serde() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        let items = [
            held(1, None, None, true),
            held(i64::MAX, Some("شماره \"اصلی\" \\ 😀"), Some(-7), false),
            held(3, Some(&every_ascii), Some(i64::MIN), true),
            held(4, Some("\u{2028}\u{7f}\u{80}é"), Some(0), false),
        ];
        for n in 0..=items.len() {
            let ours = render_held(&items[..n])
                .map(|v| String::from_utf8(v).unwrap_or_default())
                .unwrap_or_default();
            assert_eq!(ours, serde_rendering(&items[..n]));
        }
    }
}
