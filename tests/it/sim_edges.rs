//! The simulator answers like the providers beyond the routes the clients
//! use: unknown paths and methods get each provider's error body (and its
//! rate-limit headers), an injected 429 looks like a real one (nothing
//! remaining, a reset and retry-after, for a limit that frees at once), DigitalOcean
//! deletes tags and untags resources, Hetzner lists image actions and says
//! where a server type is available, and ids made at run time never repeat a
//! seeded id. Table-driven over the three providers where they share a rule.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use snapkeeper::sim::{FaultKind, SimProvider};

use crate::sim_support::{Answer, SimHttp, seed};

const DO_TOKEN: &str = "simEdgesDigitalOceanToken000000000000000000000000000000000000";
const VULTR_KEY: &str = "SIMEDGESVULTRKEY00000000000000000RW";
const HZ_TOKEN: &str = "simEdgesHetznerToken0000000000000000000000000000000000000000000";

fn t0() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

/// One seed for all three: a droplet with a snapshot and a tag, a Vultr
/// instance, a Hetzner server with seeded images at the ids the image
/// counter starts from (210000001) and the documented example (210000101).
fn edges_seed() -> String {
    format!(
        r#"
settings: {{}}
digitalocean:
  accounts:
    - name: team
      tokens: [{{token: {DO_TOKEN}}}]
      droplets:
        - {{id: 101, name: web-1, region: nyc3, tags: [backup, web], snapshots: [{{id: "170000001", name: seeded-at-the-counter, created_at: 2026-01-01T00:00:00Z}}]}}
        - {{id: 102, name: db-1, region: nyc3, tags: [backup]}}
vultr:
  accounts:
    - name: main
      api_keys: [{{key: {VULTR_KEY}}}]
      instances:
        - {{id: 11111111-1111-4111-8111-111111111111, label: web-1}}
hetzner:
  projects:
    - name: main
      tokens: [{{token: {HZ_TOKEN}}}]
      servers:
        - {{id: 101, name: web-1, server_type: cx22}}
      images:
        - {{id: 210000001, server: web-1, description: seeded-at-the-counter}}
        - {{id: 210000101, server: web-1, description: the-documented-example}}
"#
    )
}

async fn edges(provider: SimProvider) -> SimHttp {
    SimHttp::start(provider, seed(&edges_seed()), t0()).await
}

/// Each provider's token, a listing route, and how its error bodies look.
struct Case {
    provider: SimProvider,
    token: &'static str,
    list: &'static str,
    /// Whether its answers carry `ratelimit-*` headers (Vultr's do not).
    rate_headers: bool,
    /// The error body's status/code text, as the provider's shape has it.
    code: fn(&Value) -> Option<String>,
}

const CASES: [Case; 3] = [
    Case {
        provider: SimProvider::Digitalocean,
        token: DO_TOKEN,
        list: "/v2/droplets",
        rate_headers: true,
        code: |b| b["id"].as_str().map(str::to_string),
    },
    Case {
        provider: SimProvider::Vultr,
        token: VULTR_KEY,
        list: "/instances",
        rate_headers: false,
        code: |b| b["status"].as_u64().map(|s| s.to_string()),
    },
    Case {
        provider: SimProvider::Hetzner,
        token: HZ_TOKEN,
        list: "/servers",
        rate_headers: true,
        code: |b| b["error"]["code"].as_str().map(str::to_string),
    },
];

