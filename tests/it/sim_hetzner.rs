//! The simulated Hetzner Cloud API, in process, over real HTTP: every served
//! operation, paging, limits, auth, rate limit, faults, counters, and a
//! contract check of every recorded exchange against the Hetzner spec.
//! Time is a fixed `Clock` moved by hand, so nothing depends on timing.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use snapkeeper::clock::Clock;
use snapkeeper::sim::{self, FaultKind, Seed, SimProvider};

use crate::harness::rw_ro_entry;
use crate::sim_support::strings;
use crate::sim_support::{Answer, On, get_json, seed};

use crate::spec;

const RW: &str = "simHetznerTestReadWrite0000000000000000000000000000000000000000";
const RO: &str = "simHetznerTestReadOnly00000000000000000000000000000000000000000";
const OTHER: &str = "simHetznerTestOtherProject000000000000000000000000000000000000";

fn seed_yaml(settings: &str, extra_servers: usize) -> String {
    let servers: String = (0..extra_servers)
        .map(|i| format!("        - {{ name: bulk-{i:03}, labels: {{ tier: bulk }} }}\n"))
        .collect();
    let entry = rw_ro_entry("hetzner", "main", RW, RO);
    format!(
        r#"
settings: {{ {settings} }}
hetzner:
  projects:
{entry}      servers:
        - {{ id: 101, name: web-1, labels: {{ backup: "true", env: prod }}, server_type: cx22 }}
        - {{ id: 102, name: db-1, labels: {{ backup: "true", env: staging }}, server_type: cx32, backups: true }}
        - {{ id: 103, name: scratch, status: "off", server_type: cpx11 }}
{servers}      images:
        - {{ id: 9001, server: web-1, description: before-upgrade, labels: {{ note: manual }}, age: 3d }}
        - {{ id: 9002, server: db-1, description: keep-me, protected: true, age: 5d }}
        - {{ id: 9003, type: backup, server: db-1, description: nightly, age: 1d }}
      volumes:
        - {{ id: 501, name: db-data, size: 100, server: db-1, labels: {{ env: staging }} }}
      load_balancers: [{{ id: 601, name: lb-web }}]
      firewalls: [{{ id: 701, name: fw }}]
      networks: [{{ id: 801, name: net }}]
      floating_ips: [{{ id: 901, name: fip, server: web-1 }}]
      primary_ips: [{{ id: 902, name: pip, server: web-1 }}]
    - name: other
      tokens: [{{ token: {OTHER} }}]
      servers: [{{ id: 201, name: elsewhere }}]
"#
    )
}

/// The shared simulator client (`sim_support`), started on this file's seed
/// at a fixed time, with Hetzner's own shortcuts.
struct Hetzner;
type Sim = On<Hetzner>;

impl Sim {
    async fn start(settings: &str, extra_servers: usize) -> Self {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let seed = seed(&seed_yaml(settings, extra_servers));
        Self::boot(SimProvider::Hetzner, seed, at).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(RW), None).await
    }

    fn fault(&self, kind: FaultKind, method: &str, path: &str, count: Option<u32>) {
        self.0.fault(method, path, kind, count);
    }

    async fn create(&self, server: u64, body: Value) -> Answer {
        self.call(
            Method::POST,
            &format!("/servers/{server}/actions/create_image"),
            Some(RW),
            Some(body),
        )
        .await
    }
}

fn error_code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("<none>")
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect()
}

