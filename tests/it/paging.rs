//! Paging that cannot run away: a tiny local server that answers every
//! listing with a page that always points at a further one (a fresh cursor,
//! page number or next link each time), or at itself, for all three
//! providers' clients. The listing must stop with an error naming it, never
//! follow forever and never look complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::response::Json;
use secrecy::SecretString;
use serde_json::{Value, json};
use snapkeeper::config::{Account, ProviderKind, TargetKind, TokenSource};
use snapkeeper::provider::{ClientOptions, ErrorKind, connect_with};
use snapkeeper::sim::SimProvider;

use crate::provider_support::fast;

/// The client's page cap (`snapkeeper::provider::paging::MAX_PAGES`).
const CAP: u64 = 10_000;
/// Past this many pages the server gives up and ends the listing, so that a
/// client without a cap finishes (and the test fails) instead of hanging.
const SERVER_GIVES_UP: u64 = CAP + 50;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Every page points at a new, later one.
    Endless,
    /// Every page points at the same next page.
    Stuck,
}

#[derive(Clone)]
struct Runaway {
    mode: Mode,
    pages: Arc<AtomicU64>,
}

/// One answer in all three shapes at once: the item lists are empty, and
/// `links.pages.next` (DigitalOcean), `meta.links.next` (Vultr) and
/// `meta.pagination.next_page` (Hetzner) name the next page.
async fn page(State(s): State<Runaway>) -> Json<Value> {
    let served = s.pages.fetch_add(1, Ordering::SeqCst) + 1;
    let next = match s.mode {
        _ if served >= SERVER_GIVES_UP => None,
        Mode::Endless => Some(served + 1),
        Mode::Stuck => Some(2),
    };
    Json(json!({
        "droplets": [], "instances": [], "servers": [],
        "links": {"pages": next.map_or(json!({}), |n| json!({
            "next": format!("http://127.0.0.1/v2/droplets?page={n}&per_page=200")
        }))},
        "meta": {
            "links": {"next": next.map_or(String::new(), |n| format!("cursor{n}")), "prev": ""},
            "pagination": {"page": served, "per_page": 50, "next_page": next}
        }
    }))
}

async fn runaway_listing(provider: ProviderKind, kind: TargetKind, mode: Mode) {
    let state = Runaway {
        mode,
        pages: Arc::new(AtomicU64::new(0)),
    };
    let router = axum::Router::new()
        .fallback(axum::routing::get(page))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let prefix = match provider {
        ProviderKind::DigitalOcean => SimProvider::Digitalocean.prefix(),
        ProviderKind::Vultr => SimProvider::Vultr.prefix(),
        ProviderKind::Hetzner => SimProvider::Hetzner.prefix(),
    };
    let account = Account {
        name: "runaway".into(),
        provider,
        token: TokenSource::Env("UNUSED_IN_TESTS".into()),
        api_url: format!("http://{addr}{prefix}"),
        policies: Vec::new(),
        prune_orphans: false,
        retired_policies: Vec::new(),
        reload_grace: snapkeeper::config::DEFAULT_RELOAD_GRACE,
    };
    let clock = snapkeeper::clock::Clock::system();
    // The server sends no rate-limit headers: lift the assumed budget so
    // that ten thousand pages take seconds, not the documented hour.
    let opts = ClientOptions {
        rate_limit_factor: 1e4,
        ..fast(&clock)
    };
    let client = connect_with(&account, SecretString::from("t".repeat(64)), &opts).unwrap();
    let result = client.list_resources(kind).await;
    server.abort();
    let pages = state.pages.load(Ordering::SeqCst);
    let err = match result {
        Ok(items) => panic!(
            "{provider:?}: a runaway listing looked complete ({} items after {pages} pages)",
            items.len()
        ),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        text.contains(&format!("list {}", kind.as_str())) || text.contains(kind.as_str()),
        "{provider:?}: the error does not name the listing: {text}"
    );
    match mode {
        Mode::Endless => {
            assert_eq!(err.kind, ErrorKind::Incomplete, "{provider:?}: {text}");
            assert_eq!(pages, CAP, "{provider:?}: pages asked for");
            assert!(text.contains("10000 pages"), "{provider:?}: {text}");
        }
        Mode::Stuck => {
            assert_eq!(err.kind, ErrorKind::Decode, "{provider:?}: {text}");
            assert!(
                pages <= 3,
                "{provider:?}: followed a stuck link {pages} times"
            );
            assert!(text.contains("does not advance"), "{provider:?}: {text}");
        }
    }
}

const CASES: [(ProviderKind, TargetKind); 3] = [
    (ProviderKind::DigitalOcean, TargetKind::Droplet),
    (ProviderKind::Vultr, TargetKind::Instance),
    (ProviderKind::Hetzner, TargetKind::Server),
];

/// Vultr, the case (a server that keeps returning new cursors); the
/// cap itself is the same code for all three (`paging::Walk`, unit-tested),
/// and ten thousand pages per provider would cost the suite a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vultr_listing_that_never_ends_stops_at_the_page_cap() {
    runaway_listing(ProviderKind::Vultr, TargetKind::Instance, Mode::Endless).await;
}

#[tokio::test]
async fn a_next_link_that_does_not_advance_is_an_error() {
    for (provider, kind) in CASES {
        runaway_listing(provider, kind, Mode::Stuck).await;
    }
}
