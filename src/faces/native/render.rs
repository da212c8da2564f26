//! How the native face writes the core's values.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::input::rfc3339;
use super::json::{Out, WriteJson};
use crate::core::routing::Routing;
use crate::core::{Change, Outcome, Perms, Terms};
use crate::store::{Account, Grant, Number};

pub fn role(a: &Account) -> &'static str {
    if a.is_admin() {
        "admin"
    } else if a.is_reseller {
        "reseller"
    } else {
        "user"
    }
}

/// An account in full.
pub fn account(a: &Account) -> Value {
    json!({
        "id": a.id,
        "username": a.username,
        "name": a.name,
        "role": role(a),
        "status": if a.suspended { "suspended" } else { "active" },
        "parent_id": a.parent_id,
        "created_at": rfc3339(a.created_at),
    })
}

/// An account named in passing.
pub fn brief(a: &Account) -> Value {
    json!({ "id": a.id, "username": a.username })
}

/// The items of the lists a client reads most (the numbers list, the
/// custody history), written straight into the body by [`WriteJson`]
/// (`json.rs` says why): each field in the order `json!` wrote it, so the
/// bytes are the same. Under test they also implement `Serialize` (derived,
/// or by hand in the same field order, strings through serde's own
/// escaping), which the tests below compare them with.
pub struct HeldItem {
    pub id: i64,
    /// The uid, E.164 and country.
    pub facts: std::sync::Arc<crate::store::NumberFacts>,
    pub state: &'static str,
    pub owned: bool,
    pub permissions: PermsItem,
}

#[cfg(test)]
impl Serialize for HeldItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("HeldItem", 7)?;
        m.serialize_field("id", &self.id)?;
        m.serialize_field("uid", self.facts.uid())?;
        m.serialize_field("number", self.facts.number())?;
        m.serialize_field("country", self.facts.country())?;
        m.serialize_field("state", self.state)?;
        m.serialize_field("owned", &self.owned)?;
        m.serialize_field("permissions", &self.permissions)?;
        m.end()
    }
}

impl WriteJson for HeldItem {
    fn write_json(&self, o: &mut Out) {
        o.raw("{\"id\":").int(self.id);
        let (f, plain) = (&*self.facts, self.facts.plain());
        o.raw(",\"uid\":").str_known(f.uid(), plain);
        o.raw(",\"number\":").str_known(f.number(), plain);
        o.raw(",\"country\":").str_known(f.country(), plain);
        o.raw(",\"state\":").str(self.state);
        o.raw(",\"owned\":").bool(self.owned);
        o.raw(",\"permissions\":").item(&self.permissions).raw("}");
    }
}

/// `{"send": ..., "gets": ...}`, as [`perms`] writes it.
#[cfg_attr(test, derive(serde::Serialize))]
pub struct PermsItem {
    pub send: bool,
    pub gets: bool,
}

impl WriteJson for PermsItem {
    fn write_json(&self, o: &mut Out) {
        o.raw("{\"send\":").bool(self.send);
        o.raw(",\"gets\":").bool(self.gets).raw("}");
    }
}

/// An account named in passing, as [`brief`] writes it.
pub struct Named(pub std::sync::Arc<Account>);

impl WriteJson for Named {
    fn write_json(&self, o: &mut Out) {
        o.raw("{\"id\":").int(self.0.id);
        o.raw(",\"username\":").str(&self.0.username).raw("}");
    }
}

#[cfg(test)]
impl Serialize for Named {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        brief(&self.0).serialize(s)
    }
}

/// `{"id": ..., "number": "+..."}`: the number a history entry is about.
#[cfg_attr(test, derive(serde::Serialize))]
pub struct NumberBrief {
    pub id: i64,
    /// Shared by the entries of a page about one number.
    #[cfg_attr(test, serde(serialize_with = "text"))]
    pub number: Arc<str>,
}

impl WriteJson for NumberBrief {
    fn write_json(&self, o: &mut Out) {
        o.raw("{\"id\":").int(self.id);
        o.raw(",\"number\":").str(&self.number).raw("}");
    }
}

