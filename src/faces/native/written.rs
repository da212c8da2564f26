//! Custody history entries as this face writes them, kept: a page of the
//! history is mostly bytes written before.
//!
//! An item is kept with the view it was written from, and used again only
//! for a view of the same entry (id, time, action, request id, number,
//! permissions) naming the same accounts by id: so a kept item is never
//! another view's, even if an entry's id were given to another entry (a
//! PostgreSQL failover that lost committed writes could). The rest of what
//! an item shows is fixed for those ids: an account's username and a
//! number's E.164 never change (no statement changes them; a test below
//! and one in `core::facts` read the statements), and the history is
//! append-only (both backends refuse an UPDATE or DELETE of it). What
//! varies between viewers is which of the number, actor, target and
//! granter an item names (`null` for an account outside a reseller's
//! tree), so an item is kept by its entry's id and those four presences.
//!
//! Writing an item (eight fields, three accounts, a time) was about 1,900
//! instructions, 100,000 of the 288,500 a first page of 50 entries cost;
//! with the items copied the page costs 214,100 (callgrind, BENCHMARKS.md,
//! "The history's items, written once"); comparing a view costs a few
//! dozen instructions.
//!
//! The items are kept in a [`Frozen`] cache, as the core keeps the entries
//! themselves: bounded by a count and by its lifetime. Each router has its
//! own (`routes` makes one), as each has its own core and database.

use std::sync::Arc;

use super::json::{Out, WriteJson};
use super::render;
use crate::core::Frozen;
use crate::core::custody::HistoryView;
use crate::store::Account;

/// The most items kept: a few hundred bytes each.
const CAPACITY: usize = 65_536;

/// The written items of history entries, by entry and what the item names.
pub struct Written(Frozen<Kept>);

impl Default for Written {
    fn default() -> Written {
        Written(Frozen::new(CAPACITY))
    }
}

/// An item and the view it was written from.
pub struct Kept {
    view: HistoryView,
    bytes: Box<[u8]>,
}

/// An item of a page: kept, or written for this page alone (a view other
/// than the one kept under its key).
pub struct Item(Arc<Kept>);

impl WriteJson for Item {
    fn write_json(&self, o: &mut Out) {
        o.written(&self.0.bytes);
    }
}

/// Where an item is kept: its entry's id and which of the four parts a
/// viewer may be shown or not it names. `None` for an id too large to
/// share a key with them (no store gives one).
fn key(h: &HistoryView) -> Option<i64> {
    let names = u8::from(h.number.is_some())
        | u8::from(h.actor.is_some()) << 1
        | u8::from(h.target.is_some()) << 2
        | u8::from(h.granted_by.is_some()) << 3;
    h.id.checked_mul(16).map(|k| k | i64::from(names))
}

/// Whether `a` and `b` write the same item: the same entry (id, time,
/// action, request id, number, permissions) naming the same accounts. An
/// account's username and a number's E.164 are not compared: each is fixed
/// for its id (no statement changes either; the tests below and in
/// `core::facts` read the statements), and comparing their bytes for every
/// entry of a page was 10,000 instructions a page of 50.
fn same(a: &HistoryView, b: &HistoryView) -> bool {
    fn id(a: &Option<Arc<Account>>) -> Option<i64> {
        a.as_ref().map(|a| a.id)
    }
    // Shared with the core's cached entry, so usually the same allocation.
    fn text(a: &Arc<str>, b: &Arc<str>) -> bool {
        Arc::ptr_eq(a, b) || a == b
    }
    a.id == b.id
        && a.at == b.at
        && a.perms == b.perms
        && id(&a.actor) == id(&b.actor)
        && id(&a.target) == id(&b.target)
        && id(&a.granted_by) == id(&b.granted_by)
        && a.number.as_ref().map(|n| n.0) == b.number.as_ref().map(|n| n.0)
        && text(&a.action, &b.action)
        && text(&a.request_id, &b.request_id)
}

