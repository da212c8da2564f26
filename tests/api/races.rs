//! Races that the database must decide, on both backends: every racer gets
//! an answer a sequential order could have given, and every invariant holds.

use linekeeper::client::HttpClient;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Sends all `requests` (token, path, body) at once, each on its own
/// connection; the statuses and bodies in the same order.
async fn at_once(app: &TestApp, requests: Vec<(String, &'static str, Value)>) -> Vec<(u16, Value)> {
    let requests = requests
        .into_iter()
        .map(|(t, p, b)| (t, "POST", p.to_owned(), b))
        .collect();
    at_once_with(app, requests).await
}

/// As [`at_once`], with each request's method.
async fn at_once_with(
    app: &TestApp,
    requests: Vec<(String, &'static str, String, Value)>,
) -> Vec<(u16, Value)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(token, method, path, body)| {
            let (addr, barrier) = (app.addr, barrier.clone());
            tokio::spawn(async move {
                let mut http = HttpClient::new(addr);
                // Connect first, so the requests leave as close together as possible.
                let _ = http.request("GET", "/healthz", &[], b"").await;
                barrier.wait().await;
                let headers = [
                    ("authorization", token.as_str()),
                    ("content-type", "application/json"),
                ];
                let res = http
                    .request(method, &path, &headers, body.to_string().as_bytes())
                    .await
                    .expect("request");
                (res.status, res.json())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn refusal(message: &str) -> Value {
    json!({"data": null, "meta": {"status": false, "message": message, "message_parameters": [],
        "message_code": "400-1", "errors": {}}})
}

crate::scenarios! {
async fn a_grouped_write_that_meets_another_sessions_lock_runs_again_alone(app: TestApp) {
    // PostgreSQL's group commit (SQLite's one writer meets no other
    // session's lock): a write that waits behind another group's lock is
    // cut short (lock_timeout), undone, and run alone once its group has
    // committed, where it waits as any write does.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::{Store, StoreError, StoreOptions};
    use std::sync::mpsc::channel;
    app.account("admin", None, false).await;
    app.account("res", Some("admin"), true).await;
    let free = app.number("+983000301", Some("res")).await.id;
    let held = app.number("+983000302", Some("res")).await.id;
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&url, &StoreOptions { readers: 1, ..StoreOptions::default() })
    })
    .await
    .expect("join")
    .expect("a store with one connection");
    let store = std::sync::Arc::new(store);
    // Another session holds `held`'s row lock until told.
    let (locked, is_locked) = channel();
    let (release, released) = channel::<()>();
    let url = app.database_url.clone();
    let holder = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
        let mut t = client.transaction().expect("begin");
        t.query("SELECT id FROM numbers WHERE id = $1 FOR UPDATE", &[&held]).expect("lock");
        locked.send(()).expect("tell");
        let _ = released.recv();
        t.commit().expect("commit");
    });
    tokio::task::spawn_blocking(move || is_locked.recv()).await.expect("join").expect("locked");
    // The store's one worker is busy with a write that waits for a word...
    let (started, has_started) = channel();
    let (go, may_go) = channel::<()>();
    let s = store.clone();
    let busy = tokio::spawn(async move {
        s.write(move |_tx| {
            let _ = started.send(());
            let _ = may_go.recv();
            Ok::<_, StoreError>(())
        })
        .await
    });
    tokio::task::spawn_blocking(move || has_started.recv()).await.expect("join").expect("started");
    // ...so these two are queued behind it, and run as one group: the first
    // locks `free`, the second waits for `held`.
    let mut first = Box::pin(store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())));
    let mut second = Box::pin(store.write(move |tx| tx.number_by_id(held).map(|n| n.is_some())));
    std::future::poll_fn(|cx| {
        let _ = first.as_mut().poll(cx);
        let _ = second.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    go.send(()).expect("go");
    busy.await.expect("join").expect("the busy write");
    // The group commits the first, the second cut short and undone (counted
    // as a retry before the commit) to run alone; only then is the lock let
    // go, and the second, waiting alone, takes it.
    assert!(first.await.expect("the first of the group"));
    assert_eq!(store.retries(), 1, "the second, cut short and queued again");
    release.send(()).expect("release");
    assert!(second.await.expect("the second, alone"));
    holder.join().expect("holder");
}

async fn the_write_after_a_cut_one_in_its_group_runs_with_a_statement_not_yet_prepared(app: TestApp) {
    // As above, with a third write in the group after the cut one, whose
    // first statement this connection has not prepared yet: the cut job's
    // rollback to its savepoint must reach the server before that
    // statement is prepared, or the preparation meets the aborted
    // transaction (25P02) and the third write fails for the second's sake.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::{Store, StoreError, StoreOptions};
    use std::sync::mpsc::channel;
    app.account("admin", None, false).await;
    app.account("res", Some("admin"), true).await;
    let free = app.number("+983000311", Some("res")).await.id;
    let held = app.number("+983000312", Some("res")).await.id;
    app.number("+983000313", Some("res")).await;
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&url, &StoreOptions { readers: 1, ..StoreOptions::default() })
    })
    .await
    .expect("join")
    .expect("a store with one connection");
    let store = std::sync::Arc::new(store);
    // Another session holds `held`'s row lock until told.
    let (locked, is_locked) = channel();
    let (release, released) = channel::<()>();
    let url = app.database_url.clone();
    let holder = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
        let mut t = client.transaction().expect("begin");
        t.query("SELECT id FROM numbers WHERE id = $1 FOR UPDATE", &[&held]).expect("lock");
        locked.send(()).expect("tell");
        let _ = released.recv();
        t.commit().expect("commit");
    });
    tokio::task::spawn_blocking(move || is_locked.recv()).await.expect("join").expect("locked");
    // The store's one worker is busy with a write that waits for a word...
    let (started, has_started) = channel();
    let (go, may_go) = channel::<()>();
    let s = store.clone();
    let busy = tokio::spawn(async move {
        s.write(move |_tx| {
            let _ = started.send(());
            let _ = may_go.recv();
            Ok::<_, StoreError>(())
        })
        .await
    });
    tokio::task::spawn_blocking(move || has_started.recv()).await.expect("join").expect("started");
    // ...so these three are queued behind it, and run as one group: the
    // first locks `free`, the second waits for `held`, the third looks a
    // number up by its E.164 (a statement this connection has not prepared).
    let mut first = Box::pin(store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())));
    let mut second = Box::pin(store.write(move |tx| tx.number_by_id(held).map(|n| n.is_some())));
    let mut third = Box::pin(store.write(move |tx| tx.number_by_e164("+983000313").map(|n| n.is_some())));
    std::future::poll_fn(|cx| {
        let _ = first.as_mut().poll(cx);
        let _ = second.as_mut().poll(cx);
        let _ = third.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    go.send(()).expect("go");
    busy.await.expect("join").expect("the busy write");
    // The group commits the first, the second cut short and undone (counted
    // as a retry before the commit) to run alone; only then is the lock let
    // go, and the second, waiting alone, takes it.
    assert!(first.await.expect("the first of the group"));
    assert!(third.await.expect("the third of the group, after the cut second"));
    assert_eq!(store.retries(), 1, "the second, cut short and queued again");
    release.send(()).expect("release");
    assert!(second.await.expect("the second, alone"));
    holder.join().expect("holder");
}

async fn a_dropped_job_after_a_cut_one_sends_none_of_its_deferred_statements(app: TestApp) {
    // As above, but the third write, after the cut second, reads (a round
    // trip, which sends what was deferred), stages an event the server
    // will refuse (a NUL byte in text), and fails: its staged event must
    // be dropped with it, not sent ahead of its rollback, where its error
    // would be the fourth write's answer.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::{Store, StoreError, StoreOptions};
    use std::sync::mpsc::channel;
    app.account("admin", None, false).await;
    app.account("res", Some("admin"), true).await;
    let free = app.number("+983000321", Some("res")).await.id;
    let held = app.number("+983000322", Some("res")).await.id;
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&url, &StoreOptions { readers: 1, ..StoreOptions::default() })
    })
    .await
    .expect("join")
    .expect("a store with one connection");
    let store = std::sync::Arc::new(store);
    // Another session holds `held`'s row lock until told.
    let (locked, is_locked) = channel();
    let (release, released) = channel::<()>();
    let url = app.database_url.clone();
    let holder = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
        let mut t = client.transaction().expect("begin");
        t.query("SELECT id FROM numbers WHERE id = $1 FOR UPDATE", &[&held]).expect("lock");
        locked.send(()).expect("tell");
        let _ = released.recv();
        t.commit().expect("commit");
    });
    tokio::task::spawn_blocking(move || is_locked.recv()).await.expect("join").expect("locked");
    // The store's one worker is busy with a write that waits for a word...
    let (started, has_started) = channel();
    let (go, may_go) = channel::<()>();
    let s = store.clone();
    let busy = tokio::spawn(async move {
        s.write(move |_tx| {
            let _ = started.send(());
            let _ = may_go.recv();
            Ok::<_, StoreError>(())
        })
        .await
    });
    tokio::task::spawn_blocking(move || has_started.recv()).await.expect("join").expect("started");
    // ...so these four are queued behind it, and run as one group.
    let mut first = Box::pin(store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())));
    let mut second = Box::pin(store.write(move |tx| tx.number_by_id(held).map(|n| n.is_some())));
    let mut third = Box::pin(store.write(move |tx| {
        tx.number_by_id(free)?;
        tx.insert_events(&[linekeeper::store::NewEvent {
            history_id: 1,
            at: 1,
            kind: "number.subscribed",
            actor_id: None,
            request_id: "r".into(),
            number_id: None,
            account_id: None,
            data: "\0".into(),
        }])?;
        Err::<bool, _>(StoreError::Conflict("the third fails"))
    }));
    let mut fourth = Box::pin(store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())));
    std::future::poll_fn(|cx| {
        let _ = first.as_mut().poll(cx);
        let _ = second.as_mut().poll(cx);
        let _ = third.as_mut().poll(cx);
        let _ = fourth.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    go.send(()).expect("go");
    busy.await.expect("join").expect("the busy write");
    // The group commits the first, the second cut short and undone (counted
    // as a retry before the commit) to run alone; only then is the lock let
    // go, and the second, waiting alone, takes it.
    assert!(first.await.expect("the first of the group"));
    assert!(matches!(third.await, Err(StoreError::Conflict("the third fails"))));
    assert!(fourth.await.expect("the fourth, after the dropped third"));
    assert_eq!(store.retries(), 1, "the second, cut short and queued again");
    release.send(()).expect("release");
    assert!(second.await.expect("the second, alone"));
    holder.join().expect("holder");
}

async fn a_write_that_sequences_events_never_joins_a_group(app: TestApp) {
    // PostgreSQL's group commit: a write that sequences the staged events
    // runs alone. In a group, its wait for the sequencer's lock (held here
    // by another session) would be cut short as a later job's lock waits
    // are (counted as a retry), and as a kept job it would hold that lock
    // until the whole group committed.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::{Store, StoreError, StoreOptions};
    use std::sync::mpsc::channel;
    app.account("admin", None, false).await;
    app.account("res", Some("admin"), true).await;
    let free = app.number("+983000331", Some("res")).await.id;
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&url, &StoreOptions { readers: 1, ..StoreOptions::default() })
    })
    .await
    .expect("join")
    .expect("a store with one connection");
    let store = std::sync::Arc::new(store);
    // Another session holds the sequencer's lock until told.
    let (locked, is_locked) = channel();
    let (release, released) = channel::<()>();
    let url = app.database_url.clone();
    let holder = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
        let mut t = client.transaction().expect("begin");
        t.query("SELECT pg_advisory_xact_lock(7347651235)", &[]).expect("lock");
        locked.send(()).expect("tell");
        let _ = released.recv();
        t.commit().expect("commit");
    });
    tokio::task::spawn_blocking(move || is_locked.recv()).await.expect("join").expect("locked");
    let (started, has_started) = channel();
    let (go, may_go) = channel::<()>();
    let s = store.clone();
    let busy = tokio::spawn(async move {
        s.write(move |_tx| {
            let _ = started.send(());
            let _ = may_go.recv();
            Ok::<_, StoreError>(())
        })
        .await
    });
    tokio::task::spawn_blocking(move || has_started.recv()).await.expect("join").expect("started");
    // Queued behind the busy write: an ordinary write, then the sequencer.
    let mut first = Box::pin(store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())));
    let s = store.clone();
    let mut sequence = Box::pin(async move { s.sequence_events().await });
    std::future::poll_fn(|cx| {
        let _ = first.as_mut().poll(cx);
        let _ = sequence.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    go.send(()).expect("go");
    busy.await.expect("join").expect("the busy write");
    // Had the sequencer joined the ordinary write's group, its wait would
    // have been cut short (and counted) before the group committed.
    assert!(first.await.expect("the ordinary write"));
    assert_eq!(store.retries(), 0, "the sequencer waited alone, not cut short in a group");
    release.send(()).expect("release");
    sequence.await.expect("the sequencer, alone");
    holder.join().expect("holder");
}

async fn a_queued_write_waits_for_no_slow_write_while_a_worker_is_idle(app: TestApp) {
    // PostgreSQL's group commit: a worker takes the next queued write into
    // its group only once the one before has finished. Taken up front, it
    // would wait behind a slow write while another worker sat idle.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::{Store, StoreError, StoreOptions};
    use std::sync::mpsc::channel;
    app.account("admin", None, false).await;
    app.account("res", Some("admin"), true).await;
    let free = app.number("+983000341", Some("res")).await.id;
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&url, &StoreOptions { readers: 2, ..StoreOptions::default() })
    })
    .await
    .expect("join")
    .expect("a store with two connections");
    let store = std::sync::Arc::new(store);
    // A write that tells when it starts and waits for a word.
    let blocked = |store: &std::sync::Arc<Store>| {
        let (started, has_started) = channel();
        let (go, may_go) = channel::<()>();
        let s = store.clone();
        let task = tokio::spawn(async move {
            s.write(move |_tx| {
                let _ = started.send(());
                let _ = may_go.recv();
                Ok::<_, StoreError>(())
            })
            .await
        });
        (task, has_started, go)
    };
    // Both workers busy, one after the other.
    let (busy1, started1, go1) = blocked(&store);
    tokio::task::spawn_blocking(move || started1.recv()).await.expect("join").expect("started");
    let (busy2, started2, go2) = blocked(&store);
    tokio::task::spawn_blocking(move || started2.recv()).await.expect("join").expect("started");
    // Queued: a slow write, then a quick one.
    let (slow_started, has_slow_started) = channel();
    let (go_slow, may_go_slow) = channel::<()>();
    let mut slow = Box::pin(store.write(move |_tx| {
        let _ = slow_started.send(());
        let _ = may_go_slow.recv();
        Ok::<_, StoreError>(())
    }));
    let mut quick = Box::pin(store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())));
    std::future::poll_fn(|cx| {
        let _ = slow.as_mut().poll(cx);
        let _ = quick.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    // The first worker takes the slow write; once it runs, the second
    // worker is let go, and the quick write is its to take.
    go1.send(()).expect("go");
    busy1.await.expect("join").expect("the first busy write");
    tokio::task::spawn_blocking(move || has_slow_started.recv()).await.expect("join").expect("slow started");
    go2.send(()).expect("go");
    busy2.await.expect("join").expect("the second busy write");
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), quick).await;
    go_slow.send(()).expect("go");
    assert!(answer.expect("the quick write answered while the slow one ran").expect("the quick write"));
    slow.await.expect("the slow write");
}

