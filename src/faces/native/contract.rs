//! The native face's contract in `/openapi.json`, beyond what
//! [`super::openapi`] states of every route (its statuses and problems):
//! each query parameter, each request body's fields with every constraint
//! the handlers enforce, each success body's schema, and the links from the
//! routes that create something to those that show, change and delete it.
//! Schemathesis runs every check over it (`.ci/schemathesis.sh`).
//!
//! The schemas are JSON Schema (OpenAPI 3.1), written here as JSON and put
//! into the serialized document, since `utoipa`'s schema types deserialize
//! `oneOf` and `anyOf` ambiguously. A schema states only what the handler
//! checks: a body's unknown fields are ignored by the handlers, so the
//! schemas allow them; what no schema can say (a password's character
//! classes, a username already taken, a cursor no page gave, a time that
//! has passed) is in `.ci/schemathesis.toml`.
//!
//! String patterns end with `(?![\s\S])` rather than `$`: in the regex
//! dialects that read them, `$` also matches before a final newline, which
//! the handlers refuse.

use serde_json::{Map, Value, json};

/// The components this contract names, under `#/components/schemas`.
fn components() -> Vec<(&'static str, Value)> {
    let id = json!({"type": "integer"});
    let time = json!({"type": "string", "format": "date-time"});
    let time_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    let int_or_null = json!({"type": ["integer", "null"]});
    let state =
        json!({"type": "string", "enum": ["available", "reserved", "subscribed", "quarantined"]});
    let number_fields = json!({
        "id": id, "uid": {"type": "string"}, "number": {"type": "string"},
        "country": {"type": "string"}, "state": state,
        "operator_id": int_or_null, "alias": {"type": ["string", "null"]},
        "monthly_price": id, "yearly_price": id,
    });
    let number_required = json!([
        "id",
        "uid",
        "number",
        "country",
        "state",
        "operator_id",
        "alias",
        "monthly_price",
        "yearly_price"
    ]);
    let with = |base: &Value, extra: Value| -> Value {
        let mut props = base.as_object().cloned().unwrap_or_default();
        if let Value::Object(more) = extra {
            props.extend(more);
        }
        Value::Object(props)
    };
    let account_fields = json!({
        "id": id, "username": {"type": "string"}, "name": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "reseller", "user"]},
        "status": {"type": "string", "enum": ["active", "suspended"]},
        "parent_id": int_or_null, "created_at": time,
    });
    let account_required = json!([
        "id",
        "username",
        "name",
        "role",
        "status",
        "parent_id",
        "created_at"
    ]);
    let nullable = |name: &str| json!({"anyOf": [reference(name), {"type": "null"}]});
    let chain = json!({"type": "array", "items": id});
    let change = |kind: &str, props: Value, required: &[&str]| -> Value {
        let mut p = json!({"type": {"type": "string", "const": kind}});
        if let (Some(p), Value::Object(more)) = (p.as_object_mut(), props) {
            p.extend(more);
        }
        let mut req = vec![json!("type")];
        req.extend(required.iter().map(|s| json!(s)));
        json!({"type": "object", "properties": p, "required": req})
    };
    let grant_ids = ["number_id", "account_id", "granted_by"];
    let removed_fields = json!({
        "number_id": id, "account_id": id, "granted_by": id,
        "reason": {"type": "string"}, "chain": chain,
    });
    vec![
        (
            "NativeBrief",
            json!({"type": "object", "required": ["id", "username"],
                "properties": {"id": id, "username": {"type": "string"}}}),
        ),
        (
            "NativeAccount",
            json!({"type": "object", "required": account_required,
                "properties": account_fields}),
        ),
        (
            "NativeAccountShown",
            json!({"type": "object",
                "required": required_list(&account_required, &["ancestors"]),
                "properties": with(&account_fields, json!({
                    "ancestors": {"type": "array", "items": reference("NativeBrief")}}))}),
        ),
        (
            "NativeMe",
            json!({"type": "object",
                "required": required_list(&account_required, &["credential", "limits"]),
                "properties": with(&account_fields, json!({
                    "credential": {"type": "string", "enum": ["session", "key"]},
                    "limits": {"type": "object", "required": ["requests_per_second", "burst"],
                        "properties": {"requests_per_second": id, "burst": id}}}))}),
        ),
        (
            "NativePerms",
            json!({"type": "object", "required": ["send", "gets"],
                "properties": {"send": {"type": "boolean"}, "gets": {"type": "boolean"}}}),
        ),
        (
            "NativeTerms",
            json!({"type": "object", "required": ["send", "gets", "expires_at"],
                "properties": {"send": {"type": "boolean"}, "gets": {"type": "boolean"},
                    "expires_at": time_or_null}}),
        ),
        (
            "NativeNumber",
            json!({"type": "object", "required": number_required, "properties": number_fields}),
        ),
        (
            "NativeGrantNode",
            json!({"type": "object",
                "required": ["account", "granted_by", "permissions", "created_at", "grants"],
                "properties": {"account": reference("NativeBrief"), "granted_by": id,
                    "permissions": reference("NativePerms"), "created_at": time,
                    "grants": {"type": "array", "items": reference("NativeGrantNode")}}}),
        ),
        (
            "NativeNumberShown",
            json!({"type": "object", "required": required_list(&number_required, &["owner", "permissions", "grants"]),
                "properties": with(&number_fields, json!({
                    "owner": nullable("NativeBrief"),
                    "permissions": reference("NativePerms"),
                    "grants": {"type": "array", "items": reference("NativeGrantNode")}}))}),
        ),
        (
            "NativeOwned",
            json!({"type": "object", "required": required_list(&number_required, &["subscription"]),
                "properties": with(&number_fields, json!({
                    "subscription": {"anyOf": [{"type": "null"}, {"type": "object",
                        "required": ["cycle", "resubscribe", "subscribed_at"],
                        "properties": {"cycle": {"type": "string"},
                            "resubscribe": {"type": "boolean"}, "subscribed_at": time}}]}}))}),
        ),
        (
            "NativeHolding",
            json!({"type": "object",
                "required": ["id", "uid", "number", "country", "state", "owned", "permissions"],
                "properties": {"id": id, "uid": {"type": "string"}, "number": {"type": "string"},
                    "country": {"type": "string"}, "state": state, "owned": {"type": "boolean"},
                    "permissions": reference("NativePerms")}}),
        ),
        (
            "NativePoolNumber",
            json!({"type": "object",
                "required": ["id", "uid", "number", "country", "monthly_price", "yearly_price"],
                "properties": {"id": id, "uid": {"type": "string"}, "number": {"type": "string"},
                    "country": {"type": "string"}, "monthly_price": id, "yearly_price": id}}),
        ),
        (
            "NativeGrant",
            json!({"type": "object",
                "required": ["number_id", "account_id", "granted_by", "permissions", "created_at", "expires_at"],
                "properties": {"number_id": id, "account_id": id, "granted_by": id,
                    "permissions": reference("NativePerms"), "created_at": time,
                    "expires_at": time_or_null}}),
        ),
        (
            "NativeChange",
            json!({"oneOf": [
                change("grant.created", json!({"number_id": id, "account_id": id,
                    "granted_by": id, "terms": reference("NativeTerms")}),
                    &["number_id", "account_id", "granted_by", "terms"]),
                change("grant.removed", removed_fields.clone(),
                    &[grant_ids[0], grant_ids[1], grant_ids[2], "reason", "chain"]),
                change("grant.changed", json!({"number_id": id, "account_id": id,
                    "granted_by": id, "before": reference("NativeTerms"),
                    "after": reference("NativeTerms"), "cascaded": {"type": "boolean"},
                    "chain": chain}),
                    &[grant_ids[0], grant_ids[1], grant_ids[2], "before", "after", "cascaded", "chain"]),
                change("number.unsubscribed", json!({"number_id": id, "owner_id": id,
                    "quarantine_until": time_or_null}),
                    &["number_id", "owner_id", "quarantine_until"]),
            ]}),
        ),
        (
            "NativeOutcome",
            json!({"type": "object", "required": ["changes"],
                "properties": {"dry_run": {"type": "boolean", "const": true},
                    "changes": {"type": "array", "items": reference("NativeChange")}}}),
        ),
        (
            "NativeRemoved",
            json!({"type": "object", "required": ["removed"],
                "properties": {"removed": {"type": "array", "items": {"type": "object",
                    "required": ["number_id", "account_id", "granted_by", "reason", "chain"],
                    "properties": removed_fields}}}}),
        ),
        (
            "NativeBulk",
            json!({"type": "object", "required": ["committed", "results"],
            "properties": {"dry_run": {"type": "boolean", "const": true},
                "committed": {"type": "boolean"},
                "results": {"type": "array", "items": {"oneOf": [
                    {"type": "object", "required": ["status", "changes"],
                        "properties": {"status": id, "changes": {"type": "array",
                            "items": reference("NativeChange")}}},
                    {"type": "object", "required": ["status", "problem"],
                        "properties": {"status": id, "problem": reference("ProblemBody")}},
                ]}}}}),
        ),
        (
            "NativeReservation",
            json!({"type": "object", "required": ["id", "uid", "number", "country", "until"],
                "properties": {"id": id, "uid": {"type": "string"}, "number": {"type": "string"},
                    "country": {"type": "string"}, "until": time}}),
        ),
        (
            "NativeSession",
            json!({"type": "object", "required": ["token", "expires_at"],
                "properties": {"token": {"type": "string"}, "expires_at": time}}),
        ),
        (
            "NativeKey",
            json!({"type": "object", "required": ["id", "created_at"],
                "properties": {"id": id, "created_at": time}}),
        ),
        (
            "NativeKeyCreated",
            json!({"type": "object", "required": ["id", "key", "created_at"],
                "properties": {"id": id, "key": {"type": "string"}, "created_at": time}}),
        ),
        (
            "NativeHistoryEntry",
            json!({"type": "object",
                "required": ["id", "at", "action", "number", "actor", "target", "granted_by",
                    "permissions", "request_id"],
                "properties": {"id": id, "at": time, "action": {"type": "string"},
                    "number": {"anyOf": [{"type": "null"}, {"type": "object",
                        "required": ["id", "number"],
                        "properties": {"id": id, "number": {"type": "string"}}}]},
                    "actor": nullable("NativeBrief"), "target": nullable("NativeBrief"),
                    "granted_by": nullable("NativeBrief"),
                    "permissions": nullable("NativePerms"),
                    "request_id": {"type": "string"}}}),
        ),
        (
            "NativeEvent",
            json!({"type": "object",
                "required": ["id", "type", "at", "actor_id", "request_id", "number_id",
                    "number", "account_id", "data"],
                "properties": {"id": id, "type": {"type": "string"}, "at": time,
                    "actor_id": int_or_null, "request_id": {"type": "string"},
                    "number_id": int_or_null, "number": {"type": ["string", "null"]},
                    "account_id": int_or_null, "data": {"type": "object"}}}),
        ),
        (
            "NativeWebhook",
            json!({"type": "object",
                "required": ["id", "url", "types", "description", "enabled", "disabled_at",
                    "disabled_reason", "failing_since", "created_at"],
                "properties": webhook_fields()}),
        ),
        (
            "NativeWebhookCreated",
            json!({"type": "object",
                "required": ["id", "url", "types", "description", "enabled", "disabled_at",
                    "disabled_reason", "failing_since", "created_at", "secret"],
                "properties": with(&webhook_fields(), json!({
                    "secret": {"type": "string", "pattern": "^whsec_"}}))}),
        ),
        (
            "NativeDelivery",
            json!({"type": "object",
                "required": ["id", "event_id", "event_type", "state", "attempts",
                    "next_attempt_at", "created_at", "done_at", "log"],
                "properties": {"id": id, "event_id": id, "event_type": {"type": "string"},
                    "state": {"type": "string"}, "attempts": id,
                    "next_attempt_at": time_or_null, "created_at": time, "done_at": time_or_null,
                    "log": {"type": "array", "items": {"type": "object",
                        "required": ["attempt", "at", "status", "latency_ms", "response", "error"],
                        "properties": {"attempt": id, "at": time, "status": int_or_null,
                            "latency_ms": id, "response": {"type": "string"},
                            "error": {"type": ["string", "null"]}}}}}}),
        ),
        (
            "NativeRouting",
            json!({"type": "object",
                "required": ["number", "state", "owner", "send", "gets", "holders"],
                "properties": {"number": {"type": "string"}, "state": state,
                    "owner": nullable("NativeBrief"),
                    "send": {"type": "array", "items": id},
                    "gets": {"type": "array", "items": id},
                    "holders": {"type": "array", "items": {"type": "object",
                        "required": ["account", "permissions", "granted_by"],
                        "properties": {"account": reference("NativeBrief"),
                            "permissions": reference("NativePerms"),
                            "granted_by": int_or_null}}}}}),
        ),
    ]
}

