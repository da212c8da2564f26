//! The routes: `PUT /unsubscribe/:id` (the seed), `GET /available`, `GET /`,
//! `POST /purchase-postpaid` and `POST /purchase`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::envelope::{Empty, Failure, Success, VnError, success};
use super::input::{Authed, Check, JsonBody, Query, Rid};
use super::messages;
use crate::core::subscriptions::product_id;
use crate::core::{OwnedNumber, PoolFilter};
use crate::domain::{NumberUid, iso8601_utc};
use crate::http::AppState;
use crate::store::{Cycle, Number, Page};

/// A number in the pool, as `/available` lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AvailableItem {
    #[serde(rename = "_id")]
    id: String,
    number: String,
    country: String,
    monthly_price: i64,
    yearly_price: i64,
    monthly_product_id: String,
    yearly_product_id: String,
}

impl From<Number> for AvailableItem {
    fn from(n: Number) -> AvailableItem {
        AvailableItem {
            monthly_product_id: product_id(&n.number, Cycle::Month),
            yearly_product_id: product_id(&n.number, Cycle::Year),
            id: n.uid,
            number: n.number,
            country: n.country,
            monthly_price: n.monthly_price,
            yearly_price: n.yearly_price,
        }
    }
}

/// One of the caller's numbers, as `GET /` lists it and `purchase-postpaid`
/// answers it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OwnedItem {
    #[serde(rename = "_id")]
    id: String,
    number: String,
    country: String,
    /// `month` or `year`.
    #[schema(pattern = "^(month|year)$")]
    recurring_time: &'static str,
    resubscribe: bool,
    /// ISO 8601, UTC.
    subscribed_at: String,
    /// How many accounts hold a grant on it.
    assigned_to: i64,
}

impl OwnedItem {
    fn new(o: OwnedNumber) -> Result<OwnedItem, VnError> {
        // The store lists only subscribed numbers as owned; one without its
        // terms would be a broken row, not something a client did.
        let Some(sub) = o.number.subscription else {
            return Err(VnError::internal(&format!(
                "owned number {} has no subscription",
                o.number.id
            )));
        };
        Ok(OwnedItem {
            id: o.number.uid,
            number: o.number.number,
            country: o.number.country,
            recurring_time: sub.cycle.as_str(),
            resubscribe: sub.resubscribe,
            subscribed_at: iso8601_utc(sub.subscribed_at),
            assigned_to: o.assigned_to,
        })
    }
}

/// `data` of both lists.
#[derive(Serialize, ToSchema)]
pub struct ListData<T> {
    items: Vec<T>,
    page: i64,
    limit: i64,
    total: i64,
}

/// The largest `page`: beyond it a JavaScript number is no longer exact, and
/// `(page - 1) * limit` still fits 64 bits.
const MAX_PAGE: i64 = 9_007_199_254_740_991;

/// Reads `page` (≥ 1, default 1) and `limit` (1..=100, default 10).
fn paging(check: &mut Check, q: &Query) -> (i64, i64, Page) {
    let page = check.integer(q, "page", 1, 1, MAX_PAGE);
    let limit = check.integer(q, "limit", 10, 1, 100);
    let window = Page {
        offset: (page - 1) * limit,
        limit,
    };
    (page, limit, window)
}

/// The id in the path, if it can name a number at all. A path that does not
/// decode is as unknown as a well-formed id that names nothing.
fn path_uid(id: Result<Path<String>, PathRejection>) -> Option<NumberUid> {
    id.ok().and_then(|Path(id)| NumberUid::parse(&id))
}

/// The body of `purchase-postpaid`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field by `Check`; this is its schema.
pub struct PostpaidRequest {
    /// The number's uid (24 hex characters, any case); another string names
    /// no number (404).
    #[schema(min_length = 1, pattern = "^[0-9a-fA-F]{24}$")]
    number: String,
    /// Default false; `"true"`/`"false"` in any case are accepted too (not `null`).
    #[schema(schema_with = vn_boolean)]
    resubscribe: Option<bool>,
}

