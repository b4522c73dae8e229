//! The three pagination schemes, as pure functions over a parsed page:
//! DigitalOcean `page`/`per_page` with `links.pages.next` URLs, Vultr
//! `per_page` with an opaque `cursor` from `meta.links.next`, Hetzner
//! `page`/`per_page` with `meta.pagination.next_page`.
//!
//! Owns "what to ask for next", "how many the provider says there are", and
//! when to stop following: a page asked for twice (a cursor or next link that
//! does not advance) and more than [`MAX_PAGES`] pages both end a listing as
//! an error. Must never: send requests, or turn a page it cannot read into
//! "the end" (an unreadable link is an error, not a stop).

use std::collections::HashSet;

use serde_json::Value;

/// The most pages one listing follows: at the largest page sizes, two
/// million DigitalOcean items, five million Vultr items, half a million
/// Hetzner items. A listing that is still going is a server that keeps
/// inventing pages, and ends as an incomplete listing.
pub const MAX_PAGES: usize = 10_000;

/// Why a [`Walk`] refuses the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// This exact page was already asked for in this listing: the cursor,
    /// page number or next link does not advance.
    Repeated,
    /// The listing already took this many pages.
    Cap(usize),
}

/// One listing's walk over its pages: refuses a page asked for before and
/// the page after the cap.
#[derive(Debug)]
pub struct Walk {
    seen: HashSet<Vec<(String, String)>>,
    cap: usize,
}

impl Walk {
    /// A walk that follows at most [`MAX_PAGES`] pages.
    pub fn new() -> Self {
        Self::with_cap(MAX_PAGES)
    }

    /// A walk that follows at most `cap` pages.
    pub fn with_cap(cap: usize) -> Self {
        Self {
            seen: HashSet::new(),
            cap,
        }
    }

    /// Record that the page with this full query is about to be asked for.
    ///
    /// # Errors
    /// [`Stop::Repeated`] when it was asked for before, [`Stop::Cap`] when
    /// the listing already took its cap of pages.
    pub fn step(&mut self, query: &[(String, String)]) -> Result<(), Stop> {
        if self.seen.contains(query) {
            return Err(Stop::Repeated);
        }
        if self.seen.len() >= self.cap {
            return Err(Stop::Cap(self.cap));
        }
        self.seen.insert(query.to_vec());
        Ok(())
    }
}

impl Default for Walk {
    fn default() -> Self {
        Self::new()
    }
}

/// Largest page sizes each provider allows (DigitalOcean 200, Vultr 500,
/// Hetzner 50).
pub const DO_PER_PAGE: u32 = 200;
/// Vultr's largest page.
pub const VULTR_PER_PAGE: u32 = 500;
/// Hetzner's largest page.
pub const HETZNER_PER_PAGE: u32 = 50;

/// Which scheme a provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// DigitalOcean.
    DigitalOcean,
    /// Vultr.
    Vultr,
    /// Hetzner.
    Hetzner,
}

impl Scheme {
    /// Query for the first page.
    pub fn first(self) -> Vec<(String, String)> {
        match self {
            Self::DigitalOcean => vec![
                ("page".into(), "1".into()),
                ("per_page".into(), DO_PER_PAGE.to_string()),
            ],
            Self::Vultr => vec![("per_page".into(), VULTR_PER_PAGE.to_string())],
            Self::Hetzner => vec![
                ("page".into(), "1".into()),
                ("per_page".into(), HETZNER_PER_PAGE.to_string()),
            ],
        }
    }

    /// Query for the page after `body`: `Ok(None)` at the end, `Err` when the
    /// page says there is more but not in a form we can follow.
    pub fn next(self, body: &Value) -> Result<Option<Vec<(String, String)>>, String> {
        match self {
            Self::DigitalOcean => do_next(body),
            Self::Vultr => Ok(vultr_next(body).map(|cursor| {
                vec![
                    ("per_page".into(), VULTR_PER_PAGE.to_string()),
                    ("cursor".into(), cursor),
                ]
            })),
            Self::Hetzner => Ok(hetzner_next(body).map(|page| {
                vec![
                    ("page".into(), page.to_string()),
                    ("per_page".into(), HETZNER_PER_PAGE.to_string()),
                ]
            })),
        }
    }
}

impl Scheme {
    /// The number of items the whole listing has, when the page says:
    /// DigitalOcean and Vultr `meta.total`, Hetzner
    /// `meta.pagination.total_entries` (nullable).
    pub fn total(self, body: &Value) -> Option<u64> {
        let pointer = match self {
            Self::DigitalOcean | Self::Vultr => "/meta/total",
            Self::Hetzner => "/meta/pagination/total_entries",
        };
        body.pointer(pointer).and_then(Value::as_u64)
    }
}

