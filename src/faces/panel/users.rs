//! `POST /api/user/create`, `GET /api/user/list`, `GET /api/user/show`,
//! `GET /api/user/parents_tree`: a reseller's accounts. Reseller only.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use utoipa::ToSchema;

use super::envelope::{
    Envelope, FailureMeta, Meta, Null, PageMeta, PanelError, success, success_page,
};
use super::input::{Body, Fields, Reseller, Rid, query_map, schema};
use super::messages::{Lang, Rule};
use super::numbers::{paginator, paging_fields};
use crate::core::CoreError;
use crate::core::accounts::SubAccountSpec;
use crate::domain::{NewPassword, PasswordShortfall, Username};
use crate::http::AppState;
use crate::store::{Account, DownlineFilter, Page, Relation};

/// `PanelError::from_core`'s reference fields: only the account, as `user_id`.
const USER_REF: [&str; 4] = ["", "", "user_id", ""];

/// The longest `name_family` and `email` accepted (Laravel's usual `max:255`).
const MAX_TEXT: usize = 255;

/// The longest username (see `crate::domain::Username`).
const USERNAME_MAX: usize = 32;

const CREATE_FIELDS: [&str; 6] = [
    "user_name",
    "password",
    "name_family",
    "mobile_number",
    "email",
    "is_reseller",
];

const LIST_FIELDS: [&str; 6] = [
    "page",
    "per_page",
    "username",
    "name",
    "is_reseller",
    "sub_reseller",
];

/// `yes` or `no`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum YesNo {
    Yes,
    No,
}

fn yes_no(b: bool) -> YesNo {
    if b { YesNo::Yes } else { YesNo::No }
}

/// `active` or `suspended`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Suspended,
}

/// An account, as the list gives it (`P` is the parent's id) and `show`
/// (`P` is the parent's id and username); `parent` is null for an
/// administrator (a root of the tree).
#[derive(Serialize, ToSchema)]
pub struct UserItem<P> {
    user_id: i64,
    uname: String,
    name: String,
    /// Administrators count as resellers, as in `check_token`.
    is_reseller: YesNo,
    status: Status,
    parent: P,
    /// Creation, Unix seconds.
    time: i64,
}

/// `parent` in `show`.
#[derive(Serialize, ToSchema)]
pub struct ParentRef {
    user_id: i64,
    uname: String,
}

fn item<P>(a: &Account, parent: P) -> UserItem<P> {
    UserItem {
        user_id: a.id,
        uname: a.username.clone(),
        name: a.name.clone(),
        is_reseller: yes_no(a.can_manage()),
        status: if a.suspended {
            Status::Suspended
        } else {
            Status::Active
        },
        parent,
        time: a.created_at,
    }
}

/// The body of `create` (also accepted as a form).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field by `Fields`; this is its schema.
pub struct CreateUserRequest {
    /// A username: unique, 3 to 32 letters, digits, `.`, `_` or `-`.
    #[schema(pattern = r"^[ \t\n\r\x00\x0B]*[A-Za-z0-9._-]{3,32}[ \t\n\r\x00\x0B]*$")]
    user_name: String,
    /// At least 8 characters with an upper-case letter, a lower-case letter,
    /// a digit and a symbol.
    #[schema(min_length = 8)]
    password: String,
    /// At most 255 characters once trimmed, no NUL.
    #[schema(
        pattern = r"^[ \t\n\r\x00\x0B]*([^\x00]{0,254}[^ \t\n\r\x00\x0B])?[ \t\n\r\x00\x0B]*$"
    )]
    name_family: Option<String>,
    /// An optional `+` and 8 to 15 digits.
    #[schema(pattern = r"^[ \t\n\r\x00\x0B]*(\+?[0-9]{8,15})?[ \t\n\r\x00\x0B]*$")]
    mobile_number: Option<String>,
    /// At most 255 characters once trimmed: one `@` with text on both sides,
    /// no spaces or control characters.
    #[schema(
        pattern = r"^[ \t\n\r\x00\x0B]*([^@\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^@\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+)?[ \t\n\r\x00\x0B]*$"
    )]
    email: Option<String>,
    /// Default false.
    #[schema(schema_with = schema::optional_boolean)]
    is_reseller: Option<bool>,
}