/// An endpoint's fields, as the webhook routes answer them.
fn webhook_fields() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let time_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    json!({"id": {"type": "integer"}, "url": {"type": "string"},
        "types": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"}, "enabled": {"type": "boolean"},
        "disabled_at": time_or_null, "disabled_reason": {"type": ["string", "null"]},
        "failing_since": time_or_null, "created_at": time})
}

/// An endpoint's settable fields: `required` names what creation needs.
fn webhook_body(required: &[&str]) -> Value {
    let types: Vec<&str> = crate::core::webhooks::EVENT_TYPES.to_vec();
    object(
        json!({
            "url": {"type": "string", "maxLength": crate::core::webhooks::MAX_URL_LEN,
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
            "types": {"anyOf": [
                {"type": "null"},
                {"type": "array", "minItems": 1, "maxItems": 1, "items": {"const": "*"}},
                {"type": "array", "minItems": 1, "items": {"type": "string", "enum": types}},
            ]},
            "description": {"type": ["string", "null"],
                "pattern": r"^[^\x00-\x1F\x7F-\x9F]{0,200}(?![\s\S])"},
        }),
        required,
    )
}

fn required_list(base: &Value, extra: &[&str]) -> Value {
    let mut list = base.as_array().cloned().unwrap_or_default();
    list.extend(extra.iter().map(|s| json!(s)));
    Value::Array(list)
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `{items: [<name>], next_cursor}`.
fn page(name: &str) -> Value {
    json!({"type": "object", "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": reference(name)},
            "next_cursor": {"type": ["string", "null"]}}})
}

