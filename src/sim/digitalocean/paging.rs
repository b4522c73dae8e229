//! DigitalOcean pagination: `page` / `per_page` query parameters, the
//! `links.pages` object and `meta.total`.
//!
//! Pure: owns parsing the two parameters and building page links from a base
//! URL. Must never: read state or the clock.

use serde_json::{Map, Value, json};

/// Spec default for `per_page`.
pub(super) const DEFAULT_PER_PAGE: u64 = 20;
/// Spec maximum for `per_page`.
pub(super) const MAX_PER_PAGE: u64 = 200;

/// A parsed page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PageReq {
    /// 1-based page number.
    pub page: u64,
    /// Items per page, 1..=200.
    pub per_page: u64,
}

/// Read `page` and `per_page` from the query pairs.
///
/// The spec gives `page` minimum 1 and `per_page` 1..=200 but declares no
/// error response for list operations. The real API caps a larger `per_page`
/// at 200 silently (observed in digitalocean/api-v2#136 and
/// petems/tugboat#205: "the API limits the response to 200 at a time"), so
/// the simulator clamps above 200. Values below 1 or not integers are refused
/// (the caller answers 400 `bad_request`), so a client bug shows up here.
pub(super) fn parse(query: &[(String, String)]) -> Result<PageReq, String> {
    let mut req = PageReq {
        page: 1,
        per_page: DEFAULT_PER_PAGE,
    };
    for (k, v) in query {
        match k.as_str() {
            "page" => {
                req.page = match v.parse::<u64>() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(format!("page must be an integer of at least 1, got {v:?}")),
                }
            }
            "per_page" => {
                req.per_page = match v.parse::<u64>() {
                    Ok(n) if n >= 1 => n.min(MAX_PER_PAGE),
                    _ => {
                        return Err(format!(
                            "per_page must be an integer between 1 and {MAX_PER_PAGE}, got {v:?}"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(req)
}

/// The items of the requested page.
pub(super) fn slice<T: Clone>(items: &[T], req: PageReq) -> Vec<T> {
    let start = (req.page - 1).saturating_mul(req.per_page);
    items
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(req.per_page).unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

/// The last page number (1 when empty).
fn last_page(total: u64, per_page: u64) -> u64 {
    total.div_ceil(per_page).max(1)
}

/// The `links` object: `{"pages": {first, prev, next, last}}` with only the
/// links that make sense, or `{}` when everything is on this one page (as the
/// real API answers a single page).
///
/// `base` is the full URL without query; `other` are the request's other
/// query pairs (filters), kept in every link.
pub(super) fn links(base: &str, other: &[(String, String)], req: PageReq, total: u64) -> Value {
    let last = last_page(total, req.per_page);
    let url = |page: u64| {
        let mut q = format!("page={page}&per_page={}", req.per_page);
        for (k, v) in other {
            if k != "page" && k != "per_page" {
                q.push('&');
                q.push_str(&encode(k));
                q.push('=');
                q.push_str(&encode(v));
            }
        }
        format!("{base}?{q}")
    };
    let mut pages = Map::new();
    if req.page > 1 {
        pages.insert("first".into(), Value::String(url(1)));
        pages.insert("prev".into(), Value::String(url(req.page - 1)));
    }
    if req.page < last {
        pages.insert("last".into(), Value::String(url(last)));
        pages.insert("next".into(), Value::String(url(req.page + 1)));
    }
    if pages.is_empty() {
        json!({})
    } else {
        json!({ "pages": pages })
    }
}

/// Percent-encode a query component (RFC 3986 unreserved characters pass).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_cases() {
        let ok = |page, per_page| Ok(PageReq { page, per_page });
        type Case = (Vec<(String, String)>, Result<PageReq, ()>);
        let cases: Vec<Case> = vec![
            (q(&[]), ok(1, 20)),
            (q(&[("page", "3")]), ok(3, 20)),
            (q(&[("per_page", "200")]), ok(1, 200)),
            (q(&[("per_page", "201")]), ok(1, 200)),
            (q(&[("per_page", "1")]), ok(1, 1)),
            (q(&[("per_page", "0")]), Err(())),
            (q(&[("per_page", "-5")]), Err(())),
            (q(&[("per_page", "ten")]), Err(())),
            (q(&[("page", "0")]), Err(())),
            (q(&[("tag_name", "x"), ("page", "2")]), ok(2, 20)),
        ];
        for (query, want) in cases {
            assert_eq!(parse(&query).map_err(|_| ()), want, "{query:?}");
        }
    }

    #[test]
    fn slice_cases() {
        let items: Vec<u32> = (1..=7).collect();
        let cases = [
            (1, 3, vec![1, 2, 3]),
            (3, 3, vec![7]),
            (4, 3, vec![]),
            (1, 20, (1..=7).collect()),
        ];
        for (page, per_page, want) in cases {
            assert_eq!(slice(&items, PageReq { page, per_page }), want);
        }
    }

    #[test]
    fn links_only_those_that_make_sense() {
        let base = "http://h/digitalocean/v2/droplets";
        let r = |page| PageReq { page, per_page: 2 };
        let keys = |v: &Value| -> Vec<String> {
            v.get("pages")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let cases = [
            (r(1), 2, vec![]),
            (r(1), 5, vec!["last", "next"]),
            (r(2), 5, vec!["first", "last", "next", "prev"]),
            (r(3), 5, vec!["first", "prev"]),
        ];
        for (req, total, want) in cases {
            let got = links(base, &[], req, total);
            assert_eq!(keys(&got), want, "{req:?} total {total}");
        }
        assert_eq!(links(base, &[], r(1), 2), json!({}));
    }

    #[test]
    fn links_keep_filters_encoded() {
        let v = links(
            "http://h/digitalocean/v2/droplets",
            &q(&[("tag_name", "env:prod"), ("page", "1")]),
            PageReq {
                page: 1,
                per_page: 1,
            },
            2,
        );
        assert_eq!(
            v["pages"]["next"],
            "http://h/digitalocean/v2/droplets?page=2&per_page=1&tag_name=env%3Aprod"
        );
    }
}