async fn a_database_error_is_logged_with_its_message_and_sqlstate(app: TestApp) {
    // PostgreSQL: a statement the server refuses fails the write with the
    // server's own message and SQLSTATE (the client's error says only
    // "db error"), which the faces log and tell no caller.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::{Store, StoreError, StoreOptions};
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&url, &StoreOptions::default()))
        .await
        .expect("join")
        .expect("a store");
    let answer = store
        .write(|tx| {
            tx.insert_events(&[linekeeper::store::NewEvent {
                history_id: 1,
                at: 1,
                kind: "number.subscribed",
                actor_id: None,
                request_id: "r".into(),
                number_id: None,
                account_id: None,
                data: "\0".into(),
            }])
        })
        .await;
    match answer {
        Err(StoreError::Backend(message)) => assert!(message.contains("(SQLSTATE 22021)"), "{message}"),
        other => panic!("{other:?}"),
    }
}

async fn a_key_refused_in_a_lost_group_is_not_refused_when_its_write_runs_again(app: TestApp) {
    // PostgreSQL's group commit: when the connection is lost before the
    // group commits, every job runs again alone. A write refused in the
    // group because an earlier job had claimed its key (a claim that never
    // committed) must not still count as refused once its run alone claims
    // the key: only the run that answers decides.
    if app.backend != crate::helpers::Backend::Postgres {
        return;
    }
    use linekeeper::store::idempotency::{KeyScope, within};
    use linekeeper::store::{KeyClaim, Store, StoreError, StoreOptions};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc::channel;
    let owner = app.account("admin", None, false).await.0.id;
    app.account("res", Some("admin"), true).await;
    let free = app.number("+983000351", Some("res")).await.id;
    let url = app.database_url.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&url, &StoreOptions { readers: 1, ..StoreOptions::default() })
    })
    .await
    .expect("join")
    .expect("a store with one connection");
    let store = std::sync::Arc::new(store);
    let claim = KeyClaim {
        account_id: owner,
        key: "k-351".into(),
        method: "POST".into(),
        path: "/v1/x".into(),
        body_hash: "h".into(),
        at: 1,
    };
    let (started, has_started) = channel();
    let (go, may_go) = channel::<()>();
    let s = store.clone();
    let busy = tokio::spawn(async move {
        s.write(move |_tx| {
            let _ = started.send(());
            let _ = may_go.recv();
            Ok::<_, StoreError>(())
        })
        .await
    });
    tokio::task::spawn_blocking(move || has_started.recv()).await.expect("join").expect("started");
    // Queued as one group: the first claims the key (and, run again alone,
    // fails, so the key stays free); the second, with the same key, is
    // refused in the group; the third cuts the group's connection.
    let runs = std::sync::Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let mut first = Box::pin(within(
        KeyScope::new(claim.clone()),
        store.write(move |_tx| {
            if r.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(())
            } else {
                Err(StoreError::Conflict("the first, run again, fails"))
            }
        }),
    ));
    let second_scope = KeyScope::new(claim);
    let mut second = Box::pin(within(
        second_scope.clone(),
        store.write(move |tx| tx.number_by_id(free).map(|n| n.is_some())),
    ));
    let url = app.database_url.clone();
    let cuts = std::sync::Arc::new(AtomicU32::new(0));
    let mut third = Box::pin(store.write(move |tx| {
        if cuts.fetch_add(1, Ordering::SeqCst) == 0 {
            // The store's one connection is the one idle in a transaction.
            let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
            let pids: Vec<i32> = client
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                     AND state = 'idle in transaction' AND pid <> pg_backend_pid()",
                    &[],
                )
                .expect("the store's connection")
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(pids.len(), 1, "one connection idle in a transaction");
            client.query("SELECT pg_terminate_backend($1)", &[&pids[0]]).expect("terminate");
            while !client
                .query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pids[0]])
                .expect("gone yet")
                .is_empty()
            {
                std::thread::yield_now();
            }
        }
        tx.number_by_id(free).map(|n| n.is_some())
    }));
    std::future::poll_fn(|cx| {
        let _ = first.as_mut().poll(cx);
        let _ = second.as_mut().poll(cx);
        let _ = third.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    go.send(()).expect("go");
    busy.await.expect("join").expect("the busy write");
    assert!(third.await.expect("the third, run again on a new connection"));
    assert!(matches!(first.await, Err(StoreError::Conflict(_))));
    assert!(second.await.expect("the second, run again alone, claims the key"));
    assert!(!second_scope.refused(), "the second's last run was not refused");
}

async fn writes_that_wait_together_each_answer_as_if_alone(app: TestApp) {
    // Many changes at once on a few numbers, several on each: on
    // PostgreSQL the writes waiting behind one another run as one
    // transaction, each in its savepoint (SQLite batches them too), and
    // some of them meet another group's locks. Every answer must still be
    // one a sequential order could give: per number and target, the
    // successful assigns and unassigns alternate, and what is left matches.
    app.account("admin", None, false).await;
    let (_, r) = app.account("res", Some("admin"), true).await;
    let mut targets = Vec::new();
    for i in 0..3 {
        targets.push(app.account(&format!("target{i}"), Some("res"), false).await.0.id);
    }
    let mut numbers = Vec::new();
    for i in 0..3 {
        numbers.push(app.number(&format!("+9830002{i:04}"), Some("res")).await.id);
    }
    for round in 0..4 {
        let mut requests = Vec::new();
        let mut keys = Vec::new();
        for k in 0..18usize {
            let (n, t) = (numbers[(k + round) % 3], targets[(k / 3 + round) % 3]);
            let (path, body) = if (k + round) % 2 == 0 {
                ("/api/numbers/assign", json!({"number_id": n, "target_user_id": t, "send": true, "gets": true}))
            } else {
                ("/api/numbers/unassign", json!({"number_id": n, "target_user_id": t}))
            };
            requests.push((r.clone(), path, body));
            keys.push((n, t, path));
        }
        let before = app.core.snapshot().await.expect("snapshot").grants;
        let answers = at_once(&app, requests).await;
        let after = app.core.snapshot().await.expect("snapshot").grants;
        for &n in &numbers {
            for &t in &targets {
                let had = before.iter().any(|g| g.number_id == n && g.account_id == t);
                let has = after.iter().any(|g| g.number_id == n && g.account_id == t);
                let won = |path: &str| {
                    keys.iter().zip(&answers).filter(|((kn, kt, p), a)| *kn == n && *kt == t && *p == path && a.0 == 200).count()
                };
                let (assigned, unassigned) = (won("/api/numbers/assign") as i64, won("/api/numbers/unassign") as i64);
                assert_eq!(i64::from(had) + assigned - unassigned, i64::from(has), "round {round}, number {n}, target {t}: {answers:?}");
                assert!((assigned - unassigned).abs() <= 1, "round {round}: {answers:?}");
            }
        }
        for (status, body) in &answers {
            if *status != 200 {
                assert_eq!(*status, 400, "{body}");
                assert!(body == &refusal("number already assigned to user") || body == &refusal("number not assigned to user"), "{body}");
            }
        }
    }
    app.assert_invariants().await;
}

async fn two_resellers_assign_one_number_to_one_account(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, r1) = app.account("res1", Some("admin"), true).await;
    let (r2, r2_key) = app.account("res2", Some("res1"), true).await;
    let (t, _) = app.account("target", Some("res2"), false).await;
    for i in 0..15 {
        let n = app.number(&format!("+9830001{i:04}"), Some("res1")).await;
        let to_r2 = json!({"number_id": n.id, "target_user_id": r2.id, "send": true, "gets": true});
        assert_eq!(app.post("/api/numbers/assign", &r1, &to_r2).await.0, 200);
        let body = json!({"number_id": n.id, "target_user_id": t.id, "send": true, "gets": true});
        let before = app.history_len().await;
        let answers = at_once(
            &app,
            vec![(r1.clone(), "/api/numbers/assign", body.clone()), (r2_key.clone(), "/api/numbers/assign", body)],
        )
        .await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 400], "round {i}: {answers:?}");
        let loser = answers.iter().find(|a| a.0 == 400).expect("a loser");
        assert_eq!(loser.1, refusal("number already assigned to user"));
        assert_eq!(app.history_len().await, before + 1, "one change, one entry");
    }
    app.assert_invariants().await;
}