/// `data` of `create`.
#[derive(Serialize, ToSchema)]
pub struct Created {
    user_id: i64,
}

/// An account named in `parents_tree`.
#[derive(Serialize, ToSchema)]
pub struct TreeAccount<R> {
    id: i64,
    username: String,
    /// A boolean for the selected account and the root, `yes`/`no` in `tree`,
    /// as IPPanel has it. Administrators count as resellers.
    is_reseller: R,
}

/// `data` of `parents_tree`.
#[derive(Serialize, ToSchema)]
pub struct ParentsTree {
    selected_user: TreeAccount<bool>,
    main_parent: TreeAccount<bool>,
    /// From the root down to the account's parent.
    tree: Vec<TreeAccount<YesNo>>,
}

/// `mobile_number`: an optional `+` and 8 to 15 ASCII digits, as given.
fn parse_mobile(s: &str) -> Option<String> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.to_owned())
}

/// `email`: one `@` with text on both sides, and no spaces or control
/// characters anywhere. Deliverability is not this service's to judge.
fn parse_email(s: &str) -> Option<String> {
    let (local, domain) = s.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| s.to_owned())
}

/// An optional string of at most `max` characters, without NUL: no text
/// stored or searched can hold one (PostgreSQL refuses it in any text value,
/// which made such a name or filter a 500 there), so it is a format error.
fn bounded_text(v: &mut Fields<'_>, name: &str, max: usize) -> Option<String> {
    let s = v.string(name)?;
    if s.contains('\0') {
        v.fail(name, Rule::Format);
        return None;
    }
    if s.chars().count() > max {
        v.fail(name, Rule::MaxLength(max));
        return None;
    }
    Some(s)
}

/// The 422 of a taken username (`unique` on `user_name`).
fn username_taken(lang: Lang) -> PanelError {
    let empty = Map::new();
    let mut v = Fields::new(lang, &empty);
    v.fail("user_name", Rule::Unique);
    match v.finish(&["user_name"]) {
        Err(e) => e,
        Ok(()) => PanelError::internal(lang),
    }
}

