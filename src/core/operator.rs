//! What the operator's command line reads and changes (`linekeeper admin
//! ...`, issue 18): every account and number, not a caller's downline. The
//! command line runs as the platform, so nothing here checks a caller; each
//! change is one transaction with its history entry, like `admin`.
//!
//! Listings page through the tables by id in chunks ([`CHUNK`] rows a
//! read) and filter as they go, so memory stays bounded however large the
//! tables are.

use super::custody::HistoryView;
use super::{Core, CoreError, history};
use crate::domain::{NewPassword, NumberState, PasswordShortfall, TokenKind, Username};
use crate::store::{Account, Action, Grant, Number, Page, TokenRow, Tx};

/// Rows read per transaction while paging through a table.
pub const CHUNK: i64 = 1_000;

/// Which accounts `admin accounts` lists.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    /// Only the direct children of this account (by username).
    pub parent: Option<String>,
    /// Only resellers (`true`) or only accounts that are not (`false`).
    pub reseller: Option<bool>,
    /// Text the username or name contains, ignoring ASCII case.
    pub q: Option<String>,
    /// Only accounts with a greater id (the keyset cursor).
    pub after_id: i64,
}

/// Which numbers `admin numbers` lists.
#[derive(Clone, Debug, Default)]
pub struct NumberFilter {
    pub state: Option<NumberState>,
    /// ISO alpha-2, upper case.
    pub country: Option<String>,
    /// Only numbers this account (by username) owns or holds a live grant on.
    pub holder: Option<String>,
    pub after_id: i64,
}

/// One account with the chain above it and how many numbers it holds.
#[derive(Clone, Debug)]
pub struct AccountDetail {
    pub account: Account,
    /// Root first, down to the parent; empty for a root.
    pub ancestors: Vec<Account>,
    /// Numbers it owns plus numbers granted to it (live grants).
    pub holdings: i64,
    /// Live API keys.
    pub keys: usize,
}

/// One number with its state, owner and grants.
#[derive(Clone, Debug)]
pub struct NumberDetail {
    pub number: Number,
    pub state: NumberState,
    pub owner: Option<Account>,
    /// The live grants, each with its grantee and granter.
    pub grants: Vec<(Grant, Account, Account)>,
    /// The account holding the reservation or the quarantine, if any.
    pub held_for: Option<Account>,
}

/// The account with this username; `Invalid` naming it otherwise.
pub(crate) fn account_named(tx: &mut dyn Tx, username: &str) -> Result<Account, CoreError> {
    let key = Username::parse(username)
        .map(|u| u.key())
        .unwrap_or_default();
    tx.account_by_username(&key)?
        .ok_or_else(|| CoreError::Invalid(format!("no account named {username:?}")))
}

fn number_named(tx: &mut dyn Tx, e164: &str) -> Result<Number, CoreError> {
    tx.number_by_e164(e164)?
        .ok_or_else(|| CoreError::Invalid(format!("no number {e164}")))
}

/// The ids in an account's path, root first, without the account itself.
fn ancestor_ids(account: &Account) -> Vec<i64> {
    account
        .path
        .split('/')
        .filter_map(|s| s.parse().ok())
        .filter(|id| *id != account.id)
        .collect()
}

/// The platform, as a viewer of the custody history: it sees everything.
fn platform() -> Account {
    Account {
        id: 0,
        username: String::new(),
        name: String::new(),
        is_reseller: false,
        suspended: false,
        parent_id: None,
        path: "/".into(),
        postpaid: false,
        created_at: 0,
    }
}

impl Core {
    /// Up to `limit` accounts that pass `filter`, by id.
    pub async fn operator_accounts(
        &self,
        filter: AccountFilter,
        limit: i64,
    ) -> Result<Vec<Account>, CoreError> {
        let q = filter.q.as_ref().map(|q| q.to_ascii_lowercase());
        self.store
            .read(move |tx| {
                let parent = match &filter.parent {
                    Some(name) => Some(account_named(tx, name)?.id),
                    None => None,
                };
                let mut out = Vec::new();
                let mut after = filter.after_id;
                while (out.len() as i64) < limit {
                    let chunk = tx.accounts_after(after, CHUNK)?;
                    let Some(last) = chunk.last() else { break };
                    after = last.id;
                    out.extend(chunk.into_iter().filter(|a| {
                        parent.is_none_or(|p| a.parent_id == Some(p))
                            && filter.reseller.is_none_or(|r| a.is_reseller == r)
                            && q.as_ref().is_none_or(|q| {
                                a.username.to_ascii_lowercase().contains(q.as_str())
                                    || a.name.to_ascii_lowercase().contains(q.as_str())
                            })
                    }));
                }
                out.truncate(limit.max(0) as usize);
                Ok(out)
            })
            .await
    }