async fn unassign_races_the_cascade_from_above(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, r) = app.account("top", Some("admin"), true).await;
    let (a, a_key) = app.account("aaa", Some("top"), true).await;
    let (b, b_key) = app.account("bbb", Some("aaa"), true).await;
    let (c, _) = app.account("ccc", Some("bbb"), false).await;
    for i in 0..12 {
        let n = app.number(&format!("+9830002{i:04}"), Some("top")).await;
        for (key, to) in [(&r, a.id), (&a_key, b.id), (&b_key, c.id)] {
            let body = json!({"number_id": n.id, "target_user_id": to, "send": true, "gets": true});
            assert_eq!(app.post("/api/numbers/assign", key, &body).await.0, 200);
        }
        let before = app.history_len().await;
        // R pulls A's grant (taking B's and C's with it) while B pulls C's.
        let answers = at_once(
            &app,
            vec![
                (r.clone(), "/api/numbers/unassign", json!({"number_id": n.id, "target_user_id": a.id})),
                (b_key.clone(), "/api/numbers/unassign", json!({"number_id": n.id, "target_user_id": c.id})),
            ],
        )
        .await;
        assert_eq!(answers[0].0, 200, "R's unassign always succeeds: {answers:?}");
        // B's either ran first (200) or found it no longer holds the number
        // (the same 422 as a number that does not exist).
        assert!(matches!(answers[1].0, 200 | 422), "round {i}: {answers:?}");
        // Three grants existed; each went exactly once, with one entry each.
        assert_eq!(app.history_len().await, before + 3, "round {i}");
        let (status, list) = app.get("/api/number/numbers", &b_key).await;
        assert_eq!((status, list["meta"]["total"].clone()), (200, json!(0)));
    }
    app.assert_invariants().await;
}