/// The body of `purchase`. Card and BECS payment fields may be sent too;
/// they are ignored, since no payment is ever taken.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field by `Check`; this is its schema.
pub struct PurchaseRequest {
    /// The number's product id for the cycle (`monthlyProductId` or
    /// `yearlyProductId` in `/available`).
    #[schema(min_length = 1)]
    product: String,
    /// The number's uid.
    #[schema(min_length = 1, pattern = "^[0-9a-fA-F]{24}$")]
    number: String,
    #[schema(pattern = "^(month|year)$")]
    recurring_time: String,
    #[schema(schema_with = vn_boolean)]
    resubscribe: Option<bool>,
}

/// A boolean as [`super::input::Check::boolean`] reads it: `true`/`false`,
/// or those words as strings in any case.
fn vn_boolean() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .description(Some("A boolean, or `true`/`false` (any case) as a string"))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$")),
        )
        .into()
}

/// `PUT /unsubscribe/:id`: any body is ignored.
#[utoipa::path(
    put,
    path = "/api/v1/apiClient/virtual-number/unsubscribe/{id}",
    tag = "virtual-number",
    security(("api_key" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The number's uid (24 hex characters, any case); anything else is 404")),
    responses(
        (status = 200, description = "Unsubscribed; every grant on the number is removed", body = Success<Empty>),
        (status = 404, description = "Unknown, malformed, or not the caller's", body = Failure),
    ),
)]
pub async fn unsubscribe(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, VnError> {
    let uid = path_uid(id).ok_or_else(VnError::number_not_found)?;
    s.core.unsubscribe(&caller, &uid, false, &rid).await?;
    Ok(success(messages::UNSUBSCRIBED, Empty {}))
}

fn is_alpha2(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `GET /available?country=AU&pattern=04&page=1&limit=10`.
#[utoipa::path(
    get,
    path = "/api/v1/apiClient/virtual-number/available",
    tag = "virtual-number",
    security(("api_key" = [])),
    params(
        ("country" = Option<String>, Query, pattern = "^[A-Za-z]{2}$", description = "ISO 3166 alpha-2, any case"),
        ("pattern" = Option<String>, Query, pattern = "^[0-9]+$", description = "Digits the number must contain"),
        ("page" = Option<i64>, Query, minimum = 1, maximum = 9_007_199_254_740_991_i64, description = "From 1 (default 1)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 10)"),
    ),
    responses(
        (status = 200, description = "Numbers in the pool", body = Success<ListData<AvailableItem>>),
        (status = 400, description = "A parameter is invalid (every message, joined by `, `)", body = Failure),
    ),
)]
pub async fn available(
    State(s): State<AppState>,
    Authed(_caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, VnError> {
    let q = Query::parse(raw.as_deref());
    let mut check = Check::new();
    let country = check.matching(&q, "country", "/^[A-Za-z]{2}$/", is_alpha2);
    let pattern = check.matching(&q, "pattern", "/^[0-9]+$/", is_digits);
    let (page, limit, window) = paging(&mut check, &q);
    check.finish()?;
    let filter = PoolFilter {
        country: country.map(|c| c.to_ascii_uppercase()),
        pattern,
        ..PoolFilter::default()
    };
    let listing = s.core.pool(filter, window).await?;
    let data = ListData {
        items: listing.items.into_iter().map(AvailableItem::from).collect(),
        page,
        limit,
        total: listing.total,
    };
    Ok(success(messages::LISTED, data))
}

/// `GET /?page=1&limit=10`: the caller's own subscriptions.
#[utoipa::path(
    get,
    path = "/api/v1/apiClient/virtual-number",
    tag = "virtual-number",
    security(("api_key" = [])),
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 9_007_199_254_740_991_i64, description = "From 1 (default 1)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 10)"),
    ),
    responses(
        (status = 200, description = "The caller's subscribed numbers", body = Success<ListData<OwnedItem>>),
        (status = 400, description = "A parameter is invalid", body = Failure),
    ),
)]
pub async fn owned(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, VnError> {
    let q = Query::parse(raw.as_deref());
    let mut check = Check::new();
    let (page, limit, window) = paging(&mut check, &q);
    check.finish()?;
    let listing = s.core.owned(&caller, window).await?;
    let items = listing
        .items
        .into_iter()
        .map(OwnedItem::new)
        .collect::<Result<Vec<_>, _>>()?;
    let data = ListData {
        items,
        page,
        limit,
        total: listing.total,
    };
    Ok(success(messages::LISTED, data))
}

/// `POST /purchase-postpaid`: `number` (uid), `resubscribe` (default false).
#[utoipa::path(
    post,
    path = "/api/v1/apiClient/virtual-number/purchase-postpaid",
    tag = "virtual-number",
    security(("api_key" = [])),
    request_body(content((PostpaidRequest = "application/json"))),
    responses(
        (status = 200, description = "Subscribed for a monthly cycle", body = Success<OwnedItem>),
        (status = 400, description = "Not a JSON object, or a field missing or of the wrong type", body = Failure),
        (status = 403, description = "Postpaid billing is not enabled for this account", body = Failure),
        (status = 404, description = "No such number", body = Failure),
        (status = 409, description = "The number is not available", body = Failure),
    ),
)]
pub async fn purchase_postpaid(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    JsonBody(body): JsonBody,
) -> Result<Response, VnError> {
    let mut check = Check::new();
    let number = check.string(&body, "number", true);
    let resubscribe = check.boolean(&body, "resubscribe");
    check.finish()?;
    // A malformed id still goes to the core, which refuses a caller without
    // postpaid (403) before it looks for the number (404).
    let uid = number.as_deref().and_then(NumberUid::parse);
    let owned = s
        .core
        .subscribe_postpaid(&caller, uid.as_ref(), resubscribe.unwrap_or(false), &rid)
        .await?;
    Ok(success(messages::PURCHASED, OwnedItem::new(owned)?))
}

