//! The console face: `/` redirects to `/console/`, the page and every asset
//! it references are served from the binary with their content types, and
//! nothing in them points outside the server.

use std::collections::BTreeSet;

use crate::helpers::TestApp;

/// Every local reference in `text` (an asset of type `kind`): `src=`/`href=`
/// in HTML, `import ... from './x'` in JavaScript, the catalogues the
/// language module fetches, `url()` in CSS.
fn references(kind: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut grab = |start: &str, end: char| {
        for (i, _) in text.match_indices(start) {
            let rest = &text[i + start.len()..];
            if let Some(j) = rest.find(end) {
                out.push(rest[..j].to_owned());
            }
        }
    };
    match kind {
        "html" => {
            grab("src=\"", '"');
            grab("href=\"", '"');
        }
        "js" => {
            grab("from './", '\'');
            grab("import './", '\'');
        }
        "css" => grab("url(", ')'),
        _ => {}
    }
    out.into_iter()
        .map(|r| r.trim_start_matches("./").to_owned())
        .filter(|r| !r.starts_with('#'))
        .collect()
}

/// `text` without its comments (`/* */`, `<!-- -->`, and `//` to the end of
/// the line where it does not follow a `:` as in a URL).
fn without_comments(text: &str) -> String {
    let mut s = text.to_owned();
    for (open, close) in [("/*", "*/"), ("<!--", "-->")] {
        while let Some(i) = s.find(open) {
            let end = s[i..].find(close).map_or(s.len(), |j| i + j + close.len());
            s.replace_range(i..end, "");
        }
    }
    s.lines()
        .map(|line| {
            let mut cut = line.len();
            for (i, _) in line.match_indices("//") {
                if i == 0 || line.as_bytes()[i - 1] != b':' {
                    cut = i;
                    break;
                }
            }
            &line[..cut]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kind_of(path: &str) -> (&'static str, &'static str) {
    match path.rsplit('.').next() {
        Some("html") => ("html", "text/html"),
        Some("js") => ("js", "text/javascript"),
        Some("css") => ("css", "text/css"),
        Some("json") => ("json", "application/json"),
        Some("svg") => ("svg", "image/svg+xml"),
        other => panic!("an asset of an unexpected kind: {other:?}"),
    }
}

#[tokio::test]
async fn the_root_redirects_to_the_console() {
    let app = TestApp::spawn().await;
    for path in ["/", "/console"] {
        let res = app.raw("GET", path, &[], b"").await;
        assert!((300..400).contains(&res.status), "{path}: {}", res.status);
        assert_eq!(res.header("location"), Some("/console/"), "{path}");
    }
}

#[tokio::test]
async fn the_console_and_every_asset_it_references_are_served_with_their_types() {
    let app = TestApp::spawn().await;
    let mut seen = BTreeSet::new();
    // The catalogues are fetched by name (`i18n/${lang}.json`).
    let mut queue = vec![
        String::new(),
        "i18n/fa.json".to_owned(),
        "i18n/en.json".to_owned(),
    ];
    while let Some(asset) = queue.pop() {
        if !seen.insert(asset.clone()) {
            continue;
        }
        let path = format!("/console/{asset}");
        let res = app.raw("GET", &path, &[], b"").await;
        assert_eq!(res.status, 200, "{path}");
        let name = if asset.is_empty() {
            "index.html"
        } else {
            &asset
        };
        let (kind, want) = kind_of(name);
        let got = res.header("content-type").unwrap_or("");
        assert!(got.starts_with(want), "{path}: content-type {got}");
        assert_eq!(res.header("cache-control"), Some("no-cache"), "{path}");
        let etag = res.header("etag").expect("an ETag").to_owned();
        let again = app
            .raw("GET", &path, &[("if-none-match", &etag)], b"")
            .await;
        assert_eq!(again.status, 304, "{path} with its ETag");
        let text = String::from_utf8(res.body.clone()).expect("UTF-8");
        if kind == "json" {
            let _: serde_json::Value = serde_json::from_str(&text).expect("a catalogue is JSON");
        }
        if kind == "html" {
            assert!(
                text.contains("<html dir=\"rtl\" lang=\"fa\">"),
                "Persian, right to left, by default"
            );
            assert!(!text.contains("<script>"), "no inline script (CSP)");
        }
        // No URL outside the server, except an XML namespace's name (never fetched).
        let code = without_comments(&text).replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for scheme in ["http://", "https://"] {
            assert!(!code.contains(scheme), "{path} references {scheme}");
        }
        for r in references(kind, &text) {
            assert!(!r.starts_with('/') && !r.contains("//"), "{path}: {r}");
            // Relative to /console/ (no asset lives in a folder but the catalogues).
            queue.push(r);
        }
    }
    for want in [
        "app.js",
        "api.js",
        "views.js",
        "dom.js",
        "i18n.js",
        "console.css",
    ] {
        assert!(seen.contains(want), "{want} is reached from the page");
    }
}

#[tokio::test]
async fn the_console_refuses_in_html_and_keeps_the_security_headers() {
    let app = TestApp::spawn().await;
    let res = app.raw("GET", "/console/nothing.js", &[], b"").await;
    assert_eq!(res.status, 404);
    assert!(
        res.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let res = app.raw("POST", "/console/", &[], b"").await;
    assert_eq!(res.status, 405);
    assert!(
        res.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let res = app.raw("GET", "/console/", &[], b"").await;
    let csp = res.header("content-security-policy").unwrap_or("");
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
}

/// The `lk_session` value a `Set-Cookie` sets.
fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("lk_session="))
        .expect("an lk_session cookie")
}

async fn console_login(app: &TestApp, extra: &[(&str, &str)]) -> (String, String, String) {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    let res = app
        .raw(
            "POST",
            "/console/session",
            &headers,
            br#"{"username":"admin","password":"Secret-pass1"}"#,
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.json());
    let set = res.header("set-cookie").expect("Set-Cookie").to_owned();
    let csrf = res.json()["csrf_token"]
        .as_str()
        .expect("csrf_token")
        .to_owned();
    assert_eq!(res.header("cache-control"), Some("no-store"));
    (cookie_value(&set).to_owned(), set, csrf)
}

#[tokio::test]
async fn the_console_session_is_an_http_only_strict_cookie() {
    let app = TestApp::spawn().await;
    app.account("admin", None, false).await;
    let (token, set, csrf) = console_login(&app, &[]).await;
    assert_eq!(
        set,
        format!("lk_session={token}; Path=/; Max-Age=36000; HttpOnly; SameSite=Strict")
    );
    assert_eq!(csrf.len(), 64);
    assert!(!csrf.contains(&token) && !token.contains(&csrf));
    // The cookie holds a session token, the same as the API's.
    let (status, me) = app
        .call("GET", "/lk/v1/me", Some(&format!("Bearer {token}")), None)
        .await;
    assert_eq!((status, me["credential"].as_str()), (200, Some("session")));
    // Over TLS (as a proxy in front says) it is Secure too.
    let (_, set, _) = console_login(&app, &[("x-forwarded-proto", "https")]).await;
    assert!(
        set.ends_with("; HttpOnly; SameSite=Strict; Secure"),
        "{set}"
    );
    // A wrong password is the API's refusal, and no cookie.
    let res = app
        .raw(
            "POST",
            "/console/session",
            &[("content-type", "application/json")],
            br#"{"username":"admin","password":"wrong"}"#,
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("set-cookie"), None);
    // Not from another site's page (login CSRF).
    let res = app
        .raw(
            "POST",
            "/console/session",
            &[
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
            ],
            br#"{"username":"admin","password":"Secret-pass1"}"#,
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("set-cookie"), None);
}

#[tokio::test]
async fn a_cookie_changes_nothing_without_its_csrf_token() {
    let app = TestApp::spawn().await;
    app.account("admin", None, false).await;
    let (token, _, csrf) = console_login(&app, &[]).await;
    let cookie = format!("theme=dark; lk_session={token}");
    let body = br#"{"username":"sub1","password":"Sub-Account-Pass-1!"}"#;
    let json = ("content-type", "application/json");
    let forbidden = |res: &linekeeper::client::HttpResponse| {
        assert_eq!(res.status, 403, "{:?}", res.json());
        assert!(
            res.header("content-type")
                .unwrap_or("")
                .starts_with("application/problem+json")
        );
        assert_eq!(res.json()["type"], "/lk/v1/problems/forbidden");
    };
    // A GET needs none, but only from the console's own pages.
    let res = app
        .raw("GET", "/lk/v1/me", &[("cookie", &cookie)], b"")
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .raw(
            "GET",
            "/lk/v1/me",
            &[("cookie", &cookie), ("sec-fetch-site", "same-origin")],
            b"",
        )
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .raw(
            "GET",
            "/lk/v1/me",
            &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
            b"",
        )
        .await;
    forbidden(&res);
    // A POST without the header, with a wrong one, with another session's.
    let res = app
        .raw(
            "POST",
            "/lk/v1/accounts",
            &[("cookie", &cookie), json],
            body,
        )
        .await;
    forbidden(&res);
    let wrong = "0".repeat(64);
    let res = app
        .raw(
            "POST",
            "/lk/v1/accounts",
            &[("cookie", &cookie), json, ("x-csrf-token", &wrong)],
            body,
        )
        .await;
    forbidden(&res);
    let (_, _, other) = console_login(&app, &[]).await;
    let res = app
        .raw(
            "POST",
            "/lk/v1/accounts",
            &[("cookie", &cookie), json, ("x-csrf-token", &other)],
            body,
        )
        .await;
    forbidden(&res);
    // With it: made.
    let res = app
        .raw(
            "POST",
            "/lk/v1/accounts",
            &[("cookie", &cookie), json, ("x-csrf-token", &csrf)],
            body,
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.json());
    // GET /console/session gives the same CSRF token back.
    let res = app
        .raw("GET", "/console/session", &[("cookie", &cookie)], b"")
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), serde_json::json!({ "csrf_token": csrf }));
    // Bearer clients are as before: no CSRF header.
    let res = app
        .raw(
            "POST",
            "/lk/v1/keys",
            &[("authorization", &format!("Bearer {token}"))],
            b"",
        )
        .await;
    assert_eq!(res.status, 201);
}

#[tokio::test]
async fn logging_out_of_the_console_revokes_the_session_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    app.account("admin", None, false).await;
    let (token, _, csrf) = console_login(&app, &[]).await;
    let cookie = format!("lk_session={token}");
    // Not without the CSRF header.
    let res = app
        .raw("DELETE", "/console/session", &[("cookie", &cookie)], b"")
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("set-cookie"), None);
    let res = app
        .raw(
            "DELETE",
            "/console/session",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            b"",
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        res.header("set-cookie"),
        Some("lk_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
    );
    let res = app
        .raw("GET", "/lk/v1/me", &[("cookie", &cookie)], b"")
        .await;
    assert_eq!(res.status, 401);
    let res = app
        .raw("GET", "/console/session", &[("cookie", &cookie)], b"")
        .await;
    assert_eq!(res.status, 401);
    // With no cookie, or a dead one: only cleared.
    let res = app.raw("DELETE", "/console/session", &[], b"").await;
    assert_eq!(res.status, 204);
    assert!(res.header("set-cookie").is_some());
}