fn assert_error_shape(case: &Case, a: &Answer, want_status: StatusCode, what: &str) {
    let p = case.provider.as_str();
    assert_eq!(a.status, want_status, "{p} {what}: {}", a.text);
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{p} {what}: not JSON: {:?}",
        a.headers
    );
    let body = a.json();
    assert!(
        (case.code)(&body).is_some(),
        "{p} {what}: not the provider's error shape: {body}"
    );
    match case.provider {
        SimProvider::Digitalocean => assert!(body["message"].is_string(), "{p} {what}: {body}"),
        SimProvider::Vultr => {
            assert!(body["error"].is_string(), "{p} {what}: {body}");
            assert_eq!(body["status"], want_status.as_u16(), "{p} {what}");
        }
        SimProvider::Hetzner => assert!(body["error"]["message"].is_string(), "{p} {what}"),
    }
    for h in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
        assert_eq!(
            a.header(h).is_some(),
            case.rate_headers,
            "{p} {what}: header {h}: {:?}",
            a.headers
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_each_providers_error_shape() {
    for case in &CASES {
        let s = edges(case.provider).await;
        let unknown = s
            .call(Method::GET, "/no/such/route", Some(case.token), None)
            .await;
        assert_error_shape(case, &unknown, StatusCode::NOT_FOUND, "unknown path");
        let wrong = s
            .call(Method::PATCH, case.list, Some(case.token), None)
            .await;
        assert_error_shape(
            case,
            &wrong,
            StatusCode::METHOD_NOT_ALLOWED,
            "PATCH on a list",
        );
        s.running.stop().await;
    }
}

#[tokio::test]
async fn an_injected_429_looks_like_a_real_one() {
    for case in &CASES {
        let p = case.provider.as_str();
        let s = edges(case.provider).await;
        s.fault("GET", case.list, FaultKind::Status(429), Some(1));
        let injected = s.call(Method::GET, case.list, Some(case.token), None).await;
        assert_error_shape(
            case,
            &injected,
            StatusCode::TOO_MANY_REQUESTS,
            "injected 429",
        );
        let body = injected.json();
        assert!(!injected.text.contains("injected"), "{p}: {body}");
        match case.provider {
            SimProvider::Digitalocean => {
                assert_eq!(body["id"], "too_many_requests", "{p}");
                assert_eq!(body["message"], "API Rate limit exceeded.", "{p}");
                assert_eq!(injected.header("ratelimit-remaining"), Some("0"), "{p}");
                let reset: i64 = injected.header("ratelimit-reset").unwrap().parse().unwrap();
                let wait: i64 = injected.header("retry-after").unwrap().parse().unwrap();
                // A limit that frees at once: the client's header handling
                // runs, without an hour's wait.
                assert_eq!(reset, t0().timestamp(), "{p}: reset");
                assert_eq!(wait, 0, "{p}: retry-after");
            }
            SimProvider::Vultr => {
                assert_eq!(body["error"], "Rate limit exceeded.", "{p}");
            }
            SimProvider::Hetzner => {
                assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{p}");
                assert_eq!(
                    body["error"]["message"], "limit of requests per hour reached",
                    "{p}"
                );
                assert_eq!(injected.header("ratelimit-remaining"), Some("0"), "{p}");
                let reset: i64 = injected.header("ratelimit-reset").unwrap().parse().unwrap();
                assert_eq!(reset, t0().timestamp(), "{p}: reset");
            }
        }
        // The fault was counted once: the next answer is the real listing.
        let next = s.call(Method::GET, case.list, Some(case.token), None).await;
        assert_eq!(next.status, StatusCode::OK, "{p}: {}", next.text);
        s.running.stop().await;
    }
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn digitalocean_deletes_tags_and_untags_resources() {
    let s = edges(SimProvider::Digitalocean).await;
    let tags_of = |a: &Answer| -> Vec<String> {
        serde_json::from_value(a.json()["droplet"]["tags"].clone()).unwrap()
    };
    let untag = s
        .call(
            Method::DELETE,
            "/v2/tags/web/resources",
            Some(DO_TOKEN),
            Some(json!({"resources": [{"resource_id": "101", "resource_type": "droplet"}]})),
        )
        .await;
    assert_eq!(untag.status, StatusCode::NO_CONTENT, "{}", untag.text);
    let web = s
        .call(Method::GET, "/v2/droplets/101", Some(DO_TOKEN), None)
        .await;
    assert_eq!(tags_of(&web), ["backup"]);
    // The tag itself stays until it is deleted.
    let tag = s
        .call(Method::GET, "/v2/tags/web", Some(DO_TOKEN), None)
        .await;
    assert_eq!(tag.status, StatusCode::OK, "{}", tag.text);

    let gone = s
        .call(Method::DELETE, "/v2/tags/backup", Some(DO_TOKEN), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let tag = s
        .call(Method::GET, "/v2/tags/backup", Some(DO_TOKEN), None)
        .await;
    assert_eq!(tag.status, StatusCode::NOT_FOUND, "{}", tag.text);
    for id in [101, 102] {
        let d = s
            .call(
                Method::GET,
                &format!("/v2/droplets/{id}"),
                Some(DO_TOKEN),
                None,
            )
            .await;
        assert!(
            !tags_of(&d).contains(&"backup".to_string()),
            "{id}: {}",
            d.text
        );
    }
    let again = s
        .call(Method::DELETE, "/v2/tags/backup", Some(DO_TOKEN), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
    let unknown = s
        .call(
            Method::DELETE,
            "/v2/tags/web/resources",
            Some(DO_TOKEN),
            Some(json!({"resources": [{"resource_id": "999", "resource_type": "droplet"}]})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    crate::spec::assert_contract(&s.requests());
    s.running.stop().await;
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn hetzner_lists_image_actions_and_where_server_types_are_available() {
    let s = edges(SimProvider::Hetzner).await;
    let made = s
        .call(
            Method::POST,
            "/servers/101/actions/create_image",
            Some(HZ_TOKEN),
            Some(json!({"type": "snapshot", "description": "made-now"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let action = made.json()["action"]["id"].as_u64().unwrap();
    let image = made.json()["image"]["id"].as_u64().unwrap();

    let listed = s
        .call(Method::GET, "/images/actions", Some(HZ_TOKEN), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let actions = listed.json()["actions"].clone();
    assert_eq!(actions.as_array().unwrap().len(), 1, "{actions}");
    assert_eq!(actions[0]["id"], action);
    assert!(
        actions[0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "image" && r["id"] == image),
        "{actions}"
    );
    let by_id = s
        .call(
            Method::GET,
            &format!("/images/actions?id={action}"),
            Some(HZ_TOKEN),
            None,
        )
        .await;
    assert_eq!(by_id.json()["actions"][0]["id"], action);

    let servers = s.call(Method::GET, "/servers", Some(HZ_TOKEN), None).await;
    let locations = servers.json()["servers"][0]["server_type"]["locations"].clone();
    assert!(!locations.as_array().unwrap().is_empty());
    for l in locations.as_array().unwrap() {
        assert!(l["available"].is_boolean(), "{l}");
        assert!(l["recommended"].is_boolean(), "{l}");
    }
    crate::spec::assert_contract(&s.requests());
    s.running.stop().await;
}

#[tokio::test]
async fn ids_made_at_run_time_never_repeat_a_seeded_id() {
    // Hetzner: seeded images sit where the image counter starts and at the
    // documented example id; a hundred and one creates never repeat one.
    let s = edges(SimProvider::Hetzner).await;
    let mut seen = std::collections::BTreeSet::from([210_000_001, 210_000_101]);
    for i in 0..101 {
        let made = s
            .call(
                Method::POST,
                "/servers/101/actions/create_image",
                Some(HZ_TOKEN),
                Some(json!({"type": "snapshot", "description": format!("n{i}")})),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        s.advance(3600);
        let id = made.json()["image"]["id"].as_u64().unwrap();
        assert!(
            seen.insert(id),
            "create {i}: image id {id} handed out twice"
        );
    }
    s.running.stop().await;

    // DigitalOcean: a seeded droplet snapshot at the image counter's start.
    let s = edges(SimProvider::Digitalocean).await;
    let made = s
        .call(
            Method::POST,
            "/v2/droplets/101/actions",
            Some(DO_TOKEN),
            Some(json!({"type": "snapshot", "name": "made-now"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    s.advance(3600);
    let listed = s
        .call(
            Method::GET,
            "/v2/droplets/101/snapshots",
            Some(DO_TOKEN),
            None,
        )
        .await;
    let ids: Vec<String> = listed.json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].to_string())
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    s.running.stop().await;
}
