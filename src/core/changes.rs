//! The changes a command makes, as values: every rule that can cascade first
//! *plans* (reads and checks only, and lists its changes), then the plan is
//! *applied* (each change written with its history entry). A dry run is the
//! plan alone, so it runs the same checks, answers the same outcome and
//! writes nothing, not even history.

use super::CoreError;
use crate::store::{Action, Grant, Tx};

/// What a grant confers: its permissions and its end (`None`: none of its
/// own, it lasts as long as its granter's holding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    pub send: bool,
    pub gets: bool,
    pub expires_at: Option<i64>,
}

impl Terms {
    pub fn of(g: &Grant) -> Terms {
        Terms {
            send: g.send,
            gets: g.gets,
            expires_at: g.expires_at,
        }
    }

    /// Whether `self` confers no more than `ceiling`, in permissions and time.
    pub fn within(self, ceiling: Terms) -> bool {
        (ceiling.send || !self.send)
            && (ceiling.gets || !self.gets)
            && match (ceiling.expires_at, self.expires_at) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(c), Some(e)) => e <= c,
            }
    }

    /// The most of `self` that `ceiling` allows.
    pub fn capped(self, ceiling: Terms) -> Terms {
        Terms {
            send: self.send && ceiling.send,
            gets: self.gets && ceiling.gets,
            expires_at: match (self.expires_at, ceiling.expires_at) {
                (None, c) => c,
                (e, None) => e,
                (Some(e), Some(c)) => Some(e.min(c)),
            },
        }
    }

    fn json(self) -> String {
        let end = self
            .expires_at
            .map_or_else(|| "null".to_owned(), |e| e.to_string());
        format!(
            "{{\"send\":{},\"gets\":{},\"expires_at\":{end}}}",
            self.send, self.gets
        )
    }
}

/// Why a grant goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Unassigned by a reseller above it.
    Unassign,
    /// The grant it came from went.
    Cascade,
    /// Its number's owner unsubscribed.
    Unsubscribe,
    /// Its end passed (or the end of the grant it came from).
    Expire,
}

impl Removal {
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::Unassign => "unassign",
            Removal::Cascade => "cascade",
            Removal::Unsubscribe => "unsubscribe",
            Removal::Expire => "expire",
        }
    }
}

/// One change to the state, as a command makes it (or, in a dry run, would).
///
/// `chain` is the path of accounts by which the command reaches the grant:
/// the account the command names first, then each account that was granted
/// from the one before, ending with the grant's own account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    GrantCreated {
        number_id: i64,
        account_id: i64,
        granted_by: i64,
        terms: Terms,
    },
    GrantRemoved {
        number_id: i64,
        account_id: i64,
        granted_by: i64,
        reason: Removal,
        chain: Vec<i64>,
    },
    /// Changed by the command itself (`cascaded` false) or lowered because
    /// the grant it came from was lowered.
    GrantChanged {
        number_id: i64,
        account_id: i64,
        granted_by: i64,
        before: Terms,
        after: Terms,
        cascaded: bool,
        chain: Vec<i64>,
    },
    /// The subscription ended: into quarantine until `quarantine_until`, or
    /// straight back to the pool (`None`).
    Unsubscribed {
        number_id: i64,
        owner_id: i64,
        quarantine_until: Option<i64>,
    },
}

/// What a command did, or in a dry run would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub changes: Vec<Change>,
    /// True when nothing was written.
    pub dry_run: bool,
}

impl Change {
    /// The grant a [`Change::GrantCreated`] makes at `now`, as it is written;
    /// `None` for any other change.
    pub fn created_grant(&self, now: i64) -> Option<Grant> {
        match self {
            Change::GrantCreated {
                number_id,
                account_id,
                granted_by,
                terms,
            } => Some(Grant {
                number_id: *number_id,
                account_id: *account_id,
                granted_by: *granted_by,
                send: terms.send,
                gets: terms.gets,
                created_at: now,
                expires_at: terms.expires_at,
            }),
            _ => None,
        }
    }

    /// The number the change is about.
    pub fn number_id(&self) -> i64 {
        match self {
            Change::GrantCreated { number_id, .. }
            | Change::GrantRemoved { number_id, .. }
            | Change::GrantChanged { number_id, .. }
            | Change::Unsubscribed { number_id, .. } => *number_id,
        }
    }
}

impl Outcome {
    /// The numbers the outcome touches, each once.
    pub fn number_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.changes.iter().map(Change::number_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// How many grants the outcome removes.
    pub fn removed(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| matches!(c, Change::GrantRemoved { .. }))
            .count()
    }
}

