//! The invariants of DOMAIN.md, checked over a whole snapshot of the store.
//! Tests run this after every kind of load; `stress` after its run.

use std::collections::{HashMap, HashSet};

use super::changes::Terms;
use super::grants::holding_terms;
use crate::store::Snapshot;

/// Every broken invariant, described; empty when all hold.
pub fn violations(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let accounts: HashMap<i64, _> = s.accounts.iter().map(|a| (a.id, a)).collect();
    let numbers: HashMap<i64, _> = s.numbers.iter().map(|n| (n.id, n)).collect();
    let mut by_number: HashMap<i64, Vec<_>> = HashMap::new();
    let mut seen = HashSet::new();
    // A grant past its end confers nothing, swept or not (invariant 6
    // speaks of the live ones; the sweeper removes the rest).
    let live: Vec<_> = s.grants.iter().filter(|g| g.live_at(s.at)).collect();
    for g in &s.grants {
        if !seen.insert((g.number_id, g.account_id)) {
            out.push(format!(
                "two grants of number {} to account {}",
                g.number_id, g.account_id
            ));
        }
    }
    for g in &live {
        by_number.entry(g.number_id).or_default().push((*g).clone());
    }
    for g in &live {
        let (Some(number), Some(to), Some(by)) = (
            numbers.get(&g.number_id),
            accounts.get(&g.account_id),
            accounts.get(&g.granted_by),
        ) else {
            out.push(format!("grant {g:?} names a missing number or account"));
            continue;
        };
        let grants = &by_number[&g.number_id];
        if number.subscription.is_none() {
            out.push(format!(
                "number {} is in the pool but granted to {}",
                number.id, to.id
            ));
        }
        if !by.is_above(to) {
            out.push(format!(
                "grant of {} to {} by {}, who is not above it",
                number.id, to.id, by.id
            ));
        }
        // Invariants 1 and 6: the granter still holds the number, and the
        // grant exceeds its holding neither in permissions nor in time.
        match holding_terms(by, number, grants) {
            None => out.push(format!(
                "grant of {} to {} by {}, who no longer holds it",
                number.id, to.id, by.id
            )),
            Some(p) if (g.send && !p.send) || (g.gets && !p.gets) => out.push(format!(
                "grant of {} to {} exceeds the permissions of {}",
                number.id, to.id, by.id
            )),
            Some(p) if !Terms::of(g).within(p) => out.push(format!(
                "grant of {} to {} outlives the holding of {}",
                number.id, to.id, by.id
            )),
            Some(_) => {}
        }
        if number.owner_id() == Some(to.id) {
            out.push(format!(
                "owner {} of number {} also holds a grant on it",
                to.id, number.id
            ));
        }
    }
    // The numbers list's totals: what each account owns plus what it was granted.
    let mut held: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for n in &s.numbers {
        if let Some(owner) = n.owner_id() {
            *held.entry(owner).or_default() += 1;
        }
    }
    for g in &live {
        *held.entry(g.account_id).or_default() += 1;
    }
    let reported: std::collections::BTreeMap<i64, i64> = s.held.iter().copied().collect();
    if reported != held {
        let wrong: Vec<_> = held
            .keys()
            .chain(reported.keys())
            .filter(|id| held.get(id) != reported.get(id))
            .take(5)
            .map(|id| {
                format!(
                    "account {id} holds {} but its list reports {}",
                    held.get(id).unwrap_or(&0),
                    reported.get(id).unwrap_or(&0)
                )
            })
            .collect();
        out.push(format!("list totals are wrong: {}", wrong.join("; ")));
    }
    // The stored counters the totals are read from: what each account owns
    // plus every grant row it has, swept or not yet (the list subtracts the
    // ones past their end when it reads the counter).
    let mut rows: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for n in &s.numbers {
        if let Some(owner) = n.owner_id() {
            *rows.entry(owner).or_default() += 1;
        }
    }
    for g in &s.grants {
        *rows.entry(g.account_id).or_default() += 1;
    }
    let counters: std::collections::BTreeMap<i64, i64> = s.counters.iter().copied().collect();
    if counters != rows {
        let ids: std::collections::BTreeSet<_> = rows.keys().chain(counters.keys()).collect();
        let wrong: Vec<_> = ids
            .into_iter()
            .filter(|id| rows.get(id) != counters.get(id))
            .take(5)
            .map(|id| {
                format!(
                    "account {id} has {} numbers and grants but its counter says {}",
                    rows.get(id).unwrap_or(&0),
                    counters.get(id).unwrap_or(&0)
                )
            })
            .collect();
        out.push(format!("holdings counters are wrong: {}", wrong.join("; ")));
    }
    if s.stale_copies != 0 {
        out.push(format!(
            "{} grants carry a stale copy of their number's columns",
            s.stale_copies
        ));
    }
    // Invariant 7: a reserved number has one holder and no owner; a
    // quarantined one no owner, no grants, and a recorded former owner.
    let granted: HashSet<i64> = s.grants.iter().map(|g| g.number_id).collect();
    for n in &s.numbers {
        if let Some(r) = &n.reservation {
            if n.subscription.is_some() {
                out.push(format!("number {} is reserved and owned", n.id));
            }
            if !accounts.contains_key(&r.holder_id) {
                out.push(format!(
                    "number {} is reserved by missing account {}",
                    n.id, r.holder_id
                ));
            }
        }
        if let Some(q) = &n.quarantine {
            if n.subscription.is_some() {
                out.push(format!("number {} is quarantined and owned", n.id));
            }
            if granted.contains(&n.id) {
                out.push(format!("number {} is quarantined but granted", n.id));
            }
            if !accounts.contains_key(&q.former_owner_id) {
                out.push(format!(
                    "number {} is quarantined for missing account {}",
                    n.id, q.former_owner_id
                ));
            }
            if n.reservation.is_some() {
                out.push(format!("number {} is quarantined and reserved", n.id));
            }
        }
    }
    for n in &s.numbers {
        if let Some(sub) = &n.subscription
            && !accounts.contains_key(&sub.owner_id)
        {
            out.push(format!(
                "number {} is owned by missing account {}",
                n.id, sub.owner_id
            ));
        }
    }
    out.extend(outbox_violations(s));
    out
}

/// Invariant 8: the outbox holds exactly one event for every history entry
/// that is a change (the mapping is `events::kind_of`), of the type its
/// action maps to, and none for anything else. The sweeper prunes the oldest
/// events, so entries older than the oldest event kept are not asked for
/// theirs.
pub fn outbox_violations(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let mut events: HashMap<i64, Vec<&str>> = HashMap::new();
    for (history_id, kind) in &s.events {
        events.entry(*history_id).or_default().push(kind);
    }
    let oldest = s.events.iter().map(|(h, _)| *h).min().unwrap_or(i64::MAX);
    let mut known = HashSet::new();
    for (id, (action, number, account)) in s.history_ids.iter().zip(&s.history) {
        known.insert(*id);
        let want = super::events::kind_of(action);
        let got = events.get(id).map(Vec::as_slice).unwrap_or_default();
        match (want, got) {
            (None, []) => {}
            (Some(_), []) if *id < oldest => {}
            (Some(w), [g]) if w == *g => {}
            _ => out.push(format!(
                "history entry {id} ({action} of number {number:?} to {account:?}) \
                 has events {got:?}, expected {want:?}"
            )),
        }
    }
    for history_id in events.keys() {
        if !known.contains(history_id) {
            out.push(format!("event for missing history entry {history_id}"));
        }
    }
    out
}
