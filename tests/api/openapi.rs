//! `/openapi.json` and `/docs`: the document declares OpenAPI 3.1, names
//! exactly the routes the routers serve (each of which answers at the path and
//! method documented), and Swagger UI is served from the binary.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::TestApp;

const PANEL: [(&str, &str); 10] = [
    ("post", "/numbers/unassign"),
    ("post", "/numbers/assign"),
    ("get", "/number/numbers"),
    ("post", "/acl/auth/login"),
    ("post", "/acl/auth/check_token"),
    ("post", "/acl/auth/logout"),
    ("post", "/user/create"),
    ("get", "/user/list"),
    ("get", "/user/show"),
    ("get", "/user/parents_tree"),
];

const VN: [(&str, &str); 5] = [
    ("put", "/api/v1/apiClient/virtual-number/unsubscribe/{id}"),
    ("get", "/api/v1/apiClient/virtual-number/available"),
    ("get", "/api/v1/apiClient/virtual-number"),
    ("post", "/api/v1/apiClient/virtual-number/purchase-postpaid"),
    ("post", "/api/v1/apiClient/virtual-number/purchase"),
];

/// Every route the routers serve, as (method, path).
fn served() -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    all.insert(("get".to_owned(), "/healthz".to_owned()));
    for prefix in ["/api", "/v1/api"] {
        for (m, p) in PANEL {
            all.insert((m.to_owned(), format!("{prefix}{p}")));
        }
    }
    for (m, p) in VN.iter().chain(NATIVE) {
        all.insert(((*m).to_owned(), (*p).to_owned()));
    }
    all
}

/// The native face's routes (its own problems are checked in `native_auth`).
const NATIVE: &[(&str, &str)] = &[
    ("post", "/lk/v1/sessions"),
    ("delete", "/lk/v1/sessions/current"),
    ("post", "/lk/v1/keys"),
    ("get", "/lk/v1/keys"),
    ("delete", "/lk/v1/keys/{id}"),
    ("get", "/lk/v1/me"),
    ("get", "/lk/v1/accounts"),
    ("post", "/lk/v1/accounts"),
    ("get", "/lk/v1/accounts/{id}"),
    ("patch", "/lk/v1/accounts/{id}"),
    ("get", "/lk/v1/numbers"),
    ("get", "/lk/v1/numbers/{number}"),
    ("put", "/lk/v1/numbers/{number}/grants/{account}"),
    ("delete", "/lk/v1/numbers/{number}/grants/{account}"),
    ("patch", "/lk/v1/numbers/{number}/grants/{account}"),
    ("post", "/lk/v1/grants/bulk"),
    ("post", "/lk/v1/reservations"),
    ("get", "/lk/v1/reservations"),
    ("patch", "/lk/v1/reservations/{number}"),
    ("delete", "/lk/v1/reservations/{number}"),
    ("post", "/lk/v1/subscriptions"),
    ("delete", "/lk/v1/subscriptions/{number}"),
    ("post", "/lk/v1/admin/numbers/{number}/release"),
    ("get", "/lk/v1/numbers/{number}/history"),
    ("get", "/lk/v1/history"),
    ("get", "/lk/v1/events"),
    ("post", "/lk/v1/webhooks"),
    ("get", "/lk/v1/webhooks"),
    ("get", "/lk/v1/webhooks/{id}"),
    ("patch", "/lk/v1/webhooks/{id}"),
    ("delete", "/lk/v1/webhooks/{id}"),
    ("get", "/lk/v1/webhooks/{id}/deliveries"),
    ("post", "/lk/v1/webhooks/{id}/deliveries/{delivery}/retry"),
    ("get", "/lk/v1/pool"),
    ("get", "/lk/v1/routing/{e164}"),
    ("get", "/lk/v1/problems/{kind}"),
];

async fn document(app: &TestApp) -> Value {
    let res = app.raw("GET", "/openapi.json", &[], b"").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    serde_json::from_slice(&res.body).expect("/openapi.json is JSON")
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_route() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1."), "{version}");

    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    assert_eq!(documented, served());

    let ids: BTreeSet<&str> = operations(&doc)
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().expect("operationId"))
        .collect();
    assert_eq!(ids.len(), served().len(), "operation ids are unique");
}

