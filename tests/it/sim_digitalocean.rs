//! The simulated DigitalOcean API, in process: every served operation, page
//! links, the pessimistic droplet-snapshot case, lock/busy, auth bodies, both
//! rate limits with their headers, transport and semantic faults, counters,
//! and a contract test of every recorded exchange against the spec.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use snapkeeper::clock::Clock;
use snapkeeper::sim::{FaultRule, Seed, SimProvider, start};

use crate::harness::rw_ro_entry;
use crate::sim_support::strings;
use crate::sim_support::{On, get_json, seed};
use crate::spec;

const RW: &str = "dop_v1_51a0000000000000000000000000000000000000000000000000000000000aa1";
const RO: &str = "dop_v1_51a0000000000000000000000000000000000000000000000000000000000aa2";
const OTHER: &str = "dop_v1_51a0000000000000000000000000000000000000000000000000000000000bb1";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A seed with two accounts. A droplet snapshot of `web-1` (25 GB) takes
/// 20 + 2*25 = 70 simulated seconds.
fn seed_yaml(settings: &str, extra_droplets: usize) -> String {
    let extra: String = (0..extra_droplets)
        .map(|i| {
            format!(
                "        - {{id: {}, name: extra-{i}, region: nyc3, tags: [many]}}\n",
                500 + i
            )
        })
        .collect();
    let entry = rw_ro_entry("digitalocean", "team-a", RW, RO);
    format!(
        r#"
settings: {settings}
digitalocean:
  accounts:
{entry}      droplets:
        - id: 101
          name: web-1
          region: nyc3
          tags: [backup, web]
          snapshots:
            - {{id: "9001", name: before-upgrade, created_at: 2026-01-01T00:00:00Z}}
        - {{id: 102, name: DB-1, region: nyc3, disk: 80, tags: [backup]}}
        - {{id: 103, name: scratch, region: ams3}}
{extra}      volumes:
        - id: 11111111-2222-4333-8444-555555555555
          name: pgdata
          region: nyc3
          size_gigabytes: 100
          attached_to: DB-1
          tags: [backup]
          snapshots:
            - {{id: 0f0f0f0f-1111-4222-8333-444444444444, name: before-migration}}
        - {{id: 99999999-2222-4333-8444-555555555555, name: other-vol, region: fra1}}
      load_balancers: [{{name: lb-1, droplets: [web-1]}}]
      firewalls: [{{name: fw-1, tags: [backup]}}]
      kubernetes_clusters: [{{name: k8s-1}}]
      cdn_endpoints: [{{origin: assets.nyc3.digitaloceanspaces.com}}]
    - name: team-b
      tokens:
        - {{token: {OTHER}}}
      droplets:
        - {{id: 201, name: web-1, region: nyc3, tags: [backup]}}
"#
    )
}

/// The shared simulator client (`sim_support`) with DigitalOcean's
/// shortcuts: answers as (status, headers, JSON body), a non-JSON body
/// failing the test.
struct DigitalOcean;
type Sim = On<DigitalOcean>;

impl Sim {
    async fn start(yaml: &str) -> Self {
        Self::boot(SimProvider::Digitalocean, seed(yaml), t0()).await
    }

    async fn default() -> Self {
        Self::start(&seed_yaml("{}", 0)).await
    }

    async fn call(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let a = self.0.call(method, path, token, body).await;
        let body = if a.text.is_empty() {
            Value::Null
        } else {
            a.json()
        };
        (a.status, a.headers, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, b) = self.call(Method::GET, Some(RW), path, None).await;
        (s, b)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.call(Method::POST, Some(RW), path, Some(body)).await;
        (s, b)
    }

    async fn snapshot_droplet(&self, id: u64, name: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/v2/droplets/{id}/actions"),
            json!({"type": "snapshot", "name": name}),
        )
        .await
    }

    async fn fault(&self, rule: Value) {
        let rule: FaultRule = serde_json::from_value(rule).unwrap();
        self.running.core.add_fault(rule);
    }
}

fn ids(list: &Value, key: &str) -> Vec<Value> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].clone())
        .collect()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    strings(&list[key], "name")
}

#[tokio::test]
async fn droplets_list_filter_and_get() {
    let sim = Sim::default().await;
    let (s, all) = sim.get("/v2/droplets").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&all, "droplets"), [json!(101), json!(102), json!(103)]);
    assert_eq!(all["meta"]["total"], 3);
    assert_eq!(all["links"], json!({}));
    let d = &all["droplets"][0];
    assert_eq!(d["locked"], false);
    assert_eq!(d["snapshot_ids"], json!([9001]));
    assert_eq!(d["region"]["slug"], "nyc3");

    let (_, tagged) = sim.get("/v2/droplets?tag_name=backup").await;
    assert_eq!(ids(&tagged, "droplets"), [json!(101), json!(102)]);
    // Name is exact and case-insensitive.
    let (_, named) = sim.get("/v2/droplets?name=db-1").await;
    assert_eq!(ids(&named, "droplets"), [json!(102)]);
    let (_, none) = sim.get("/v2/droplets?name=db").await;
    assert_eq!(none["meta"]["total"], 0);
    // tag_name can not be combined with name.
    let (s, err) = sim.get("/v2/droplets?tag_name=backup&name=web-1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["id"], "bad_request");
    let (_, gpus) = sim.get("/v2/droplets?type=gpus").await;
    assert_eq!(gpus["meta"]["total"], 0);

    let (s, one) = sim.get("/v2/droplets/102").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["droplet"]["name"], "DB-1");
    assert_eq!(
        one["droplet"]["volume_ids"],
        json!(["11111111-2222-4333-8444-555555555555"])
    );
    // Another account's droplet does not exist for this token.
    let (s, err) = sim.get("/v2/droplets/201").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err["id"], "not_found");
    assert!(err["request_id"].is_string());
    let (s, _) = sim.get("/v2/droplets/abc").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, b) = sim
        .call(Method::GET, Some(OTHER), "/v2/droplets", None)
        .await;
    assert_eq!(ids(&b, "droplets"), [json!(201)]);
}