/// A query parameter.
fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

/// `limit` and `cursor`, as every keyset-paged list reads them.
fn paging() -> Vec<Value> {
    vec![
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 500}),
        ),
        query("cursor", json!({"type": "string"})),
    ]
}

fn dry_run() -> Vec<Value> {
    vec![query("dry_run", json!({"type": "boolean"}))]
}

/// 1 to 15 digits (`prefix`, `contains`).
fn digits() -> Value {
    json!({"type": "string", "pattern": r"^[0-9]{1,15}(?![\s\S])"})
}

/// A whole number as JSON carries it: within a 64-bit integer.
fn int64() -> Value {
    json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX})
}

/// An RFC 3339 date-time as the handlers read it (`T`, `t` or a space
/// between date and time, as RFC 3339 allows; `Z`, `z` or an offset), or
/// null. A date the calendar lacks (30 February) matches the pattern and
/// is refused. No `format`: validators of `date-time` refuse the space.
fn request_time() -> Value {
    json!({"type": ["string", "null"],
        "description": "An RFC 3339 date-time",
    "pattern": concat!(
        r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]",
        r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?",
        r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])(?![\s\S])"
    )})
}

/// What names a number in a body: an id, an E.164 number or a uid.
fn number_ref() -> Value {
    json!({"anyOf": [{"type": "string"}, int64()]})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// One bulk item, by its `op`.
fn bulk_item() -> Value {
    let account = json!({"anyOf": [{"type": "string"}, int64()]});
    let time = request_time();
    let op = |name: &str| json!({"type": "string", "const": name});
    let boolean = json!({"type": "boolean"});
    let maybe = json!({"type": ["boolean", "null"]});
    json!({"oneOf": [
        object(json!({"op": op("assign"), "number": number_ref(), "account": account,
            "send": boolean, "gets": boolean, "expires_at": time}),
            &["op", "number", "account", "send", "gets"]),
        {"allOf": [
            object(json!({"op": op("change"), "number": number_ref(), "account": account,
                "send": maybe, "gets": maybe, "expires_at": time}),
                &["op", "number", "account"]),
            at_least_one_term(),
        ]},
        object(json!({"op": op("unassign"), "number": number_ref(), "account": account}),
            &["op", "number", "account"]),
    ]})
}

/// A grant change names at least one of its terms.
fn at_least_one_term() -> Value {
    json!({"anyOf": [{"required": ["send"]}, {"required": ["gets"]}, {"required": ["expires_at"]}]})
}

/// A text field of an account, or null: 1 to 255 characters, not only white space
/// (as Rust's `char::is_whitespace` has it, which the handlers' `trim`
/// uses; regex's `\s` differs), and no NUL (which no stored text holds).
fn text() -> Value {
    json!({"type": ["string", "null"], "minLength": 1, "maxLength": 255,
        "pattern": concat!(r"^[^\x00]*",
            r"[^\x00\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
            r"[^\x00]*(?![\s\S])")})
}

/// Any string without NUL, which no stored or searched text holds.
const NO_NUL: &str = r"^[^\x00]*(?![\s\S])";

/// `(method, path, query parameters, request body, success body)`.
type Spec = (
    &'static str,
    &'static str,
    Vec<Value>,
    Option<Value>,
    Option<Value>,
);

fn specs() -> Vec<Spec> {
    let nothing = json!({"type": "object"});
    let duration = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 86400});
    let mut numbers_query = vec![
        query(
            "state",
            json!({"type": "string", "enum": ["subscribed", "available"]}),
        ),
        query(
            "country",
            json!({"type": "string", "pattern": r"^[A-Za-z]{2}(?![\s\S])"}),
        ),
        query("prefix", digits()),
        query("contains", digits()),
        query("owned", json!({"type": "boolean"})),
        query(
            "granted_to",
            json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
        ),
    ];
    numbers_query.extend(paging());
    let mut accounts_query = vec![
        query(
            "parent",
            json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
        ),
        query("direct", json!({"type": "boolean"})),
        query("reseller", json!({"type": "boolean"})),
        query(
            "q",
            json!({"type": "string", "maxLength": 255, "pattern": NO_NUL}),
        ),
    ];
    accounts_query.extend(paging());
    let mut pool_query = vec![
        query(
            "country",
            json!({"type": "string", "pattern": r"^[A-Za-z]{2}(?![\s\S])"}),
        ),
        query("prefix", digits()),
        query("contains", digits()),
        query(
            "min_monthly_price",
            json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
        ),
        query(
            "max_monthly_price",
            json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
        ),
    ];
    pool_query.extend(paging());
    let events_query = vec![
        query(
            "after",
            json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
        ),
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 500}),
        ),
        query(
            "wait",
            json!({"type": "integer", "minimum": 0, "maximum": 30}),
        ),
    ];
    let unassigned = json!({"anyOf": [reference("NativeRemoved"), reference("NativeOutcome")]});
    vec![
        (
            "post",
            "/lk/v1/sessions",
            vec![],
            Some(object(
                json!({"username": {"type": "string"}, "password": {"type": "string"}}),
                &["username", "password"],
            )),
            Some(reference("NativeSession")),
        ),
        ("delete", "/lk/v1/sessions/current", vec![], None, None),
        (
            "post",
            "/lk/v1/keys",
            vec![],
            Some(nothing.clone()),
            Some(reference("NativeKeyCreated")),
        ),
        (
            "get",
            "/lk/v1/keys",
            paging(),
            None,
            Some(page("NativeKey")),
        ),
        ("delete", "/lk/v1/keys/{id}", vec![], None, None),
        (
            "get",
            "/lk/v1/me",
            vec![],
            None,
            Some(reference("NativeMe")),
        ),
        (
            "get",
            "/lk/v1/accounts",
            accounts_query,
            None,
            Some(page("NativeAccount")),
        ),
        (
            "post",
            "/lk/v1/accounts",
            vec![],
            Some(object(
                json!({
                    "username": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{3,32}(?![\s\S])"},
                    "password": {"type": "string", "minLength": crate::domain::NewPassword::MIN_CHARS},
                    "name": text(),
                    "is_reseller": {"type": ["boolean", "null"]},
                    "email": {"type": ["string", "null"], "maxLength": 255, "pattern": NO_NUL},
                    "mobile": {"type": ["string", "null"], "maxLength": 255, "pattern": NO_NUL},
                }),
                &["username", "password"],
            )),
            Some(reference("NativeAccount")),
        ),
        (
            "get",
            "/lk/v1/accounts/{id}",
            vec![],
            None,
            Some(reference("NativeAccountShown")),
        ),
        (
            "patch",
            "/lk/v1/accounts/{id}",
            vec![],
            Some(object(
                json!({
                    "name": text(),
                    "status": {"type": ["string", "null"], "enum": ["active", "suspended", null]},
                }),
                &[],
            )),
            Some(reference("NativeAccount")),
        ),
        (
            "get",
            "/lk/v1/numbers",
            numbers_query,
            None,
            Some(page("NativeHolding")),
        ),
        (
            "get",
            "/lk/v1/numbers/{number}",
            vec![],
            None,
            Some(reference("NativeNumberShown")),
        ),
        (
            "put",
            "/lk/v1/numbers/{number}/grants/{account}",
            vec![],
            Some(object(
                json!({"send": {"type": "boolean"}, "gets": {"type": "boolean"},
                    "expires_at": request_time()}),
                &["send", "gets"],
            )),
            Some(reference("NativeGrant")),
        ),
        (
            "delete",
            "/lk/v1/numbers/{number}/grants/{account}",
            dry_run(),
            None,
            Some(unassigned),
        ),
        (
            "patch",
            "/lk/v1/numbers/{number}/grants/{account}",
            dry_run(),
            Some(json!({"allOf": [
                object(json!({"send": {"type": ["boolean", "null"]},
                    "gets": {"type": ["boolean", "null"]},
                    "expires_at": request_time()}), &[]),
                at_least_one_term(),
            ]})),
            Some(reference("NativeOutcome")),
        ),
        (
            "post",
            "/lk/v1/grants/bulk",
            dry_run(),
            Some(object(
                json!({"atomic": {"type": "boolean"},
                    "items": {"type": "array", "maxItems": crate::core::bulk::MAX_ITEMS,
                        "items": bulk_item()}}),
                &["atomic", "items"],
            )),
            Some(reference("NativeBulk")),
        ),
        (
            "post",
            "/lk/v1/reservations",
            vec![],
            Some(object(
                json!({"number": number_ref(), "duration_secs": duration}),
                &["number"],
            )),
            Some(reference("NativeReservation")),
        ),
        (
            "get",
            "/lk/v1/reservations",
            paging(),
            None,
            Some(page("NativeReservation")),
        ),
        (
            "patch",
            "/lk/v1/reservations/{number}",
            vec![],
            Some(object(json!({"duration_secs": duration}), &[])),
            Some(reference("NativeReservation")),
        ),
        ("delete", "/lk/v1/reservations/{number}", vec![], None, None),
        (
            "post",
            "/lk/v1/subscriptions",
            vec![],
            Some(object(
                json!({"number": number_ref(), "resubscribe": {"type": ["boolean", "null"]}}),
                &["number"],
            )),
            Some(reference("NativeOwned")),
        ),
        (
            "delete",
            "/lk/v1/subscriptions/{number}",
            dry_run(),
            None,
            Some(reference("NativeOutcome")),
        ),
        (
            "post",
            "/lk/v1/admin/numbers/{number}/release",
            vec![],
            Some(nothing),
            Some(reference("NativeNumber")),
        ),
        (
            "get",
            "/lk/v1/numbers/{number}/history",
            paging(),
            None,
            Some(page("NativeHistoryEntry")),
        ),
        (
            "get",
            "/lk/v1/history",
            paging(),
            None,
            Some(page("NativeHistoryEntry")),
        ),
        (
            "get",
            "/lk/v1/events",
            events_query,
            None,
            Some(
                json!({"type": "object", "required": ["items", "next_after"],
                "properties": {"items": {"type": "array", "items": reference("NativeEvent")},
                    "next_after": {"type": "integer"}}}),
            ),
        ),
        (
            "get",
            "/lk/v1/pool",
            pool_query,
            None,
            Some(page("NativePoolNumber")),
        ),
        (
            "post",
            "/lk/v1/webhooks",
            vec![],
            Some(webhook_body(&["url"])),
            Some(reference("NativeWebhookCreated")),
        ),
        (
            "get",
            "/lk/v1/webhooks",
            paging(),
            None,
            Some(page("NativeWebhook")),
        ),
        (
            "get",
            "/lk/v1/webhooks/{id}",
            vec![],
            None,
            Some(reference("NativeWebhook")),
        ),
        (
            "patch",
            "/lk/v1/webhooks/{id}",
            vec![],
            Some({
                let mut b = webhook_body(&[]);
                b["properties"]["enabled"] = json!({"type": ["boolean", "null"]});
                b
            }),
            Some(reference("NativeWebhook")),
        ),
        ("delete", "/lk/v1/webhooks/{id}", vec![], None, None),
        (
            "get",
            "/lk/v1/webhooks/{id}/deliveries",
            paging(),
            None,
            Some(page("NativeDelivery")),
        ),
        (
            "post",
            "/lk/v1/webhooks/{id}/deliveries/{delivery}/retry",
            vec![],
            Some(json!({"type": "object"})),
            Some(reference("NativeDelivery")),
        ),
        (
            "get",
            "/lk/v1/routing/{e164}",
            vec![],
            None,
            Some(reference("NativeRouting")),
        ),
    ]
}

