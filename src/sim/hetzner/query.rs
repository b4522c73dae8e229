//! Query strings, sorting and pagination the Hetzner way (pure).
//!
//! Owns: decoding repeated query parameters (`status=a&status=b`), the
//! `sort=field[:asc|:desc]` rules, and `page`/`per_page` with
//! `meta.pagination` and the `Link` header. Must never: touch simulator state
//! or do I/O.

use std::cmp::Ordering;

use serde_json::{Value, json};

/// The documented default page size.
pub const DEFAULT_PER_PAGE: u64 = 25;
/// The documented maximum page size ("the maximum value is 50 except
/// otherwise specified"; the derived spec declares no maximum).
pub const MAX_PER_PAGE: u64 = 50;

/// A decoded query string, keeping order and repeats.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Decode `a=1&b=x%20y&a=2` (`+` is a space).
    pub fn parse(raw: Option<&str>) -> Self {
        let mut out = Vec::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push((decode(k), decode(v)));
        }
        Self(out)
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The last value of `key`.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A problem with one query parameter: (parameter name, message).
pub type FieldError = (String, String);

/// Parse `sort` values against the allowed field names.
pub fn sort_keys(q: &Query, allowed: &[&str]) -> Result<Vec<(String, bool)>, FieldError> {
    let mut keys = Vec::new();
    for raw in q.all("sort") {
        let (field, desc) = match raw.split_once(':') {
            Some((f, "asc")) => (f, false),
            Some((f, "desc")) => (f, true),
            Some(_) => return Err(("sort".into(), format!("invalid sort direction in '{raw}'"))),
            None => (raw, false),
        };
        if !allowed.contains(&field) {
            return Err(("sort".into(), format!("invalid sort field '{field}'")));
        }
        keys.push((field.to_string(), desc));
    }
    Ok(keys)
}