#[tokio::test]
async fn volumes_list_filter_and_get() {
    let sim = Sim::default().await;
    let (_, all) = sim.get("/v2/volumes").await;
    assert_eq!(names(&all, "volumes"), ["pgdata", "other-vol"]);
    assert_eq!(all["volumes"][0]["droplet_ids"], json!([102]));
    let (_, by_region) = sim.get("/v2/volumes?region=fra1").await;
    assert_eq!(names(&by_region, "volumes"), ["other-vol"]);
    let (_, by_name) = sim.get("/v2/volumes?name=pgdata&region=nyc3").await;
    assert_eq!(names(&by_name, "volumes"), ["pgdata"]);
    // The spec has no tag filter on volumes: tag_name is ignored.
    let (_, tagged) = sim.get("/v2/volumes?tag_name=backup").await;
    assert_eq!(tagged["meta"]["total"], 2);
    let (s, v) = sim
        .get("/v2/volumes/11111111-2222-4333-8444-555555555555")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["volume"]["size_gigabytes"], 100);
    let (s, _) = sim.get("/v2/volumes/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pagination_over_more_than_three_pages() {
    let sim = Sim::start(&seed_yaml("{}", 7)).await;
    let (_, first) = sim.get("/v2/droplets?tag_name=many&per_page=2").await;
    assert_eq!(first["meta"]["total"], 7);
    let pages = first["links"]["pages"].as_object().unwrap();
    assert!(!pages.contains_key("first") && !pages.contains_key("prev"));
    let host = sim.running.addr.to_string();
    assert_eq!(
        pages["last"],
        format!("http://{host}/digitalocean/v2/droplets?page=4&per_page=2&tag_name=many")
    );
    let mut seen = ids(&first, "droplets");
    let mut next = pages["next"].as_str().map(str::to_string);
    let mut hops = 0;
    while let Some(url) = next {
        let (s, page) = sim.get(&url).await;
        assert_eq!(s, StatusCode::OK);
        seen.extend(ids(&page, "droplets"));
        let p = &page["links"]["pages"];
        assert!(p["first"].is_string() && p["prev"].is_string());
        next = p["next"].as_str().map(str::to_string);
        hops += 1;
    }
    assert_eq!(hops, 3);
    let want: Vec<Value> = (500..507).map(|i| json!(i)).collect();
    assert_eq!(seen, want);
    // The last page has no next/last.
    let (_, last) = sim
        .get("/v2/droplets?tag_name=many&per_page=2&page=4")
        .await;
    let p = last["links"]["pages"].as_object().unwrap();
    assert!(!p.contains_key("next") && !p.contains_key("last"));
    // Beyond the end: empty, still with first/prev.
    let (_, beyond) = sim
        .get("/v2/droplets?tag_name=many&per_page=2&page=9")
        .await;
    assert_eq!(beyond["droplets"], json!([]));
}