#[tokio::test]
async fn every_documented_route_is_served_there() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let url = path.replace("{id}", "66ea98514f0c1a121c76ec17");
        let res = app
            .raw(
                &method.to_uppercase(),
                &url,
                &[("content-type", "application/json")],
                b"{}",
            )
            .await;
        // Without a credential each route answers its own refusal: neither the
        // router's 404/405 nor the VN face's catch-all `Not found`.
        let expected = match path.as_str() {
            "/healthz" => 200,
            p if p.ends_with("/acl/auth/login") => 422,
            "/lk/v1/sessions" => 422,
            "/lk/v1/problems/{kind}" => 404,
            _ => 401,
        };
        assert_eq!(res.status, expected, "{method} {path}: {:?}", res.json());
        let documented = op["responses"].get(expected.to_string());
        assert!(
            documented.is_some(),
            "{method} {path} does not document {expected}"
        );
    }
}

#[tokio::test]
async fn authenticated_routes_document_their_shared_failures() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "Authorization");
    for (method, path, op) in operations(&doc) {
        if path.starts_with("/lk/v1") {
            continue; // the native face's problems: see `native_auth`
        }
        let statuses = &op["responses"];
        if path == "/healthz" {
            assert!(op.get("security").is_none());
            continue;
        }
        let login = path.ends_with("/acl/auth/login");
        assert_eq!(op.get("security").is_some(), !login, "{method} {path}");
        let mut wanted = vec!["429", "500"];
        if !login {
            wanted.push("401");
        }
        if op.get("requestBody").is_some() {
            wanted.extend(["400", "413"]);
        }
        for status in wanted {
            assert!(
                statuses.get(status).is_some(),
                "{method} {path} lacks {status}"
            );
        }
        assert!(
            statuses["429"]["headers"].get("Retry-After").is_some(),
            "{method} {path}: 429 without Retry-After"
        );
    }
}

#[tokio::test]
async fn every_schema_reference_resolves() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
}

#[tokio::test]
async fn docs_serve_swagger_ui_from_the_binary() {
    let app = TestApp::spawn().await;
    let res = app.raw("GET", "/docs", &[], b"").await;
    assert!((300..400).contains(&res.status), "{}", res.status);
    assert_eq!(res.header("location"), Some("/docs/"));

    let res = app.raw("GET", "/docs/", &[], b"").await;
    assert_eq!(res.status, 200);
    assert!(
        res.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let page = String::from_utf8_lossy(&res.body);
    assert!(page.contains("swagger-ui"), "{page}");

    // The UI's own files are embedded, not fetched from a CDN, and it reads
    // this server's document.
    for (asset, kind) in [
        ("/docs/swagger-ui-bundle.js", "javascript"),
        ("/docs/swagger-ui.css", "css"),
    ] {
        let res = app.raw("GET", asset, &[], b"").await;
        assert_eq!(res.status, 200, "{asset}");
        assert!(
            res.header("content-type").unwrap_or("").contains(kind),
            "{asset}"
        );
        assert!(
            res.body.len() > 10_000,
            "{asset} is only {} bytes",
            res.body.len()
        );
    }
    let init = app
        .raw("GET", "/docs/swagger-initializer.js", &[], b"")
        .await;
    assert_eq!(init.status, 200);
    assert!(String::from_utf8_lossy(&init.body).contains("\"/openapi.json\""));
    assert!(!page.contains("https://"), "the page loads nothing remote");
}

#[tokio::test]
async fn creating_routes_link_to_the_routes_that_use_what_they_made() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let id_of = |method: &str, path: &str| {
        doc["paths"][path][method]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned()
    };
    let vn = "/api/v1/apiClient/virtual-number";
    let mut wanted = Vec::new();
    for prefix in ["/api", "/v1/api"] {
        let create = ("post", format!("{prefix}/user/create"));
        let login = ("post", format!("{prefix}/acl/auth/login"));
        let user_id = "$response.body#/data/user_id";
        let bearer = "Bearer {$response.body#/data/token}";
        wanted.extend([
            (
                create.clone(),
                ("get", format!("{prefix}/user/show")),
                "parameters",
                "query.user_id",
                user_id,
            ),
            (
                create.clone(),
                ("get", format!("{prefix}/user/parents_tree")),
                "parameters",
                "query.user_id",
                user_id,
            ),
            (
                create,
                ("post", format!("{prefix}/numbers/assign")),
                "requestBody",
                "target_user_id",
                user_id,
            ),
            (
                login.clone(),
                ("post", format!("{prefix}/acl/auth/check_token")),
                "parameters",
                "header.Authorization",
                bearer,
            ),
            (
                login,
                ("post", format!("{prefix}/acl/auth/logout")),
                "parameters",
                "header.Authorization",
                bearer,
            ),
        ]);
    }
    wanted.push((
        ("post", format!("{vn}/purchase-postpaid")),
        ("put", format!("{vn}/unsubscribe/{{id}}")),
        "parameters",
        "path.id",
        "$response.body#/data/_id",
    ));
    for ((from_method, from), (to_method, to), kind, key, expression) in wanted {
        let links = doc["paths"][&from][from_method]["responses"]["200"]["links"]
            .as_object()
            .unwrap_or_else(|| panic!("{from_method} {from}: no links on 200"));
        let target = id_of(to_method, &to);
        let found = links.values().any(|link| {
            link["operationId"] == Value::String(target.clone())
                && link[kind][key] == Value::String(expression.to_owned())
        });
        assert!(
            found,
            "{from_method} {from} does not link {key} of {to_method} {to}: {links:?}"
        );
        // Every link names an operation the document has.
        for link in links.values() {
            let id = link["operationId"].as_str().expect("operationId");
            assert!(
                operations(&doc)
                    .iter()
                    .any(|(_, _, op)| op["operationId"] == id),
                "{from}: link to unknown {id}"
            );
        }
    }
}

