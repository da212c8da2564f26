//! Credentials: session tokens, API keys and passwords.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::{AuthError, Caller, Core, CoreError, history};
use crate::core::metrics::Business;
use crate::domain::{TokenKind, TokenSecret, Username};
use crate::store::{Action, NewToken, TokenRow, Tx};

/// A session token lives 10 hours.
pub const SESSION_TTL_SECS: i64 = 10 * 3600;

/// argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1).
pub(crate) fn hash_password(password: &str) -> Result<String, CoreError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Invalid(format!("cannot hash password: {e}")))
}

/// Constant-work verification: a malformed stored hash verifies as false.
pub(crate) fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Core {
    /// The account behind a presented token or key.
    pub async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError> {
        let digest = TokenSecret::from_presented(presented).digest();
        let now = self.clock.now();
        let (cached, generation) = self.credentials.get(&digest);
        let c = match cached {
            Some(c) => c,
            None => {
                let lookup = digest.clone();
                let credential = self
                    .store
                    .read(move |tx| tx.credential(&lookup).map_err(AuthError::from))
                    .await?;
                let Some(c) = credential else {
                    return Err(AuthError::Invalid);
                };
                self.credentials.put(digest.clone(), c.clone(), generation);
                c
            }
        };
        if c.revoked || c.account.suspended {
            return Err(AuthError::Invalid);
        }
        if c.expires_at.is_some_and(|at| now >= at) {
            return Err(AuthError::Expired);
        }
        Ok(Caller {
            account: c.account,
            kind: c.kind,
            digest,
        })
    }

    /// Checks a username and password and issues a session token.
    ///
    /// An unknown username is verified against a dummy hash, so that the
    /// answer takes as long as for a known one with a wrong password.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        request_id: &str,
    ) -> Result<TokenSecret, CoreError> {
        let key = Username::parse(username).map(|u| u.key());
        let found = match key {
            Some(key) => {
                self.store
                    .read(move |tx| {
                        let Some(account) = tx.account_by_username(&key)? else {
                            return Ok(None);
                        };
                        let hash = tx.password_hash(account.id)?;
                        Ok::<_, CoreError>(hash.map(|h| (account, h)))
                    })
                    .await?
            }
            None => None,
        };
        let (hash, account) = match found {
            Some((account, hash)) => (hash, Some(account)),
            None => (self.dummy_hash.to_string(), None),
        };
        let password = password.to_owned();
        let verified = self
            .hashing
            .run(move || verify_password(&password, &hash))
            .await?;
        let account = match account {
            Some(a) if verified && !a.suspended => a,
            _ => {
                Business::add(&self.business.logins_failed, 1);
                return Err(CoreError::BadCredentials);
            }
        };
        let secret = TokenSecret::generate(TokenKind::Session);
        let now = self.clock.now();
        let token = NewToken {
            digest: secret.digest(),
            account_id: account.id,
            kind: TokenKind::Session,
            created_at: now,
            expires_at: Some(now + SESSION_TTL_SECS),
        };
        let rid = request_id.to_owned();
        self.store
            .write(move |tx| issue(tx, &token, Some(token.account_id), &rid))
            .await?;
        Business::add(&self.business.logins_ok, 1);
        Ok(secret)
    }

    /// Revokes the session token the caller used. An API key is left alone.
    pub async fn logout(&self, caller: &Caller, request_id: &str) -> Result<(), CoreError> {
        if caller.kind != TokenKind::Session {
            return Ok(());
        }
        let (digest, account_id, rid, now) = (
            caller.digest.clone(),
            caller.account.id,
            request_id.to_owned(),
            self.clock.now(),
        );
        self.credentials.forget(&caller.digest);
        self.store
            .write(move |tx| {
                if tx.revoke_token(&digest, now)? {
                    crate::core::events::log(
                        tx,
                        history(
                            now,
                            &rid,
                            Some(account_id),
                            Action::TokenRevoke,
                            None,
                            Some(account_id),
                            "{\"kind\":\"session\"}",
                        ),
                    )?;
                }
                Ok::<_, CoreError>(())
            })
            .await
    }

    /// Issues an API key for `username` (administrators, from the CLI).
    pub async fn create_key(
        &self,
        username: &str,
        request_id: &str,
    ) -> Result<TokenSecret, CoreError> {
        let key = Username::parse(username)
            .ok_or_else(|| CoreError::Invalid(format!("no account named {username:?}")))?
            .key();
        let secret = TokenSecret::generate(TokenKind::ApiKey);
        let (digest, now, rid, name) = (
            secret.digest(),
            self.clock.now(),
            request_id.to_owned(),
            username.to_owned(),
        );
        self.store
            .write(move |tx| {
                let account = tx
                    .account_by_username(&key)?
                    .ok_or_else(|| CoreError::Invalid(format!("no account named {name:?}")))?;
                let token = NewToken {
                    digest: digest.clone(),
                    account_id: account.id,
                    kind: TokenKind::ApiKey,
                    created_at: now,
                    expires_at: None,
                };
                issue(tx, &token, None, &rid)
            })
            .await?;
        Ok(secret)
    }

    /// Revokes an API key (or any token) by its secret.
    pub async fn revoke(&self, secret: &TokenSecret, request_id: &str) -> Result<bool, CoreError> {
        let (digest, now, rid) = (secret.digest(), self.clock.now(), request_id.to_owned());
        self.credentials.forget(&digest);
        self.store
            .write(move |tx| {
                let Some(c) = tx.credential(&digest)? else {
                    return Ok(false);
                };
                if !tx.revoke_token(&digest, now)? {
                    return Ok(false);
                }
                let detail = format!("{{\"kind\":\"{}\"}}", c.kind.as_str());
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        None,
                        Action::TokenRevoke,
                        None,
                        Some(c.account.id),
                        &detail,
                    ),
                )?;
                Ok::<_, CoreError>(true)
            })
            .await
    }
}