/// One custody history entry.
#[cfg_attr(test, derive(serde::Serialize))]
pub struct HistoryItem {
    pub id: i64,
    /// Unix seconds, written as RFC 3339.
    #[cfg_attr(test, serde(serialize_with = "time"))]
    pub at: i64,
    /// Shared with the core's cached entry (as `request_id`).
    #[cfg_attr(test, serde(serialize_with = "text"))]
    pub action: Arc<str>,
    pub number: Option<NumberBrief>,
    pub actor: Option<Named>,
    pub target: Option<Named>,
    pub granted_by: Option<Named>,
    pub permissions: Option<PermsItem>,
    #[cfg_attr(test, serde(serialize_with = "text"))]
    pub request_id: Arc<str>,
}

/// How `Serialize` (under test) writes an `Arc<str>`.
#[cfg(test)]
fn text<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

/// How `Serialize` (under test) writes a time.
#[cfg(test)]
fn time<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::rfc3339_utc(*v))
}

impl WriteJson for HistoryItem {
    fn write_json(&self, o: &mut Out) {
        o.raw("{\"id\":").int(self.id);
        o.raw(",\"at\":").time(self.at);
        o.raw(",\"action\":").str(&self.action);
        o.raw(",\"number\":").opt(self.number.as_ref());
        o.raw(",\"actor\":").opt(self.actor.as_ref());
        o.raw(",\"target\":").opt(self.target.as_ref());
        o.raw(",\"granted_by\":").opt(self.granted_by.as_ref());
        o.raw(",\"permissions\":").opt(self.permissions.as_ref());
        o.raw(",\"request_id\":").str(&self.request_id).raw("}");
    }
}

pub fn perms(p: Perms) -> Value {
    json!({ "send": p.send, "gets": p.gets })
}

/// Where the number is in its life at `now` (an end that has passed is
/// over from its instant, swept or not).
pub fn state(n: &Number, now: i64) -> &'static str {
    n.state(now).as_str()
}

/// A number's own fields at `now`.
pub fn number(n: &Number, now: i64) -> Value {
    json!({
        "id": n.id,
        "uid": n.uid,
        "number": n.number,
        "country": n.country,
        "state": state(n, now),
        "operator_id": n.operator_id,
        "alias": n.alias,
        "monthly_price": n.monthly_price,
        "yearly_price": n.yearly_price,
    })
}

/// A grant by ids.
pub fn grant(g: &Grant) -> Value {
    json!({
        "number_id": g.number_id,
        "account_id": g.account_id,
        "granted_by": g.granted_by,
        "permissions": { "send": g.send, "gets": g.gets },
        "created_at": rfc3339(g.created_at),
        "expires_at": g.expires_at.map(rfc3339),
    })
}

/// A grant's terms: permissions and end.
pub fn terms(t: Terms) -> Value {
    json!({ "send": t.send, "gets": t.gets, "expires_at": t.expires_at.map(rfc3339) })
}

/// One change a command made (or, in a dry run, would make). `type` names
/// it as its event does; `chain` is the path of accounts by which the
/// command reached the grant.
pub fn change(c: &Change) -> Value {
    match c {
        Change::GrantCreated {
            number_id,
            account_id,
            granted_by,
            terms: t,
        } => json!({
            "type": "grant.created",
            "number_id": number_id,
            "account_id": account_id,
            "granted_by": granted_by,
            "terms": terms(*t),
        }),
        Change::GrantRemoved {
            number_id,
            account_id,
            granted_by,
            reason,
            chain,
        } => json!({
            "type": "grant.removed",
            "number_id": number_id,
            "account_id": account_id,
            "granted_by": granted_by,
            "reason": reason.as_str(),
            "chain": chain,
        }),
        Change::GrantChanged {
            number_id,
            account_id,
            granted_by,
            before,
            after,
            cascaded,
            chain,
        } => json!({
            "type": "grant.changed",
            "number_id": number_id,
            "account_id": account_id,
            "granted_by": granted_by,
            "before": terms(*before),
            "after": terms(*after),
            "cascaded": cascaded,
            "chain": chain,
        }),
        Change::Unsubscribed {
            number_id,
            owner_id,
            quarantine_until,
        } => json!({
            "type": "number.unsubscribed",
            "number_id": number_id,
            "owner_id": owner_id,
            "quarantine_until": quarantine_until.map(rfc3339),
        }),
    }
}

/// An outcome's answer: `{"changes": [...]}`, or for a dry run
/// `{"dry_run": true, "changes": [...]}`.
pub fn outcome(o: &Outcome) -> Value {
    let changes: Vec<Value> = o.changes.iter().map(change).collect();
    if o.dry_run {
        json!({ "dry_run": true, "changes": changes })
    } else {
        json!({ "changes": changes })
    }
}

