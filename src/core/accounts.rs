//! Accounts beneath a reseller: creating one directly beneath it, listing its
//! downline, showing one account of it, and an account's chain of parents.
//!
//! Only resellers and administrators may do any of this. "Is T in R's
//! downline" is a prefix test on the materialized paths (`Account::is_above`),
//! and the downline is a range on the indexed `path` column: nothing here
//! walks the tree row by row.

use super::{Caller, Core, CoreError, Listing, RefPart, history};
use crate::domain::{NewPassword, Username};
use crate::store::{Account, Action, DownlineFilter, NewAccount, Page, StoreError, Tx};

/// A change to an account of the caller's downline; `None` leaves a field.
#[derive(Clone, Debug, Default)]
pub struct AccountChange {
    pub name: Option<String>,
    pub suspended: Option<bool>,
}

/// An account a reseller creates beneath itself, its fields already parsed.
#[derive(Clone, Debug)]
pub struct SubAccountSpec {
    pub username: Username,
    pub password: NewPassword,
    /// Display name; the username when absent (as for the command line).
    pub name: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub is_reseller: bool,
}

/// An account with its parent (`None` for a root).
#[derive(Clone, Debug)]
pub struct AccountView {
    pub account: Account,
    pub parent: Option<Account>,
}

/// An account and the chain above it.
#[derive(Clone, Debug)]
pub struct Ancestry {
    pub selected: Account,
    /// The root of the selected account's tree; the account itself when it is
    /// a root.
    pub root: Account,
    /// From the root down to the selected account's parent; empty for a root.
    pub chain: Vec<Account>,
}

impl Ancestry {
    /// The chain (root first) as `viewer` may see it: only the accounts that
    /// are `viewer` or below it.
    pub fn seen_by(&self, viewer: &Account) -> Vec<Account> {
        self.chain
            .iter()
            .filter(|a| a.id == viewer.id || viewer.is_above(a))
            .cloned()
            .collect()
    }
}

/// The same refusal for an account that does not exist and one outside the
/// caller's reach.
fn not_visible() -> CoreError {
    CoreError::NotVisible {
        number: None,
        account: Some(RefPart::Id),
    }
}

/// The account `id` if it is `caller` itself or in its downline.
pub fn visible_account(tx: &mut dyn Tx, caller: &Account, id: i64) -> Result<Account, CoreError> {
    match tx.account_by_id(id)? {
        Some(a) if a.id == caller.id || caller.is_above(&a) => Ok(a),
        _ => Err(not_visible()),
    }
}

/// Creates `new` directly beneath `caller_id` and records it. The caller's
/// row is read again inside the transaction, so a reseller suspended or
/// demoted since it authenticated cannot create. The username's uniqueness
/// is decided by the database (`Taken("username")`).
pub fn create_beneath(
    tx: &mut dyn Tx,
    caller_id: i64,
    new: &NewAccount,
    rid: &str,
) -> Result<Account, CoreError> {
    let caller = tx
        .account_by_id(caller_id)?
        .filter(|c| c.can_manage() && !c.suspended)
        .ok_or(CoreError::Forbidden)?;
    let new = NewAccount {
        parent: Some((caller.id, caller.path.clone())),
        ..new.clone()
    };
    super::admin::create_account(tx, &new, Some(caller.id), rid)
}

/// The ids an account's path names, root first, the account itself last.
fn path_ids(path: &str) -> Option<Vec<i64>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}

/// `id` (visible to `caller`) with its ancestors, fetched by the ids in its
/// path in one query.
pub fn ancestry(tx: &mut dyn Tx, caller: &Account, id: i64) -> Result<Ancestry, CoreError> {
    let selected = visible_account(tx, caller, id)?;
    let broken = || {
        CoreError::Store(StoreError::Backend(format!(
            "account {}'s path {:?} does not name its ancestors",
            selected.id, selected.path
        )))
    };
    let mut ids = path_ids(&selected.path).ok_or_else(broken)?;
    if ids.pop() != Some(selected.id) {
        return Err(broken());
    }
    let found = tx.accounts_by_ids(&ids)?;
    let chain: Vec<Account> = ids
        .iter()
        .map(|id| found.iter().find(|a| a.id == *id).cloned())
        .collect::<Option<_>>()
        .ok_or_else(broken)?;
    let root = chain.first().cloned().unwrap_or_else(|| selected.clone());
    Ok(Ancestry {
        selected,
        root,
        chain,
    })
}

impl Core {
    /// `POST /api/user/create`: an account directly beneath the caller.
    pub async fn create_beneath(
        &self,
        caller: &Caller,
        spec: SubAccountSpec,
        request_id: &str,
    ) -> Result<Account, CoreError> {
        if !caller.account.can_manage() {
            return Err(CoreError::Forbidden);
        }
        let password = spec.password.clone();
        let password_hash = self
            .hashing
            .run(move || super::auth::hash_password(password.expose()))
            .await??;
        let new = NewAccount {
            id: None,
            username: spec.username.to_string(),
            name: spec.name.unwrap_or_else(|| spec.username.to_string()),
            password_hash,
            is_reseller: spec.is_reseller,
            parent: None, // set from the caller's row inside the transaction
            postpaid: false,
            mobile: spec.mobile,
            email: spec.email,
            created_at: self.clock.now(),
        };
        let (caller_id, rid) = (caller.account.id, request_id.to_owned());
        self.store
            .write(move |tx| create_beneath(tx, caller_id, &new, &rid))
            .await
    }