async fn unsubscribe_races_assigns_of_the_same_number(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, owner_key) = app.account("owner", Some("admin"), true).await;
    let mut children = Vec::new();
    for i in 0..6 {
        children.push(app.account(&format!("child{i}"), Some("owner"), false).await.0.id);
    }
    for round in 0..8 {
        let n = app.number(&format!("+9830003{round:04}"), Some("owner")).await;
        let before = app.history_len().await;
        let mut requests = vec![(
            owner_key.clone(),
            "PUT",
            format!("/api/v1/apiClient/virtual-number/unsubscribe/{}", n.uid),
            json!({}),
        )];
        for child in &children {
            let body = json!({"number_id": n.id, "target_user_id": child, "send": true, "gets": true});
            requests.push((owner_key.clone(), "POST", "/api/numbers/assign".to_owned(), body));
        }
        let answers = at_once_with(&app, requests).await;
        assert_eq!(answers[0].0, 200, "round {round}: the owner's unsubscribe: {answers:?}");
        // An assign either came first (and its grant went with the
        // subscription) or found the number no longer held (422).
        let granted = answers[1..].iter().filter(|a| a.0 == 200).count();
        assert!(answers[1..].iter().all(|a| matches!(a.0, 200 | 422)), "round {round}: {answers:?}");
        // One entry for the unsubscribe; each grant made: its assign and its removal.
        assert_eq!(app.history_len().await, before + 1 + 2 * granted, "round {round}");
        let snapshot = app.core.snapshot().await.expect("snapshot");
        let number = snapshot.numbers.iter().find(|m| m.id == n.id).expect("the number");
        assert!(number.subscription.is_none(), "round {round}: back in the pool");
        assert!(snapshot.grants.iter().all(|g| g.number_id != n.id), "round {round}: no grant left");
    }
    app.assert_invariants().await;
}
}
