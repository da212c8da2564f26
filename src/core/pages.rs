//! The first page of a holder's numbers list (`GET /lk/v1/numbers` with no
//! cursor), kept as the face wrote it, so that asking again is answered
//! with no statement and nothing written.
//!
//! A page is kept with the routing table's generation from before its read
//! began (`routing`): every change to any number that this process makes
//! or hears of from the outbox moves that generation on, so a kept page is
//! used only while no change at all has been heard since its read began,
//! and, as a routing is, only while the store proves it hears (or for the
//! TTL after the read). What is true of the routing table is then true of
//! the page: this instance's own changes show at once, another instance's
//! within the outbox's round ([`routing::FOLLOW_EVERY`]) and always within
//! the TTL.
//!
//! The clock alone changes a holder's list in one way: a grant that ends
//! confers nothing from that instant, swept or not. A page is used only
//! before the earliest end among its rows (the page's items and the one
//! read past them for the cursor): a grant ends no later than the grant it
//! was made from, so a row's own end is when its holder stops holding it.
//! Until one of them ends, the rows below the page's last id are the same
//! (no row joins a list by the clock alone), so the page is too.
//!
//! Kept: first pages only, without `granted_to` (whose rows also depend on
//! other accounts' grants), keyed by the caller and the whole query, at
//! most [`MAX_PAGES`] pages and [`MAX_BYTES`] bytes; once either is full
//! they are all dropped and fill again with what is asked for. The
//! generation moves with every change anywhere, so on a platform changing
//! numbers every few milliseconds a page rarely lives to be asked again:
//! the cache serves the read-heavy spells (consoles and scripts polling a
//! big holder's first page between changes), and costs a read one map
//! insertion otherwise. Keeping a page per holder through changes to other
//! holders' numbers would need the accounts each change touches heard
//! from the outbox too; not done.
//!
//! [`routing::FOLLOW_EVERY`]: super::routing::FOLLOW_EVERY

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;

use crate::store::HoldingFilter;

/// At most this many pages are kept.
pub(crate) const MAX_PAGES: usize = 4_096;

/// At most this many bytes of pages are kept (a page of 50 numbers is
/// about 6 KB, of the largest, 500, about 60 KB).
pub(crate) const MAX_BYTES: usize = 64 << 20;

/// What a kept page answers: whose list, and the whole query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    account_id: i64,
    admin: bool,
    country: Option<String>,
    prefix: Option<String>,
    contains: Option<String>,
    owned: Option<bool>,
    limit: i64,
}

impl PageKey {
    /// The key of a first page of `filter` for this caller, if such a page
    /// is kept at all (no cursor, no `granted_to`).
    pub(crate) fn of(
        account_id: i64,
        admin: bool,
        filter: &HoldingFilter,
        limit: i64,
    ) -> Option<PageKey> {
        (filter.after_id == 0 && filter.granted_to.is_none()).then(|| PageKey {
            account_id,
            admin,
            country: filter.country.clone(),
            prefix: filter.prefix.clone(),
            contains: filter.contains.clone(),
            owned: filter.owned,
            limit,
        })
    }
}

/// When and under what a page was read: the routing table's generation
/// before the read began, when it began (its age), the core's clock it
/// was read at (Unix seconds), and the earliest end among its rows' grants.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Read {
    pub(crate) generation: u64,
    pub(crate) read_at: Instant,
    pub(crate) now: i64,
    pub(crate) until: Option<i64>,
}

impl Read {
    /// Whether the clock at `now` shows what it showed the read: not past
    /// a row's end, and not before the read (a clock set back could bring
    /// back a grant that had ended when the page was read).
    fn holds_at(&self, now: i64) -> bool {
        self.now <= now && self.until.is_none_or(|end| now < end)
    }
}

/// A page as kept.
struct Kept {
    body: Bytes,
    read: Read,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<PageKey, Kept>,
    bytes: usize,
}

/// The kept first pages.
#[derive(Default)]
pub(crate) struct HeldPages {
    inner: Mutex<Inner>,
    /// How many answers came from here.
    answered: AtomicU64,
}

impl HeldPages {
    /// The page kept for `key`, if the clock at `now` (the core's) shows
    /// what it showed its read ([`Read::holds_at`]) and `still_true` says
    /// what was read under its generation from its read on may still be
    /// used.
    pub(crate) fn get(
        &self,
        key: &PageKey,
        now: i64,
        still_true: impl Fn(u64, Instant) -> bool,
    ) -> Option<Bytes> {
        let inner = self.inner.lock().ok()?;
        let kept = inner.by_key.get(key)?;
        let fresh = kept.read.holds_at(now) && still_true(kept.read.generation, kept.read.read_at);
        fresh.then(|| {
            self.answered.fetch_add(1, Ordering::Relaxed);
            kept.body.clone()
        })
    }