/// `(from method, from path, link name, to method, to path, parameters)`:
/// a parameter is `(name, runtime expression)`.
type Link = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const LINKS: &[Link] = &[
    (
        "post",
        "/lk/v1/webhooks",
        "ShowWebhook",
        "get",
        "/lk/v1/webhooks/{id}",
        &[("id", "$response.body#/id")],
    ),
    (
        "post",
        "/lk/v1/webhooks",
        "ChangeWebhook",
        "patch",
        "/lk/v1/webhooks/{id}",
        &[("id", "$response.body#/id")],
    ),
    (
        "post",
        "/lk/v1/webhooks",
        "DeleteWebhook",
        "delete",
        "/lk/v1/webhooks/{id}",
        &[("id", "$response.body#/id")],
    ),
    (
        "post",
        "/lk/v1/webhooks",
        "Deliveries",
        "get",
        "/lk/v1/webhooks/{id}/deliveries",
        &[("id", "$response.body#/id")],
    ),
    (
        "post",
        "/lk/v1/accounts",
        "ShowAccount",
        "get",
        "/lk/v1/accounts/{id}",
        &[("id", "$response.body#/id")],
    ),
    (
        "post",
        "/lk/v1/accounts",
        "ChangeAccount",
        "patch",
        "/lk/v1/accounts/{id}",
        &[("id", "$response.body#/id")],
    ),
    (
        "post",
        "/lk/v1/keys",
        "RevokeKey",
        "delete",
        "/lk/v1/keys/{id}",
        &[("id", "$response.body#/id")],
    ),
    (
        "put",
        "/lk/v1/numbers/{number}/grants/{account}",
        "ChangeGrant",
        "patch",
        "/lk/v1/numbers/{number}/grants/{account}",
        &[
            ("number", "$request.path.number"),
            ("account", "$request.path.account"),
        ],
    ),
    (
        "put",
        "/lk/v1/numbers/{number}/grants/{account}",
        "Unassign",
        "delete",
        "/lk/v1/numbers/{number}/grants/{account}",
        &[
            ("number", "$request.path.number"),
            ("account", "$request.path.account"),
        ],
    ),
    (
        "put",
        "/lk/v1/numbers/{number}/grants/{account}",
        "ShowNumber",
        "get",
        "/lk/v1/numbers/{number}",
        &[("number", "$request.path.number")],
    ),
    (
        "post",
        "/lk/v1/reservations",
        "ExtendReservation",
        "patch",
        "/lk/v1/reservations/{number}",
        &[("number", "$response.body#/uid")],
    ),
    (
        "post",
        "/lk/v1/reservations",
        "CancelReservation",
        "delete",
        "/lk/v1/reservations/{number}",
        &[("number", "$response.body#/uid")],
    ),
    (
        "post",
        "/lk/v1/subscriptions",
        "ShowNumber",
        "get",
        "/lk/v1/numbers/{number}",
        &[("number", "$response.body#/uid")],
    ),
    (
        "post",
        "/lk/v1/subscriptions",
        "Unsubscribe",
        "delete",
        "/lk/v1/subscriptions/{number}",
        &[("number", "$response.body#/uid")],
    ),
];

