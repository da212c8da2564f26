//! What the store-level examples share: accounts inserted straight through
//! the store with one fixed password hash string (hashing each one would
//! only time argon2).

// Each example uses its part of this module.
#![allow(dead_code)]

use linekeeper::store::{Account, NewAccount, NewNumber};

pub const FAKE_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm90LWEtcmVhbC1zYWx0$bm90LWEtcmVhbC1oYXNoLWJ1dC1sb25nLWVub3VnaA";

/// An account named after its username, below `parent`.
pub fn account(
    username: String,
    parent: Option<&Account>,
    is_reseller: bool,
    created_at: i64,
) -> NewAccount {
    NewAccount {
        id: None,
        name: username.clone(),
        username,
        password_hash: FAKE_HASH.to_owned(),
        is_reseller,
        parent: parent.map(|p| (p.id, p.path.clone())),
        postpaid: false,
        mobile: None,
        email: None,
        created_at,
    }
}

/// An Iranian number of the pool, at no price.
pub fn number(uid: String, number: String) -> NewNumber {
    NewNumber {
        id: None,
        uid,
        number,
        operator_id: None,
        alias: None,
        is_66_char: false,
        country: "IR".into(),
        monthly_price: 0,
        yearly_price: 0,
    }
}