#[tokio::test]
async fn page_size_limits() {
    let sim = Sim::start(&seed_yaml("{}", 7)).await;
    // Above 200: capped at 200 like the real API, everything on one page.
    let (s, big) = sim.get("/v2/droplets?per_page=500").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(big["droplets"].as_array().unwrap().len(), 10);
    assert_eq!(big["links"], json!({}));
    // Default 20.
    let (_, def) = sim.get("/v2/droplets").await;
    assert_eq!(def["droplets"].as_array().unwrap().len(), 10);
    for bad in ["per_page=0", "per_page=-1", "per_page=x", "page=0"] {
        let (s, err) = sim.get(&format!("/v2/droplets?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(err["id"], "bad_request");
        assert!(err["message"].as_str().unwrap().contains("page"));
    }
}

#[tokio::test]
async fn droplet_snapshot_create_complete_list_tag_delete() {
    let sim = Sim::default().await;
    let (s, created) = sim.snapshot_droplet(101, "sk-nightly-1").await;
    assert_eq!(s, StatusCode::CREATED);
    let action = &created["action"];
    assert_eq!(action["status"], "in-progress");
    assert_eq!(action["type"], "snapshot");
    assert_eq!(action["resource_id"], 101);
    assert_eq!(action["completed_at"], Value::Null);
    assert_eq!(action["started_at"], "2026-03-01T12:00:00Z");
    let aid = action["id"].as_u64().unwrap();

    // While it runs: locked, and the snapshot is listed nowhere.
    sim.advance(30);
    let (_, d) = sim.get("/v2/droplets/101").await;
    assert_eq!(d["droplet"]["locked"], true);
    assert_eq!(d["droplet"]["snapshot_ids"], json!([9001]));
    let (_, all) = sim.get("/v2/snapshots?resource_type=droplet").await;
    assert_eq!(names(&all, "snapshots"), ["before-upgrade"]);
    let (_, ds) = sim.get("/v2/droplets/101/snapshots").await;
    assert_eq!(names(&ds, "snapshots"), ["before-upgrade"]);
    let (_, imgs) = sim.get("/v2/images?private=true").await;
    assert_eq!(names(&imgs, "images"), ["before-upgrade"]);
    // A second action answers 422 pending event.
    let (s, err) = sim.snapshot_droplet(101, "again").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err["message"], "Droplet already has a pending event.",
        "{err}"
    );
    assert_eq!(err["id"], "unprocessable_entity");
    let (_, a) = sim.get(&format!("/v2/actions/{aid}")).await;
    assert_eq!(a["action"]["status"], "in-progress");

    // 70 s after the start it is done.
    sim.advance(40);
    let (_, a) = sim.get(&format!("/v2/droplets/101/actions/{aid}")).await;
    assert_eq!(a["action"]["status"], "completed");
    assert_eq!(a["action"]["completed_at"], "2026-03-01T12:01:10Z");
    let (_, list) = sim.get("/v2/droplets/101/actions").await;
    assert_eq!(ids(&list, "actions"), [json!(aid)]);
    let (_, all_actions) = sim.get("/v2/actions").await;
    assert_eq!(ids(&all_actions, "actions"), [json!(aid)]);
    let (_, d) = sim.get("/v2/droplets/101").await;
    assert_eq!(d["droplet"]["locked"], false);

    let (_, ds) = sim.get("/v2/droplets/101/snapshots").await;
    assert_eq!(names(&ds, "snapshots"), ["before-upgrade", "sk-nightly-1"]);
    let new = &ds["snapshots"][1];
    let id = new["id"].as_u64().expect("integer id in droplet snapshots");
    assert_eq!(new["created_at"], "2026-03-01T12:00:00Z");
    assert_eq!(new["type"], "snapshot");
    let (_, all) = sim.get("/v2/snapshots?resource_type=droplet").await;
    let listed = &all["snapshots"].as_array().unwrap()[1];
    assert_eq!(listed["id"], json!(id.to_string()));
    assert_eq!(listed["resource_id"], "101");
    assert_eq!(listed["resource_type"], "droplet");
    let (_, imgs) = sim.get("/v2/images?private=true").await;
    assert_eq!(imgs["images"][1]["id"], json!(id));
    assert_eq!(imgs["images"][1]["public"], false);
    let (_, d) = sim.get("/v2/droplets/101").await;
    assert_eq!(d["droplet"]["snapshot_ids"], json!([9001, id]));

    // Tag it: create the tag, then tag the image.
    let (s, tag) = sim.post("/v2/tags", json!({"name": "snapkeeper"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(tag["tag"]["name"], "snapkeeper");
    let (s, _) = sim.post("/v2/tags", json!({"name": "snapkeeper"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = sim
        .post(
            "/v2/tags/snapkeeper/resources",
            json!({"resources": [{"resource_id": id.to_string(), "resource_type": "image"}]}),
        )
        .await;
    assert_eq!((s, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, one) = sim.get(&format!("/v2/snapshots/{id}")).await;
    assert_eq!(one["snapshot"]["tags"], json!(["snapkeeper"]));
    let (_, tagged) = sim.get("/v2/images?private=true&tag_name=snapkeeper").await;
    assert_eq!(names(&tagged, "images"), ["sk-nightly-1"]);
    let (_, t) = sim.get("/v2/tags/snapkeeper").await;
    assert_eq!(t["tag"]["resources"]["count"], 1);
    let (s, _) = sim
        .post(
            "/v2/tags/snapkeeper/resources",
            json!({"resources": [{"resource_id": "424242", "resource_type": "image"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = sim
        .post(
            "/v2/tags/nosuchtag/resources",
            json!({"resources": [{"resource_id": id.to_string(), "resource_type": "image"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Delete: 204 with no body, then gone everywhere.
    let (s, _, body) = sim
        .call(
            Method::DELETE,
            Some(RW),
            &format!("/v2/snapshots/{id}"),
            None,
        )
        .await;
    assert_eq!((s, body), (StatusCode::NO_CONTENT, Value::Null));
    let (s, _) = sim.get(&format!("/v2/snapshots/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, ds) = sim.get("/v2/droplets/101/snapshots").await;
    assert_eq!(names(&ds, "snapshots"), ["before-upgrade"]);
    let (s, _, _) = sim
        .call(
            Method::DELETE,
            Some(RW),
            &format!("/v2/snapshots/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A public image is not a snapshot.
    let (s, err) = sim.get("/v2/snapshots/160000001").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "the resource is not a snapshot");
}

#[tokio::test]
async fn droplet_action_bodies_and_default_name() {
    let sim = Sim::default().await;
    let (s, err) = sim
        .post("/v2/droplets/101/actions", json!({"type": "reboot"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"].as_str().unwrap().contains("reboot"));
    let (s, _) = sim
        .post("/v2/droplets/101/actions", json!({"type": "explode"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = sim
        .post("/v2/droplets/999/actions", json!({"type": "snapshot"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = sim
        .call(Method::POST, Some(RW), "/v2/droplets/101/actions", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Without a name DO names it <droplet>-<unix ms>.
    let (s, _) = sim
        .post("/v2/droplets/101/actions", json!({"type": "snapshot"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    sim.advance(3600);
    let (_, ds) = sim.get("/v2/droplets/101/snapshots").await;
    assert_eq!(
        ds["snapshots"][1]["name"],
        format!("web-1-{}", t0().timestamp_millis())
    );
}

#[tokio::test]
async fn seeded_in_progress_snapshot_locks_and_stays_hidden() {
    let yaml = format!(
        r#"
digitalocean:
  accounts:
    - name: a
      tokens: [{{token: {RW}}}]
      droplets:
        - id: 7
          name: busy
          snapshots:
            - {{name: half-done, status: in_progress, created_at: 2026-03-01T11:59:30Z}}
"#
    );
    let sim = Sim::start(&yaml).await;
    let (_, d) = sim.get("/v2/droplets/7").await;
    assert_eq!(d["droplet"]["locked"], true);
    let (_, all) = sim.get("/v2/snapshots").await;
    assert_eq!(all["meta"]["total"], 0);
    let (_, acts) = sim.get("/v2/droplets/7/actions").await;
    assert_eq!(acts["actions"][0]["status"], "in-progress");
    sim.advance(60);
    let (_, all) = sim.get("/v2/snapshots").await;
    assert_eq!(names(&all, "snapshots"), ["half-done"]);
    assert_eq!(all["snapshots"][0]["created_at"], "2026-03-01T11:59:30Z");
}

#[tokio::test]
async fn volume_snapshots_create_list_limit_delete() {
    let sim = Sim::default().await;
    let vol = "11111111-2222-4333-8444-555555555555";
    let (s, created) = sim
        .post(
            &format!("/v2/volumes/{vol}/snapshots"),
            json!({"name": "sk-vol-1", "tags": ["snapkeeper", "backup"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let snap = &created["snapshot"];
    assert_eq!(snap["resource_id"], vol);
    assert_eq!(snap["resource_type"], "volume");
    assert_eq!(snap["tags"], json!(["snapkeeper", "backup"]));
    assert_eq!(snap["created_at"], "2026-03-01T12:00:00Z");
    assert_eq!(snap["min_disk_size"], 100);
    let sid = snap["id"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 36);

    let (_, list) = sim.get(&format!("/v2/volumes/{vol}/snapshots")).await;
    assert_eq!(names(&list, "snapshots"), ["before-migration", "sk-vol-1"]);
    let (_, vols) = sim.get("/v2/snapshots?resource_type=volume").await;
    assert_eq!(vols["meta"]["total"], 2);
    let (_, drops) = sim.get("/v2/snapshots?resource_type=droplet").await;
    assert_eq!(drops["meta"]["total"], 1);
    let (s, _) = sim.get("/v2/snapshots?resource_type=server").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Tag created implicitly; tag a volume snapshot by type volume_snapshot.
    let (s, _) = sim.get("/v2/tags/snapkeeper").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = sim.post("/v2/tags", json!({"name": "keep"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = sim
        .post(
            "/v2/tags/keep/resources",
            json!({"resources": [{"resource_id": sid, "resource_type": "volume_snapshot"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, one) = sim.get(&format!("/v2/snapshots/{sid}")).await;
    assert_eq!(
        one["snapshot"]["tags"],
        json!(["snapkeeper", "backup", "keep"])
    );

    // name is required.
    let (s, err) = sim
        .post(&format!("/v2/volumes/{vol}/snapshots"), json!({"tags": []}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["id"], "bad_request");
    let (s, _) = sim
        .post("/v2/volumes/nope/snapshots", json!({"name": "x"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Up to 25 per volume; the 26th is refused.
    for i in 2..25 {
        let (s, _) = sim
            .post(
                &format!("/v2/volumes/{vol}/snapshots"),
                json!({"name": format!("fill-{i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "snapshot {i}");
    }
    let (s, err) = sim
        .post(
            &format!("/v2/volumes/{vol}/snapshots"),
            json!({"name": "one-too-many"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"].as_str().unwrap().contains("25"), "{err}");

    let (s, _, _) = sim
        .call(
            Method::DELETE,
            Some(RW),
            &format!("/v2/snapshots/{sid}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = sim
        .post(
            &format!("/v2/volumes/{vol}/snapshots"),
            json!({"name": "fits-again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // The volume-only paths see volume snapshots, not droplet ones.
    let (_, list) = sim
        .get(&format!("/v2/volumes/{vol}/snapshots?per_page=200"))
        .await;
    let last = list["snapshots"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["name"], "fits-again");
    let vsid = last["id"].as_str().unwrap();
    let (s, one) = sim.get(&format!("/v2/volumes/snapshots/{vsid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["snapshot"]["name"], "fits-again");
    let (s, _) = sim.get("/v2/volumes/snapshots/9001").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = sim
        .call(Method::DELETE, Some(RW), "/v2/volumes/snapshots/9001", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = sim
        .call(
            Method::DELETE,
            Some(RW),
            &format!("/v2/volumes/snapshots/{vsid}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = sim.get(&format!("/v2/snapshots/{vsid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn auth_bodies_and_read_only_tokens() {
    let sim = Sim::default().await;
    let want401 = json!({"id": "unauthorized", "message": "Unable to authenticate you."});
    for token in [None, Some("dop_v1_wrong")] {
        let (s, h, b) = sim.call(Method::GET, token, "/v2/droplets", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(
            (b["id"].clone(), b["message"].clone()),
            (want401["id"].clone(), want401["message"].clone())
        );
        assert!(h.contains_key("ratelimit-limit"));
    }
    let (s, _, _) = sim.call(Method::GET, Some(RO), "/v2/droplets", None).await;
    assert_eq!(s, StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            "/v2/droplets/101/actions",
            Some(json!({"type": "snapshot"})),
        ),
        (Method::DELETE, "/v2/snapshots/9001", None),
        (Method::POST, "/v2/tags", Some(json!({"name": "x"}))),
    ] {
        let (s, h, b) = sim.call(method, Some(RO), path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(b["id"], "forbidden");
        assert_eq!(
            b["message"],
            "You do not have access for the attempted action."
        );
        assert!(h.contains_key("ratelimit-remaining"));
    }
    // Nothing was changed by the refused writes.
    let (_, d) = sim.get("/v2/droplets/101").await;
    assert_eq!(d["droplet"]["locked"], false);
    let (s, _) = sim.get("/v2/snapshots/9001").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn burst_limit_429_with_retry_after() {
    // 5,000/h and 250/min scaled by 0.02: 100/h and 5/min.
    let sim = Sim::start(&seed_yaml("{rate_limit_factor: 0.02}", 0)).await;
    for i in 0..5u64 {
        let (s, h, _) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["ratelimit-limit"], "100");
        assert_eq!(h["ratelimit-remaining"], (99 - i).to_string().as_str());
        assert_eq!(
            h["ratelimit-reset"],
            (t0().timestamp() + 3600).to_string().as_str()
        );
        assert!(!h.contains_key("retry-after"));
    }
    let (s, h, b) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b["id"], "too_many_requests");
    assert_eq!(b["message"], "API Rate limit exceeded.");
    assert_eq!(h["ratelimit-remaining"], "0");
    assert_eq!(h["retry-after"], "60");
    // Another token has its own windows.
    let (s, _, _) = sim
        .call(Method::GET, Some(OTHER), "/v2/droplets", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    sim.advance(61);
    let (s, h, _) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["ratelimit-remaining"], "94");
}

#[tokio::test]
async fn hourly_limit_429_slides() {
    // Scaled by 0.002: 10/h and 1/min (never below 1).
    let sim = Sim::start(&seed_yaml("{rate_limit_factor: 0.002}", 0)).await;
    for _ in 0..10 {
        let (s, _, _) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
        assert_eq!(s, StatusCode::OK);
        sim.advance(61);
    }
    let (s, h, b) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b["id"], "too_many_requests");
    assert!(
        !h.contains_key("retry-after"),
        "hourly limit: no retry-after"
    );
    assert_eq!(h["ratelimit-remaining"], "0");
    // The oldest request (at t0) leaves the window at t0 + 1h.
    assert_eq!(
        h["ratelimit-reset"],
        (t0().timestamp() + 3600).to_string().as_str()
    );
    sim.advance(3600 - 610);
    let (s, h, _) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h["ratelimit-reset"],
        (t0().timestamp() + 61 + 3600).to_string().as_str()
    );
}

#[tokio::test]
async fn transport_faults() {
    let sim = Sim::default().await;
    sim.fault(json!({"provider": "digitalocean", "path": "/v2/droplets", "kind": {"status": 503}, "count": 2}))
        .await;
    for _ in 0..2 {
        let (s, h, b) = sim.call(Method::GET, Some(RW), "/v2/droplets", None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(b["id"], "service_unavailable");
        assert!(
            h.contains_key("ratelimit-limit"),
            "headers on injected faults too"
        );
    }
    let (s, _) = sim.get("/v2/droplets").await;
    assert_eq!(s, StatusCode::OK);

    sim.fault(json!({"path": "/v2/volumes", "kind": {"slow_ms": 200}, "count": 1}))
        .await;
    let started = std::time::Instant::now();
    let (s, _) = sim.get("/v2/volumes").await;
    assert_eq!(s, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));

    sim.fault(json!({"path": "/v2/snapshots", "kind": "malformed", "count": 1}))
        .await;
    let text = sim
        .http
        .get(format!("{}/v2/snapshots", sim.base))
        .bearer_auth(RW)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());

    sim.fault(json!({"path": "/v2/images", "kind": "reset", "count": 1}))
        .await;
    let res = async {
        sim.http
            .get(format!("{}/v2/images", sim.base))
            .bearer_auth(RW)
            .send()
            .await?
            .text()
            .await
    }
    .await;
    assert!(res.is_err(), "reset: the client sees an error");

    sim.fault(json!({"path": "/v2/tags/*", "kind": "timeout", "count": 1}))
        .await;
    let res = sim
        .raw_get("/v2/tags/backup", RW, Some(Duration::from_millis(500)))
        .await;
    assert!(res.unwrap_err().is_timeout());
    // After the counted faults ran out everything answers normally.
    let (s, _) = sim.get("/v2/tags/backup").await;
    assert_eq!(s, StatusCode::OK);
    // (No graceful stop: the timed-out request is still held open.)
}

#[tokio::test]
async fn action_error_and_stuck() {
    let sim = Sim::default().await;
    sim.fault(json!({"provider": "digitalocean", "path": "/v2/droplets/*/actions", "resource": "101", "kind": "action_error", "count": 1}))
        .await;
    let (s, a) = sim.snapshot_droplet(101, "doomed").await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(a["action"]["status"], "in-progress");
    let aid = a["action"]["id"].as_u64().unwrap();
    sim.advance(600);
    let (_, a) = sim.get(&format!("/v2/actions/{aid}")).await;
    assert_eq!(a["action"]["status"], "errored");
    assert!(a["action"]["completed_at"].is_string());
    let (_, ds) = sim.get("/v2/droplets/101/snapshots").await;
    assert_eq!(names(&ds, "snapshots"), ["before-upgrade"]);
    let (_, d) = sim.get("/v2/droplets/101").await;
    assert_eq!(d["droplet"]["locked"], false);

    sim.fault(json!({"path": "/v2/droplets/*/actions", "kind": "action_stuck", "count": 1}))
        .await;
    let (_, a) = sim.snapshot_droplet(102, "forever").await;
    let aid = a["action"]["id"].as_u64().unwrap();
    sim.advance(86_400 * 7);
    let (_, a) = sim.get(&format!("/v2/actions/{aid}")).await;
    assert_eq!(a["action"]["status"], "in-progress");
    let (_, d) = sim.get("/v2/droplets/102").await;
    assert_eq!(d["droplet"]["locked"], true);
    let (s, _) = sim.snapshot_droplet(102, "blocked").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, all) = sim.get("/v2/snapshots?resource_type=droplet").await;
    assert_eq!(all["meta"]["total"], 1);
}

#[tokio::test]
async fn busy_and_quota_faults() {
    let sim = Sim::default().await;
    sim.fault(json!({"path": "/v2/droplets/{droplet_id}/actions", "kind": "busy", "count": 1}))
        .await;
    let (s, err) = sim.snapshot_droplet(101, "first-try").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["message"], "Droplet already has a pending event.");
    let (_, d) = sim.get("/v2/droplets/101").await;
    assert_eq!(d["droplet"]["locked"], false);
    let (s, _) = sim.snapshot_droplet(101, "second-try").await;
    assert_eq!(s, StatusCode::CREATED);

    sim.fault(json!({"kind": "quota", "count": 2})).await;
    let (s, err) = sim.snapshot_droplet(102, "over-quota").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"].as_str().unwrap().contains("snapshot limit"));
    let (_, d) = sim.get("/v2/droplets/102").await;
    assert_eq!(d["droplet"]["locked"], false);
    let (s, err) = sim
        .post(
            "/v2/volumes/11111111-2222-4333-8444-555555555555/snapshots",
            json!({"name": "over-quota"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"].as_str().unwrap().contains("snapshot limit"));
}

#[tokio::test]
async fn inventory_images_and_tags() {
    let sim = Sim::default().await;
    for (path, key, name_field, want) in [
        ("/v2/load_balancers", "load_balancers", "name", "lb-1"),
        ("/v2/firewalls", "firewalls", "name", "fw-1"),
        (
            "/v2/kubernetes/clusters",
            "kubernetes_clusters",
            "name",
            "k8s-1",
        ),
        (
            "/v2/cdn/endpoints",
            "endpoints",
            "origin",
            "assets.nyc3.digitaloceanspaces.com",
        ),
    ] {
        let (s, b) = sim.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(b["meta"]["total"], 1, "{path}");
        assert_eq!(b[key][0][name_field], want, "{path}");
    }
    let (_, lb) = sim.get("/v2/load_balancers").await;
    assert_eq!(lb["load_balancers"][0]["droplet_ids"], json!([101]));
    // The other account sees an empty inventory.
    let (_, _, b) = sim
        .call(Method::GET, Some(OTHER), "/v2/firewalls", None)
        .await;
    assert_eq!(b["meta"]["total"], 0);

    let (_, all) = sim.get("/v2/images").await;
    assert_eq!(all["meta"]["total"], 3);
    let (_, dist) = sim.get("/v2/images?type=distribution").await;
    assert_eq!(dist["meta"]["total"], 2);
    let (_, app) = sim.get("/v2/images?type=application").await;
    assert_eq!(app["meta"]["total"], 0);

    let (_, tags) = sim.get("/v2/tags").await;
    let tag_names = names(&tags, "tags");
    assert!(tag_names.contains(&"backup".to_string()), "{tag_names:?}");
    let (_, backup) = sim.get("/v2/tags/backup").await;
    assert_eq!(backup["tag"]["resources"]["droplets"]["count"], 2);
    assert_eq!(backup["tag"]["resources"]["volumes"]["count"], 1);
    let (s, _) = sim.get("/v2/tags/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = sim.post("/v2/tags", json!({"name": "bad name!"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["root_causes"].is_array());

    // Unknown paths under the prefix get DO's 404 body and the headers.
    let (s, h, b) = sim
        .call(Method::GET, Some(RW), "/v2/nothing-here", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b["id"], "not_found");
    assert!(h.contains_key("ratelimit-reset"));
}

#[tokio::test]
async fn counters_and_state_dump() {
    let sim = Sim::default().await;
    sim.get("/v2/droplets").await;
    sim.get("/v2/droplets").await;
    sim.get("/v2/droplets/101").await;
    sim.snapshot_droplet(101, "counted").await;
    let control = sim.running.control_url();
    let counters = get_json(&sim.http, format!("{control}/counters"), None).await;
    let mine = &counters[RW];
    assert_eq!(mine["GET /v2/droplets"], 2);
    assert_eq!(mine["GET /v2/droplets/{droplet_id}"], 1);
    assert_eq!(mine["POST /v2/droplets/{droplet_id}/actions"], 1);
    let state = get_json(&sim.http, format!("{control}/state/digitalocean"), None).await;
    let acts = &state["accounts"]["team-a"]["actions"];
    assert_eq!(acts[0]["snapshot_name"], "counted");
    assert_eq!(acts[0]["status"], "in-progress");
    sim.0.running.stop().await;
}

#[tokio::test]
async fn demo_seed_serves_its_tokens() {
    let running = start(
        Seed::demo().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Clock::system(),
    )
    .await
    .unwrap();
    let tokens = &running.tokens[&SimProvider::Digitalocean];
    assert_eq!(tokens.len(), 2);
    let rw = tokens.iter().find(|t| !t.read_only).unwrap();
    assert!(rw.token.starts_with("dop_v1_") && rw.token.len() == 71);
    let http = Client::new();
    let body = get_json(
        &http,
        format!(
            "{}/v2/droplets?tag_name=backup",
            running.base_url(SimProvider::Digitalocean)
        ),
        Some(&rw.token),
    )
    .await;
    assert_eq!(body["meta"]["total"], 2);
    let snaps = get_json(
        &http,
        format!(
            "{}/v2/snapshots",
            running.base_url(SimProvider::Digitalocean)
        ),
        Some(&rw.token),
    )
    .await;
    let got = strings(&snaps["snapshots"], "name");
    assert_eq!(got, ["before-upgrade", "before-migration"]);
    running.stop().await;
}

/// Every operation served, success and error statuses, then every recorded
/// exchange is checked against the DigitalOcean spec.
#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn contract_every_exchange_matches_the_spec() {
    let sim = Sim::start(&seed_yaml("{}", 3)).await;
    let vol = "11111111-2222-4333-8444-555555555555";
    // Reads, with filters and paging.
    for path in [
        "/v2/droplets",
        "/v2/droplets?per_page=2&page=2",
        "/v2/droplets?tag_name=backup",
        "/v2/droplets?name=web-1",
        "/v2/droplets?type=droplets",
        "/v2/droplets/101",
        "/v2/droplets/999",
        "/v2/droplets/101/snapshots",
        "/v2/droplets/101/actions",
        "/v2/volumes",
        "/v2/volumes?name=pgdata&region=nyc3",
        "/v2/volumes/11111111-2222-4333-8444-555555555555",
        "/v2/volumes/00000000-0000-4000-8000-000000000000",
        "/v2/volumes/11111111-2222-4333-8444-555555555555/snapshots",
        "/v2/snapshots",
        "/v2/snapshots?resource_type=volume&per_page=1",
        "/v2/snapshots/9001",
        "/v2/snapshots/0f0f0f0f-1111-4222-8333-444444444444",
        "/v2/snapshots/160000001",
        "/v2/snapshots/12345",
        "/v2/images",
        "/v2/images?private=true",
        "/v2/images?type=distribution",
        "/v2/images?tag_name=backup",
        "/v2/load_balancers",
        "/v2/firewalls",
        "/v2/kubernetes/clusters",
        "/v2/cdn/endpoints",
        "/v2/tags",
        "/v2/tags/backup",
        "/v2/tags/missing",
        "/v2/actions",
        "/v2/droplets?per_page=0",
    ] {
        sim.get(path).await;
    }
    // Writes, success and refusals.
    let (_, a) = sim.snapshot_droplet(101, "contract-1").await;
    let aid = a["action"]["id"].as_u64().unwrap();
    sim.snapshot_droplet(101, "contract-busy").await;
    sim.post("/v2/droplets/101/actions", json!({"type": "reboot"}))
        .await;
    sim.post("/v2/droplets/999/actions", json!({"type": "snapshot"}))
        .await;
    sim.get(&format!("/v2/actions/{aid}")).await;
    sim.get(&format!("/v2/droplets/101/actions/{aid}")).await;
    sim.get("/v2/actions/1").await;
    sim.get("/v2/droplets/101/actions/1").await;
    sim.advance(3600);
    sim.get(&format!("/v2/actions/{aid}")).await;
    let (_, ds) = sim.get("/v2/droplets/101/snapshots").await;
    let new_id = ds["snapshots"][1]["id"].as_u64().unwrap().to_string();
    sim.get("/v2/images?private=true").await;
    let (_, vs) = sim
        .post(
            &format!("/v2/volumes/{vol}/snapshots"),
            json!({"name": "contract-vol", "tags": ["snapkeeper"]}),
        )
        .await;
    let vsid = vs["snapshot"]["id"].as_str().unwrap().to_string();
    sim.post(
        &format!("/v2/volumes/{vol}/snapshots"),
        json!({"tags": null}),
    )
    .await;
    sim.post("/v2/tags", json!({"name": "snapkeeper"})).await;
    sim.post("/v2/tags", json!({"name": "not valid"})).await;
    sim.post(
        "/v2/tags/snapkeeper/resources",
        json!({"resources": [
            {"resource_id": new_id, "resource_type": "image"},
            {"resource_id": vsid, "resource_type": "volume_snapshot"},
            {"resource_id": "101", "resource_type": "droplet"},
            {"resource_id": vol, "resource_type": "volume"}
        ]}),
    )
    .await;
    sim.post(
        "/v2/tags/snapkeeper/resources",
        json!({"resources": [{"resource_id": "777", "resource_type": "image"}]}),
    )
    .await;
    sim.get("/v2/tags/snapkeeper").await;
    sim.get("/v2/images?private=true&tag_name=snapkeeper").await;
    sim.get("/v2/snapshots").await;
    sim.call(
        Method::DELETE,
        Some(RW),
        &format!("/v2/snapshots/{new_id}"),
        None,
    )
    .await;
    sim.call(
        Method::DELETE,
        Some(RW),
        &format!("/v2/snapshots/{vsid}"),
        None,
    )
    .await;
    sim.call(Method::DELETE, Some(RW), "/v2/snapshots/424242", None)
        .await;
    let (_, vs2) = sim
        .post(
            &format!("/v2/volumes/{vol}/snapshots"),
            json!({"name": "contract-vol-2"}),
        )
        .await;
    let vsid2 = vs2["snapshot"]["id"].as_str().unwrap().to_string();
    sim.get(&format!("/v2/volumes/snapshots/{vsid2}")).await;
    sim.get("/v2/volumes/snapshots/nope").await;
    sim.call(
        Method::DELETE,
        Some(RW),
        &format!("/v2/volumes/snapshots/{vsid2}"),
        None,
    )
    .await;
    sim.call(Method::DELETE, Some(RW), "/v2/volumes/snapshots/nope", None)
        .await;
    // Auth and rate-limit answers.
    sim.call(Method::GET, None, "/v2/droplets", None).await;
    sim.call(Method::DELETE, Some(RO), "/v2/snapshots/9001", None)
        .await;
    sim.fault(json!({"path": "/v2/snapshots", "kind": {"status": 500}, "count": 1}))
        .await;
    sim.get("/v2/snapshots").await;

    let records: Vec<_> = sim
        .running
        .core
        .requests()
        .into_iter()
        .filter(|r| r.provider == SimProvider::Digitalocean)
        .collect();
    let statuses: std::collections::BTreeSet<u16> = records.iter().map(|r| r.status).collect();
    for want in [200, 201, 204, 400, 401, 403, 404, 422, 500] {
        assert!(
            statuses.contains(&want),
            "no {want} exercised: {statuses:?}"
        );
    }
    // Three requests above break the spec on purpose (no `name`; a tag name
    // outside the pattern; `per_page=0`): only the simulator's answers to
    // them are checked.
    let invalid_request = |r: &snapkeeper::sim::RecordedRequest| {
        r.status == 400
            && ((r.method == "POST"
                && (r.template == "/v2/tags" || r.template == "/v2/volumes/{volume_id}/snapshots"))
                || (r.method == "GET" && r.query.as_deref() == Some("per_page=0")))
    };
    let (bad, good): (Vec<_>, Vec<_>) = records.into_iter().partition(invalid_request);
    assert_eq!(bad.len(), 3);
    let s = spec::Spec::load(SimProvider::Digitalocean);
    for r in &bad {
        s.validate_response(&r.method, &r.template, r.status, r.response_body.as_ref())
            .unwrap_or_else(|e| panic!("{} {}: {e:?}", r.method, r.path));
    }
    spec::assert_contract(&good);
    sim.0.running.stop().await;
}
