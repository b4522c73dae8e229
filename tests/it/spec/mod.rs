//! Contract checks against the providers' own OpenAPI documents: does a
//! recorded exchange (method, path template, query, bodies, status) match
//! what the provider's spec declares?
//!
//! Owns: loading each spec once per test process, converting its schemas to
//! JSON Schema 2020-12 (see `convert.rs`), compiling and caching validators
//! (the `jsonschema` crate validates; nothing here is a hand-written
//! validator), and matching operations and statuses. The specs are read from
//! the vendored `tests/specs/` (or `$SNAPKEEPER_SPECS_DIR`). Must never: edit
//! a spec, fetch anything over the network, or pass silently when the specs
//! are absent: every test that reads them carries
//! `#[cfg_attr(snapkeeper_no_specs, ignore = ...)]` (set by `build.rs`
//! when they are missing, unless `CI=true`), and loading a missing spec panics.
//!
//! See `docs/contract-tests.md` for what the strictness overlay changes and
//! the known gaps.

#![allow(dead_code)]

mod convert;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use jsonschema::{Draft, Registry, Validator};
use serde_json::{Value, json};
use snapkeeper::sim::{RecordedRequest, SimProvider};

pub use convert::Direction;

/// One provider's OpenAPI document, ready to check exchanges against.
pub struct Spec {
    provider: SimProvider,
    /// The raw document (YAML converted to JSON for DigitalOcean).
    doc: Value,
    /// The document converted for requests / responses, registered under
    /// their own base URI; built on first use.
    request: OnceLock<Result<Registry<'static>, String>>,
    response: OnceLock<Result<Registry<'static>, String>>,
    /// Compiled validators by (direction, JSON pointer of the schema).
    cache: Mutex<HashMap<(Direction, String), Compiled>>,
}

/// A compiled validator, or why the schema could not be compiled.
type Compiled = Arc<Result<Validator, String>>;

/// One declared parameter of an operation.
#[derive(Debug, Clone)]
pub struct Parameter<'s> {
    /// Its name.
    pub name: &'s str,
    /// `path`, `query`, `header` or `cookie`.
    pub place: &'s str,
    /// Whether it must be sent.
    pub required: bool,
    /// Its schema (refs followed) and the schema's JSON pointer.
    pub schema: Option<(&'s Value, String)>,
}

/// The operation an exchange was matched to.
#[derive(Debug, Clone)]
pub struct Operation<'s> {
    /// The spec's path template (may differ from the asked one in parameter names).
    pub template: &'s str,
    /// Lower-case method.
    pub method: String,
    /// The operation object.
    pub op: &'s Value,
    /// The path item (for path-level parameters).
    pub item: &'s Value,
}

fn file_name(provider: SimProvider) -> &'static str {
    match provider {
        SimProvider::Digitalocean => "digitalocean.yaml",
        SimProvider::Vultr => "vultr.json",
        SimProvider::Hetzner => "hetzner.json",
    }
}

fn slot(provider: SimProvider) -> &'static OnceLock<Spec> {
    static DO: OnceLock<Spec> = OnceLock::new();
    static VULTR: OnceLock<Spec> = OnceLock::new();
    static HETZNER: OnceLock<Spec> = OnceLock::new();
    match provider {
        SimProvider::Digitalocean => &DO,
        SimProvider::Vultr => &VULTR,
        SimProvider::Hetzner => &HETZNER,
    }
}

/// Fields the providers added after the vendored document was made, added to
/// the parsed document (never to the file) so that the strictness overlay
/// accepts them: Hetzner `server_type.locations[].available` and
/// `.recommended` (announced 2026-04-01; the vendored derivative is of
/// 2026-02-20). Optional, so older answers pass too.
fn newer_than_the_document(provider: SimProvider, doc: &mut Value) {
    if provider != SimProvider::Hetzner {
        return;
    }
    if let Some(props) = doc
        .pointer_mut("/components/schemas/server_type_location/properties")
        .and_then(Value::as_object_mut)
    {
        for (name, what) in [
            (
                "available",
                "Whether the Server Type can be ordered in this Location.",
            ),
            (
                "recommended",
                "Whether the Server Type is recommended in this Location.",
            ),
        ] {
            props.insert(
                name.to_string(),
                serde_json::json!({ "type": "boolean", "description": what }),
            );
        }
    }
}

