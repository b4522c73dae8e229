//! Hetzner label selectors and label validation (pure).
//!
//! Owns the selector grammar of the official "Label Selector" table (`k=v`,
//! `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma = AND) and
//! the "Labels" key/value rules. Must never: do I/O or know about HTTP.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v` / `k==v`.
    Equals(String, String),
    /// `k!=v`: the key is absent or has another value (as in Kubernetes,
    /// which Hetzner's syntax follows; the docs do not say).
    NotEquals(String, String),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)`: absent or none of the values.
    NotIn(String, Vec<String>),
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    /// Parse a selector; the error names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in split_top(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err("empty expression in label selector".into());
            }
            out.push(parse_one(part)?);
        }
        Ok(Self(out))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

/// Split on commas that are not inside parentheses.
fn split_top(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')' in label selector".into());
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '(' in label selector".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_one(expr: &str) -> Result<Requirement, String> {
    if let Some(key) = expr.strip_prefix('!') {
        if key.contains(['=', '(', ' ']) {
            return Err(format!("invalid expression '{expr}' in label selector"));
        }
        return Ok(Requirement::NotExists(checked_key(key.trim())?));
    }
    if let Some((k, v)) = expr.split_once("!=") {
        return Ok(Requirement::NotEquals(
            checked_key(k.trim())?,
            checked_value(v.trim())?,
        ));
    }
    if let Some((k, v)) = expr.split_once("==") {
        return Ok(Requirement::Equals(
            checked_key(k.trim())?,
            checked_value(v.trim())?,
        ));
    }
    if let Some((k, v)) = expr.split_once('=') {
        return Ok(Requirement::Equals(
            checked_key(k.trim())?,
            checked_value(v.trim())?,
        ));
    }
    if let Some(open) = expr.find('(') {
        let head = expr[..open].trim();
        let rest = expr[open + 1..].trim_end();
        let inner = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("invalid expression '{expr}' in label selector"))?;
        let values = inner
            .split(',')
            .map(|v| checked_value(v.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let words: Vec<&str> = head.split_whitespace().collect();
        return match words.as_slice() {
            [k, "in"] => Ok(Requirement::In(checked_key(k)?, values)),
            [k, "notin"] => Ok(Requirement::NotIn(checked_key(k)?, values)),
            _ => Err(format!("invalid expression '{expr}' in label selector")),
        };
    }
    Ok(Requirement::Exists(checked_key(expr)?))
}

fn checked_key(key: &str) -> Result<String, String> {
    if valid_key(key) {
        Ok(key.to_string())
    } else {
        Err(format!("invalid label key '{key}' in label selector"))
    }
}

fn checked_value(value: &str) -> Result<String, String> {
    if valid_value(value) {
        Ok(value.to_string())
    } else {
        Err(format!("invalid label value '{value}' in label selector"))
    }
}

fn name_segment_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns_subdomain_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// A label key per the "Labels" rules: optional DNS-subdomain prefix and `/`,
/// then a name of at most 63 characters, alphanumeric at both ends.
pub fn valid_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => dns_subdomain_ok(prefix) && name_segment_ok(name),
        None => name_segment_ok(key),
    }
}

/// A label value: empty, or like a key's name segment.
pub fn valid_value(value: &str) -> bool {
    value.is_empty() || name_segment_ok(value)
}

/// Check a label map as a request body would carry it; `Err` holds one
/// message per bad entry.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), Vec<String>> {
    let mut bad = Vec::new();
    for (k, v) in labels {
        if !valid_key(k) {
            bad.push(format!("label key '{k}' is invalid"));
        } else if k.starts_with("hetzner.cloud/") {
            bad.push(format!(
                "label key '{k}' uses the reserved prefix hetzner.cloud/"
            ));
        }
        if !valid_value(v) {
            bad.push(format!("label value '{v}' of key '{k}' is invalid"));
        }
    }
    if bad.is_empty() { Ok(()) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_as_documented() {
        let prod_web = labels(&[("env", "production"), ("type", "web")]);
        let prod_db = labels(&[("env", "production"), ("type", "database")]);
        let bare = labels(&[]);
        let cases: &[(&str, &BTreeMap<String, String>, bool)] = &[
            ("env=production", &prod_web, true),
            ("env==production", &prod_web, true),
            ("env=staging", &prod_web, false),
            ("env=production,type!=database", &prod_web, true),
            ("env=production,type!=database", &prod_db, false),
            ("type!=database", &bare, true),
            ("env", &prod_web, true),
            ("env", &bare, false),
            ("!type", &bare, true),
            ("!type", &prod_web, false),
            ("env in (testing,staging)", &prod_web, false),
            ("env in (testing, production)", &prod_web, true),
            ("type notin (database,cache)", &prod_web, true),
            ("type notin (database,cache)", &prod_db, false),
            ("type notin (database)", &bare, true),
            ("env==production,!owner", &prod_db, true),
            (" env = production , type in (web) ", &prod_web, true),
            (
                "example.com/my=label",
                &labels(&[("example.com/my", "label")]),
                true,
            ),
            ("just-a-key=", &labels(&[("just-a-key", "")]), true),
        ];
        for (sel, l, want) in cases {
            let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(l), *want, "{sel} on {l:?}");
        }
    }

    #[test]
    fn bad_selectors_are_refused() {
        for sel in [
            "",
            "env=production,",
            "env in (a,b",
            "env in a,b)",
            "env within (a)",
            "-bad=x",
            "k=v v",
            "!k=v",
        ] {
            assert!(Selector::parse(sel).is_err(), "{sel:?} should be refused");
        }
    }

    #[test]
    fn label_rules() {
        let cases = [
            ("env", "prod", true),
            ("example.com/my", "label", true),
            ("just-a-key", "", true),
            ("a.b_c-d", "x.y_z-1", true),
            ("-env", "prod", false),
            ("env-", "prod", false),
            ("env", "-prod", false),
            ("env", &"x".repeat(64), false),
            (&"k".repeat(64), "v", false),
            ("bad prefix/x", "v", false),
            ("hetzner.cloud/x", "v", false),
            ("env", "a b", false),
        ];
        for (k, v, ok) in cases {
            assert_eq!(check_labels(&labels(&[(k, v)])).is_ok(), ok, "{k:?}={v:?}");
        }
    }
}