/// The native face's contract: every answer with a body has its schema,
/// every body a route reads has its fields, and the routes that create
/// something link to those that show, change and delete it.
#[tokio::test]
async fn the_native_contract_gives_every_body_its_schema_and_links_what_it_creates() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let ids: BTreeSet<&str> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str())
        .collect();
    let mut links = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        if !path.starts_with("/lk/v1/") || path == "/lk/v1/problems/{kind}" {
            continue;
        }
        let (status, ok) = op["responses"]
            .as_object()
            .expect("responses")
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap_or_else(|| panic!("{method} {path} has no success"));
        let schema = &ok["content"]["application/json"]["schema"];
        match status.as_str() {
            "204" => assert!(
                ok.get("content").is_none(),
                "{method} {path}: a 204 has no body"
            ),
            _ => assert!(
                schema.get("$ref").is_some()
                    || schema.get("type").is_some()
                    || schema.get("anyOf").is_some(),
                "{method} {path}: no success schema: {ok}"
            ),
        }
        if let Some(body) = op.get("requestBody") {
            let schema = &body["content"]["application/json"]["schema"];
            let fields = schema
                .get("properties")
                .or_else(|| schema["allOf"][0].get("properties"));
            let optional = body["required"] == Value::Bool(false);
            assert!(
                fields.is_some() || optional,
                "{method} {path}: a body without fields: {body}"
            );
        }
        for (name, link) in ok["links"].as_object().into_iter().flatten() {
            let target = link["operationId"].as_str().expect("operationId");
            assert!(
                ids.contains(target),
                "{method} {path} links {name} to unknown {target}"
            );
            links.insert(format!("{method} {path} -> {target}"));
        }
    }
    let want: BTreeSet<String> = [
        "post /lk/v1/accounts -> get_lk_v1_accounts_id",
        "post /lk/v1/accounts -> patch_lk_v1_accounts_id",
        "post /lk/v1/keys -> delete_lk_v1_keys_id",
        "put /lk/v1/numbers/{number}/grants/{account} -> patch_lk_v1_numbers_number_grants_account",
        "put /lk/v1/numbers/{number}/grants/{account} -> delete_lk_v1_numbers_number_grants_account",
        "put /lk/v1/numbers/{number}/grants/{account} -> get_lk_v1_numbers_number",
        "post /lk/v1/reservations -> patch_lk_v1_reservations_number",
        "post /lk/v1/reservations -> delete_lk_v1_reservations_number",
        "post /lk/v1/subscriptions -> get_lk_v1_numbers_number",
        "post /lk/v1/subscriptions -> delete_lk_v1_subscriptions_number",
        "post /lk/v1/webhooks -> get_lk_v1_webhooks_id",
        "post /lk/v1/webhooks -> patch_lk_v1_webhooks_id",
        "post /lk/v1/webhooks -> delete_lk_v1_webhooks_id",
        "post /lk/v1/webhooks -> get_lk_v1_webhooks_id_deliveries",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(links, want);
    // The list of numbers says what it filters by, with its constraints.
    let list = &doc["paths"]["/lk/v1/numbers"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "state",
            "country",
            "prefix",
            "contains",
            "owned",
            "granted_to",
            "limit",
            "cursor"
        ]
    );
    assert_eq!(
        list[6]["schema"],
        serde_json::json!({"type": "integer", "minimum": 1, "maximum": 500})
    );
}