impl Written {
    /// The items of `views`, in their order: those kept for the same view,
    /// and the others written now (and kept, unless another view of the
    /// same key is kept).
    pub fn items(&self, views: &[HistoryView]) -> Vec<Item> {
        let keys: Vec<Option<i64>> = views.iter().map(key).collect();
        let kept: Vec<i64> = keys.iter().flatten().copied().collect();
        let Ok(found) = self.0.get(&mut (), &kept, true, |_, misses| {
            Ok::<_, std::convert::Infallible>(
                views
                    .iter()
                    .zip(&keys)
                    .filter_map(|(h, k)| Some((h, (*k)?)))
                    .filter(|(_, k)| misses.binary_search(k).is_ok())
                    .map(|(h, k)| {
                        let kept = Kept {
                            view: h.clone(),
                            bytes: write(h),
                        };
                        (k, kept)
                    })
                    .collect(),
            )
        });
        let mut found = found.into_iter();
        views
            .iter()
            .zip(keys)
            .map(|(h, k)| match k.and_then(|_| found.next().flatten()) {
                Some(kept) if same(&kept.view, h) => Item(kept),
                _ => Item(Arc::new(Kept {
                    view: h.clone(),
                    bytes: write(h),
                })),
            })
            .collect()
    }
}

/// One entry's item, written.
fn write(h: &HistoryView) -> Box<[u8]> {
    let item = render::HistoryItem {
        id: h.id,
        at: h.at,
        action: h.action.clone(),
        number: h.number.as_ref().map(|(id, number)| render::NumberBrief {
            id: *id,
            number: number.clone(),
        }),
        actor: h.actor.clone().map(render::Named),
        target: h.target.clone().map(render::Named),
        granted_by: h.granted_by.clone().map(render::Named),
        permissions: h.perms.map(|p| render::PermsItem {
            send: p.send,
            gets: p.gets,
        }),
        request_id: h.request_id.clone(),
    };
    let mut o = Out::with_capacity(320);
    o.item(&item);
    o.into_bytes().into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Perms;
    use crate::store::Account;

    fn account(id: i64, username: &str) -> Arc<Account> {
        Arc::new(Account {
            id,
            username: username.into(),
            name: String::new(),
            is_reseller: true,
            suspended: false,
            parent_id: None,
            path: "/1/".into(),
            postpaid: false,
            created_at: 0,
        })
    }

    /// Entry `id` as a viewer sees it, naming the accounts `shown` keeps.
    fn view(id: i64, shown: [bool; 3]) -> HistoryView {
        let [actor, target, granted_by] = shown;
        HistoryView {
            id,
            at: 1_767_225_600 + id % 1_000,
            action: "grant.assign".into(),
            request_id: format!("r\"{id}").into(),
            number: (id % 2 == 0).then(|| (7, "+983000505".into())),
            actor: actor.then(|| account(2, "reseller")),
            target: target.then(|| account(3, "agent\n")),
            granted_by: granted_by.then(|| account(2, "reseller")),
            perms: Some(Perms {
                send: true,
                gets: false,
            }),
        }
    }

    fn bytes(items: &[Item]) -> Vec<Vec<u8>> {
        items.iter().map(|i| i.0.bytes.to_vec()).collect()
    }

    /// Whether `item` is the one kept under its key.
    fn is_kept(kept: &Written, item: &Item) -> bool {
        let k = key(&item.0.view).expect("a key");
        let Ok(found) = kept.0.get(&mut (), &[k], false, |_, _| {
            Ok::<_, std::convert::Infallible>(Vec::new())
        });
        found[0].as_ref().is_some_and(|f| Arc::ptr_eq(f, &item.0))
    }

    #[test]
    fn each_viewer_gets_the_item_it_would_be_written_for_it() {
        let kept = Written::default();
        let shows = [
            [true, true, true],
            [false, true, false],
            [true, false, true],
            [false, false, false],
        ];
        for round in 0..2 {
            for shown in shows {
                let views: Vec<HistoryView> = (1..=4).map(|id| view(id, shown)).collect();
                let items = kept.items(&views);
                let fresh: Vec<Vec<u8>> = views.iter().map(|h| write(h).to_vec()).collect();
                assert_eq!(bytes(&items), fresh, "round {round}, {shown:?}");
            }
        }
        // What a page names decides the bytes: the same entry, two items.
        let all = kept.items(&[view(1, [true; 3])]);
        let none = kept.items(&[view(1, [false; 3])]);
        assert_ne!(bytes(&all), bytes(&none));
        let text = String::from_utf8(bytes(&none).remove(0)).expect("UTF-8");
        assert!(
            !text.contains("reseller") && !text.contains("agent"),
            "{text}"
        );
    }

    /// The items rest on an account's username never changing once it
    /// exists, and no account being deleted: the store's statements and
    /// migrations are read for one that would change it, in any spelling
    /// of an UPDATE of `accounts`.
    #[test]
    fn no_statement_changes_an_accounts_username() {
        use crate::core::{STORE_SOURCES, flat};
        let mut texts: Vec<String> = STORE_SOURCES.iter().map(|t| t.to_string()).collect();
        for backend in ["sqlite", "postgres"] {
            let dir = format!(
                "{}/src/store/{backend}/migrations",
                env!("CARGO_MANIFEST_DIR")
            );
            for file in std::fs::read_dir(&dir).expect("the migrations") {
                let path = file.expect("a migration").path();
                texts.push(std::fs::read_to_string(&path).expect("readable"));
            }
        }
        assert!(
            texts.len() > STORE_SOURCES.len() + 10,
            "the migrations were read"
        );
        let mut found = Vec::new();
        let mut updates = 0;
        for text in &texts {
            let flat = flat(text);
            for (i, _) in flat.match_indices("update accounts") {
                updates += 1;
                // The statement runs to its WHERE (or its end).
                let rest = &flat[i..];
                let end = [" where ", ";", "\")", "\","]
                    .iter()
                    .filter_map(|e| rest.find(e))
                    .min()
                    .unwrap_or(rest.len());
                let words: Vec<&str> = rest[..end]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .collect();
                if words
                    .iter()
                    .any(|w| *w == "username" || *w == "username_key")
                {
                    found.push(rest[..end].to_owned());
                }
            }
            if flat.contains("delete from accounts") {
                found.push("delete from accounts".to_owned());
            }
        }
        assert!(updates >= 5, "the statements were read ({updates})");
        assert!(found.is_empty(), "{found:?}");
    }

    /// An entry whose id now names another entry (a failover that lost
    /// writes), or whose accounts read otherwise, is written again: a kept
    /// item is only ever the same view's.
    #[test]
    fn a_kept_item_serves_only_the_view_it_was_written_from() {
        let kept = Written::default();
        let old = view(2, [true; 3]);
        let first = kept.items(std::slice::from_ref(&old));
        assert_eq!(bytes(&first), vec![write(&old).to_vec()]);
        let again = kept.items(std::slice::from_ref(&old));
        assert!(is_kept(&kept, &again[0]), "the same view is kept");
        let mut changes: Vec<HistoryView> = Vec::new();
        let mut v = old.clone();
        v.at += 1;
        changes.push(v);
        let mut v = old.clone();
        v.number = Some((8, "+983000506".into()));
        changes.push(v);
        let mut v = old.clone();
        v.actor = Some(account(9, "reseller"));
        changes.push(v);
        let mut v = old.clone();
        v.target = Some(account(4, "agent\n"));
        changes.push(v);
        let mut v = old.clone();
        v.action = "grant.unassign".into();
        changes.push(v);
        let mut v = old.clone();
        v.request_id = "other".into();
        changes.push(v);
        let mut v = old.clone();
        v.perms = None;
        changes.push(v);
        for v in changes {
            let items = kept.items(std::slice::from_ref(&v));
            assert!(!is_kept(&kept, &items[0]), "{:?}", v.id);
            assert_eq!(bytes(&items), vec![write(&v).to_vec()]);
        }
    }

    #[test]
    fn an_id_too_large_for_a_key_is_written_each_time() {
        let kept = Written::default();
        let views = [view(i64::MAX, [true; 3]), view(5, [true; 3])];
        assert_eq!(key(&views[0]), None);
        let items = kept.items(&views);
        let fresh: Vec<Vec<u8>> = views.iter().map(|h| write(h).to_vec()).collect();
        assert_eq!(bytes(&items), fresh);
    }
}
