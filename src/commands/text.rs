//! Text for the terminal: escaping provider-controlled strings, shortened
//! ids, plurals, times and wrapping, shared by every command's output.
//!
//! Owns how a value is spelled for people. Must never: decide what is shown
//! (the commands do), or let a control character, a bidirectional override
//! or an escape sequence from a provider reach the terminal unescaped.

use chrono::{DateTime, Local, Utc};

/// A provider-controlled string made safe to print: control characters
/// (C0, DEL, C1), bidirectional overrides and zero-width characters become
/// `\n`, `\t`, `\r`, `\0` or `\u{..}`; a backslash is doubled so that the
/// escaped text is never ambiguous.
pub fn escape(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c == '\\' || unsafe_char(c)
}

/// A character that must never reach a terminal raw.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Escape `s` only when it holds a character that must never be printed raw
/// (a last line of defence for text that was not escaped where it was made).
pub fn guard(s: String) -> String {
    if s.chars().any(unsafe_char) {
        escape(&s)
    } else {
        s
    }
}

/// Ids longer than this are shortened in tables unless `--wide`.
const SHORT_ID: usize = 8;

/// How a group of ids (one account's table) is shown: cut to a common
/// length, at least eight characters and long enough that no two of them
/// look the same, or in full with `--wide`.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    keep: Option<usize>,
}

impl Ids {
    /// The shortening for these ids.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>, wide: bool) -> Self {
        if wide {
            return Self { keep: None };
        }
        let mut ids: Vec<Vec<char>> = ids.into_iter().map(|i| i.chars().collect()).collect();
        ids.sort();
        ids.dedup();
        // The longest common prefix of neighbours, plus one, tells them apart.
        let needed = ids
            .windows(2)
            .map(|w| w[0].iter().zip(&w[1]).take_while(|(a, b)| a == b).count() + 1)
            .max()
            .unwrap_or(0);
        Self {
            keep: Some(needed.max(SHORT_ID)),
        }
    }

    /// One id as the table shows it.
    pub fn show(&self, id: &str) -> String {
        let id = escape(id);
        match self.keep {
            Some(keep) if id.chars().count() > keep + 2 => {
                let mut s: String = id.chars().take(keep).collect();
                s.push('…');
                s
            }
            _ => id,
        }
    }
}

/// An id on its own: in full when short or `wide`, else its first eight
/// characters and `…` (commands that take an id accept that prefix).
pub fn id(id: &str, wide: bool) -> String {
    Ids {
        keep: (!wide).then_some(SHORT_ID),
    }
    .show(id)
}

