//! What administrators do from the command line: create accounts, add numbers,
//! switch billing. Each is one transaction with its history entry.

use super::{Core, CoreError, history};
use crate::domain::{E164, NewPassword, NumberUid, PasswordShortfall, Username, country_of};
use crate::store::{Account, Action, Cycle, NewAccount, NewNumber, Number, Subscription, Tx};

/// An account to create.
#[derive(Clone, Debug, Default)]
pub struct AccountSpec {
    /// Pinned id (the demo world); normally chosen by the database.
    pub id: Option<i64>,
    pub username: String,
    pub password: String,
    pub name: String,
    pub is_reseller: bool,
    /// `true` makes a root account (an administrator): no parent allowed.
    pub admin: bool,
    /// Username of the parent; required unless `admin`.
    pub parent: Option<String>,
    pub postpaid: bool,
    pub mobile: Option<String>,
    pub email: Option<String>,
}

impl AccountSpec {
    /// What can be told wrong without a database: the username's format, a
    /// password weaker than the policy every face applies, and a parent given to an administrator or missing for
    /// anyone else. The command line checks this before opening the database.
    pub fn check(&self) -> Result<Username, CoreError> {
        let username = Username::parse(&self.username).ok_or_else(|| {
            CoreError::Invalid(format!(
                "invalid username {:?}: 3 to 32 characters of A-Z a-z 0-9 . _ -",
                self.username
            ))
        })?;
        // The same policy as an account made over HTTP.
        NewPassword::parse(&self.password)
            .map_err(|s| CoreError::Invalid(PasswordShortfall::describe_all(&s)))?;
        match (self.admin, &self.parent) {
            (true, Some(_)) => Err(CoreError::Invalid("an administrator has no parent".into())),
            (false, None) => Err(CoreError::Invalid(
                "an account that is not --admin needs a --parent".into(),
            )),
            _ => Ok(username),
        }
    }
}

/// A number to add to the pool, optionally allotted straight to an owner.
#[derive(Clone, Debug)]
pub struct NumberSpec {
    pub id: Option<i64>,
    pub number: E164,
    pub operator_id: Option<i64>,
    pub alias: Option<String>,
    pub monthly_price: i64,
    pub yearly_price: i64,
    pub owner: Option<String>,
}

impl NumberSpec {
    pub fn new(number: E164) -> NumberSpec {
        NumberSpec {
            id: None,
            number,
            operator_id: None,
            alias: None,
            monthly_price: 0,
            yearly_price: 0,
            owner: None,
        }
    }

    /// The row to insert, with a fresh uid and the derived country.
    pub fn to_new_number(&self) -> NewNumber {
        NewNumber {
            id: self.id,
            uid: NumberUid::generate().to_string(),
            number: self.number.to_string(),
            operator_id: self.operator_id,
            alias: self.alias.clone(),
            // 66 characters is the length of a Unicode SMS part with a UDH;
            // no seed says how a number gets the flag, so lines start without it.
            is_66_char: false,
            country: country_of(&self.number).to_owned(),
            monthly_price: self.monthly_price,
            yearly_price: self.yearly_price,
        }
    }
}

fn account_named(tx: &mut dyn Tx, username: &str) -> Result<Account, CoreError> {
    let key = Username::parse(username)
        .map(|u| u.key())
        .unwrap_or_default();
    tx.account_by_username(&key)?
        .ok_or_else(|| CoreError::Invalid(format!("no account named {username:?}")))
}

impl Core {
    /// Creates an account: a root administrator, or a child of `parent`.
    pub async fn create_account(
        &self,
        spec: AccountSpec,
        request_id: &str,
    ) -> Result<Account, CoreError> {
        let username = spec.check()?;
        let password = spec.password.clone();
        let password_hash = self
            .hashing
            .run(move || super::auth::hash_password(&password))
            .await??;
        let (now, rid) = (self.clock.now(), request_id.to_owned());
        self.store
            .write(move |tx| {
                let parent = match &spec.parent {
                    Some(name) => {
                        let p = account_named(tx, name)?;
                        if !p.can_manage() {
                            return Err(CoreError::Invalid(format!("{name:?} is not a reseller")));
                        }
                        Some(p)
                    }
                    None => None,
                };
                let new = NewAccount {
                    id: spec.id,
                    username: username.to_string(),
                    name: if spec.name.is_empty() {
                        username.to_string()
                    } else {
                        spec.name.clone()
                    },
                    password_hash: password_hash.clone(),
                    is_reseller: spec.is_reseller,
                    parent: parent.as_ref().map(|p| (p.id, p.path.clone())),
                    postpaid: spec.postpaid,
                    mobile: spec.mobile.clone(),
                    email: spec.email.clone(),
                    created_at: now,
                };
                let account = create_account(tx, &new, parent.as_ref().map(|p| p.id), &rid)?;
                Ok(account)
            })
            .await
    }