/// `POST /purchase`: validated like a real purchase, then refused, since
/// linekeeper takes no card or BECS payments. It never changes anything.
#[utoipa::path(
    post,
    path = "/api/v1/apiClient/virtual-number/purchase",
    tag = "virtual-number",
    security(("api_key" = [])),
    request_body(content((PurchaseRequest = "application/json"))),
    responses(
        (status = 400, description = "Always: a field is invalid, the product is not the number's for that cycle, or (once all is valid) card payments are not supported; use purchase-postpaid", body = Failure),
        (status = 404, description = "No such number", body = Failure),
        (status = 409, description = "The number is not available", body = Failure),
    ),
)]
pub async fn purchase(
    State(s): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody,
) -> Result<Response, VnError> {
    let mut check = Check::new();
    let product = check.string(&body, "product", true);
    let number = check.string(&body, "number", true);
    let cycle = check.one_of(&body, "recurring_time", &["month", "year"]);
    let _resubscribe = check.boolean(&body, "resubscribe");
    check.finish()?;
    let (Some(product), Some(number), Some(cycle)) =
        (product, number, cycle.and_then(Cycle::parse))
    else {
        // `finish` passed, so every required field was read: this is a bug.
        return Err(VnError::internal(
            &"purchase fields missing after validation",
        ));
    };
    let uid = NumberUid::parse(&number).ok_or_else(VnError::number_not_found)?;
    s.core
        .check_purchase(&caller, &uid, cycle, &product)
        .await?;
    Err(VnError::bad_request(messages::CARD_REFUSED))
}

/// Any other path under the face: the original's catch-all, 404 `Not found`.
pub async fn not_found() -> VnError {
    VnError::route_not_found()
}

/// A method a route does not serve: 405 `Method not allowed`.
pub async fn method_not_allowed() -> VnError {
    VnError::method_not_allowed()
}