/// Compare two JSON items by the sort keys (falls back to `id` ascending).
/// Nulls sort first.
pub fn compare(a: &Value, b: &Value, keys: &[(String, bool)]) -> Ordering {
    for (field, desc) in keys {
        let ord = cmp_values(&a[field.as_str()], &b[field.as_str()]);
        let ord = if *desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    cmp_values(&a["id"], &b["id"])
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Validated `page` and `per_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based page.
    pub page: u64,
    /// Items per page.
    pub per_page: u64,
}

impl Paging {
    /// Read `page` and `per_page`. Out-of-range values are refused
    /// (`invalid_input`), as the official docs give a hard maximum of 50; the
    /// derived spec is silent on what happens beyond it.
    pub fn from_query(q: &Query) -> Result<Self, FieldError> {
        let num = |name: &str, default: u64| -> Result<u64, FieldError> {
            match q.one(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| (name.to_string(), format!("'{v}' is not a positive integer"))),
            }
        };
        let page = num("page", 1)?;
        let per_page = num("per_page", DEFAULT_PER_PAGE)?;
        if page < 1 {
            return Err(("page".into(), "must be at least 1".into()));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err((
                "per_page".into(),
                format!("must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok(Self { page, per_page })
    }

    /// Cut one page out of `items`; returns the page and `meta`.
    pub fn apply(&self, items: Vec<Value>) -> (Vec<Value>, Value, PageLinks) {
        let total = items.len() as u64;
        let last = total.div_ceil(self.per_page).max(1);
        let start = (self.page - 1).saturating_mul(self.per_page);
        let page_items: Vec<Value> = items
            .into_iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(usize::try_from(self.per_page).unwrap_or(usize::MAX))
            .collect();
        let prev = (self.page > 1).then(|| (self.page - 1).min(last));
        let next = (self.page < last).then_some(self.page + 1);
        let meta = json!({
            "pagination": {
                "page": self.page,
                "per_page": self.per_page,
                "previous_page": prev,
                "next_page": next,
                "last_page": last,
                "total_entries": total,
            }
        });
        (
            page_items,
            meta,
            PageLinks {
                prev,
                next,
                last,
                per_page: self.per_page,
            },
        )
    }
}

/// Pages a `Link` header points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLinks {
    /// `rel="prev"`.
    pub prev: Option<u64>,
    /// `rel="next"`.
    pub next: Option<u64>,
    /// `rel="last"`.
    pub last: u64,
    /// The page size to repeat in each URL.
    pub per_page: u64,
}

impl PageLinks {
    /// The `Link` header value: `<base?…&page=N&per_page=M>; rel="…"` for
    /// prev, next and last, keeping the other query parameters.
    pub fn header(&self, base: &str, q: &Query) -> String {
        let others: Vec<String> =
            q.0.iter()
                .filter(|(k, _)| k != "page" && k != "per_page")
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
        let url = |page: u64| {
            let mut parts = others.clone();
            parts.push(format!("page={page}"));
            parts.push(format!("per_page={}", self.per_page));
            format!("<{base}?{}>", parts.join("&"))
        };
        let mut rels = Vec::new();
        if let Some(p) = self.prev {
            rels.push(format!("{}; rel=\"prev\"", url(p)));
        }
        if let Some(n) = self.next {
            rels.push(format!("{}; rel=\"next\"", url(n)));
        }
        rels.push(format!("{}; rel=\"last\"", url(self.last)));
        rels.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_keeps_repeats() {
        let q = Query::parse(Some(
            "status=running&status=off&label_selector=env%3Dprod%2C%21x&name=a+b",
        ));
        assert_eq!(q.all("status"), vec!["running", "off"]);
        assert_eq!(q.one("label_selector"), Some("env=prod,!x"));
        assert_eq!(q.one("name"), Some("a b"));
        assert_eq!(q.one("missing"), None);
        assert_eq!(Query::parse(Some("x=%zz&y=%4")).one("x"), Some("%zz"));
        assert_eq!(Query::parse(Some("y=%4")).one("y"), Some("%4"));
    }

    #[test]
    fn paging_limits() {
        let cases = [
            ("", Some((1, 25))),
            ("page=3&per_page=50", Some((3, 50))),
            ("per_page=51", None),
            ("per_page=0", None),
            ("page=0", None),
            ("page=-1", None),
            ("per_page=abc", None),
        ];
        for (raw, want) in cases {
            let got = Paging::from_query(&Query::parse(Some(raw)))
                .ok()
                .map(|p| (p.page, p.per_page));
            assert_eq!(got, want, "{raw}");
        }
    }

    #[test]
    fn pagination_meta_has_nulls_at_the_ends() {
        let items: Vec<Value> = (1..=7).map(|i| json!({ "id": i })).collect();
        let cases = [
            (1, 3, 3, None, Some(2), 3),
            (2, 3, 3, Some(1), Some(3), 3),
            (3, 3, 1, Some(2), None, 3),
            (4, 3, 0, Some(3), None, 3),
            (1, 50, 7, None, None, 1),
        ];
        for (page, per_page, n, prev, next, last) in cases {
            let (got, meta, _) = Paging { page, per_page }.apply(items.clone());
            assert_eq!(got.len(), n, "page {page}");
            let p = &meta["pagination"];
            assert_eq!(p["previous_page"].as_u64(), prev, "page {page}");
            assert_eq!(p["next_page"].as_u64(), next, "page {page}");
            assert_eq!(p["last_page"].as_u64(), Some(last), "page {page}");
            assert_eq!(p["total_entries"].as_u64(), Some(7));
        }
        let (_, meta, _) = Paging {
            page: 1,
            per_page: 25,
        }
        .apply(Vec::new());
        assert_eq!(meta["pagination"]["last_page"], 1);
    }

    #[test]
    fn link_header_keeps_filters() {
        let q = Query::parse(Some("type=snapshot&page=2&per_page=5"));
        let links = PageLinks {
            prev: Some(1),
            next: Some(3),
            last: 6,
            per_page: 5,
        };
        assert_eq!(
            links.header("http://h/hetzner/v1/images", &q),
            "<http://h/hetzner/v1/images?type=snapshot&page=1&per_page=5>; rel=\"prev\", \
             <http://h/hetzner/v1/images?type=snapshot&page=3&per_page=5>; rel=\"next\", \
             <http://h/hetzner/v1/images?type=snapshot&page=6&per_page=5>; rel=\"last\""
        );
    }

    #[test]
    fn sorting() {
        let q = Query::parse(Some("sort=name:desc&sort=id"));
        let keys = sort_keys(&q, &["id", "name"]).unwrap();
        let mut v = [
            json!({"id": 1, "name": "a"}),
            json!({"id": 3, "name": "b"}),
            json!({"id": 2, "name": "b"}),
            json!({"id": 4, "name": null}),
        ];
        v.sort_by(|a, b| compare(a, b, &keys));
        let ids: Vec<u64> = v.iter().filter_map(|x| x["id"].as_u64()).collect();
        assert_eq!(ids, vec![2, 3, 1, 4]);
        assert!(sort_keys(&Query::parse(Some("sort=size")), &["id"]).is_err());
        assert!(sort_keys(&Query::parse(Some("sort=id:up")), &["id"]).is_err());
    }
}