/// The answer of `GET /lk/v1/routing/{e164}` at `now`: the number, its
/// state, its owner (brief), the ids of the holders that may send and of
/// those that receive, and every holder with its permissions and who granted
/// them, the owner first. The bytes are those of the `json!` value it
/// replaced ([`brief`] and [`perms`], keys in the same order), written
/// straight from the cached routing: the hottest answer, where building a
/// `Value` first (a map and a string copy per field) was a tenth of the
/// server's work.
pub fn routing(r: &Routing, now: i64) -> impl Serialize + '_ {
    RoutingBody {
        number: &r.number.number,
        state: state(&r.number, now),
        owner: r.owner.as_deref().map(Brief::of),
        send: Ids(r, |p| p.send),
        gets: Ids(r, |p| p.gets),
        holders: Holders(r),
    }
}

#[derive(Serialize)]
struct RoutingBody<'a> {
    number: &'a str,
    state: &'static str,
    owner: Option<Brief<'a>>,
    send: Ids<'a>,
    gets: Ids<'a>,
    holders: Holders<'a>,
}

/// [`brief`], borrowed.
#[derive(Serialize)]
struct Brief<'a> {
    id: i64,
    username: &'a str,
}

impl Brief<'_> {
    fn of(a: &Account) -> Brief<'_> {
        Brief {
            id: a.id,
            username: &a.username,
        }
    }
}

/// The ids of the holders whose permissions pass the test, in order.
struct Ids<'a>(&'a Routing, fn(&Perms) -> bool);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Ids(r, want) = *self;
        s.collect_seq(
            r.holders
                .iter()
                .filter(|h| want(&h.perms))
                .map(|h| h.account.id),
        )
    }
}

struct Holders<'a>(&'a Routing);

/// One of [`Holders`]; `permissions` as [`perms`] writes them.
#[derive(Serialize)]
struct HolderBody<'a> {
    account: Brief<'a>,
    permissions: PermsBody,
    granted_by: Option<i64>,
}

#[derive(Serialize)]
struct PermsBody {
    send: bool,
    gets: bool,
}