impl Core {
    /// A new API key for the caller's own account. Only a session token may
    /// create one (`Forbidden` otherwise), so a leaked key cannot mint more.
    pub async fn create_own_key(
        &self,
        caller: &Caller,
        request_id: &str,
    ) -> Result<(TokenRow, TokenSecret), CoreError> {
        if caller.kind != TokenKind::Session {
            return Err(CoreError::Forbidden);
        }
        let secret = TokenSecret::generate(TokenKind::ApiKey);
        let token = NewToken {
            digest: secret.digest(),
            account_id: caller.account.id,
            kind: TokenKind::ApiKey,
            created_at: self.clock.now(),
            expires_at: None,
        };
        let rid = request_id.to_owned();
        let row = self
            .store
            .write(move |tx| {
                issue(tx, &token, Some(token.account_id), &rid)?;
                tx.tokens_of(token.account_id)?
                    .into_iter()
                    .find(|t| t.digest == token.digest)
                    .ok_or_else(|| CoreError::Invalid("the new key was not stored".into()))
            })
            .await?;
        Ok((row, secret))
    }

    /// The caller's API keys that are not revoked, by id.
    pub async fn own_keys(&self, caller: &Caller) -> Result<Vec<TokenRow>, CoreError> {
        let id = caller.account.id;
        self.store
            .read(move |tx| {
                Ok(tx
                    .tokens_of(id)?
                    .into_iter()
                    .filter(|t| t.kind == TokenKind::ApiKey && t.revoked_at.is_none())
                    .collect())
            })
            .await
    }

    /// Revokes one of the caller's own API keys by id: at once on this
    /// process (forgotten from the credential cache), within the cache's
    /// TTL on others. Anything that is not a live key of the caller's is
    /// `NotVisible`.
    pub async fn revoke_own_key(
        &self,
        caller: &Caller,
        key_id: i64,
        request_id: &str,
    ) -> Result<(), CoreError> {
        let (account_id, now, rid) = (caller.account.id, self.clock.now(), request_id.to_owned());
        let digest = self
            .store
            .write(move |tx| {
                let gone = || CoreError::NotVisible {
                    number: None,
                    account: Some(super::RefPart::Id),
                };
                let key = tx
                    .tokens_of(account_id)?
                    .into_iter()
                    .find(|t| t.id == key_id && t.kind == TokenKind::ApiKey)
                    .ok_or_else(gone)?;
                if !tx.revoke_token(&key.digest, now)? {
                    return Err(gone());
                }
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        Some(account_id),
                        Action::TokenRevoke,
                        None,
                        Some(account_id),
                        "{\"kind\":\"key\"}",
                    ),
                )?;
                Ok(key.digest)
            })
            .await?;
        self.credentials.forget(&digest);
        Ok(())
    }
}

/// Stores a token and records its creation.
pub(crate) fn issue(
    tx: &mut dyn Tx,
    token: &NewToken,
    actor: Option<i64>,
    rid: &str,
) -> Result<(), CoreError> {
    tx.insert_token(token)?;
    let detail = format!("{{\"kind\":\"{}\"}}", token.kind.as_str());
    crate::core::events::log(
        tx,
        history(
            token.created_at,
            rid,
            actor,
            Action::TokenCreate,
            None,
            Some(token.account_id),
            &detail,
        ),
    )?;
    Ok(())
}