impl Spec {
    /// The provider's spec, parsed once per test process.
    ///
    /// # Panics
    /// When the spec file is missing (the test should have been ignored, see
    /// `build.rs`; under `CI=true` this is the failure), or cannot be read or
    /// parsed: a broken checkout, never a reason to pass.
    pub fn load(provider: SimProvider) -> &'static Spec {
        slot(provider).get_or_init(|| {
            let path = crate::harness::specs_dir().join(file_name(provider));
            assert!(
                path.is_file(),
                "provider spec missing: {} (vendored in tests/specs; SNAPKEEPER_SPECS_DIR overrides); \
                 a contract test never passes without it",
                path.display()
            );
            Spec::from_file(provider, &path)
        })
    }

    /// A spec from an in-memory OpenAPI document (for tests of the checker
    /// itself). Leaked: it lives as long as the test process, like loaded specs.
    pub fn from_document(provider: SimProvider, doc: Value) -> &'static Spec {
        Box::leak(Box::new(Spec {
            provider,
            doc,
            request: OnceLock::new(),
            response: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        }))
    }

    fn from_file(provider: SimProvider, path: &Path) -> Spec {
        let started = Instant::now();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read spec {}: {e}", path.display()));
        let doc: Value = if path.extension().is_some_and(|e| e == "yaml") {
            yaml_serde::from_str::<Json>(&text)
                .map(|j| j.0)
                .unwrap_or_else(|e| panic!("cannot parse spec {}: {e}", path.display()))
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("cannot parse spec {}: {e}", path.display()))
        };
        let mut doc = doc;
        newer_than_the_document(provider, &mut doc);
        if std::env::var_os("SNAPKEEPER_SPEC_TIMING").is_some() {
            eprintln!("spec: parsed {} in {:?}", path.display(), started.elapsed());
        }
        Spec {
            provider,
            doc,
            request: OnceLock::new(),
            response: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The provider this spec describes.
    pub fn provider(&self) -> SimProvider {
        self.provider
    }

    /// The raw document.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    fn base_uri(&self, dir: Direction) -> String {
        let side = match dir {
            Direction::Request => "request",
            Direction::Response => "response",
        };
        format!(
            "https://specs.snapkeeper.invalid/{}/{side}.json",
            self.provider.as_str()
        )
    }

    fn registry(&'static self, dir: Direction) -> Result<&'static Registry<'static>, String> {
        let cell = match dir {
            Direction::Request => &self.request,
            Direction::Response => &self.response,
        };
        cell.get_or_init(|| {
            let started = Instant::now();
            let converted = convert::Converter::new(&self.doc, dir).document();
            let resource = Draft::Draft202012.create_resource(converted);
            let registry = Registry::new()
                .draft(Draft::Draft202012)
                .add(self.base_uri(dir), resource)
                .and_then(|b| b.prepare())
                .map_err(|e| format!("cannot register {} spec: {e}", self.provider.as_str()));
            if std::env::var_os("SNAPKEEPER_SPEC_TIMING").is_some() {
                eprintln!(
                    "spec: converted {} for {dir:?} in {:?}",
                    self.provider.as_str(),
                    started.elapsed()
                );
            }
            registry
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// The validator for the schema at `pointer` (a JSON pointer into the
    /// document), compiled once.
    fn validator(&'static self, dir: Direction, pointer: &str) -> Arc<Result<Validator, String>> {
        let key = (dir, pointer.to_string());
        if let Some(v) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return v.clone();
        }
        let built = self.registry(dir).and_then(|registry| {
            let wrapper =
                json!({ "$ref": format!("{}#{}", self.base_uri(dir), fragment(pointer)) });
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(registry)
                .should_validate_formats(true)
                .build(&wrapper)
                .map_err(|e| {
                    format!(
                        "cannot compile {} schema at {pointer}: {e}",
                        self.provider.as_str()
                    )
                })
        });
        let built = Arc::new(built);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, built.clone());
        built
    }

    /// Validate `value` against the schema at `pointer`; errors name the
    /// place in the value and what is wrong.
    fn check(&'static self, dir: Direction, pointer: &str, value: &Value) -> Vec<String> {
        let validator = self.validator(dir, pointer);
        match validator.as_ref() {
            Err(e) => vec![e.clone()],
            Ok(v) => {
                let errors: Vec<_> = v.iter_errors(value).collect();
                let paths: Vec<String> = errors
                    .iter()
                    .map(|e| e.instance_path().to_string())
                    .collect();
                errors
                    .iter()
                    .filter_map(|e| without_cascade(e, &paths))
                    .collect()
            }
        }
    }

    /// Resolve a document-local `$ref` chain; returns the object and its
    /// JSON pointer.
    fn resolve<'a>(&'a self, v: &'a Value, pointer: String) -> (&'a Value, String) {
        let mut v = v;
        let mut pointer = pointer;
        for _ in 0..32 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                    Some(t) => {
                        pointer = r.trim_start_matches('#').to_string();
                        v = t;
                    }
                    None => break,
                },
                None => break,
            }
        }
        (v, pointer)
    }

    /// The spec's operation for `method` and `template`: exact template
    /// first, else the one with the same shape (same literal segments,
    /// parameters in the same places).
    pub fn operation(&self, method: &str, template: &str) -> Option<Operation<'_>> {
        let method = method.to_ascii_lowercase();
        let paths = self.doc.get("paths")?.as_object()?;
        let found = paths.get_key_value(template).or_else(|| {
            paths
                .iter()
                .find(|(t, item)| same_shape(t, template) && item.get(&method).is_some())
        });
        let (t, item) = found?;
        let op = item.get(&method)?;
        Some(Operation {
            template: t.as_str(),
            method,
            op,
            item,
        })
    }

    /// Whether the spec has this operation (by exact template or shape).
    pub fn has_operation(&self, method: &str, template: &str) -> bool {
        self.operation(method, template).is_some()
    }

    fn not_found(&self, method: &str, template: &str) -> String {
        format!(
            "operation {} {template} not in {} spec",
            method.to_ascii_uppercase(),
            self.provider.as_str()
        )
    }

    fn op_pointer(op: &Operation<'_>) -> String {
        format!("/paths/{}/{}", escape(op.template), op.method)
    }

    /// Check a request body against the operation's `requestBody`.
    ///
    /// # Errors
    /// Every mismatch, each naming where and what.
    pub fn validate_request(
        &'static self,
        method: &str,
        template: &str,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let op = self
            .operation(method, template)
            .ok_or_else(|| vec![self.not_found(method, template)])?;
        let errors = self.request_errors(&op, body);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn request_errors(&'static self, op: &Operation<'_>, body: Option<&Value>) -> Vec<String> {
        let name = format!(
            "{} {} request body",
            op.method.to_ascii_uppercase(),
            op.template
        );
        let Some(rb) = op.op.get("requestBody") else {
            return match body {
                Some(_) => vec![format!("{name}: sent, but the spec declares none")],
                None => Vec::new(),
            };
        };
        let (rb, rb_ptr) = self.resolve(rb, format!("{}/requestBody", Self::op_pointer(op)));
        let Some(body) = body else {
            return if rb.get("required") == Some(&Value::Bool(true)) {
                vec![format!("{name}: missing, but the spec requires one")]
            } else {
                Vec::new()
            };
        };
        match json_media(rb) {
            Some((media, _)) => {
                let ptr = format!("{rb_ptr}/content/{}/schema", escape(media));
                self.check(Direction::Request, &ptr, body)
                    .into_iter()
                    .map(|e| format!("{name}: {e}"))
                    .collect()
            }
            None => vec![format!("{name}: the spec declares no JSON content for it")],
        }
    }

    /// Check a response status and body against the operation's `responses`.
    ///
    /// # Errors
    /// Every mismatch, each naming where and what.
    pub fn validate_response(
        &'static self,
        method: &str,
        template: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let op = self
            .operation(method, template)
            .ok_or_else(|| vec![self.not_found(method, template)])?;
        let errors = self.response_errors(&op, status, body);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn response_errors(
        &'static self,
        op: &Operation<'_>,
        status: u16,
        body: Option<&Value>,
    ) -> Vec<String> {
        let name = format!(
            "{} {} response {status}",
            op.method.to_ascii_uppercase(),
            op.template
        );
        let Some(responses) = op.op.get("responses").and_then(Value::as_object) else {
            return vec![format!("{name}: the spec declares no responses")];
        };
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let key = [exact.as_str(), range.as_str(), "default"]
            .into_iter()
            .find_map(|want| responses.keys().find(|k| k.eq_ignore_ascii_case(want)));
        let Some(key) = key else {
            let mut declared: Vec<&str> = responses.keys().map(String::as_str).collect();
            declared.sort_unstable();
            return vec![format!(
                "{name}: status not declared (declared: {})",
                declared.join(", ")
            )];
        };
        let (resp, resp_ptr) = self.resolve(
            &responses[key],
            format!("{}/responses/{}", Self::op_pointer(op), escape(key)),
        );
        match (json_media(resp), body) {
            (Some((media, _)), Some(body)) => {
                let ptr = format!("{resp_ptr}/content/{}/schema", escape(media));
                self.check(Direction::Response, &ptr, body)
                    .into_iter()
                    .map(|e| format!("{name}: {e}"))
                    .collect()
            }
            (Some(_), None) => vec![format!(
                "{name}: body missing or not JSON, but the spec declares one (as {key})"
            )],
            (None, None) => Vec::new(),
            (None, Some(_)) if status >= 400 => {
                // Declared without content (e.g. every Vultr error): the spec
                // says nothing about the body, so it is not checked. Gap
                // documented in docs/contract-tests.md.
                Vec::new()
            }
            (None, Some(_)) => vec![format!(
                "{name}: has a body, but the spec declares none (as {key})"
            )],
        }
    }

    /// The operation's parameters (path-level ones overridden by
    /// operation-level ones of the same name and place), `$ref`s followed.
    pub fn parameters<'s>(&'s self, op: &Operation<'s>) -> Vec<Parameter<'s>> {
        let mut out: Vec<Parameter<'s>> = Vec::new();
        let base = format!("/paths/{}", escape(op.template));
        for (holder, at) in [
            (op.item, base.clone()),
            (op.op, format!("{base}/{}", op.method)),
        ] {
            let Some(Value::Array(params)) = holder.get("parameters") else {
                continue;
            };
            for (i, p) in params.iter().enumerate() {
                let (p, ptr) = self.resolve(p, format!("{at}/parameters/{i}"));
                let (Some(name), Some(place)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("in").and_then(Value::as_str),
                ) else {
                    continue;
                };
                out.retain(|q| !(q.name == name && q.place == place));
                out.push(Parameter {
                    name,
                    place,
                    required: p.get("required") == Some(&Value::Bool(true)),
                    schema: p
                        .get("schema")
                        .map(|s| (self.resolve(s, String::new()).0, format!("{ptr}/schema"))),
                });
            }
        }
        out
    }

    /// Query parameter names the operation declares.
    pub fn query_parameters(&self, op: &Operation<'_>) -> Vec<String> {
        self.parameters(op)
            .into_iter()
            .filter(|p| p.place == "query")
            .map(|p| p.name.to_string())
            .collect()
    }

    /// Check the path parameter values (from the concrete `path`) and the
    /// query string: every name declared, required ones present, values
    /// matching their schemas (read as the schema's type: integer, number,
    /// boolean, or comma-separated / repeated for arrays).
    ///
    /// # Errors
    /// Every mismatch, each naming the parameter.
    pub fn validate_parameters(
        &'static self,
        method: &str,
        template: &str,
        path: &str,
        query: Option<&str>,
    ) -> Result<(), Vec<String>> {
        let op = self
            .operation(method, template)
            .ok_or_else(|| vec![self.not_found(method, template)])?;
        let errors = self.parameter_errors(&op, path, query);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn parameter_errors(
        &'static self,
        op: &Operation<'_>,
        path: &str,
        query: Option<&str>,
    ) -> Vec<String> {
        let name = format!("{} {}", op.method.to_ascii_uppercase(), op.template);
        let params = self.parameters(op);
        let mut errors = Vec::new();
        let check = |p: &Parameter<'_>, raw: Vec<String>, errors: &mut Vec<String>| {
            let Some((schema, ptr)) = &p.schema else {
                return;
            };
            let value = typed(schema, raw);
            for e in self.check(Direction::Request, ptr, &value) {
                errors.push(format!("{name}: {} parameter {:?}: {e}", p.place, p.name));
            }
        };
        // Path: the spec's template names the segments; the path gives values.
        let names: Vec<&str> = op.template.split('/').collect();
        let values: Vec<&str> = path.split('/').collect();
        if names.len() == values.len() {
            for (n, v) in names.iter().zip(&values) {
                let Some(pname) = n.strip_prefix('{').and_then(|n| n.strip_suffix('}')) else {
                    continue;
                };
                match params.iter().find(|p| p.place == "path" && p.name == pname) {
                    Some(p) => check(p, vec![percent_decode(v)], &mut errors),
                    None => errors.push(format!("{name}: path parameter {pname:?} not declared")),
                }
            }
        } else if !path.is_empty() {
            errors.push(format!("{name}: path {path} does not fit the template"));
        }
        // Query.
        let pairs = query.map(query_pairs).unwrap_or_default();
        let declared: Vec<&str> = params
            .iter()
            .filter(|p| p.place == "query")
            .map(|p| p.name)
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for (qname, _) in &pairs {
            if seen.contains(&qname.as_str()) {
                continue;
            }
            seen.push(qname);
            match params
                .iter()
                .find(|p| p.place == "query" && p.name == qname)
            {
                Some(p) => {
                    let raw = pairs
                        .iter()
                        .filter(|(n, _)| n == qname)
                        .map(|(_, v)| v.clone())
                        .collect();
                    check(p, raw, &mut errors);
                }
                None => errors.push(format!(
                    "{name}: query parameter {qname:?} not declared (declared: {})",
                    declared.join(", ")
                )),
            }
        }
        for p in params.iter().filter(|p| p.required && p.place == "query") {
            if !seen.contains(&p.name) {
                errors.push(format!(
                    "{name}: required query parameter {:?} missing",
                    p.name
                ));
            }
        }
        errors
    }

    /// Compile the validator of every request and response body schema the
    /// spec declares (JSON content); returns the ones that do not compile.
    /// Proves the conversion yields valid 2020-12 schemas for the whole spec.
    pub fn compile_errors(&'static self) -> (usize, Vec<String>) {
        let mut count = 0;
        let mut errors = Vec::new();
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            return (
                0,
                vec![format!("{} spec has no paths", self.provider.as_str())],
            );
        };
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                let at = format!("/paths/{}/{method}", escape(template));
                let mut targets = Vec::new();
                if let Some(rb) = op.get("requestBody") {
                    let (rb, ptr) = self.resolve(rb, format!("{at}/requestBody"));
                    if let Some((media, _)) = json_media(rb) {
                        targets.push((
                            Direction::Request,
                            format!("{ptr}/content/{}/schema", escape(media)),
                        ));
                    }
                }
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    for (code, r) in responses {
                        let (r, ptr) = self.resolve(r, format!("{at}/responses/{}", escape(code)));
                        if let Some((media, _)) = json_media(r) {
                            targets.push((
                                Direction::Response,
                                format!("{ptr}/content/{}/schema", escape(media)),
                            ));
                        }
                    }
                }
                for (dir, ptr) in targets {
                    count += 1;
                    if let Err(e) = self.validator(dir, &ptr).as_ref() {
                        errors.push(format!("{} {template}: {e}", method.to_ascii_uppercase()));
                    }
                }
            }
        }
        (count, errors)
    }

    /// Check a whole recorded exchange: the operation exists, every query
    /// parameter name is declared, the request body and the response match.
    ///
    /// # Errors
    /// Every mismatch, each naming where and what.
    pub fn validate_exchange(&'static self, r: &RecordedRequest) -> Result<(), Vec<String>> {
        let Some(op) = self.operation(&r.method, &r.template) else {
            return Err(vec![self.not_found(&r.method, &r.template)]);
        };
        let mut errors = self.parameter_errors(&op, &r.path, r.query.as_deref());
        errors.extend(self.request_errors(&op, r.request_body.as_ref()));
        errors.extend(self.response_errors(&op, r.status, r.response_body.as_ref()));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Check every recorded exchange against its provider's spec (each spec is
/// loaded once per process). Returns how many exchanges were checked.
///
/// # Errors
/// Every mismatch, each prefixed with the provider and the concrete request.
pub fn validate_all(records: &[RecordedRequest]) -> Result<usize, Vec<String>> {
    let mut errors = Vec::new();
    let mut checked = 0;
    for r in records {
        let spec = Spec::load(r.provider);
        checked += 1;
        if let Err(es) = spec.validate_exchange(r) {
            let query = r
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            for e in es {
                errors.push(format!(
                    "{} {} {}{query} -> {}: {e}",
                    r.provider.as_str(),
                    r.method,
                    r.path,
                    r.status
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(errors)
    }
}

/// For contract tests: check every exchange and panic with all mismatches.
/// Returns how many exchanges were checked (panics when that is zero: a
/// contract test that checked nothing proves nothing).
pub fn assert_contract(records: &[RecordedRequest]) -> usize {
    match validate_all(records) {
        Ok(0) => panic!("contract check: no exchanges recorded, nothing was checked"),
        Ok(n) => {
            eprintln!("contract check: {n} exchanges match the provider specs");
            n
        }
        Err(errors) => panic!(
            "contract check: {} mismatches with the provider specs:\n  {}",
            errors.len(),
            errors.join("\n  ")
        ),
    }
}

/// An error as text, unless it only echoes other errors: when a subschema
/// fails, the properties it declares count as unevaluated at the level above,
/// so `unevaluatedProperties` names them although the real fault is deeper
/// (reported on its own). Such names are dropped; the error too when none is
/// left.
fn without_cascade(e: &jsonschema::ValidationError<'_>, paths: &[String]) -> Option<String> {
    use jsonschema::error::ValidationErrorKind as K;
    let K::UnevaluatedProperties { unexpected } = e.kind() else {
        return Some(describe(e, 0));
    };
    let base = e.instance_path().to_string();
    let (echoed, real): (Vec<&String>, Vec<&String>) = unexpected.iter().partition(|name| {
        let prefix = format!("{base}/{}", escape(name));
        paths
            .iter()
            .any(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
    });
    if real.is_empty() {
        return None;
    }
    if echoed.is_empty() {
        return Some(describe(e, 0));
    }
    let at = if base.is_empty() { "/" } else { base.as_str() };
    let names: Vec<String> = real.iter().map(|n| format!("'{n}'")).collect();
    Some(format!(
        "at {at}: Unevaluated properties are not allowed ({} unexpected)",
        names.join(", ")
    ))
}

/// One validation error as text: where in the value, and what. Large values
/// are masked; `anyOf`/`oneOf` failures list why each branch failed.
fn describe(e: &jsonschema::ValidationError<'_>, depth: usize) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let at = e.instance_path().to_string();
    let at = if at.is_empty() { "/".to_string() } else { at };
    let small = e.instance().to_string().len() <= 80;
    let mut text = if small {
        format!("at {at}: {e}")
    } else {
        format!("at {at}: {}", e.masked())
    };
    let branches = match e.kind() {
        K::AnyOf { context } | K::OneOfNotValid { context } => Some(context),
        _ => None,
    };
    if let Some(branches) = branches.filter(|_| depth < 2) {
        let parts: Vec<String> = branches
            .iter()
            .enumerate()
            .map(|(i, errs)| {
                let mut shown: Vec<String> = errs
                    .iter()
                    .take(3)
                    .map(|b| describe(b, depth + 1))
                    .collect();
                if errs.len() > 3 {
                    shown.push(format!("{} more", errs.len() - 3));
                }
                format!("[branch {}] {}", i + 1, shown.join("; "))
            })
            .collect();
        text.push_str(&format!(" ({})", parts.join(" | ")));
    }
    text
}

/// The media type to check a body against: `application/json`, else any
/// `...json` type.
fn json_media(holder: &Value) -> Option<(&str, &Value)> {
    let content = holder.get("content")?.as_object()?;
    content
        .get_key_value("application/json")
        .or_else(|| content.iter().find(|(k, _)| k.contains("json")))
        .map(|(k, v)| (k.as_str(), v))
}

/// A JSON pointer as a URI fragment: percent-encode what a fragment may not hold.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// JSON-pointer escaping of one segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Same segments, parameters in the same places (names may differ).
fn same_shape(spec: &str, asked: &str) -> bool {
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let a: Vec<&str> = spec.split('/').collect();
    let b: Vec<&str> = asked.split('/').collect();
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            if is_param(x) || is_param(y) {
                is_param(x) && is_param(y)
            } else {
                x == y
            }
        })
}

/// The (name, value) pairs of a raw query string, percent-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((n, v)) => (percent_decode(n), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

/// Raw parameter values read as the schema's type (form style: arrays are
/// repeated or comma-separated). What does not parse stays a string, so the
/// type check reports it.
fn typed(schema: &Value, raw: Vec<String>) -> Value {
    let ty = schema.get("type").and_then(Value::as_str);
    if ty == Some("array") {
        let item = schema.get("items").cloned().unwrap_or(Value::Null);
        let parts: Vec<String> = raw
            .iter()
            .flat_map(|r| r.split(',').map(str::to_string).collect::<Vec<_>>())
            .collect();
        return Value::Array(parts.into_iter().map(|p| typed(&item, vec![p])).collect());
    }
    let one = raw.into_iter().next().unwrap_or_default();
    match ty {
        Some("integer") => one.parse::<i64>().map_or(Value::String(one), Value::from),
        Some("number") => one
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or(Value::String(one)),
        Some("boolean") => match one.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(one),
        },
        _ => Value::String(one),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON value read from YAML: like `serde_json::Value`, except that
/// integers beyond 64 bits (DigitalOcean writes `maximum: 18446744073709552000`)
/// become floats instead of failing.
struct Json(Value);

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| Value::from(v as f64), Value::from))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map_or_else(|_| Value::from(v as f64), Value::from))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Json(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some((Key(k), Json(v))) = map.next_entry()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key as a string (YAML allows numbers and booleans as keys).
struct Key(String);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Json(v) = Json::deserialize(d)?;
        Ok(Key(match v {
            Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}
