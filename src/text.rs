//! Provider-controlled text made safe for a terminal or a log line.
//!
//! Owns the one escaping rule that tables (`commands::text`) and the text
//! log format (`daemon::logging`) share. Must never: change text that holds
//! nothing unsafe, or let a control character, a bidirectional override or
//! an escape sequence through.

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
