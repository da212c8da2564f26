//! How the native face writes the core's values.

use serde_json::{Value, json};

use super::input::rfc3339;
use crate::core::Perms;
use crate::store::{Account, Grant, Number};

pub fn role(a: &Account) -> &'static str {
    if a.is_admin() {
        "admin"
    } else if a.is_reseller {
        "reseller"
    } else {
        "user"
    }
}

/// An account in full.
pub fn account(a: &Account) -> Value {
    json!({
        "id": a.id,
        "username": a.username,
        "name": a.name,
        "role": role(a),
        "status": if a.suspended { "suspended" } else { "active" },
        "parent_id": a.parent_id,
        "created_at": rfc3339(a.created_at),
    })
}

/// An account named in passing.
pub fn brief(a: &Account) -> Value {
    json!({ "id": a.id, "username": a.username })
}

pub fn perms(p: Perms) -> Value {
    json!({ "send": p.send, "gets": p.gets })
}

pub fn state(n: &Number) -> &'static str {
    match n.subscription {
        Some(_) => "subscribed",
        None => "available",
    }
}

/// A number's own fields.
pub fn number(n: &Number) -> Value {
    json!({
        "id": n.id,
        "uid": n.uid,
        "number": n.number,
        "country": n.country,
        "state": state(n),
        "operator_id": n.operator_id,
        "alias": n.alias,
        "monthly_price": n.monthly_price,
        "yearly_price": n.yearly_price,
    })
}

/// A grant by ids.
pub fn grant(g: &Grant) -> Value {
    json!({
        "number_id": g.number_id,
        "account_id": g.account_id,
        "granted_by": g.granted_by,
        "permissions": { "send": g.send, "gets": g.gets },
        "created_at": rfc3339(g.created_at),
        "expires_at": g.expires_at.map(rfc3339),
    })
}