    /// Adds a number to the pool; with `owner`, allots it to that account
    /// (subscribed, monthly).
    pub async fn add_number(
        &self,
        spec: NumberSpec,
        request_id: &str,
    ) -> Result<Number, CoreError> {
        let (now, rid) = (self.clock.now(), request_id.to_owned());
        let number = self
            .store
            .write(move |tx| {
                let owner = spec
                    .owner
                    .as_deref()
                    .map(|name| account_named(tx, name))
                    .transpose()?;
                let number = add_number(tx, &spec.to_new_number(), now, &rid)?;
                match owner {
                    None => Ok::<_, CoreError>(number),
                    Some(owner) => {
                        let sub = Subscription {
                            owner_id: owner.id,
                            cycle: Cycle::Month,
                            resubscribe: false,
                            subscribed_at: now,
                        };
                        tx.subscribe_number(number.id, &sub)?;
                        crate::core::events::log(
                            tx,
                            history(
                                now,
                                &rid,
                                None,
                                Action::Subscribe,
                                Some(number.id),
                                Some(owner.id),
                                "{\"cycle\":\"month\",\"allotted\":true}",
                            ),
                        )?;
                        Ok(Number {
                            subscription: Some(sub),
                            ..number
                        })
                    }
                }
            })
            .await?;
        // Allotted, it is in its owner's list: this instance's kept pages
        // (`pages`) and routings hear of it at once, not with the outbox.
        self.routes.forget(number.id);
        Ok(number)
    }

    /// Switches postpaid billing for an account.
    pub async fn set_postpaid(
        &self,
        username: &str,
        enabled: bool,
        request_id: &str,
    ) -> Result<Account, CoreError> {
        let (name, now, rid) = (username.to_owned(), self.clock.now(), request_id.to_owned());
        self.store
            .write(move |tx| {
                let account = account_named(tx, &name)?;
                tx.set_postpaid(account.id, enabled)?;
                let detail = format!("{{\"enabled\":{enabled}}}");
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        None,
                        Action::AccountPostpaid,
                        None,
                        Some(account.id),
                        &detail,
                    ),
                )?;
                Ok(Account {
                    postpaid: enabled,
                    ..account
                })
            })
            .await
    }

    /// Suspends an account (it can no longer authenticate; its grants stay) or
    /// lifts the suspension.
    pub async fn set_suspended(
        &self,
        username: &str,
        suspended: bool,
        request_id: &str,
    ) -> Result<Account, CoreError> {
        let (name, now, rid) = (username.to_owned(), self.clock.now(), request_id.to_owned());
        let account = self
            .store
            .write(move |tx| {
                let account = account_named(tx, &name)?;
                tx.set_suspended(account.id, suspended)?;
                let detail = format!("{{\"suspended\":{suspended}}}");
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        None,
                        Action::AccountSuspend,
                        None,
                        Some(account.id),
                        &detail,
                    ),
                )?;
                Ok::<_, CoreError>(Account {
                    suspended,
                    ..account
                })
            })
            .await?;
        self.credentials.forget_account(account.id);
        Ok(account)
    }
}

/// Inserts an account and records it; `Taken("username")` if the name is in use.
pub fn create_account(
    tx: &mut dyn Tx,
    new: &NewAccount,
    actor: Option<i64>,
    rid: &str,
) -> Result<Account, CoreError> {
    let account = match tx.insert_account(new) {
        Err(crate::store::StoreError::Conflict(_)) => return Err(CoreError::Taken("username")),
        other => other?,
    };
    let detail = format!("{{\"is_reseller\":{}}}", account.is_reseller);
    crate::core::events::log(
        tx,
        history(
            new.created_at,
            rid,
            actor,
            Action::AccountCreate,
            None,
            Some(account.id),
            &detail,
        ),
    )?;
    Ok(account)
}

/// Inserts a pool number and records it; `Taken("number")` if it is known.
pub fn add_number(
    tx: &mut dyn Tx,
    new: &NewNumber,
    now: i64,
    rid: &str,
) -> Result<Number, CoreError> {
    let number = match tx.insert_number(new) {
        Err(crate::store::StoreError::Conflict(_)) => return Err(CoreError::Taken("number")),
        other => other?,
    };
    crate::core::events::log(
        tx,
        history(
            now,
            rid,
            None,
            Action::NumberAdd,
            Some(number.id),
            None,
            "{}",
        ),
    )?;
    Ok(number)
}
