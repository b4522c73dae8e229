//! Shared setup for the simulator tests (`sim_*.rs`): a simulator started
//! in process on a fixed clock, a raw HTTP client against one provider's
//! base URL, the answer as status, headers, text and JSON, and fault rules.
//! Each provider file keeps only its own seed and checks.

#![allow(dead_code)]

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use snapkeeper::clock::Clock;
use snapkeeper::sim::{self, FaultKind, FaultRule, Running, Seed, SimProvider};

/// One HTTP answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// The body as JSON, failing the test when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// A header as text (`None` when absent).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A simulator serving one provider's routes to a raw client.
pub struct SimHttp {
    pub running: Running,
    pub provider: SimProvider,
    pub base: String,
    pub http: reqwest::Client,
}

/// Parse a seed, failing the test on error.
pub fn seed(yaml: &str) -> Seed {
    Seed::parse(yaml, "test seed").unwrap_or_else(|e| panic!("{e}"))
}

impl SimHttp {
    /// Start `seed` at `at` (fixed clock) and talk to `provider`.
    pub async fn start(provider: SimProvider, seed: Seed, at: DateTime<Utc>) -> Self {
        let running = sim::start(seed, "127.0.0.1:0".parse().unwrap(), Clock::fixed(at))
            .await
            .unwrap();
        let base = running.base_url(provider);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            running,
            provider,
            base,
            http,
        }
    }

    /// Send `method path` (relative to the base URL, or a full URL) with an
    /// optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    /// Move the simulator's clock forward.
    pub fn advance(&self, secs: i64) {
        self.running
            .core
            .clock
            .advance(chrono::Duration::seconds(secs));
    }

    /// Add a fault rule for this provider.
    pub fn fault(&self, method: &str, path: &str, kind: FaultKind, count: Option<u32>) {
        self.running.core.add_fault(FaultRule {
            provider: Some(self.provider),
            method: Some(method.into()),
            path: Some(path.into()),
            resource: None,
            kind,
            count,
        });
    }

    /// Every exchange recorded so far.
    pub fn requests(&self) -> Vec<sim::RecordedRequest> {
        self.running.core.requests()
    }
}

/// A [`SimHttp`] marked with a type of one test file, so that each file adds
/// its own shortcuts (`impl On<ItsMarker> { ... }`) without clashing with
/// another file's, and reaches the shared ones through `Deref`.
pub struct On<P>(pub SimHttp, PhantomData<P>);

impl<P> On<P> {
    /// Start `seed` at `at` and talk to `provider`.
    pub async fn boot(provider: SimProvider, seed: Seed, at: DateTime<Utc>) -> Self {
        Self(SimHttp::start(provider, seed, at).await, PhantomData)
    }
}

impl<P> std::ops::Deref for On<P> {
    type Target = SimHttp;

    fn deref(&self) -> &SimHttp {
        &self.0
    }
}

/// `GET url` (with a bearer token when given), its body as JSON.
pub async fn get_json(http: &reqwest::Client, url: String, token: Option<&str>) -> Value {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// The text field `field` of every item of the array `list`.
pub fn strings(list: &Value, field: &str) -> Vec<String> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    items
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

impl SimHttp {
    /// `GET path` sent raw with `token` (and `timeout`, when given) and read
    /// to its end: the body, or the transport error.
    pub async fn raw_get(
        &self,
        path: &str,
        token: &str,
        timeout: Option<Duration>,
    ) -> reqwest::Result<String> {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        req.send().await?.text().await
    }
}
