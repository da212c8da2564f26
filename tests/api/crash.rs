//! Crash safety: SIGKILL the server mid-load, restart it, and find every
//! change that was answered with success still there.
//!
//! Each acknowledged change is matched by its `x-request-id` to its history
//! entry (written in the change's own transaction), so "present" means the
//! change and its record survived, whatever later operations did to the grant.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use linekeeper::client::HttpClient;
use serde_json::json;

/// Starts `linekeeper serve` on the app's database; waits until it listens.
fn start_server(database_url: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linekeeper"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .env("LINEKEEPER_LOG", "warn")
        // Eight clients on one key go far past a client's rate: this test is
        // about durability, so no rate limit.
        .env("LINEKEEPER_RATE_LIMIT_PER_SEC", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .expect("read stdout");
        if let Some(rest) = line.strip_prefix("linekeeper listening on http://") {
            break rest
                .split_whitespace()
                .next()
                .expect("address")
                .parse()
                .expect("socket address");
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

crate::scenarios! {
async fn acknowledged_changes_survive_sigkill(app: TestApp) {
    let (_, _) = app.account("admin", None, false).await;
    let (_, reseller_key) = app.account("reseller", Some("admin"), true).await;
    let mut children = Vec::new();
    for i in 0..12 {
        let (a, _) = app.account(&format!("user{i}"), Some("reseller"), false).await;
        children.push(a.id);
    }
    let mut numbers = Vec::new();
    for i in 0..24 {
        numbers.push(app.number(&format!("+4420700{i:05}"), Some("reseller")).await.id);
    }
    let (children, numbers, key) = (Arc::new(children), Arc::new(numbers), Arc::new(reseller_key));

    for (round, kill_after_ms) in [0u64, 30, 90, 200].into_iter().enumerate() {
        let (mut server, addr) = start_server(&app.database_url);
        let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut clients = Vec::new();
        for c in 0..8usize {
            let (children, numbers, key, acks) = (children.clone(), numbers.clone(), key.clone(), acks.clone());
            clients.push(tokio::spawn(async move {
                let mut http = HttpClient::new(addr);
                let mut acked = Vec::new();
                let auth = key.as_str();
                for i in 0..400usize {
                    let n = numbers[(c * 7 + i * 5 + round) % numbers.len()];
                    let t = children[(c + i * 3) % children.len()];
                    let (path, body) = if (i + c) % 3 == 2 {
                        ("/api/numbers/unassign", json!({"number_id": n, "target_user_id": t}))
                    } else {
                        ("/api/numbers/assign", json!({"number_id": n, "target_user_id": t, "send": true, "gets": true}))
                    };
                    let headers = [("authorization", auth), ("content-type", "application/json")];
                    match http.request("POST", path, &headers, body.to_string().as_bytes()).await {
                        Ok(res) if res.status == 200 => {
                            acked.push(res.header("x-request-id").expect("x-request-id").to_owned());
                            acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok(res) => assert!(res.status == 400, "unexpected {} {:?}", res.status, res.json()),
                        // The server died under us: stop.
                        Err(_) => break,
                    }
                }
                acked
            }));
        }
        // The kill's timing is counted from the first acknowledged change, so
        // a slow machine still kills mid-load with something to check.
        let waited = std::time::Instant::now();
        while acks.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            if waited.elapsed() > Duration::from_secs(30) {
                // Not left running after the test fails.
                let _ = server.kill();
                let _ = server.wait();
                panic!("round {round}: no change was acknowledged");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        server.kill().expect("SIGKILL");
        let _ = server.wait();
        let mut acked = Vec::new();
        for c in clients {
            acked.extend(c.await.expect("client"));
        }

        // Restart: the server must come back and serve.
        let (mut server, addr) = start_server(&app.database_url);
        let res = HttpClient::new(addr)
            .request("GET", "/api/number/numbers", &[("authorization", key.as_str())], b"")
            .await
            .expect("the restarted server answers");
        assert_eq!(res.status, 200);
        server.kill().expect("stop");
        let _ = server.wait();

        // Otherwise the round proved nothing.
        assert!(!acked.is_empty(), "round {round}: no change was acknowledged before the kill");
        eprintln!("round {round}: killed {kill_after_ms} ms after the first acknowledgement, {} acknowledged", acked.len());
        let snapshot = app.core.snapshot().await.expect("snapshot");
        let recorded: HashSet<&String> = snapshot.request_ids.iter().collect();
        let lost: Vec<&String> = acked.iter().filter(|r| !recorded.contains(r)).collect();
        assert!(lost.is_empty(), "round {round}: {} of {} acknowledged changes lost", lost.len(), acked.len());
        app.assert_invariants().await;
    }
}
}