/// The operation at `path` and `method` of a serialized document.
fn operation<'a>(
    doc: &'a mut Value,
    path: &str,
    method: &str,
) -> Option<&'a mut Map<String, Value>> {
    doc.get_mut("paths")?
        .get_mut(path)?
        .get_mut(method)?
        .as_object_mut()
}

/// Puts the contract into the serialized document.
pub fn complete(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in components() {
            schemas.insert(name.to_owned(), schema);
        }
    }
    for (method, path, params, body, ok) in specs() {
        let Some(op) = operation(doc, path, method) else {
            continue;
        };
        if !params.is_empty() {
            let list = op
                .entry("parameters")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.extend(params);
            }
        }
        match body {
            Some(schema) => {
                // A body with no required field may be left out (it reads
                // as `{}`).
                let optional = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty)
                    || schema == json!({"type": "object"});
                op.insert(
                    "requestBody".into(),
                    json!({"required": !optional,
                        "content": {"application/json": {"schema": schema}}}),
                );
            }
            None => {
                op.remove("requestBody");
            }
        }
        if let Some(schema) = ok {
            let success = op
                .get_mut("responses")
                .and_then(Value::as_object_mut)
                .and_then(|r| {
                    r.iter_mut()
                        .find(|(status, _)| status.starts_with('2'))
                        .map(|(_, v)| v)
                });
            if let Some(Value::Object(res)) = success {
                res.insert(
                    "content".into(),
                    json!({"application/json": {"schema": schema}}),
                );
            }
        }
    }
    for (from_method, from_path, name, to_method, to_path, params) in LINKS {
        let Some(target) =
            operation(doc, to_path, to_method).and_then(|op| op.get("operationId").cloned())
        else {
            continue;
        };
        let parameters: Map<String, Value> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let link = json!({"operationId": target, "parameters": parameters});
        let Some(op) = operation(doc, from_path, from_method) else {
            continue;
        };
        let success = op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .and_then(|r| {
                r.iter_mut()
                    .find(|(status, _)| status.starts_with('2'))
                    .map(|(_, v)| v)
            });
        if let Some(Value::Object(res)) = success
            && let Value::Object(links) = res
                .entry("links")
                .or_insert_with(|| Value::Object(Map::new()))
        {
            links.insert((*name).to_owned(), link);
        }
    }
}