    /// One account by username, with its ancestors and holdings.
    pub async fn operator_account(&self, username: &str) -> Result<AccountDetail, CoreError> {
        let (name, now) = (username.to_owned(), self.clock.now());
        self.store
            .read(move |tx| {
                let account = account_named(tx, &name)?;
                let ids = ancestor_ids(&account);
                let found = tx.accounts_by_ids(&ids)?;
                let ancestors = ids
                    .iter()
                    .filter_map(|id| found.iter().find(|a| a.id == *id).cloned())
                    .collect();
                let (_, holdings) = tx.held_numbers(
                    account.id,
                    Page {
                        offset: 0,
                        limit: 0,
                    },
                    now,
                )?;
                let keys = tx
                    .tokens_of(account.id)?
                    .iter()
                    .filter(|t| t.kind == TokenKind::ApiKey && t.revoked_at.is_none())
                    .count();
                Ok(AccountDetail {
                    account,
                    ancestors,
                    holdings,
                    keys,
                })
            })
            .await
    }

    /// Sets an account's password (the policy every face applies) and
    /// revokes its live session tokens; its API keys stay.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        request_id: &str,
    ) -> Result<(Account, usize), CoreError> {
        NewPassword::parse(password)
            .map_err(|s| CoreError::Invalid(PasswordShortfall::describe_all(&s)))?;
        let password = password.to_owned();
        let hash = self
            .hashing
            .run(move || super::auth::hash_password(&password))
            .await??;
        let (name, now, rid) = (username.to_owned(), self.clock.now(), request_id.to_owned());
        let (account, digests) = self
            .store
            .write(move |tx| {
                let account = account_named(tx, &name)?;
                tx.set_password_hash(account.id, &hash)?;
                let mut revoked = Vec::new();
                for t in tx.tokens_of(account.id)? {
                    if t.kind == TokenKind::Session
                        && t.revoked_at.is_none()
                        && tx.revoke_token(&t.digest, now)?
                    {
                        revoked.push(t.digest);
                    }
                }
                let detail = format!("{{\"sessions_revoked\":{}}}", revoked.len());
                tx.record(&history(
                    now,
                    &rid,
                    None,
                    Action::AccountPassword,
                    None,
                    Some(account.id),
                    &detail,
                ))?;
                Ok::<_, CoreError>((account, revoked))
            })
            .await?;
        for d in &digests {
            self.credentials.forget(d);
        }
        Ok((account, digests.len()))
    }

    /// An account's API keys (revoked ones too), by id.
    pub async fn operator_keys(
        &self,
        username: &str,
    ) -> Result<(Account, Vec<TokenRow>), CoreError> {
        let name = username.to_owned();
        self.store
            .read(move |tx| {
                let account = account_named(tx, &name)?;
                let keys = tx
                    .tokens_of(account.id)?
                    .into_iter()
                    .filter(|t| t.kind == TokenKind::ApiKey)
                    .collect();
                Ok((account, keys))
            })
            .await
    }

    /// Revokes the API key with this id; `Invalid` unless it is a live key.
    /// Returns the key (as revoked) and its account.
    pub async fn operator_revoke_key(
        &self,
        id: i64,
        request_id: &str,
    ) -> Result<(TokenRow, Account), CoreError> {
        let (now, rid) = (self.clock.now(), request_id.to_owned());
        let (row, account) = self
            .store
            .write(move |tx| {
                let gone = || CoreError::Invalid(format!("no live API key with id {id}"));
                let (row, account_id) = tx.token_by_id(id)?.ok_or_else(gone)?;
                if row.kind != TokenKind::ApiKey || !tx.revoke_token(&row.digest, now)? {
                    return Err(gone());
                }
                tx.record(&history(
                    now,
                    &rid,
                    None,
                    Action::TokenRevoke,
                    None,
                    Some(account_id),
                    "{\"kind\":\"key\"}",
                ))?;
                let account = tx.account_by_id(account_id)?.ok_or_else(gone)?;
                Ok((
                    TokenRow {
                        revoked_at: Some(now),
                        ..row
                    },
                    account,
                ))
            })
            .await?;
        self.credentials.forget(&row.digest);
        Ok((row, account))
    }

    /// Up to `limit` numbers that pass `filter`, by id.
    pub async fn operator_numbers(
        &self,
        filter: NumberFilter,
        limit: i64,
    ) -> Result<Vec<Number>, CoreError> {
        let now = self.clock.now();
        self.store
            .read(move |tx| {
                let holder = match &filter.holder {
                    Some(name) => Some(account_named(tx, name)?.id),
                    None => None,
                };
                let mut out = Vec::new();
                let mut after = filter.after_id;
                while (out.len() as i64) < limit {
                    let chunk = tx.numbers_after(after, CHUNK)?;
                    let Some(last) = chunk.last() else { break };
                    after = last.id;
                    for n in chunk {
                        let keep = filter.state.is_none_or(|s| n.state(now) == s)
                            && filter.country.as_ref().is_none_or(|c| &n.country == c);
                        if !keep {
                            continue;
                        }
                        let held = match holder {
                            None => true,
                            Some(h) if n.owner_id() == Some(h) => true,
                            Some(h) if n.subscription.is_some() => tx
                                .grants_on(n.id)?
                                .iter()
                                .any(|g| g.account_id == h && g.live_at(now)),
                            Some(_) => false,
                        };
                        if held {
                            out.push(n);
                        }
                    }
                }
                out.truncate(limit.max(0) as usize);
                Ok(out)
            })
            .await
    }

    /// A page of every number by id after `after_id`, for the export.
    pub async fn numbers_page(&self, after_id: i64, limit: i64) -> Result<Vec<Number>, CoreError> {
        self.store
            .read(move |tx| Ok(tx.numbers_after(after_id, limit)?))
            .await
    }

    /// One number with its state, owner and live grants.
    pub async fn operator_number(&self, e164: &str) -> Result<NumberDetail, CoreError> {
        let (e164, now) = (e164.to_owned(), self.clock.now());
        self.store
            .read(move |tx| {
                let number = number_named(tx, &e164)?;
                let grants: Vec<Grant> = tx
                    .grants_on(number.id)?
                    .into_iter()
                    .filter(|g| g.live_at(now))
                    .collect();
                let held_for_id = number
                    .reservation_at(now)
                    .map(|r| r.holder_id)
                    .or(number.quarantine_at(now).map(|q| q.former_owner_id));
                let mut ids: Vec<i64> = grants
                    .iter()
                    .flat_map(|g| [g.account_id, g.granted_by])
                    .chain(number.owner_id())
                    .chain(held_for_id)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                let accounts = tx.accounts_by_ids(&ids)?;
                let find = |id: i64| accounts.iter().find(|a| a.id == id).cloned();
                let grants = grants
                    .into_iter()
                    .filter_map(|g| Some((g.clone(), find(g.account_id)?, find(g.granted_by)?)))
                    .collect();
                Ok(NumberDetail {
                    state: number.state(now),
                    owner: number.owner_id().and_then(find),
                    held_for: held_for_id.and_then(find),
                    grants,
                    number,
                })
            })
            .await
    }

    /// A number's custody history, newest first, entries older than
    /// `before_id`, at most `limit`; every account named.
    pub async fn operator_history(
        &self,
        e164: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HistoryView>, CoreError> {
        let (e164, core) = (e164.to_owned(), self.clone());
        self.store
            .read(move |tx| {
                let number = number_named(tx, &e164)?;
                let number = Some((number.id, number.number.as_str()));
                let platform = std::sync::Arc::new(platform());
                let rounds = super::custody::Rounds::Any;
                let page =
                    super::custody::page(tx, &core, &platform, number, before_id, limit, rounds)?;
                // With `Rounds::Any` there is always a page.
                Ok(page.unwrap_or_default())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_come_from_the_path_root_first() {
        let a = Account {
            id: 23,
            path: "/1/5/23/".into(),
            parent_id: Some(5),
            ..platform()
        };
        assert_eq!(ancestor_ids(&a), vec![1, 5]);
        assert!(platform().is_admin());
    }
}
