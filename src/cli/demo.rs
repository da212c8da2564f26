//! `serve --demo`: a small world to try both faces on, seeded only into an
//! empty database. Its ids are pinned so that the seed page's example
//! request (`number_id` 10 = `+983000505`, `target_user_id` 123 = `testuser`)
//! works exactly as printed there. Passwords and keys are fresh every time.

use std::net::SocketAddr;

use crate::core::admin::{AccountSpec, NumberSpec};
use crate::core::{Core, CoreError};
use crate::domain::{E164, TokenSecret, hex, random_bytes};

/// The credentials the demo prints, and the virtual-number face's id of the
/// pool number its instructions subscribe to (uids are random).
pub struct World {
    pub accounts: Vec<(String, String, TokenSecret)>,
    pub vn_uid: String,
}

fn password() -> String {
    let mut b = [0u8; 6];
    random_bytes(&mut b);
    // Upper, lower, a digit and a symbol, whatever the random part holds.
    format!("Demo-{}-9!", hex(&b))
}

/// Seeds the world, or returns `None` if the database already has accounts.
pub async fn seed(core: &Core) -> Result<Option<World>, CoreError> {
    if core.count_accounts().await? > 0 {
        return Ok(None);
    }
    let rid = "demo-seed";
    // (id, username, parent, reseller, postpaid)
    let people: [(i64, &str, Option<&str>, bool, bool); 4] = [
        (1, "admin", None, false, false),
        (2, "reseller", Some("admin"), true, true),
        (3, "subreseller", Some("reseller"), true, false),
        (123, "testuser", Some("subreseller"), false, true),
    ];
    let mut accounts = Vec::new();
    for (id, username, parent, is_reseller, postpaid) in people {
        let pw = password();
        let spec = AccountSpec {
            id: Some(id),
            username: username.into(),
            password: pw.clone(),
            is_reseller,
            admin: parent.is_none(),
            parent: parent.map(Into::into),
            postpaid,
            ..Default::default()
        };
        core.create_account(spec, rid).await?;
        let key = core.create_key(username, rid).await?;
        accounts.push((username.to_owned(), pw, key));
    }
    // (id, number, owner): the reseller owns the seed's number; the rest wait in the pool.
    let numbers: [(i64, &str, Option<&str>); 7] = [
        (10, "+983000505", Some("reseller")),
        (11, "+983000506", Some("reseller")),
        (12, "+983000507", None),
        (13, "+61400000001", None),
        (14, "+61400000002", None),
        (15, "+61400000003", None),
        (16, "+14155550100", None),
    ];
    let mut vn_uid = String::new();
    for (id, number, owner) in numbers {
        let Some(e164) = E164::parse(number) else {
            continue;
        };
        let spec = NumberSpec {
            id: Some(id),
            owner: owner.map(Into::into),
            monthly_price: 1500,
            yearly_price: 15000,
            ..NumberSpec::new(e164)
        };
        let added = core.add_number(spec, rid).await?;
        if number == "+61400000001" {
            vn_uid = added.uid;
        }
    }
    Ok(Some(World { accounts, vn_uid }))
}

/// How to run `linekeeper` as this process was run: `cargo run --` from the
/// repository root when cargo started it, else the binary's name.
pub fn command_prefix() -> &'static str {
    if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
        "cargo run --"
    } else {
        "linekeeper"
    }
}

/// ` --database-url URL` unless `url` is the default (passwords redacted).
pub fn database_flag(url: &str) -> String {
    if url == crate::server::DEFAULT_DATABASE_URL {
        String::new()
    } else {
        format!(" --database-url {}", crate::config::redact_url(url))
    }
}

/// What a demo restarted on its own (non-empty) database prints: how to get
/// a fresh key, since the first start printed them only once, and how to
/// start over.
pub fn restart_hint(url: &str) -> String {
    let (run, db) = (command_prefix(), database_flag(url));
    let mut out = format!(
        "  a fresh API key (the demo printed its keys once):\n    {run} admin create-key --username reseller{db}\n"
    );
    match url.strip_prefix("sqlite://") {
        Some(path) => out.push_str(&format!(
            "  to start over with a new demo world, stop the server, then:\n    rm -f {path} {path}-wal {path}-shm && {run} serve --demo{db}\n"
        )),
        None => out.push_str(&format!(
            "  to start over, stop the server, drop and create the database again, then:\n    {run} serve --demo{db}\n"
        )),
    }
    out
}

/// What to paste into a shell to try the server.
pub fn instructions(world: &World, addr: SocketAddr, quarantine_secs: i64, url: &str) -> String {
    let key_of = |name: &str| {
        world
            .accounts
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, k)| k.expose().to_owned())
            .unwrap_or_default()
    };
    let base = format!("http://{addr}");
    let reseller = key_of("reseller");
    let mut out = String::from("Demo world created. Accounts (username / password / API key):\n");
    for (name, pw, key) in &world.accounts {
        out.push_str(&format!("  {name:<12} {pw:<22} {}\n", key.expose()));
    }
    out.push_str(&format!(
        "\nAs the reseller, assign +983000505 (id 10) to testuser (id 123):\n\
         curl --location '{base}/api/numbers/assign' \\\n\
         --header 'Content-Type: application/json' \\\n\
         --header 'Authorization: {reseller}' \\\n\
         --data '{{\"number_id\": 10, \"target_user_id\": 123, \"send\": true, \"gets\": true}}'\n\
         \nThen the seed's unassign, exactly as the seed page shows it:\n\
         curl --location '{base}/api/numbers/unassign' \\\n\
         --header 'Content-Type: application/json' \\\n\
         --header 'Authorization: {reseller}' \\\n\
         --data '{{\n    \"number_id\": 10,\n    \"target_user_id\": 123,\n    \"number\": \"+983000505\",\n    \"target_user\": \"testuser\"\n}}'\n\
         \nThe reseller's numbers:\n\
         curl --location '{base}/api/number/numbers?page=1&per_page=10' \\\n\
         --header 'Authorization: {reseller}'\n"
    ));
    let (user, uid) = (key_of("testuser"), &world.vn_uid);
    let vn = format!("{base}/api/v1/apiClient/virtual-number");
    out.push_str(&format!(
        "\nThe virtual-number face, as testuser (postpaid). The pool:\n\
         curl --location '{vn}/available?country=AU&page=1&limit=10' \\\n\
         --header 'authorization: Bearer {user}'\n\
         \nSubscribe to +61400000001 (id {uid}) on postpaid billing:\n\
         curl --location '{vn}/purchase-postpaid' \\\n\
         --header 'authorization: Bearer {user}' \\\n\
         --header 'content-type: application/json' \\\n\
         --data '{{\"number\": \"{uid}\", \"resubscribe\": false}}'\n\
         \nThen the seed's unsubscribe, as the seed page shows it:\n\
         curl --location --request PUT '{vn}/unsubscribe/{uid}' \\\n\
         --header 'authorization: Bearer {user}' \\\n\
         --header 'content-type: application/json'\n"
    ));
    if quarantine_secs > 0 {
        let days = quarantine_secs as f64 / 86_400.0;
        out.push_str(&format!(
            "\nAfter that unsubscribe, +61400000001 is quarantined for {days} days: it is not in\n\
             /available, and only testuser may take it back (purchase-postpaid again).\n\
             Release it to the pool early with:\n\
             {} admin release-number --number +61400000001{}\n",
            command_prefix(),
            database_flag(url)
        ));
    } else {
        out.push_str("\nAfter that unsubscribe, +61400000001 is back in the pool at once (--quarantine-days 0).\n");
    }
    out
}
