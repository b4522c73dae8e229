//! Vultr's cursor pagination for the simulated API: `per_page` plus an opaque
//! `cursor`, answered with `meta: {total, links: {next, prev}}`.
//!
//! Real Vultr cursors are base64 text of `next__<key>` / `prev__<key>`, where
//! the key names the first item of the page the cursor leads to (keyset
//! paging, so a delete between two page requests neither skips nor repeats an
//! item). The simulator does the same with the item's id; the order is the
//! order of creation. Must never: know any resource type, or touch state.

use std::collections::HashMap;

use serde_json::{Value, json};

/// Default page size (spec parameter text: "Default is 100").
pub const DEFAULT_PER_PAGE: usize = 100;
/// Largest page size (spec parameter text: "Max is 500").
pub const MAX_PER_PAGE: usize = 500;

/// Which way a cursor points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dir {
    /// The page starting at the key.
    Next,
    /// The page ending just before the key.
    Prev,
}

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Direction.
    pub dir: Dir,
    /// Id of the item the cursor is anchored at.
    pub key: String,
}

impl Cursor {
    /// The opaque text sent to clients.
    pub fn encode(&self) -> String {
        let prefix = match self.dir {
            Dir::Next => "next__",
            Dir::Prev => "prev__",
        };
        b64_encode(format!("{prefix}{}", self.key).as_bytes())
    }

    /// Decode a client's cursor; `None` for anything this simulator did not issue.
    pub fn decode(text: &str) -> Option<Self> {
        let raw = String::from_utf8(b64_decode(text)?).ok()?;
        let (dir, key) = if let Some(k) = raw.strip_prefix("next__") {
            (Dir::Next, k)
        } else if let Some(k) = raw.strip_prefix("prev__") {
            (Dir::Prev, k)
        } else {
            return None;
        };
        if key.is_empty() {
            return None;
        }
        Some(Self {
            dir,
            key: key.to_string(),
        })
    }
}

/// Why a list request's paging parameters were refused (the message is the
/// client-facing `error` text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError(pub String);

/// Read `per_page` and `cursor` from a query. Empty values count as absent
/// (clients such as govultr send `cursor=` on the first page).
///
/// The spec gives no error for an out-of-range `per_page`; the simulator
/// refuses anything outside 1..=500 or not an integer with 400 (assumption,
/// see docs/sim-vultr.md), so a client that asks for more than Vultr serves
/// finds out here instead of silently getting short pages.
pub fn parse(query: &[(String, String)]) -> Result<(usize, Option<Cursor>), PageError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let per_page = match get("per_page") {
        None => DEFAULT_PER_PAGE,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_PER_PAGE as i64).contains(&n) => n as usize,
            _ => {
                return Err(PageError(format!(
                    "Invalid per_page value. It must be an integer between 1 and {MAX_PER_PAGE}."
                )));
            }
        },
    };
    let cursor = match get("cursor") {
        None => None,
        Some(text) => {
            Some(Cursor::decode(text).ok_or_else(|| PageError("Invalid cursor.".to_string()))?)
        }
    };
    Ok((per_page, cursor))
}