    /// A keyset page of the caller's downline (`filter.after_id`), by id,
    /// uncounted; with `parent`, only the children of that account, which
    /// must be the caller or in its downline (else the page is empty, as for
    /// an account that does not exist).
    pub async fn downline_after(
        &self,
        caller: &Caller,
        parent: Option<i64>,
        filter: DownlineFilter,
        limit: i64,
    ) -> Result<Vec<Account>, CoreError> {
        if !caller.account.can_manage() {
            return Err(CoreError::Forbidden);
        }
        let filter = DownlineFilter {
            username: filter.username.map(|u| u.to_ascii_lowercase()),
            q: filter.q.map(|q| q.to_ascii_lowercase()),
            ..filter
        };
        let me = caller.account.clone();
        self.store
            .read(move |tx| {
                let (of, filter) = match parent {
                    None => (me.clone(), filter.clone()),
                    Some(p) => match visible_account(tx, &me, p) {
                        Ok(of) => (
                            of,
                            DownlineFilter {
                                relation: Some(crate::store::Relation::Direct),
                                ..filter.clone()
                            },
                        ),
                        Err(CoreError::NotVisible { .. }) => return Ok(Vec::new()),
                        Err(e) => return Err(e),
                    },
                };
                Ok(tx.downline(&of, &filter, Page { offset: 0, limit })?)
            })
            .await
    }

    /// Renames, suspends or resumes an account of the caller's downline
    /// (not the caller itself: `Forbidden`). A suspended account's
    /// credentials stop working at once on this process (forgotten from the
    /// credential cache) and within the cache's TTL on others.
    pub async fn change_account(
        &self,
        caller: &Caller,
        id: i64,
        change: AccountChange,
        request_id: &str,
    ) -> Result<Account, CoreError> {
        if !caller.account.can_manage() {
            return Err(CoreError::Forbidden);
        }
        let (me, now, rid) = (
            caller.account.clone(),
            self.clock.now(),
            request_id.to_owned(),
        );
        let account = self
            .store
            .write(move |tx| {
                let mut account = visible_account(tx, &me, id)?;
                if account.id == me.id {
                    return Err(CoreError::Forbidden);
                }
                if let Some(name) = change.name.as_deref().filter(|n| *n != account.name) {
                    tx.set_name(account.id, name)?;
                    let detail = serde_json::json!({ "name": name }).to_string();
                    crate::core::events::log(
                        tx,
                        history(
                            now,
                            &rid,
                            Some(me.id),
                            Action::AccountRename,
                            None,
                            Some(account.id),
                            &detail,
                        ),
                    )?;
                    account.name = name.to_owned();
                }
                if let Some(suspended) = change.suspended.filter(|s| *s != account.suspended) {
                    tx.set_suspended(account.id, suspended)?;
                    let detail = format!("{{\"suspended\":{suspended}}}");
                    crate::core::events::log(
                        tx,
                        history(
                            now,
                            &rid,
                            Some(me.id),
                            Action::AccountSuspend,
                            None,
                            Some(account.id),
                            &detail,
                        ),
                    )?;
                    account.suspended = suspended;
                }
                Ok(account)
            })
            .await?;
        self.credentials.forget_account(account.id);
        Ok(account)
    }

    /// Whether an account already has this username (compared
    /// case-insensitively). Only for reporting every validation error at
    /// once: the database's unique index still decides a race.
    pub async fn username_taken(&self, username: &Username) -> Result<bool, CoreError> {
        let key = username.key();
        self.store
            .read(move |tx| Ok(tx.account_by_username(&key)?.is_some()))
            .await
    }

    /// `GET /api/user/list`: one page of the caller's downline, by id.
    pub async fn downline(
        &self,
        caller: &Caller,
        filter: DownlineFilter,
        page: Page,
    ) -> Result<Listing<Account>, CoreError> {
        if !caller.account.can_manage() {
            return Err(CoreError::Forbidden);
        }
        let filter = DownlineFilter {
            username: filter.username.map(|u| u.to_ascii_lowercase()),
            ..filter
        };
        let of = caller.account.clone();
        self.store
            .read(move |tx| {
                let items = tx.downline(&of, &filter, page)?;
                let total = tx.count_downline(&of, &filter)?;
                Ok(Listing { items, total })
            })
            .await
    }

    /// `GET /api/user/show`: the caller or an account of its downline, with
    /// its parent.
    pub async fn show_account(&self, caller: &Caller, id: i64) -> Result<AccountView, CoreError> {
        if !caller.account.can_manage() {
            return Err(CoreError::Forbidden);
        }
        let me = caller.account.clone();
        self.store
            .read(move |tx| {
                let account = visible_account(tx, &me, id)?;
                let parent = match account.parent_id {
                    Some(p) => tx.account_by_id(p)?,
                    None => None,
                };
                Ok(AccountView { account, parent })
            })
            .await
    }

    /// `GET /api/user/parents_tree`: the caller or an account of its
    /// downline, with its chain of parents.
    pub async fn ancestry(&self, caller: &Caller, id: i64) -> Result<Ancestry, CoreError> {
        if !caller.account.can_manage() {
            return Err(CoreError::Forbidden);
        }
        let me = caller.account.clone();
        self.store.read(move |tx| ancestry(tx, &me, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::path_ids;

    #[test]
    fn paths_name_their_ids() {
        assert_eq!(path_ids("/1/5/23/"), Some(vec![1, 5, 23]));
        assert_eq!(path_ids("/7/"), Some(vec![7]));
        assert_eq!(path_ids("/1/x/"), None);
    }
}