/// The history entry of `change` (its detail as the history and the event
/// feed read it back).
pub(crate) fn history_of(
    change: &Change,
    actor: Option<i64>,
    now: i64,
    rid: &str,
) -> crate::store::HistoryEntry {
    let (action, number_id, account_id, detail) = match change {
        Change::GrantCreated {
            number_id,
            account_id,
            terms,
            ..
        } => {
            let detail = match terms.expires_at {
                None => format!("{{\"send\":{},\"gets\":{}}}", terms.send, terms.gets),
                Some(_) => terms.json(),
            };
            (Action::Assign, number_id, account_id, detail)
        }
        Change::GrantRemoved {
            number_id,
            account_id,
            granted_by,
            reason,
            ..
        } => {
            let action = match reason {
                Removal::Unassign => Action::Unassign,
                Removal::Cascade | Removal::Unsubscribe => Action::CascadeUnassign,
                Removal::Expire => Action::Expire,
            };
            let detail = format!(
                "{{\"granted_by\":{granted_by},\"reason\":\"{}\"}}",
                reason.as_str()
            );
            (action, number_id, account_id, detail)
        }
        Change::GrantChanged {
            number_id,
            account_id,
            before,
            after,
            cascaded,
            ..
        } => {
            let action = if *cascaded {
                Action::CascadeChange
            } else {
                Action::GrantChange
            };
            let detail = format!(
                "{{\"before\":{},\"after\":{}}}",
                before.json(),
                after.json()
            );
            (action, number_id, account_id, detail)
        }
        Change::Unsubscribed {
            number_id,
            owner_id,
            quarantine_until,
        } => {
            let detail = match quarantine_until {
                Some(until) => format!("{{\"quarantine_until\":{until}}}"),
                None => "{}".to_owned(),
            };
            (Action::Unsubscribe, number_id, owner_id, detail)
        }
    };
    crate::store::HistoryEntry {
        at: now,
        request_id: rid.to_owned(),
        actor_id: actor,
        action,
        number_id: Some(*number_id),
        account_id: Some(*account_id),
        detail,
    }
}

/// Writes `changes` in order, each with its history entry.
pub(crate) fn apply(
    tx: &mut dyn Tx,
    changes: &[Change],
    actor: Option<i64>,
    now: i64,
    rid: &str,
) -> Result<(), CoreError> {
    for change in changes {
        match change {
            Change::GrantCreated { .. } => {
                let Some(grant) = change.created_grant(now) else {
                    continue;
                };
                match tx.insert_grant(&grant) {
                    Err(crate::store::StoreError::Conflict(_)) => {
                        return Err(CoreError::AlreadyAssigned);
                    }
                    other => other?,
                }
            }
            Change::GrantRemoved {
                number_id,
                account_id,
                ..
            } => {
                tx.delete_grant(*number_id, *account_id)?;
            }
            Change::GrantChanged {
                number_id,
                account_id,
                granted_by,
                after,
                ..
            } => {
                let grant = Grant {
                    number_id: *number_id,
                    account_id: *account_id,
                    granted_by: *granted_by,
                    send: after.send,
                    gets: after.gets,
                    created_at: now,
                    expires_at: after.expires_at,
                };
                tx.update_grant(&grant)?;
            }
            Change::Unsubscribed {
                number_id,
                owner_id,
                quarantine_until,
            } => match quarantine_until {
                Some(until) => tx.quarantine_number(*number_id, *owner_id, *until)?,
                None => tx.release_number(*number_id)?,
            },
        }
        crate::core::events::log(tx, history_of(change, actor, now, rid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn t(send: bool, gets: bool, expires_at: Option<i64>) -> Terms {
        Terms {
            send,
            gets,
            expires_at,
        }
    }

    #[test]
    fn within_and_capped_attenuate_in_time_too() {
        assert!(t(true, false, Some(5)).within(t(true, true, None)));
        assert!(!t(true, false, None).within(t(true, true, Some(5))));
        assert!(!t(true, false, Some(6)).within(t(true, true, Some(5))));
        assert!(!t(true, true, Some(1)).within(t(true, false, Some(5))));
        assert_eq!(
            t(true, true, None).capped(t(false, true, Some(9))),
            t(false, true, Some(9))
        );
        assert_eq!(
            t(true, true, Some(3)).capped(t(true, true, Some(9))),
            t(true, true, Some(3))
        );
    }
}