impl Serialize for Holders<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.holders.iter().map(|h| HolderBody {
            account: Brief::of(&h.account),
            permissions: PermsBody {
                send: h.perms.send,
                gets: h.perms.gets,
            },
            granted_by: h.granted_by,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::faces::native::input::paged;

    /// Strings serde_json escapes (quotes, backslashes, every control
    /// character, the short forms among them) and some it writes as they
    /// are (UTF-8, `/`, DEL).
    fn awkward() -> Vec<String> {
        let mut v: Vec<String> = (0u8..0x20).map(|b| format!("a{}b", b as char)).collect();
        v.extend(
            [
                "",
                "plain",
                "\"",
                "\\",
                "\\\"",
                "/",
                "\u{7f}",
                "é€😀",
                "+14510000000",
                "x\"y\\z\n",
            ]
            .map(String::from),
        );
        v
    }

    fn account(id: i64, username: &str) -> Arc<Account> {
        Arc::new(Account {
            id,
            username: username.into(),
            name: String::new(),
            is_reseller: false,
            suspended: false,
            parent_id: None,
            path: "/1/".into(),
            postpaid: false,
            created_at: 0,
        })
    }

    fn written<J: WriteJson>(v: &J) -> String {
        let mut o = Out::with_capacity(0);
        v.write_json(&mut o);
        String::from_utf8(o.into_bytes()).expect("UTF-8")
    }

    #[test]
    fn held_items_are_written_as_serde_writes_them() {
        for (i, s) in awkward().into_iter().enumerate() {
            let item = HeldItem {
                id: i as i64 * 7919 - 3,
                facts: std::sync::Arc::new(crate::store::NumberFacts::new(&s, &s, &s)),
                state: "subscribed",
                owned: i % 2 == 0,
                permissions: PermsItem {
                    send: i % 3 == 0,
                    gets: i % 5 != 0,
                },
            };
            let serde = serde_json::to_string(&item).expect("serialises");
            assert_eq!(written(&item), serde);
            // And the same as the `json!` the list wrote before.
            let value: Value = serde_json::from_str(&serde).expect("parses");
            assert_eq!(
                value["permissions"],
                perms(Perms {
                    send: i % 3 == 0,
                    gets: i % 5 != 0
                })
            );
        }
    }

    #[test]
    fn history_items_are_written_as_serde_writes_them() {
        for (i, s) in awkward().into_iter().enumerate() {
            let some = i % 2 == 0;
            let item = HistoryItem {
                id: i64::MAX - i as i64,
                // Either side of years 0 and 9999, and between.
                at: -62_200_000_000 + i as i64 * 7_300_000_123,
                action: s.as_str().into(),
                number: some.then(|| NumberBrief {
                    id: i as i64,
                    number: s.as_str().into(),
                }),
                actor: some.then(|| Named(account(i as i64, &s))),
                target: (!some).then(|| Named(account(-1, &s))),
                granted_by: some.then(|| Named(account(0, ""))),
                permissions: some.then_some(PermsItem {
                    send: true,
                    gets: false,
                }),
                request_id: s.as_str().into(),
            };
            assert_eq!(
                written(&item),
                serde_json::to_string(&item).expect("serialises")
            );
        }
    }

    /// The routing answer as the `json!` value it once was: what
    /// [`super::routing`] is compared with.
    fn routing_value(r: &Routing, now: i64) -> Value {
        let ids = |want: fn(&Perms) -> bool| -> Vec<i64> {
            r.holders
                .iter()
                .filter(|h| want(&h.perms))
                .map(|h| h.account.id)
                .collect()
        };
        json!({
            "number": r.number.number,
            "state": state(&r.number, now),
            "owner": r.owner.as_deref().map(brief),
            "send": ids(|p| p.send),
            "gets": ids(|p| p.gets),
            "holders": r.holders.iter().map(|h| json!({
                "account": brief(&h.account),
                "permissions": perms(h.perms),
                "granted_by": h.granted_by,
            })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn routing_answers_are_written_as_the_json_value_was() {
        use crate::core::routing::Holder;
        use crate::domain::{Cycle, Quarantine, Reservation, Subscription};
        let now = 1_767_225_600;
        for (i, s) in awkward().into_iter().enumerate() {
            let owned = i % 3 == 0;
            let number = Number {
                id: i as i64,
                uid: s.clone(),
                number: s.clone(),
                operator_id: None,
                alias: None,
                is_66_char: false,
                country: "AU".into(),
                monthly_price: 1,
                yearly_price: 2,
                subscription: owned.then_some(Subscription {
                    owner_id: 1,
                    cycle: Cycle::Month,
                    resubscribe: true,
                    subscribed_at: now,
                }),
                // Each of the four states, a running or an ended end.
                quarantine: (i % 3 == 1).then_some(Quarantine {
                    former_owner_id: 1,
                    until: now + 1 - (i as i64 % 2) * 2,
                }),
                reservation: (i % 3 == 2).then_some(Reservation {
                    holder_id: 1,
                    until: now + 1 - (i as i64 % 2) * 2,
                }),
            };
            let owner = owned.then(|| account(1, &s));
            let holders: Vec<Holder> = owner
                .iter()
                .map(|o| Holder {
                    account: o.clone(),
                    perms: Perms::ALL,
                    granted_by: None,
                })
                .chain((0..i % 4).map(|k| Holder {
                    account: account(10 + k as i64, &s),
                    perms: Perms {
                        send: k % 2 == 0,
                        // send only, gets only, both: the two lists differ.
                        gets: k != 0,
                    },
                    granted_by: Some(1 + k as i64),
                }))
                .collect();
            let routing = Routing {
                number,
                owner,
                holders,
                ends_at: None,
                answer: Default::default(),
            };
            assert_eq!(
                serde_json::to_string(&super::routing(&routing, now)).expect("serialises"),
                serde_json::to_string(&routing_value(&routing, now)).expect("serialises"),
                "{s:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_page_is_written_as_serde_writes_it() {
        let items = |n: usize| -> Vec<NumberBrief> {
            (0..n)
                .map(|i| NumberBrief {
                    id: i as i64,
                    number: format!("+98{i}\"").into(),
                })
                .collect()
        };
        for (n, limit) in [(0, 10), (1, 10), (3, 2), (11, 10)] {
            let page = paged("numbers", items(n), limit, |b| b.id, |b| b);
            let serde = serde_json::to_vec(&page).expect("serialises");
            let page = paged("numbers", items(n), limit, |b| b.id, |b| b);
            let res = page.into_response();
            assert_eq!(res.headers()["content-type"], "application/json");
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(body.as_ref(), serde.as_slice(), "{n} items, limit {limit}");
        }
    }
}