#[utoipa::path(
    post,
    path = "/api/user/create",
    tag = "panel",
    security(("api_key" = [])),
    request_body(content(
        (CreateUserRequest = "application/json"),
        (CreateUserRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The account is created beneath the caller", body = Envelope<Created, Meta>),
        (status = 400, description = "The body is not a JSON object", body = Envelope<Null, FailureMeta>),
        (status = 403, description = "Resellers only", body = Envelope<Null, FailureMeta>),
        (status = 422, description = "A field is missing or invalid, or the username is taken", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn create(
    State(s): State<AppState>,
    lang: Lang,
    Rid(rid): Rid,
    Reseller(caller): Reseller,
    Body(body): Body,
) -> Result<Response, PanelError> {
    let mut v = Fields::new(lang, &body);
    v.required("user_name");
    let username = v.formatted("user_name", Username::parse);
    v.required("password");
    let password = match v.string("password").map(|p| NewPassword::parse(&p)) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(shortfalls)) => {
            // As Laravel's `Password` rule: `min` alone when too short,
            // otherwise one message per missing class.
            for shortfall in shortfalls {
                let rule = match shortfall {
                    PasswordShortfall::TooShort => Rule::MinLength(NewPassword::MIN_CHARS),
                    PasswordShortfall::MixedCase => Rule::PasswordMixedCase,
                    PasswordShortfall::Symbol => Rule::PasswordSymbols,
                    PasswordShortfall::Number => Rule::PasswordNumbers,
                };
                v.fail("password", rule);
            }
            None
        }
    };
    let name = bounded_text(&mut v, "name_family", MAX_TEXT);
    let mobile = v.formatted("mobile_number", parse_mobile);
    let email = match bounded_text(&mut v, "email", MAX_TEXT) {
        Some(e) => match parse_email(&e) {
            Some(e) => Some(e),
            None => {
                v.fail("email", Rule::Format);
                None
            }
        },
        None => None,
    };
    let is_reseller = v.boolean("is_reseller").unwrap_or(false);
    // Reported beside the other fields' errors, as Laravel's `unique` is; the
    // database's unique index still decides when two creates race.
    if let Some(u) = &username {
        let taken = s
            .core
            .username_taken(u)
            .await
            .map_err(|e| PanelError::from_core(lang, e, USER_REF))?;
        if taken {
            v.fail("user_name", Rule::Unique);
        }
    }
    v.finish(&CREATE_FIELDS)?;
    let (Some(username), Some(password)) = (username, password) else {
        // finish() passed, so both were read; this cannot happen.
        return Err(PanelError::internal(lang));
    };
    let spec = SubAccountSpec {
        username,
        password,
        name,
        mobile,
        email,
        is_reseller,
    };
    let account = match s.core.create_beneath(&caller, spec, &rid).await {
        Ok(a) => a,
        Err(CoreError::Taken("username")) => return Err(username_taken(lang)),
        Err(e) => return Err(PanelError::from_core(lang, e, USER_REF)),
    };
    Ok(success(
        lang,
        Created {
            user_id: account.id,
        },
    ))
}

/// `value` if it is one of `allowed`; Laravel's `in` rule otherwise, whose
/// message is the `exists` one ("The selected :attribute is invalid.").
fn one_of<'v>(v: &mut Fields<'_>, name: &str, allowed: &[&'v str]) -> Option<&'v str> {
    let s = v.string(name)?;
    let found = allowed.iter().copied().find(|a| *a == s);
    if found.is_none() {
        v.fail(name, Rule::Exists);
    }
    found
}

#[utoipa::path(
    get,
    path = "/api/user/list",
    tag = "panel",
    security(("api_key" = [])),
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 92_233_720_368_547_758_i64, description = "From 1 (default 1); at most `i64::MAX / 100`"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 10)"),
        ("username" = Option<String>, Query, pattern = r"^[ \t\n\r\x00\x0B]*([^\x00]{0,31}[^ \t\n\r\x00\x0B])?[ \t\n\r\x00\x0B]*$", description = "Part of the username: at most 32 characters once trimmed, no NUL"),
        ("name" = Option<String>, Query, pattern = r"^[ \t\n\r\x00\x0B]*([^\x00]{0,254}[^ \t\n\r\x00\x0B])?[ \t\n\r\x00\x0B]*$", description = "Part of the name: at most 255 characters once trimmed, no NUL"),
        ("is_reseller" = Option<String>, Query, pattern = r"^[ \t\n\r\x00\x0B]*((yes|no)[ \t\n\r\x00\x0B]*)?$", description = "`yes` or `no`; blank is absent"),
        ("sub_reseller" = Option<String>, Query, pattern = r"^[ \t\n\r\x00\x0B]*([01][ \t\n\r\x00\x0B]*)?$", description = "`0`: direct children only; `1`: indirect only; omitted or blank: both"),
    ),
    responses(
        (status = 200, description = "The caller's downline", body = Envelope<Vec<UserItem<Option<i64>>>, PageMeta>),
        (status = 403, description = "Resellers only", body = Envelope<Null, FailureMeta>),
        (status = 422, description = "A filter is invalid", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn list(
    State(s): State<AppState>,
    lang: Lang,
    Reseller(caller): Reseller,
    RawQuery(query): RawQuery,
) -> Result<Response, PanelError> {
    let q = query_map(query.as_deref());
    let mut v = Fields::new(lang, &q);
    let (page, per_page) = paging_fields(&mut v);
    let filter = DownlineFilter {
        // A filter longer than any value it could match is refused, which
        // also keeps the LIKE patterns well inside SQLite's limits.
        username: bounded_text(&mut v, "username", USERNAME_MAX),
        name: bounded_text(&mut v, "name", MAX_TEXT),
        is_reseller: one_of(&mut v, "is_reseller", &["yes", "no"]).map(|x| x == "yes"),
        relation: one_of(&mut v, "sub_reseller", &["0", "1"]).map(|x| match x {
            "0" => Relation::Direct,
            _ => Relation::Indirect,
        }),
        ..DownlineFilter::default()
    };
    v.finish(&LIST_FIELDS)?;
    let window = Page {
        offset: (page - 1) * per_page,
        limit: per_page,
    };
    let listing = s
        .core
        .downline(&caller, filter, window)
        .await
        .map_err(|e| PanelError::from_core(lang, e, USER_REF))?;
    let items: Vec<UserItem<Option<i64>>> =
        listing.items.iter().map(|a| item(a, a.parent_id)).collect();
    let meta = paginator(page, per_page, listing.total, items.len());
    Ok(success_page(lang, items, meta))
}

/// `user_id` from the query: `required` when absent; anything but a
/// positive integer in plain digits names no account, so it gets the same
/// `exists` error as an account the caller may not see.
fn user_id(lang: Lang, query: Option<&str>) -> Result<i64, PanelError> {
    let q = query_map(query);
    let mut v = Fields::new(lang, &q);
    v.required("user_id");
    let id = v.string("user_id").and_then(|s| {
        let id = s
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<i64>().ok())
            .flatten()
            .filter(|id| *id > 0);
        if id.is_none() {
            v.fail("user_id", Rule::Exists);
        }
        id
    });
    v.finish(&["user_id"])?;
    id.ok_or_else(|| PanelError::internal(lang))
}

#[utoipa::path(
    get,
    path = "/api/user/show",
    tag = "panel",
    security(("api_key" = [])),
    params(("user_id" = i64, Query, minimum = 1, description = "An account of the caller's downline, or the caller")),
    responses(
        (status = 200, description = "The account", body = Envelope<UserItem<Option<ParentRef>>, Meta>),
        (status = 403, description = "Resellers only", body = Envelope<Null, FailureMeta>),
        (status = 422, description = "`user_id` missing, or naming no account the caller may see", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn show(
    State(s): State<AppState>,
    lang: Lang,
    Reseller(caller): Reseller,
    RawQuery(query): RawQuery,
) -> Result<Response, PanelError> {
    let id = user_id(lang, query.as_deref())?;
    let view = s
        .core
        .show_account(&caller, id)
        .await
        .map_err(|e| PanelError::from_core(lang, e, USER_REF))?;
    let parent = view.parent.map(|p| ParentRef {
        user_id: p.id,
        uname: p.username,
    });
    Ok(success(lang, item(&view.account, parent)))
}

#[utoipa::path(
    get,
    path = "/api/user/parents_tree",
    tag = "panel",
    security(("api_key" = [])),
    params(("user_id" = i64, Query, minimum = 1, description = "An account of the caller's downline, or the caller")),
    responses(
        (status = 200, description = "The account's chain of parents", body = Envelope<ParentsTree, Meta>),
        (status = 403, description = "Resellers only", body = Envelope<Null, FailureMeta>),
        (status = 422, description = "`user_id` missing, or naming no account the caller may see", body = Envelope<Null, FailureMeta>),
    ),
)]
pub async fn parents_tree(
    State(s): State<AppState>,
    lang: Lang,
    Reseller(caller): Reseller,
    RawQuery(query): RawQuery,
) -> Result<Response, PanelError> {
    let id = user_id(lang, query.as_deref())?;
    let found = s
        .core
        .ancestry(&caller, id)
        .await
        .map_err(|e| PanelError::from_core(lang, e, USER_REF))?;
    let named = |a: &Account| TreeAccount {
        id: a.id,
        username: a.username.clone(),
        is_reseller: a.can_manage(),
    };
    let tree = found
        .chain
        .iter()
        .map(|a| TreeAccount {
            id: a.id,
            username: a.username.clone(),
            is_reseller: yes_no(a.can_manage()),
        })
        .collect();
    Ok(success(
        lang,
        ParentsTree {
            selected_user: named(&found.selected),
            main_parent: named(&found.root),
            tree,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::{parse_email, parse_mobile};

    #[test]
    fn mobile_numbers() {
        for good in [
            "09121234567",
            "+989121234567",
            "12345678",
            "+123456789012345",
        ] {
            assert!(parse_mobile(good).is_some(), "{good:?}");
        }
        for bad in [
            "",
            "+",
            "1234567",
            "1234567890123456",
            "0912 123 4567",
            "++98912",
            "۰۹۱۲۱۲۳۴۵۶۷",
        ] {
            assert!(parse_mobile(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        for good in ["a@b", "first.last+tag@example.co", "کاربر@مثال.ایران"] {
            assert!(parse_email(good).is_some(), "{good:?}");
        }
        for bad in ["", "ab", "@b", "a@", "a@b@c", "a b@c", "a@b\n", "a@@b"] {
            assert!(parse_email(bad).is_none(), "{bad:?}");
        }
    }
}