/// One page of `items` (already filtered, in creation order). `seq_of` maps
/// every id ever issued to its creation sequence number, so cursors anchored
/// at a deleted item still resolve. Returns the page's index range and `meta`.
pub fn page(
    items: &[(&str, u64)],
    per_page: usize,
    cursor: Option<&Cursor>,
    seq_of: &HashMap<String, u64>,
) -> Result<(std::ops::Range<usize>, Value), PageError> {
    let len = items.len();
    let (start, end) = match cursor {
        None => (0, per_page.min(len)),
        Some(c) => {
            let anchor = *seq_of
                .get(&c.key)
                .ok_or_else(|| PageError("Invalid cursor.".to_string()))?;
            let at = items.iter().position(|(_, s)| *s >= anchor).unwrap_or(len);
            match c.dir {
                Dir::Next => (at, (at + per_page).min(len)),
                Dir::Prev => (at.saturating_sub(per_page), at),
            }
        }
    };
    let link = |dir: Dir, idx: usize| {
        Cursor {
            dir,
            key: items[idx].0.to_string(),
        }
        .encode()
    };
    let next = if end < len {
        link(Dir::Next, end)
    } else {
        String::new()
    };
    let prev = if start > 0 && start < len {
        link(Dir::Prev, start)
    } else {
        String::new()
    };
    let meta = json!({ "total": len, "links": { "next": next, "prev": prev } });
    Ok((start..end, meta))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (padding required); `None` on anything else.
fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|a| *a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (qi, quad) in bytes.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && qi + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in quad.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else { value(*c)? };
            n = (n << 6) | v;
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
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
    fn base64_round_trips_and_matches_known_vultr_cursor() {
        // A cursor seen in public Vultr API fixtures.
        assert_eq!(b64_encode(b"next__example.net"), "bmV4dF9fZXhhbXBsZS5uZXQ=");
        for text in ["", "a", "ab", "abc", "abcd", "next__cb676a46-66fd"] {
            let enc = b64_encode(text.as_bytes());
            if text.is_empty() {
                assert_eq!(enc, "");
            } else {
                assert_eq!(b64_decode(&enc).as_deref(), Some(text.as_bytes()));
            }
        }
    }

    #[test]
    fn garbage_cursors_do_not_decode() {
        let cases = [
            "garbage!",
            "abc",
            "bmV4dF9f",       // "next__" without a key
            "Zm9vX19iYXI=",   // "foo__bar"
            "bmV4dF9fYQ==bm", // padding in the middle
            "====",
        ];
        for text in cases {
            assert_eq!(Cursor::decode(text), None, "{text}");
        }
    }

    #[test]
    fn per_page_limits() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<usize>);
        let cases: [Case; 8] = [
            (&[], Some(100)),
            (&[("per_page", "")], Some(100)),
            (&[("per_page", "1")], Some(1)),
            (&[("per_page", "500")], Some(500)),
            (&[("per_page", "501")], None),
            (&[("per_page", "0")], None),
            (&[("per_page", "-3")], None),
            (&[("per_page", "ten")], None),
        ];
        for (query, want) in cases {
            let got = parse(&q(query)).ok().map(|(n, _)| n);
            assert_eq!(got, want, "{query:?}");
        }
    }

    #[test]
    fn pages_walk_forward_and_back() {
        let ids = ["a", "b", "c", "d", "e"];
        let items: Vec<(&str, u64)> = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u64))
            .collect();
        let seq_of: HashMap<String, u64> = items.iter().map(|(i, s)| (i.to_string(), *s)).collect();
        let (r, meta) = page(&items, 2, None, &seq_of).unwrap();
        assert_eq!(r, 0..2);
        assert_eq!(meta["total"], 5);
        assert_eq!(meta["links"]["prev"], "");
        let next = Cursor::decode(meta["links"]["next"].as_str().unwrap()).unwrap();
        let (r, meta) = page(&items, 2, Some(&next), &seq_of).unwrap();
        assert_eq!(r, 2..4);
        let prev = Cursor::decode(meta["links"]["prev"].as_str().unwrap()).unwrap();
        assert_eq!(page(&items, 2, Some(&prev), &seq_of).unwrap().0, 0..2);
        let next = Cursor::decode(meta["links"]["next"].as_str().unwrap()).unwrap();
        let (r, meta) = page(&items, 2, Some(&next), &seq_of).unwrap();
        assert_eq!(r, 4..5);
        assert_eq!(meta["links"]["next"], "");
    }

    #[test]
    fn cursor_at_a_deleted_item_still_resolves() {
        let items = [("a", 0), ("c", 2), ("d", 3)];
        let seq_of: HashMap<String, u64> = [("a", 0), ("b", 1), ("c", 2), ("d", 3)]
            .iter()
            .map(|(i, s)| (i.to_string(), *s))
            .collect();
        let c = Cursor {
            dir: Dir::Next,
            key: "b".into(),
        };
        assert_eq!(page(&items, 2, Some(&c), &seq_of).unwrap().0, 1..3);
        let unknown = Cursor {
            dir: Dir::Next,
            key: "zz".into(),
        };
        assert!(page(&items, 2, Some(&unknown), &seq_of).is_err());
    }
}