    /// How many answers [`HeldPages::get`] gave.
    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Keeps `body` for `key`, as `read`, unless `still_true` says that
    /// it is stale already (a change heard during the read, or the table
    /// off).
    pub(crate) fn put(
        &self,
        key: PageKey,
        body: Bytes,
        read: Read,
        still_true: impl Fn(u64, Instant) -> bool,
    ) {
        if !still_true(read.generation, read.read_at) {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let len = body.len();
        if len > MAX_BYTES {
            return;
        }
        // A page kept for the key already is replaced: its room counts.
        let (had, had_len) = inner
            .by_key
            .get(&key)
            .map_or((false, 0), |k| (true, k.body.len()));
        let gone = if (inner.by_key.len() >= MAX_PAGES && !had)
            || inner.bytes - had_len + len > MAX_BYTES
        {
            inner.bytes = 0;
            Some(std::mem::take(&mut inner.by_key))
        } else {
            None
        };
        let kept = Kept { body, read };
        if let Some(old) = inner.by_key.insert(key, kept) {
            inner.bytes -= old.body.len();
        }
        inner.bytes += len;
        drop(inner);
        // Dropped outside the lock.
        drop(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account_id: i64) -> PageKey {
        PageKey::of(account_id, false, &HoldingFilter::default(), 50).expect("a first page")
    }

    fn read(generation: u64, read_at: Instant, now: i64, until: Option<i64>) -> Read {
        Read {
            generation,
            read_at,
            now,
            until,
        }
    }

    fn yes(_: u64, _: Instant) -> bool {
        true
    }

    #[test]
    fn only_first_pages_without_granted_to_are_kept() {
        let after = HoldingFilter {
            after_id: 7,
            ..HoldingFilter::default()
        };
        let to = HoldingFilter {
            granted_to: Some(3),
            ..HoldingFilter::default()
        };
        assert!(PageKey::of(1, false, &after, 50).is_none());
        assert!(PageKey::of(1, false, &to, 50).is_none());
        assert_ne!(
            Some(key(1)),
            PageKey::of(1, false, &HoldingFilter::default(), 10)
        );
    }

    #[test]
    fn a_page_is_used_from_its_read_to_its_first_end_and_while_still_true() {
        let pages = HeldPages::default();
        let t = Instant::now();
        pages.put(
            key(1),
            Bytes::from_static(b"one"),
            read(4, t, 10, Some(100)),
            yes,
        );
        assert_eq!(pages.get(&key(1), 99, yes).as_deref(), Some(&b"one"[..]));
        assert_eq!(pages.get(&key(1), 10, yes).as_deref(), Some(&b"one"[..]));
        assert_eq!(pages.answered(), 2);
        assert_eq!(pages.get(&key(1), 100, yes), None);
        assert_eq!(pages.get(&key(1), 9, yes), None);
        assert_eq!(pages.get(&key(2), 50, yes), None);
        assert_eq!(pages.answered(), 2);
        // Judged under the generation and read time it was kept with.
        let seen = std::cell::Cell::new(None);
        let judge = |g: u64, at: Instant| {
            seen.set(Some((g, at)));
            false
        };
        assert_eq!(pages.get(&key(1), 50, judge), None);
        assert_eq!(seen.get(), Some((4, t)));
        // Stale already when it would be kept: not kept.
        pages.put(
            key(3),
            Bytes::from_static(b"x"),
            read(5, t, 10, None),
            |_, _| false,
        );
        assert_eq!(pages.get(&key(3), 10, yes), None);
    }

    #[test]
    fn full_pages_start_again() {
        let pages = HeldPages::default();
        let t = Instant::now();
        let put = |k: PageKey, body: Bytes| pages.put(k, body, read(0, t, 0, None), yes);
        for id in 0..MAX_PAGES as i64 {
            put(key(id), Bytes::from_static(b"p"));
        }
        assert!(pages.get(&key(0), 0, yes).is_some());
        put(key(-1), Bytes::from_static(b"q"));
        assert!(pages.get(&key(0), 0, yes).is_none());
        assert!(pages.get(&key(-1), 0, yes).is_some());
        // By bytes too, and a page replaced counts once.
        let big = Bytes::from(vec![b'x'; MAX_BYTES / 2 + 1]);
        put(key(5), big.clone());
        put(key(5), big.clone());
        assert!(pages.get(&key(-1), 0, yes).is_some());
        put(key(6), big);
        assert!(pages.get(&key(5), 0, yes).is_none());
        assert!(pages.get(&key(6), 0, yes).is_some());
    }
}