/// For deliberately bad requests: check only that every response matches
/// the spec (the requests themselves are meant to violate it).
fn contract_responses(s: &Sim) {
    let hz = spec::Spec::load(SimProvider::Hetzner);
    let records = s.running.core.requests();
    assert!(!records.is_empty());
    let mut errors = Vec::new();
    for r in &records {
        if let Err(es) =
            hz.validate_response(&r.method, &r.template, r.status, r.response_body.as_ref())
        {
            errors.push(format!("{} {} -> {}: {es:?}", r.method, r.path, r.status));
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Contract check of everything recorded so far.
fn contract(s: &Sim) {
    let records: Vec<_> = s
        .running
        .core
        .requests()
        .into_iter()
        .filter(|r| r.status != 0)
        // `GET /actions` without the required `id` is sent on purpose (and its
        // 422 asserted) by the lifecycle test; the request itself breaks the spec.
        .filter(|r| !(r.template == "/actions" && r.query.is_none()))
        .collect();
    spec::assert_contract(&records);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn create_image_runs_to_completion_then_deletes() {
    // cx22: 40 GB; (20 + 2 * 40) s * time_scale 1 = 100 s.
    let s = Sim::start("time_scale: 1.0", 0).await;
    let a = s
        .create(
            101,
            json!({"type": "snapshot", "description": "sk:test", "labels": {"snapkeeper/policy": "daily"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let action = &a.body["action"];
    let image = &a.body["image"];
    assert_eq!(action["status"], "running");
    assert_eq!(action["command"], "create_image");
    assert_eq!(action["progress"], 0);
    assert!(action["finished"].is_null());
    assert_eq!(image["status"], "creating");
    assert_eq!(image["type"], "snapshot");
    assert_eq!(image["created_from"], json!({"id": 101, "name": "web-1"}));
    assert!(image["image_size"].is_null());
    let action_id = action["id"].as_u64().unwrap();
    let image_id = image["id"].as_u64().unwrap();

    // Half-way: progress rises, server locked, a second action is refused.
    s.advance(50);
    let got = s.get(&format!("/actions/{action_id}")).await;
    assert_eq!(got.body["action"]["status"], "running");
    assert_eq!(got.body["action"]["progress"], 50);
    assert_eq!(s.get("/servers/101").await.body["server"]["locked"], true);
    let again = s.create(101, json!({})).await;
    assert_eq!(again.status, StatusCode::LOCKED);
    assert_eq!(error_code(&again), "locked");
    let listed = s.get("/images?type=snapshot&status=creating").await;
    assert_eq!(ids(&listed.body["images"]), vec![image_id]);

    // Done.
    s.advance(50);
    let got = s.get(&format!("/actions/{action_id}")).await;
    assert_eq!(got.body["action"]["status"], "success");
    assert_eq!(got.body["action"]["progress"], 100);
    assert_eq!(got.body["action"]["finished"], "2026-11-22T12:01:40+00:00");
    let img = s.get(&format!("/images/{image_id}")).await;
    assert_eq!(img.body["image"]["status"], "available");
    assert!(img.body["image"]["image_size"].as_f64().is_some());
    assert_eq!(s.get("/servers/101").await.body["server"]["locked"], false);
    let mine = s
        .get("/images?type=snapshot&label_selector=snapkeeper%2Fpolicy%3Ddaily")
        .await;
    assert_eq!(ids(&mine.body["images"]), vec![image_id]);

    // The other ways to read the action.
    for path in [
        format!("/servers/actions/{action_id}"),
        format!("/servers/101/actions/{action_id}"),
    ] {
        let a = s.get(&path).await;
        assert_eq!(a.body["action"]["id"], action_id, "{path}");
    }
    assert_eq!(
        s.get(&format!("/servers/102/actions/{action_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let listed = s.get("/servers/101/actions?status=success").await;
    assert_eq!(ids(&listed.body["actions"]), vec![action_id]);
    let listed = s
        .get(&format!(
            "/servers/actions?id={action_id}&sort=started:desc"
        ))
        .await;
    assert_eq!(ids(&listed.body["actions"]), vec![action_id]);
    let multi = s.get(&format!("/actions?id={action_id}&id=1")).await;
    assert_eq!(ids(&multi.body["actions"]), vec![action_id]);
    assert_eq!(
        s.get("/actions").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Update, then delete.
    let body = json!({"description": "renamed", "labels": {"a": "b"}});
    let put = s
        .call(
            Method::PUT,
            &format!("/images/{image_id}"),
            Some(RW),
            Some(body),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.body["image"]["description"], "renamed");
    assert_eq!(put.body["image"]["labels"], json!({"a": "b"}));
    let del = s
        .call(
            Method::DELETE,
            &format!("/images/{image_id}"),
            Some(RW),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert!(del.text.is_empty());
    assert_eq!(
        s.get(&format!("/images/{image_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let del = s
        .call(
            Method::DELETE,
            &format!("/images/{image_id}"),
            Some(RW),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&del), "not_found");
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn backups_need_backups_enabled_and_convert_to_snapshots() {
    let s = Sim::start("", 0).await;
    let refused = s.create(101, json!({"type": "backup"})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "unsupported_error");
    let ok = s.create(102, json!({"type": "backup"})).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(ok.body["image"]["bound_to"], 102);
    assert!(!ok.body["image"]["description"].as_str().unwrap().is_empty());
    let bound = s.get("/images?type=backup&bound_to=102").await;
    assert_eq!(bound.body["images"].as_array().unwrap().len(), 2);
    let body = json!({"type": "snapshot"});
    let conv = s
        .call(Method::PUT, "/images/9003", Some(RW), Some(body))
        .await;
    assert_eq!(conv.body["image"]["type"], "snapshot");
    assert!(conv.body["image"]["bound_to"].is_null());
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn bad_input_is_refused_with_invalid_input() {
    let s = Sim::start("", 0).await;
    let cases = [
        (json!({"type": "full"}), "type"),
        (json!({"description": 5}), "description"),
        (json!({"labels": {"-bad": "x"}}), "labels"),
        (json!({"labels": {"hetzner.cloud/x": "y"}}), "labels"),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let a = s.create(101, body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error_code(&a), "invalid_input", "{body}");
        assert_eq!(
            a.body["error"]["details"]["fields"][0]["name"], field,
            "{body}"
        );
    }
    let raw = s
        .http
        .post(format!("{}/servers/101/actions/create_image", s.base))
        .bearer_auth(RW)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "json_error");
    for path in [
        "/servers?status=flying",
        "/servers?sort=size",
        "/servers?label_selector=env%20in%20(a",
        "/images?type=iso",
        "/images?include_deprecated=maybe",
        "/servers/abc",
    ] {
        let a = s.get(path).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(error_code(&a), "invalid_input", "{path}");
    }
    assert_eq!(
        s.create(4242, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let system = s
        .call(Method::DELETE, "/images/161547269", Some(RW), None)
        .await;
    assert_eq!(system.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&system), "unsupported_error");
    contract_responses(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn pagination_over_many_pages_with_meta_and_link() {
    let s = Sim::start("", 32).await; // 35 servers
    let mut seen = Vec::new();
    let mut url = "/servers?per_page=10&label_selector=tier%3Dbulk,!backup".to_string();
    let mut pages = 0;
    loop {
        let a = s.get(&url).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        pages += 1;
        let p = &a.body["meta"]["pagination"];
        assert_eq!(p["page"], pages);
        assert_eq!(p["per_page"], 10);
        assert_eq!(p["last_page"], 4);
        assert_eq!(p["total_entries"], 32);
        if pages == 1 {
            assert!(p["previous_page"].is_null());
        } else {
            assert_eq!(p["previous_page"], pages - 1);
        }
        seen.extend(ids(&a.body["servers"]));
        let link = a.headers["link"].to_str().unwrap().to_string();
        assert!(link.contains("rel=\"last\""), "{link}");
        assert!(
            link.contains(&format!("http://{}/hetzner/v1/servers?", s.running.addr)),
            "{link}"
        );
        match p["next_page"].as_u64() {
            Some(next) => {
                let next_url = link
                    .split(", ")
                    .find(|l| l.ends_with("rel=\"next\""))
                    .unwrap();
                assert!(
                    next_url.contains(&format!("page={next}&per_page=10")),
                    "{link}"
                );
                let full = next_url.trim_start_matches('<').split('>').next().unwrap();
                url = full.trim_start_matches(&s.base).to_string();
            }
            None => {
                assert!(!link.contains("rel=\"next\""), "{link}");
                break;
            }
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 32);
    let mut dedup = seen.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), 32, "no server twice");

    // Page size limits: 50 is the documented maximum.
    let max = s.get("/servers?per_page=50").await;
    assert_eq!(max.body["servers"].as_array().unwrap().len(), 35);
    for bad in ["per_page=51", "per_page=0", "page=0"] {
        let a = s.get(&format!("/servers?{bad}")).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(error_code(&a), "invalid_input", "{bad}");
    }
    let default = s.get("/servers").await;
    assert_eq!(default.body["servers"].as_array().unwrap().len(), 25);
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn filters_and_sorting() {
    let s = Sim::start("", 0).await;
    let by = |q: &'static str| {
        let s = &s;
        async move { ids(&s.get(q).await.body["servers"]) }
    };
    assert_eq!(by("/servers?name=db-1").await, vec![102]);
    assert_eq!(by("/servers?label_selector=backup").await, vec![101, 102]);
    assert_eq!(by("/servers?label_selector=env%3D%3Dprod").await, vec![101]);
    assert_eq!(
        by("/servers?label_selector=env!%3Dprod").await,
        vec![102, 103]
    );
    assert_eq!(
        by("/servers?label_selector=env%20notin%20(prod)").await,
        vec![102, 103]
    );
    assert_eq!(
        by("/servers?label_selector=env%20in%20(prod,staging),backup").await,
        vec![101, 102]
    );
    assert_eq!(by("/servers?status=off").await, vec![103]);
    assert_eq!(
        by("/servers?status=off&status=running").await,
        vec![101, 102, 103]
    );
    assert_eq!(by("/servers?sort=name:desc").await, vec![101, 103, 102]);
    assert_eq!(by("/servers?sort=id:desc").await, vec![103, 102, 101]);

    let snaps = s.get("/images?type=snapshot").await;
    assert_eq!(ids(&snaps.body["images"]), vec![9001, 9002]);
    let sys = s.get("/images?type=system&architecture=arm").await;
    assert_eq!(ids(&sys.body["images"]), vec![161547270]);
    let manual = s.get("/images?label_selector=note%3Dmanual").await;
    assert_eq!(manual.body["images"][0]["description"], "before-upgrade");
    assert_eq!(
        manual.body["images"][0]["created"],
        "2026-11-19T12:00:00+00:00"
    );

    // Another project's token sees only its own world.
    let other = s.call(Method::GET, "/servers", Some(OTHER), None).await;
    assert_eq!(ids(&other.body["servers"]), vec![201]);
    let other = s.call(Method::GET, "/servers/101", Some(OTHER), None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn inventory_lists_and_gets() {
    let s = Sim::start("", 0).await;
    let cases = [
        ("volumes", "volume", 501u64),
        ("load_balancers", "load_balancer", 601),
        ("firewalls", "firewall", 701),
        ("networks", "network", 801),
        ("floating_ips", "floating_ip", 901),
        ("primary_ips", "primary_ip", 902),
    ];
    for (list, one, id) in cases {
        let a = s.get(&format!("/{list}")).await;
        assert_eq!(a.status, StatusCode::OK, "{list}: {}", a.text);
        assert_eq!(ids(&a.body[list]), vec![id], "{list}");
        assert_eq!(a.body["meta"]["pagination"]["total_entries"], 1);
        let g = s.get(&format!("/{list}/{id}")).await;
        assert_eq!(g.body[one]["id"], id, "{one}");
        assert_eq!(
            s.get(&format!("/{list}/1")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let server = s.get("/servers/102").await;
    assert_eq!(server.body["server"]["volumes"], json!([501]));
    let empty = s.call(Method::GET, "/volumes", Some(OTHER), None).await;
    assert_eq!(empty.body["volumes"], json!([]));
    assert_eq!(empty.body["meta"]["pagination"]["last_page"], 1);
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn auth_errors_and_read_only_tokens() {
    let s = Sim::start("", 0).await;
    for token in [None, Some("nope")] {
        let a = s.call(Method::GET, "/servers", token, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&a), "unauthorized");
        assert!(a.body["error"]["message"].is_string());
        assert!(a.headers.contains_key("ratelimit-remaining"));
    }
    let read = s.call(Method::GET, "/images", Some(RO), None).await;
    assert_eq!(read.status, StatusCode::OK);
    let write = s
        .call(
            Method::POST,
            "/servers/101/actions/create_image",
            Some(RO),
            Some(json!({})),
        )
        .await;
    // The official error table pairs token_readonly with 401.
    assert_eq!(write.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&write), "token_readonly");
    let del = s.call(Method::DELETE, "/images/9001", Some(RO), None).await;
    assert_eq!(error_code(&del), "token_readonly");
    assert_eq!(
        s.get("/images/9001").await.status,
        StatusCode::OK,
        "not deleted"
    );
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn rate_limit_per_project_with_headers() {
    // 3,600/h * 0.005 = 18 requests, refilling 0.005/s.
    let s = Sim::start("rate_limit_factor: 0.005", 0).await;
    let now = Utc
        .with_ymd_and_hms(2026, 11, 22, 12, 0, 0)
        .unwrap()
        .timestamp();
    let first = s.get("/servers").await;
    assert_eq!(first.headers["ratelimit-limit"], "18");
    assert_eq!(first.headers["ratelimit-remaining"], "17");
    let reset: i64 = first.headers["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > now && reset <= now + 201, "reset {reset}");
    let mut last = first;
    for _ in 0..17 {
        last = s.get("/servers").await;
        assert_eq!(last.status, StatusCode::OK);
    }
    assert_eq!(last.headers["ratelimit-remaining"], "0");
    let over = s.get("/servers").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&over), "rate_limit_exceeded");
    assert_eq!(over.headers["ratelimit-remaining"], "0");
    let reset: i64 = over.headers["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset >= now + 3000,
        "empty bucket takes about an hour: {reset}"
    );
    // Read-only token: same project, same bucket.
    let ro = s.call(Method::GET, "/servers", Some(RO), None).await;
    assert_eq!(ro.status, StatusCode::TOO_MANY_REQUESTS);
    // Another project has its own bucket.
    let other = s.call(Method::GET, "/servers", Some(OTHER), None).await;
    assert_eq!(other.status, StatusCode::OK);
    contract(&s);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn semantic_faults() {
    let s = Sim::start("time_scale: 0.01", 0).await;
    let create_path = "/servers/{id}/actions/create_image";

    // Locked: 423 although nothing runs, once.
    s.fault(FaultKind::Locked, "POST", create_path, Some(1));
    let a = s.create(103, json!({})).await;
    assert_eq!(a.status, StatusCode::LOCKED);
    assert_eq!(error_code(&a), "locked");

    // Quota: resource_limit_exceeded 403 with limits details.
    s.fault(
        FaultKind::Quota,
        "POST",
        "/servers/103/actions/create_image",
        Some(1),
    );
    let a = s.create(103, json!({})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&a), "resource_limit_exceeded");
    assert!(a.body["error"]["details"]["limits"].is_array());

    // ActionError: the action ends in error and the image goes away.
    s.fault(FaultKind::ActionError, "POST", create_path, Some(1));
    let a = s.create(103, json!({})).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let (aid, iid) = (
        a.body["action"]["id"].as_u64().unwrap(),
        a.body["image"]["id"].as_u64().unwrap(),
    );
    s.advance(3600);
    let got = s.get(&format!("/actions/{aid}")).await;
    assert_eq!(got.body["action"]["status"], "error");
    assert_eq!(got.body["action"]["error"]["code"], "action_failed");
    assert!(got.body["action"]["finished"].is_string());
    assert_eq!(
        s.get(&format!("/images/{iid}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get("/servers/103").await.body["server"]["locked"], false);

    // ActionStuck: never finishes; the server stays locked.
    s.fault(FaultKind::ActionStuck, "POST", create_path, Some(1));
    let a = s.create(103, json!({})).await;
    let (aid, iid) = (
        a.body["action"]["id"].as_u64().unwrap(),
        a.body["image"]["id"].as_u64().unwrap(),
    );
    s.advance(86_400 * 30);
    let got = s.get(&format!("/actions/{aid}")).await;
    assert_eq!(got.body["action"]["status"], "running");
    assert!(got.body["action"]["progress"].as_i64().unwrap() < 100);
    assert_eq!(
        s.get(&format!("/images/{iid}")).await.body["image"]["status"],
        "creating"
    );
    assert_eq!(s.create(103, json!({})).await.status, StatusCode::LOCKED);
    let del = s
        .call(Method::DELETE, &format!("/images/{iid}"), Some(RW), None)
        .await;
    assert_eq!(error_code(&del), "locked");

    // Protected: seeded, and injected.
    let del = s.call(Method::DELETE, "/images/9002", Some(RW), None).await;
    assert_eq!(del.status, StatusCode::LOCKED);
    assert_eq!(error_code(&del), "protected");
    s.fault(FaultKind::Protected, "DELETE", "/images/{id}", Some(1));
    let del = s.call(Method::DELETE, "/images/9001", Some(RW), None).await;
    assert_eq!(error_code(&del), "protected");
    let del = s.call(Method::DELETE, "/images/9001", Some(RW), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    contract(&s);
}

#[tokio::test]
async fn transport_faults() {
    let s = Sim::start("", 0).await;
    s.fault(FaultKind::Status(503), "GET", "/servers", Some(2));
    for _ in 0..2 {
        let a = s.get("/servers").await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error_code(&a), "unavailable");
    }
    assert_eq!(s.get("/servers").await.status, StatusCode::OK);

    s.fault(FaultKind::SlowMs(50), "GET", "/images", Some(1));
    assert_eq!(s.get("/images").await.status, StatusCode::OK);

    s.fault(FaultKind::Malformed, "GET", "/images/{id}", Some(1));
    let a = s.get("/images/9001").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&a.text).is_err(),
        "{}",
        a.text
    );

    s.fault(FaultKind::Reset, "GET", "/volumes", Some(1));
    let r = s.raw_get("/volumes", RW, None).await;
    assert!(r.is_err(), "a reset must reach the client as an error");

    s.fault(FaultKind::Timeout, "GET", "/firewalls", Some(1));
    let r = s
        .raw_get("/firewalls", RW, Some(Duration::from_millis(300)))
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn counters_and_state_dump() {
    let s = Sim::start("", 0).await;
    s.get("/servers").await;
    s.get("/servers").await;
    s.get("/images/9001").await;
    s.call(Method::GET, "/servers", None, None).await;
    let control = s.running.control_url();
    let counters = get_json(&s.http, format!("{control}/counters"), None).await;
    assert_eq!(counters[RW]["GET /servers"], 2);
    assert_eq!(counters[RW]["GET /images/{id}"], 1);
    assert_eq!(counters["-"]["GET /servers"], 1);
    let state = get_json(&s.http, format!("{control}/state/hetzner"), None).await;
    assert_eq!(state["projects"][0]["name"], "main");
    assert_eq!(ids(&state["projects"][0]["images"]), vec![9001, 9002, 9003]);
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn demo_seed_serves_a_small_fleet() {
    let seed = Seed::demo().unwrap();
    let run = sim::start(seed, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap();
    let tokens = &run.tokens[&SimProvider::Hetzner];
    assert_eq!(tokens.len(), 2);
    let rw = tokens.iter().find(|t| !t.read_only).unwrap();
    assert!(tokens.iter().any(|t| t.read_only));
    for t in tokens {
        assert_eq!(t.token.len(), 64);
        assert!(t.token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(t.token.contains("sim"));
    }
    let http = reqwest::Client::new();
    let base = run.base_url(SimProvider::Hetzner);
    let servers = get_json(
        &http,
        format!("{base}/servers?label_selector=backup%3Dtrue"),
        Some(&rw.token),
    )
    .await;
    assert_eq!(servers["servers"].as_array().unwrap().len(), 2);
    let snaps = get_json(
        &http,
        format!("{base}/images?type=snapshot"),
        Some(&rw.token),
    )
    .await;
    let descs = strings(&snaps["images"], "description");
    assert!(descs.iter().any(|d| d == "before-upgrade"), "{descs:?}");
    let records = run.core.requests();
    spec::assert_contract(&records);
    run.stop().await;
}