/// DigitalOcean: the query of `links.pages.next` (a full URL). Only its query
/// is used; the request goes to our own base URL and path, so a link to
/// another host never receives the token.
pub fn do_next(body: &Value) -> Result<Option<Vec<(String, String)>>, String> {
    let Some(next) = body.pointer("/links/pages/next") else {
        return Ok(None);
    };
    let Some(text) = next.as_str() else {
        return if next.is_null() {
            Ok(None)
        } else {
            Err("links.pages.next is not a string".into())
        };
    };
    if text.is_empty() {
        return Ok(None);
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("links.pages.next: {e}"))?;
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !query.iter().any(|(k, _)| k == "page") {
        return Err("links.pages.next has no page parameter".into());
    }
    Ok(Some(query))
}

/// Vultr: `meta.links.next`, an opaque cursor; empty or missing is the end.
pub fn vultr_next(body: &Value) -> Option<String> {
    body.pointer("/meta/links/next")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Hetzner: `meta.pagination.next_page`; null or missing is the end.
pub fn hetzner_next(body: &Value) -> Option<u64> {
    body.pointer("/meta/pagination/next_page")
        .and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digitalocean_links() {
        let q = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        let cases = [
            (json!({"droplets": [], "links": {}}), Ok(None)),
            (json!({"links": {"pages": {"prev": "x"}}}), Ok(None)),
            (json!({"links": {"pages": {"next": null}}}), Ok(None)),
            (
                json!({"links": {"pages": {"next": "https://api.digitalocean.com/v2/droplets?page=2&per_page=200"}}}),
                Ok(q(&[("page", "2"), ("per_page", "200")])),
            ),
            (
                json!({"links": {"pages": {"next": "http://127.0.0.1:9/digitalocean/v2/snapshots?resource_type=droplet&page=3&per_page=200"}}}),
                Ok(q(&[
                    ("resource_type", "droplet"),
                    ("page", "3"),
                    ("per_page", "200"),
                ])),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(do_next(&body), want, "{body}");
        }
        assert!(do_next(&json!({"links": {"pages": {"next": 3}}})).is_err());
        assert!(do_next(&json!({"links": {"pages": {"next": "not a url"}}})).is_err());
        assert!(
            do_next(&json!({"links": {"pages": {"next": "https://x/v2/d?per_page=2"}}})).is_err()
        );
    }

    #[test]
    fn walks_stop_at_a_repeated_page_and_at_the_cap() {
        let q = |cursor: &str| vec![("cursor".to_string(), cursor.to_string())];
        let mut walk = Walk::with_cap(3);
        assert_eq!(walk.step(&q("a")), Ok(()));
        assert_eq!(walk.step(&q("b")), Ok(()));
        assert_eq!(walk.step(&q("a")), Err(Stop::Repeated));
        assert_eq!(walk.step(&q("c")), Ok(()));
        assert_eq!(walk.step(&q("d")), Err(Stop::Cap(3)));
        let mut walk = Walk::new();
        for i in 0..MAX_PAGES {
            assert_eq!(walk.step(&q(&i.to_string())), Ok(()), "page {i}");
        }
        assert_eq!(walk.step(&q("one more")), Err(Stop::Cap(MAX_PAGES)));
    }

    #[test]
    fn totals() {
        let cases = [
            (
                Scheme::DigitalOcean,
                json!({"meta": {"total": 50}}),
                Some(50),
            ),
            (Scheme::DigitalOcean, json!({"meta": {}}), None),
            (
                Scheme::Vultr,
                json!({"meta": {"total": 3, "links": {}}}),
                Some(3),
            ),
            (
                Scheme::Hetzner,
                json!({"meta": {"pagination": {"total_entries": 7}}}),
                Some(7),
            ),
            (
                Scheme::Hetzner,
                json!({"meta": {"pagination": {"total_entries": null}}}),
                None,
            ),
        ];
        for (scheme, body, want) in cases {
            assert_eq!(scheme.total(&body), want, "{scheme:?} {body}");
        }
    }

    #[test]
    fn vultr_cursors() {
        let cases = [
            (
                json!({"meta": {"total": 3, "links": {"next": "", "prev": ""}}}),
                None,
            ),
            (json!({"meta": {"total": 3}}), None),
            (json!({"vke_clusters": []}), None),
            (
                json!({"meta": {"links": {"next": "bmV4dF9fMTIz", "prev": ""}}}),
                Some("bmV4dF9fMTIz".to_string()),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(vultr_next(&body), want, "{body}");
        }
    }

    #[test]
    fn hetzner_pages() {
        let cases = [
            (
                json!({"meta": {"pagination": {"page": 1, "next_page": 2}}}),
                Some(2),
            ),
            (
                json!({"meta": {"pagination": {"page": 4, "next_page": null}}}),
                None,
            ),
            (json!({"meta": {}}), None),
        ];
        for (body, want) in cases {
            assert_eq!(hetzner_next(&body), want, "{body}");
        }
        let next = Scheme::Hetzner.next(&json!({"meta": {"pagination": {"next_page": 2}}}));
        assert_eq!(
            next,
            Ok(Some(vec![
                ("page".into(), "2".into()),
                ("per_page".into(), "50".into())
            ]))
        );
    }
}
