//! Custody history entries as this face writes them, kept: a page of the
//! history is mostly bytes written before.
//!
//! An entry's item is fixed once the entry exists, for a given set of the
//! accounts the viewer may see: the history is append-only (both backends
//! refuse an UPDATE or DELETE of it), a number's E.164 never changes, and
//! of an account an item shows its id and username, which no statement
//! changes (renaming changes an account's `name`; a test below reads the
//! statements), nor its parent and path, which decide whom it is shown to.
//! What varies between viewers is only which of the number, actor, target
//! and granter it names (`null` for an account outside a reseller's tree),
//! so an item is kept by its entry's id and those four presences.
//!
//! Writing an item (eight fields, three accounts, a time) was about 1,900
//! instructions, 100,000 of the 288,500 a first page of 50 entries cost;
//! with the items copied the page costs 214,100 (callgrind, BENCHMARKS.md,
//! "The history's items, written once").
//!
//! The items are kept in a [`Frozen`] cache, as the core keeps the entries
//! themselves: bounded by a count and by its lifetime (a PostgreSQL
//! failover that lost committed writes could give an entry's id to another
//! entry; the core's cache has the same bound for the same reason). Each
//! router has its own, as each has its own core and database.

use std::sync::Arc;

use super::json::{Out, WriteJson};
use super::render;
use crate::core::Frozen;
use crate::core::custody::HistoryView;

/// The most items kept: a few hundred bytes each.
const CAPACITY: usize = 65_536;

/// The written items of history entries, by entry and what the item names.
pub struct Written(Frozen<Box<[u8]>>);

impl Default for Written {
    fn default() -> Written {
        Written(Frozen::new(CAPACITY))
    }
}

/// An item written before: its bytes as they are.
pub struct Item(Arc<Box<[u8]>>);

impl WriteJson for Item {
    fn write_json(&self, o: &mut Out) {
        o.written(&self.0);
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

impl Written {
    /// The items of `views`, in their order: those kept, and the others
    /// written now (and kept).
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
                    .map(|(h, k)| (k, write(h)))
                    .collect(),
            )
        });
        let mut found = found.into_iter();
        views
            .iter()
            .zip(keys)
            .map(|(h, k)| {
                let kept = k.and_then(|_| found.next().flatten());
                Item(kept.unwrap_or_else(|| Arc::new(write(h))))
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
        items.iter().map(|i| i.0.to_vec()).collect()
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
        let text = String::from_utf8(none[0].0.to_vec()).expect("UTF-8");
        assert!(
            !text.contains("reseller") && !text.contains("agent"),
            "{text}"
        );
    }

    /// The items rest on an account's username, parent and path never
    /// changing once it exists, and no account being deleted: the store's
    /// statements are read for one that would. The path is set once, by
    /// the statement that follows the account's INSERT (its id is in it).
    #[test]
    fn no_statement_changes_what_an_item_shows_of_an_account() {
        use crate::core::{STORE_SOURCES, flat};
        let mut found = Vec::new();
        let mut paths_set = 0;
        for text in STORE_SOURCES {
            let flat = flat(text);
            for (i, _) in flat.match_indices("update accounts set") {
                let set = &flat[i..];
                let set = &set[..set.find(" where ").unwrap_or(set.len())];
                for column in ["username", "username_key", "parent_id", "path", "id"] {
                    for spelled in [format!(" {column} ="), format!(",{column} =")] {
                        if set.contains(&spelled)
                            && set != "update accounts set path = $2"
                            && set != "update accounts set path = ?2"
                        {
                            found.push(set.to_owned());
                        }
                    }
                }
            }
            if flat.contains("delete from accounts") {
                found.push("delete from accounts".to_owned());
            }
            for (i, _) in flat.match_indices("sql::set_path.") {
                paths_set += 1;
                let before = &flat[..i];
                let insert = before.rfind("insert_account").unwrap_or(0);
                let function = before.rfind(" fn ").unwrap_or(0);
                assert!(insert > function, "SET_PATH outside an account's creation");
            }
        }
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(paths_set, 2, "one account creation a backend");
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