/// A provider-controlled name for a table: escaped, and unless `wide` cut
/// to `max` characters with `…`.
pub fn name(s: &str, max: usize, wide: bool) -> String {
    let s = escape(s);
    if wide || s.chars().count() <= max {
        s
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `1 account`, `2 accounts`; `plural` is the plural form.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// `n` things where the plural is made by adding `s`.
pub fn count_s(n: usize, singular: &str) -> String {
    count(n, singular, &format!("{singular}s"))
}

/// An inventory kind (`load_balancers`, `block_storage`) counted: `1 load
/// balancer`, `2 load balancers`, `1 block storage`.
pub fn count_kind(n: usize, kind: &str) -> String {
    let plural = kind.replace('_', " ");
    let singular = plural.strip_suffix('s').unwrap_or(&plural).to_string();
    count(n, &singular, &plural)
}

/// An inventory kind for a table: `load balancer`, `droplet`.
pub fn kind_singular(kind: &str) -> String {
    let words = kind.replace('_', " ");
    words.strip_suffix('s').unwrap_or(&words).to_string()
}

/// A time for a table: local time to the minute, or with seconds and the
/// offset when `wide`.
pub fn time(t: DateTime<Utc>, wide: bool) -> String {
    let local = t.with_timezone(&Local);
    if wide {
        local.format("%Y-%m-%d %H:%M:%S %:z").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// `prefix` and then `items` separated by `, `, broken into lines of at
/// most `width` characters (an item longer than a line gets its own line);
/// lines after the first start with `indent`.
pub fn wrap(prefix: &str, items: &[String], width: usize, indent: &str) -> String {
    let mut out = prefix.to_string();
    let mut line_len = prefix.chars().count();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        let add = piece.chars().count();
        let at_start = line_len == 0 || (i == 0 && prefix.is_empty());
        if !at_start && line_len + 1 + add > width {
            out.push('\n');
            out.push_str(indent);
            line_len = indent.chars().count();
        } else if !at_start {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(&piece);
        line_len += add;
    }
    out
}

/// A size in GB: `20 GB`, `0.5 GB`, or `-` when unknown.
pub fn size_gb(gb: Option<f64>) -> String {
    match gb {
        None => "-".to_string(),
        Some(g) if g.fract() == 0.0 => format!("{g:.0} GB"),
        Some(g) => format!("{g:.1} GB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_cases() {
        let cases = [
            ("plain-name_1.2", "plain-name_1.2"),
            ("nul\0here", "nul\\0here"),
            ("tab\there", "tab\\there"),
            ("line\nbreak\r", "line\\nbreak\\r"),
            ("esc\u{1b}[31mred", "esc\\u{1b}[31mred"),
            ("del\u{7f}", "del\\u{7f}"),
            ("c1\u{9b}", "c1\\u{9b}"),
            ("bidi\u{202e}txt", "bidi\\u{202e}txt"),
            ("zw\u{200b}sp", "zw\\u{200b}sp"),
            ("back\\slash", "back\\\\slash"),
            ("ünïcödé ok", "ünïcödé ok"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "escape({input:?})");
            assert!(
                !escape(input).chars().any(|c| c.is_control()),
                "{input:?} left a control character"
            );
        }
    }

    #[test]
    fn id_cases() {
        let cases = [
            ("171000001", false, "171000001"),
            ("1234567890", false, "1234567890"),
            ("12345678901", false, "12345678…"),
            ("5e1d0002-0000-4000-8000-00000000d0a1", false, "5e1d0002…"),
            (
                "5e1d0002-0000-4000-8000-00000000d0a1",
                true,
                "5e1d0002-0000-4000-8000-00000000d0a1",
            ),
            ("id\nx", false, "id\\nx"),
        ];
        for (input, wide, want) in cases {
            assert_eq!(id(input, wide), want, "id({input:?}, {wide})");
        }
    }

    #[test]
    fn ids_stay_distinct() {
        let vultr = [
            "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01",
            "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02",
        ];
        let cases: [(&[&str], bool, &str, &str); 5] = [
            (
                &["5e1d0002-0000-4000-8000-00000000d0a1", "a7516de4-9b48"],
                false,
                "5e1d0002-0000-4000-8000-00000000d0a1",
                "5e1d0002…",
            ),
            (&vultr, false, vultr[0], vultr[0]),
            (&vultr, true, vultr[1], vultr[1]),
            (
                &["abcdefghij-1", "abcdefghij-2", "x"],
                false,
                "abcdefghij-1",
                "abcdefghij-1",
            ),
            (
                &["abcdefgh1-xxxxxx", "abcdefgh2-yyyyyy"],
                false,
                "abcdefgh1-xxxxxx",
                "abcdefgh1…",
            ),
        ];
        for (all, wide, one, want) in cases {
            let ids = Ids::new(all.iter().copied(), wide);
            assert_eq!(ids.show(one), want, "{one:?} among {all:?}");
        }
    }

    #[test]
    fn name_cases() {
        let cases = [
            ("short", 10, false, "short"),
            ("exactly-10", 10, false, "exactly-10"),
            ("eleven-long", 10, false, "eleven-lo…"),
            ("eleven-long", 10, true, "eleven-long"),
            ("a\tb", 10, false, "a\\tb"),
        ];
        for (input, max, wide, want) in cases {
            assert_eq!(name(input, max, wide), want, "name({input:?})");
        }
    }

    #[test]
    fn plurals() {
        let cases = [
            (count_s(0, "account"), "0 accounts"),
            (count_s(1, "account"), "1 account"),
            (count_s(2, "account"), "2 accounts"),
            (count(1, "policy", "policies"), "1 policy"),
            (count(3, "policy", "policies"), "3 policies"),
            (count_kind(1, "load_balancers"), "1 load balancer"),
            (count_kind(2, "load_balancers"), "2 load balancers"),
            (count_kind(1, "block_storage"), "1 block storage"),
            (
                count_kind(0, "kubernetes_clusters"),
                "0 kubernetes clusters",
            ),
            (count_kind(1, "snapshots"), "1 snapshot"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn wrap_cases() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            ("x:", w(&["a", "b", "c"]), 80, "x: a, b, c"),
            (
                "x:",
                w(&["aaaa", "bbbb", "cccc"]),
                14,
                "x: aaaa, bbbb,\n  cccc",
            ),
            (
                "x:",
                w(&["aaaa", "bbbb", "cccc"]),
                13,
                "x: aaaa,\n  bbbb, cccc",
            ),
            ("", w(&["one", "two"]), 1, "one,\n  two"),
            ("x:", w(&[]), 10, "x:"),
        ];
        for (prefix, words, width, want) in cases {
            assert_eq!(
                wrap(prefix, &words, width, "  "),
                want,
                "{words:?} at {width}"
            );
        }
    }

    #[test]
    fn sizes() {
        let cases = [
            (None, "-"),
            (Some(20.0), "20 GB"),
            (Some(0.5), "0.5 GB"),
            (Some(160.0), "160 GB"),
            (Some(1.24), "1.2 GB"),
        ];
        for (gb, want) in cases {
            assert_eq!(size_gb(gb), want);
        }
    }
}
