//! Proof that the contract validator (`spec.rs`) bites: for each provider's
//! spec, a hand-written known-good body passes, and the same body with a
//! field removed, mistyped or renamed fails with a message naming the field.
//! Hand-written JSON only; no simulator routes involved.

use serde_json::{Value, json};
use snapkeeper::sim::{RecordedRequest, SimProvider};

use crate::spec::{self, Spec};

/// Assert that validation failed and that some message names `field`.
fn assert_fails_naming(result: Result<(), Vec<String>>, field: &str, what: &str) {
    match result {
        Ok(()) => panic!("{what}: expected a failure naming {field:?}, but it passed"),
        Err(errors) => assert!(
            errors.iter().any(|e| e.contains(field)),
            "{what}: no message names {field:?}: {errors:#?}"
        ),
    }
}

fn assert_ok(result: Result<(), Vec<String>>, what: &str) {
    if let Err(errors) = result {
        panic!("{what}: expected to pass, got: {errors:#?}");
    }
}

/// `body` with `pointer`'s parent object changed by `f`.
fn edited(
    body: &Value,
    parent: &str,
    f: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Value {
    let mut b = body.clone();
    let obj = b
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"));
    f(obj);
    b
}

fn removed(body: &Value, parent: &str, field: &str) -> Value {
    edited(body, parent, |o| {
        o.remove(field)
            .unwrap_or_else(|| panic!("no field {field}"));
    })
}

fn retyped(body: &Value, parent: &str, field: &str, to: Value) -> Value {
    edited(body, parent, |o| {
        o.insert(field.to_string(), to);
    })
}

fn renamed(body: &Value, parent: &str, field: &str, to: &str) -> Value {
    edited(body, parent, |o| {
        let v = o
            .remove(field)
            .unwrap_or_else(|| panic!("no field {field}"));
        o.insert(to.to_string(), v);
    })
}

// ---------------------------------------------------------------- Hetzner

fn hetzner_image() -> Value {
    json!({
        "id": 4711,
        "type": "snapshot",
        "status": "available",
        "name": null,
        "description": "snapkeeper web-1 2026-11-22",
        "image_size": 2.3,
        "disk_size": 20,
        "created": "2026-11-22T03:00:00Z",
        "created_from": {"id": 42, "name": "web-1"},
        "bound_to": null,
        "os_flavor": "ubuntu",
        "os_version": "24.04",
        "rapid_deploy": false,
        "protection": {"delete": false},
        "deprecated": null,
        "deleted": null,
        "labels": {"snapkeeper": "v1"},
        "architecture": "x86"
    })
}

fn hetzner_images_page() -> Value {
    json!({
        "images": [hetzner_image()],
        "meta": {"pagination": {
            "page": 1, "per_page": 25, "previous_page": null,
            "next_page": null, "last_page": 1, "total_entries": 1
        }}
    })
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn hetzner_list_images_body_passes_and_broken_ones_fail() {
    let s = Spec::load(SimProvider::Hetzner);
    let good = hetzner_images_page();
    let check = |b: &Value| s.validate_response("GET", "/images", 200, Some(b));
    assert_ok(check(&good), "good hetzner images page");
    assert_fails_naming(
        check(&removed(&good, "/images/0", "created")),
        "created",
        "removed",
    );
    assert_fails_naming(
        check(&retyped(&good, "/images/0", "id", json!("4711"))),
        "id",
        "mistyped",
    );
    assert_fails_naming(
        check(&renamed(&good, "/images/0", "description", "desc")),
        "desc",
        "renamed",
    );
    // nullable: `name` may be null, `created` may not.
    assert_fails_naming(
        check(&retyped(&good, "/images/0", "created", Value::Null)),
        "created",
        "null where not nullable",
    );
    // An enum value the spec does not list.
    assert_fails_naming(
        check(&retyped(&good, "/images/0", "status", json!("done"))),
        "status",
        "enum",
    );
    // An unknown field nested in a `nullable` + `allOf` wrapper is caught too.
    assert_fails_naming(
        check(&retyped(
            &good,
            "/images/0",
            "created_from",
            json!({"id": 42, "name": "web-1", "server_id": 42}),
        )),
        "server_id",
        "unknown field inside nullable allOf",
    );
    // Labels are a map: any key is fine.
    assert_ok(
        check(&retyped(
            &good,
            "/images/0",
            "labels",
            json!({"any-key": "x", "snapkeeper/policy": "daily"}),
        )),
        "labels map",
    );
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn hetzner_error_body_matches_the_4xx_range() {
    let s = Spec::load(SimProvider::Hetzner);
    let err = json!({"error": {"code": "not_found", "message": "image with ID '5' not found", "details": null}});
    assert_ok(
        s.validate_response("GET", "/images/{id}", 404, Some(&err)),
        "hetzner 404 via 4xx",
    );
    assert_ok(
        s.validate_response(
            "POST",
            "/servers/{id}/actions/create_image",
            429,
            Some(&err),
        ),
        "hetzner 429 via 4xx",
    );
    assert_ok(
        s.validate_response("GET", "/images", 503, Some(&err)),
        "hetzner 503 via 5xx",
    );
    assert_fails_naming(
        s.validate_response(
            "GET",
            "/images/{id}",
            404,
            Some(&json!({"error": {"message": "gone"}})),
        ),
        "code",
        "hetzner error without code",
    );
    // A DigitalOcean-shaped error is not a Hetzner error.
    assert_fails_naming(
        s.validate_response(
            "GET",
            "/images/{id}",
            404,
            Some(&json!({"id": "not_found", "message": "gone"})),
        ),
        "error",
        "foreign error shape",
    );
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn hetzner_create_image_request_and_204_delete() {
    let s = Spec::load(SimProvider::Hetzner);
    let t = "/servers/{id}/actions/create_image";
    assert_ok(
        s.validate_request(
            "POST",
            t,
            Some(&json!({"type": "snapshot", "description": "x", "labels": {"a": "b"}})),
        ),
        "create_image request",
    );
    assert_fails_naming(
        s.validate_request("POST", t, Some(&json!({"type": "snapshot", "descr": "x"}))),
        "descr",
        "create_image request with unknown field",
    );
    assert_fails_naming(
        s.validate_request("POST", t, Some(&json!({"type": "picture"}))),
        "picture",
        "create_image request with bad enum",
    );
    // Path parameter names may differ: matched by shape.
    assert!(s.has_operation("POST", "/servers/{server_id}/actions/create_image"));
    assert_ok(
        s.validate_response("DELETE", "/images/{id}", 204, None),
        "204 empty",
    );
    assert_fails_naming(
        s.validate_response("DELETE", "/images/{id}", 204, Some(&json!({}))),
        "body",
        "204 with a body",
    );
}

// ---------------------------------------------------------------- DigitalOcean

fn do_action() -> Value {
    json!({
        "action": {
            "id": 36804636,
            "status": "in-progress",
            "type": "snapshot",
            "started_at": "2026-11-22T03:00:00Z",
            "completed_at": null,
            "resource_id": 3164444,
            "resource_type": "droplet",
            "region_slug": "nyc3"
        }
    })
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn digitalocean_droplet_action_body_passes_and_broken_ones_fail() {
    let s = Spec::load(SimProvider::Digitalocean);
    let t = "/v2/droplets/{droplet_id}/actions";
    let good = do_action();
    let check = |b: &Value| s.validate_response("POST", t, 201, Some(b));
    assert_ok(check(&good), "good droplet action");
    // DO's action schema requires nothing: removal cannot fail here (see the
    // error body test for a removed required field).
    assert_fails_naming(
        check(&retyped(&good, "/action", "resource_id", json!("3164444"))),
        "resource_id",
        "mistyped",
    );
    assert_fails_naming(
        check(&renamed(&good, "/action", "started_at", "startedAt")),
        "startedAt",
        "renamed",
    );
    assert_fails_naming(
        check(&retyped(&good, "/action", "status", json!("done"))),
        "status",
        "enum",
    );
    assert_fails_naming(
        check(&retyped(&good, "/action", "started_at", json!("yesterday"))),
        "started_at",
        "date-time format",
    );
    assert_fails_naming(
        check(&renamed(&good, "", "action", "actions")),
        "actions",
        "renamed top-level field",
    );
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn digitalocean_snapshot_action_request_body() {
    let s = Spec::load(SimProvider::Digitalocean);
    let t = "/v2/droplets/{droplet_id}/actions";
    assert_ok(
        s.validate_request("POST", t, Some(&json!({"type": "snapshot", "name": "x"}))),
        "snapshot action request",
    );
    assert_fails_naming(
        s.validate_request("POST", t, Some(&json!({"type": "snapshot", "name": 5}))),
        "name",
        "snapshot action with numeric name",
    );
    assert_fails_naming(
        s.validate_request("POST", t, Some(&json!({"name": "x"}))),
        "type",
        "snapshot action without type",
    );
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn digitalocean_error_body_matches_the_error_schema() {
    let s = Spec::load(SimProvider::Digitalocean);
    let t = "/v2/snapshots/{snapshot_id}";
    let good = json!({"id": "not_found", "message": "The resource you were accessing could not be found."});
    assert_ok(s.validate_response("GET", t, 404, Some(&good)), "do 404");
    // 418 is not declared: falls back to `default` (also the error schema).
    assert_ok(
        s.validate_response("GET", t, 418, Some(&good)),
        "do default",
    );
    assert_fails_naming(
        s.validate_response("GET", t, 404, Some(&removed(&good, "", "message"))),
        "message",
        "removed",
    );
    assert_fails_naming(
        s.validate_response("GET", t, 404, Some(&retyped(&good, "", "id", json!(404)))),
        "id",
        "mistyped",
    );
    assert_fails_naming(
        s.validate_response("GET", t, 404, Some(&renamed(&good, "", "message", "msg"))),
        "msg",
        "renamed",
    );
}

// ---------------------------------------------------------------- Vultr

fn vultr_snapshot() -> Value {
    json!({
        "snapshot": {
            "id": "cb676a46-66fd-4dfb-b839-443f2e6c0b60",
            "date_created": "2026-11-22T03:00:00+00:00",
            "description": "snapkeeper web-1",
            "size": 0,
            "status": "pending",
            "os_id": 215,
            "app_id": 0
        }
    })
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn vultr_create_snapshot_body_passes_and_broken_ones_fail() {
    let s = Spec::load(SimProvider::Vultr);
    let good = vultr_snapshot();
    let check = |b: &Value| s.validate_response("POST", "/snapshots", 201, Some(b));
    assert_ok(check(&good), "good vultr snapshot");
    // The real API also returns `compressed_size`, but this (2023) spec does
    // not declare it: the overlay reports it, as it should.
    assert_fails_naming(
        check(&retyped(&good, "/snapshot", "compressed_size", json!(0))),
        "compressed_size",
        "field the spec does not declare",
    );
    assert_fails_naming(
        check(&retyped(&good, "/snapshot", "size", json!("0"))),
        "size",
        "mistyped",
    );
    assert_fails_naming(
        check(&renamed(&good, "/snapshot", "description", "label")),
        "label",
        "renamed",
    );
    // Vultr's snapshot schema requires nothing; the request body does.
    assert_ok(
        s.validate_request(
            "POST",
            "/snapshots",
            Some(
                &json!({"instance_id": "cb676a46-66fd-4dfb-b839-443f2e6c0b60", "description": "x"}),
            ),
        ),
        "vultr create request",
    );
    assert_fails_naming(
        s.validate_request("POST", "/snapshots", Some(&json!({"description": "x"}))),
        "instance_id",
        "vultr create request without instance_id",
    );
}

// ---------------------------------------------------------------- all providers

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn unknown_operations_fail_clearly() {
    for (p, method, template) in [
        (SimProvider::Digitalocean, "POST", "/v2/foo"),
        (SimProvider::Vultr, "PATCH", "/snapshots/{snapshot-id}"),
        (SimProvider::Hetzner, "GET", "/servers/{id}/snapshots"),
    ] {
        let s = Spec::load(p);
        let want = format!("operation {method} {template} not in {} spec", p.as_str());
        assert!(!s.has_operation(method, template));
        match s.validate_response(method, template, 200, None) {
            Ok(()) => panic!("{want}: passed"),
            Err(errors) => assert_eq!(errors, vec![want.clone()]),
        }
        match s.validate_request(method, template, None) {
            Ok(()) => panic!("{want}: passed"),
            Err(errors) => assert_eq!(errors, vec![want]),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    provider: SimProvider,
    method: &str,
    template: &str,
    path: &str,
    query: Option<&str>,
    request_body: Option<Value>,
    status: u16,
    response_body: Option<Value>,
) -> RecordedRequest {
    RecordedRequest {
        provider,
        method: method.to_string(),
        template: template.to_string(),
        path: path.to_string(),
        query: query.map(str::to_string),
        request_body,
        status,
        response_body,
        response_headers: Default::default(),
        answered_ms: 0,
        user_agent: None,
        at: None,
    }
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn whole_exchanges_check_operation_query_and_bodies() {
    let good = vec![
        record(
            SimProvider::Hetzner,
            "GET",
            "/images",
            "/images",
            Some("type=snapshot&label_selector=snapkeeper%3Dv1&page=1&per_page=50"),
            None,
            200,
            Some(hetzner_images_page()),
        ),
        record(
            SimProvider::Digitalocean,
            "POST",
            "/v2/droplets/{droplet_id}/actions",
            "/v2/droplets/101/actions",
            None,
            Some(json!({"type": "snapshot", "name": "x"})),
            201,
            Some(do_action()),
        ),
        record(
            SimProvider::Vultr,
            "DELETE",
            "/snapshots/{snapshot-id}",
            "/snapshots/abc",
            None,
            None,
            204,
            None,
        ),
    ];
    assert_eq!(spec::validate_all(&good), Ok(3));
    assert_eq!(spec::assert_contract(&good), 3);

    let bad_query = record(
        SimProvider::Hetzner,
        "GET",
        "/images",
        "/images",
        Some("type=snapshot&labels=x"),
        None,
        200,
        Some(hetzner_images_page()),
    );
    let errors = spec::validate_all(&[bad_query]).expect_err("undeclared query parameter");
    assert!(
        errors.iter().any(|e| e.contains("\"labels\"")),
        "{errors:#?}"
    );

    let undeclared_status = record(
        SimProvider::Vultr,
        "GET",
        "/snapshots",
        "/snapshots",
        None,
        None,
        418,
        None,
    );
    let errors = spec::validate_all(&[undeclared_status]).expect_err("undeclared status");
    assert!(
        errors.iter().any(|e| e.contains("status not declared")),
        "{errors:#?}"
    );

    let body_on_get = record(
        SimProvider::Vultr,
        "GET",
        "/snapshots",
        "/snapshots",
        None,
        Some(json!({"x": 1})),
        200,
        Some(json!({"snapshots": [], "meta": {"total": 0, "links": {"next": "", "prev": ""}}})),
    );
    let errors = spec::validate_all(&[body_on_get]).expect_err("request body on GET");
    assert!(
        errors.iter().any(|e| e.contains("declares none")),
        "{errors:#?}"
    );
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn parameters_are_checked_by_name_and_value() {
    let d = Spec::load(SimProvider::Digitalocean);
    let t = "/v2/droplets/{droplet_id}/actions";
    assert_ok(
        d.validate_parameters(
            "GET",
            t,
            "/v2/droplets/101/actions",
            Some("page=2&per_page=50"),
        ),
        "do droplet actions parameters",
    );
    assert_fails_naming(
        d.validate_parameters("GET", t, "/v2/droplets/abc/actions", None),
        "droplet_id",
        "non-integer droplet id",
    );
    assert_fails_naming(
        d.validate_parameters("GET", t, "/v2/droplets/101/actions", Some("per_page=many")),
        "per_page",
        "non-integer per_page",
    );
    assert_fails_naming(
        d.validate_parameters("GET", t, "/v2/droplets/101/actions", Some("perpage=5")),
        "perpage",
        "undeclared query parameter",
    );
    let h = Spec::load(SimProvider::Hetzner);
    assert_ok(
        h.validate_parameters(
            "GET",
            "/images",
            "/images",
            Some(
                "type=snapshot&type=backup&label_selector=snapkeeper%3Dv1&sort=created:desc&page=1",
            ),
        ),
        "hetzner images query (repeated array parameter)",
    );
    assert_fails_naming(
        h.validate_parameters("GET", "/images", "/images", Some("type=photo")),
        "type",
        "hetzner image type not in enum",
    );
    assert_fails_naming(
        h.validate_parameters("GET", "/images", "/images", Some("include_deprecated=yes")),
        "include_deprecated",
        "hetzner boolean parameter",
    );
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn every_body_schema_in_every_spec_compiles() {
    for p in [
        SimProvider::Digitalocean,
        SimProvider::Vultr,
        SimProvider::Hetzner,
    ] {
        let s = Spec::load(p);
        let (count, errors) = s.compile_errors();
        assert!(
            count > 100,
            "{}: only {count} body schemas found",
            p.as_str()
        );
        assert!(errors.is_empty(), "{}: {errors:#?}", p.as_str());
    }
}

/// The examples a media type gives (`example`, `examples.*.value`).
fn media_examples(doc: &Value, media: &Value) -> Vec<Value> {
    let deref = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => doc.pointer(&r[1..]).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let mut out = Vec::new();
    if let Some(e) = media.get("example") {
        out.push(e.clone());
    }
    if let Some(Value::Object(es)) = media.get("examples") {
        for e in es.values() {
            if let Some(v) = deref(e).get("value") {
                out.push(v.clone());
            }
        }
    }
    out
}

/// The spec authors' own examples for the operations snapkeeper uses must
/// pass the converted schemas with the overlay (evidence that the overlay
/// does not reject what the provider documents), except where the example
/// and the schema disagree in the spec itself (listed, and checked to fail
/// exactly there).
#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn spec_examples_of_snapkeeper_operations_pass() {
    let ops: &[(SimProvider, &str, &str)] = &[
        (SimProvider::Digitalocean, "get", "/v2/droplets"),
        (SimProvider::Digitalocean, "get", "/v2/volumes"),
        (SimProvider::Digitalocean, "get", "/v2/snapshots"),
        (
            SimProvider::Digitalocean,
            "get",
            "/v2/snapshots/{snapshot_id}",
        ),
        (
            SimProvider::Digitalocean,
            "delete",
            "/v2/snapshots/{snapshot_id}",
        ),
        (
            SimProvider::Digitalocean,
            "get",
            "/v2/droplets/{droplet_id}/snapshots",
        ),
        (
            SimProvider::Digitalocean,
            "post",
            "/v2/droplets/{droplet_id}/actions",
        ),
        (
            SimProvider::Digitalocean,
            "get",
            "/v2/droplets/{droplet_id}/actions/{action_id}",
        ),
        (SimProvider::Digitalocean, "get", "/v2/actions/{action_id}"),
        (
            SimProvider::Digitalocean,
            "get",
            "/v2/volumes/{volume_id}/snapshots",
        ),
        (
            SimProvider::Digitalocean,
            "post",
            "/v2/volumes/{volume_id}/snapshots",
        ),
        (
            SimProvider::Digitalocean,
            "delete",
            "/v2/volumes/snapshots/{snapshot_id}",
        ),
        (SimProvider::Digitalocean, "post", "/v2/tags"),
        (
            SimProvider::Digitalocean,
            "post",
            "/v2/tags/{tag_id}/resources",
        ),
        (SimProvider::Vultr, "get", "/instances"),
        (SimProvider::Vultr, "get", "/snapshots"),
        (SimProvider::Vultr, "post", "/snapshots"),
        (SimProvider::Vultr, "get", "/snapshots/{snapshot-id}"),
        (SimProvider::Vultr, "put", "/snapshots/{snapshot-id}"),
        (SimProvider::Vultr, "delete", "/snapshots/{snapshot-id}"),
        (SimProvider::Hetzner, "get", "/servers"),
        (SimProvider::Hetzner, "get", "/images"),
        (SimProvider::Hetzner, "get", "/images/{id}"),
        (SimProvider::Hetzner, "put", "/images/{id}"),
        (SimProvider::Hetzner, "delete", "/images/{id}"),
        (
            SimProvider::Hetzner,
            "post",
            "/servers/{id}/actions/create_image",
        ),
        (SimProvider::Hetzner, "get", "/actions/{id}"),
        (
            SimProvider::Hetzner,
            "get",
            "/servers/{id}/actions/{action_id}",
        ),
    ];
    // (provider, method, template, text every failure of it must contain):
    // the spec's response example has fields its schema does not declare.
    let known: &[(SimProvider, &str, &str, &str)] = &[
        (
            SimProvider::Vultr,
            "get",
            "/instances",
            "'v6_main_ip', 'v6_network', 'v6_network_size'",
        ),
        (SimProvider::Vultr, "get", "/snapshots", "'compressed_size'"),
        (
            SimProvider::Vultr,
            "post",
            "/snapshots",
            "'compressed_size'",
        ),
        (
            SimProvider::Vultr,
            "get",
            "/snapshots/{snapshot-id}",
            "'compressed_size'",
        ),
    ];
    let mut checked = 0;
    let mut failures = Vec::new();
    for &(p, method, template) in ops {
        let s = Spec::load(p);
        let doc = s.document();
        let op = s
            .operation(method, template)
            .unwrap_or_else(|| panic!("{} {method} {template} not in spec", p.as_str()));
        assert_eq!(op.template, template, "exact template expected");
        let expected = known
            .iter()
            .find(|k| k.0 == p && k.1 == method && k.2 == template)
            .map(|k| k.3);
        let mut outcome =
            |result: Result<(), Vec<String>>, expected: Option<&str>, what: String| {
                checked += 1;
                match (result, expected) {
                    (Ok(()), None) => {}
                    (Ok(()), Some(e)) => {
                        failures.push(format!("{what}: expected to fail with {e}, passed"))
                    }
                    (Err(es), Some(e)) if es.iter().all(|x| x.contains(e)) => {}
                    (Err(es), _) => failures.push(format!("{what}: {es:#?}")),
                }
            };
        if let Some(rb) = op.op.get("requestBody") {
            let rb = match rb.get("$ref").and_then(Value::as_str) {
                Some(r) => doc.pointer(&r[1..]).expect("request body ref"),
                None => rb,
            };
            if let Some(media) = rb.pointer("/content/application~1json") {
                for ex in media_examples(doc, media) {
                    outcome(
                        s.validate_request(method, template, Some(&ex)),
                        None,
                        format!("{} {method} {template} request example", p.as_str()),
                    );
                }
            }
        }
        let responses = op.op["responses"].as_object().expect("responses");
        for (code, r) in responses {
            let Ok(status) = code.parse::<u16>() else {
                continue;
            };
            let r = match r.get("$ref").and_then(Value::as_str) {
                Some(rf) => doc.pointer(&rf[1..]).expect("response ref"),
                None => r,
            };
            if let Some(media) = r.pointer("/content/application~1json") {
                for ex in media_examples(doc, media) {
                    outcome(
                        s.validate_response(method, template, status, Some(&ex)),
                        expected,
                        format!("{} {method} {template} {status} example", p.as_str()),
                    );
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked > 40, "only {checked} examples checked");
}

// ---------------------------------------------------------------- overlay rules

/// A small OpenAPI 3.0 document exercising each conversion rule; runs
/// without the provider specs.
fn overlay_doc() -> &'static Spec {
    let doc = json!({
        "openapi": "3.0.0",
        "paths": {
            "/things/{id}": {
                "post": {
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/thing"}}}},
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "thing": {"$ref": "#/components/schemas/thing"},
                                "composed": {"$ref": "#/components/schemas/composed"},
                                "either": {"anyOf": [{"$ref": "#/components/schemas/cat"}, {"$ref": "#/components/schemas/dog"}]},
                                "loose": {"anyOf": [{"$ref": "#/components/schemas/cat"}, {"type": "object"}]},
                                "free": {"type": "object"},
                                "map": {"type": "object", "additionalProperties": {"type": "string"}},
                                "maybe": {"allOf": [{"$ref": "#/components/schemas/cat"}], "nullable": true},
                                "size": {"type": "integer", "nullable": true, "enum": [1, 2]}
                            }
                        }}}},
                        "204": {"description": "empty"},
                        "4XX": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/cat"}}}}
                    }
                }
            }
        },
        "components": {"schemas": {
            "thing": {
                "type": "object",
                "required": ["id", "name", "secret"],
                "properties": {
                    "id": {"type": "integer", "readOnly": true},
                    "name": {"type": "string", "example": "x"},
                    "secret": {"type": "string", "writeOnly": true}
                },
                "discriminator": {"propertyName": "name"}
            },
            "base": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
            "composed": {"allOf": [{"$ref": "#/components/schemas/base"}, {"type": "object", "properties": {"b": {"type": "integer"}}}]},
            "cat": {"type": "object", "properties": {"meow": {"type": "boolean"}}},
            "dog": {"type": "object", "properties": {"woof": {"type": "boolean"}}}
        }}
    });
    Spec::from_document(SimProvider::Hetzner, doc)
}

#[test]
fn overlay_rules_hold_on_a_synthetic_document() {
    let s = overlay_doc();
    let t = "/things/{id}";
    let resp = |body: Value| s.validate_response("POST", t, 200, Some(&body));
    let full = json!({
        "thing": {"id": 1, "name": "n"},
        "composed": {"a": "x", "b": 2},
        "either": {"meow": true},
        "loose": {"anything": 1},
        "free": {"whatever": [1]},
        "map": {"k": "v"},
        "maybe": null,
        "size": null
    });
    // Passing here also proves: an anyOf with a free-form branch (`loose`) and
    // a free-form object (`free`) stay open; maps accept any key.
    assert_ok(resp(full.clone()), "full synthetic body");
    // Case table: (edited body, field the failure must name, why).
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            retyped(
                &full,
                "",
                "thing",
                json!({"id": 1, "name": "n", "nmae": "n"}),
            ),
            "nmae",
            "$ref at a value position is closed",
        ),
        (
            retyped(&full, "", "composed", json!({"a": "x", "b": 2, "c": 3})),
            "'c'",
            "allOf: closed at the composing level",
        ),
        (
            retyped(&full, "", "composed", json!({"b": 2})),
            "\"a\"",
            "allOf: member's required still applies",
        ),
        (
            retyped(&full, "", "either", json!({"meow": true, "purr": 1})),
            "purr",
            "anyOf of closed branches is closed",
        ),
        (
            retyped(&full, "", "map", json!({"k": 1})),
            "/map/k",
            "map values keep their schema",
        ),
        (
            retyped(&full, "", "maybe", json!({"meow": true, "bark": 1})),
            "bark",
            "nullable allOf is closed",
        ),
        (
            retyped(&full, "", "size", json!(3)),
            "size",
            "nullable enum keeps its values",
        ),
        (
            retyped(&full, "", "extra", json!(1)),
            "extra",
            "inline body schema is closed",
        ),
    ];
    for (body, field, why) in cases {
        assert_fails_naming(resp(body), field, why);
    }
    // allOf members stay open towards each other: `b` (second member) and `a`
    // (first member, via $ref) are both accepted above; nullable values pass:
    assert_ok(
        resp(retyped(&full, "", "maybe", json!({"meow": false}))),
        "nullable allOf with a value",
    );
    assert_ok(
        resp(retyped(&full, "", "size", json!(2))),
        "nullable enum value",
    );
    // readOnly not required in requests, writeOnly not required in responses.
    assert_ok(
        s.validate_request("POST", t, Some(&json!({"name": "n", "secret": "s"}))),
        "request without readOnly id",
    );
    assert_fails_naming(
        s.validate_request("POST", t, Some(&json!({"id": 1, "secret": "s"}))),
        "name",
        "request still requires name",
    );
    assert_fails_naming(
        resp(retyped(&full, "", "thing", json!({"name": "n"}))),
        "id",
        "response requires readOnly id",
    );
    // Status lookup: exact, then upper-case range; undeclared without default fails.
    assert_ok(
        s.validate_response("POST", t, 204, None),
        "204 without body",
    );
    assert_ok(
        s.validate_response("POST", t, 409, Some(&json!({"meow": true}))),
        "4XX range",
    );
    assert_fails_naming(
        s.validate_response("POST", t, 409, Some(&json!({"bark": true}))),
        "bark",
        "4XX range body is checked",
    );
    assert_fails_naming(
        s.validate_response("POST", t, 500, Some(&json!({}))),
        "status not declared",
        "no 5XX, no default",
    );
    assert_fails_naming(
        s.validate_response("POST", t, 200, None),
        "body missing",
        "declared content, no body",
    );
}
