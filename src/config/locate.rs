//! Where each key and value of a YAML document sits: a key path
//! (`accounts[1].policies[0].keep`) to line:column index built from the event
//! stream of a parser that reports marks (`saphyr-parser`).
//!
//! Owns positions, and the facts about the document's shape that the serde
//! parse reports badly or too late: nesting depth (the walk stops at the
//! cap, so a file of nested brackets costs one short pass), a second
//! document, duplicate keys (located at the duplicate). Must never: decide
//! whether the schema is met (validation does that), or fail: an index that
//! cannot be built is partial, and diagnostics then fall back to key paths.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// 1-based line and column.
pub(crate) type Pos = (usize, usize);

/// The positions of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// Where the key of a mapping entry starts (None for sequence items and the root).
    key: Option<Pos>,
    /// Where the value starts.
    value: Pos,
}

/// Key path -> positions.
#[derive(Debug, Default, Clone)]
pub(crate) struct Locations {
    entries: HashMap<String, Entry>,
    /// (key path, first position, duplicate position) of each repeated key.
    duplicates: Vec<(String, Pos, Pos)>,
}

/// How the walk over the document ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The whole document was indexed.
    Complete,
    /// The scanner stopped at a syntax error (the serde parse reports it).
    SyntaxError,
    /// A list or mapping starts here deeper than the cap; the walk stopped.
    TooDeep(Pos),
    /// A second document starts here; the walk stopped.
    SecondDocument(Pos),
}

impl Locations {
    /// Build the index, walking at most `max_depth` levels deep; on a
    /// scanner error, keep what was found so far.
    pub(crate) fn index(text: &str, max_depth: usize) -> (Self, Scan) {
        let mut entries = HashMap::new();
        let mut duplicates = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0usize;
        let mut scan = Scan::Complete;
        for item in Parser::new_from_str(text) {
            let (event, span) = match item {
                Ok(v) => v,
                Err(e) => {
                    // The scanner looks ahead up to 255 open brackets; past
                    // that it gives up, and so does this walk, without
                    // handing such a file to the (slower) serde parser.
                    let m = e.marker();
                    scan = if e.info() == "recursion limit exceeded" {
                        Scan::TooDeep((m.line(), m.col() + 1))
                    } else {
                        Scan::SyntaxError
                    };
                    break;
                }
            };
            let pos = (span.start.line(), span.start.col() + 1);
            match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        scan = Scan::SecondDocument(pos);
                        break;
                    }
                }
                Event::Scalar(..) | Event::Alias(..) => {
                    let scalar = match &event {
                        Event::Scalar(s, ..) => Some(s.to_string()),
                        _ => None,
                    };
                    if let Some(path) =
                        node_path(&mut stack, scalar, pos, &mut entries, &mut duplicates)
                    {
                        entries.entry(path).or_insert(Entry {
                            key: None,
                            value: pos,
                        });
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    if stack.len() >= max_depth {
                        scan = Scan::TooDeep(pos);
                        break;
                    }
                    let is_map = matches!(event, Event::MappingStart(..));
                    let frame =
                        match node_path(&mut stack, None, pos, &mut entries, &mut duplicates) {
                            Some(path) => {
                                entries.entry(path.clone()).or_insert(Entry {
                                    key: None,
                                    value: pos,
                                });
                                if is_map {
                                    Frame::Map {
                                        path,
                                        key: None,
                                        key_pos: None,
                                        seen: HashMap::new(),
                                    }
                                } else {
                                    Frame::Seq { path, index: 0 }
                                }
                            }
                            None => Frame::Skip,
                        };
                    stack.push(frame);
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        (
            Self {
                entries,
                duplicates,
            },
            scan,
        )
    }

    /// Each key given twice in one mapping: its path, where it was first
    /// set, and where it is repeated.
    pub(crate) fn duplicates(&self) -> &[(String, Pos, Pos)] {
        &self.duplicates
    }

    /// Where the value at `path` starts.
    pub(crate) fn value(&self, path: &str) -> Option<Pos> {
        self.entries.get(path).map(|e| e.value)
    }

    /// Where the key of the entry at `path` starts, else its value.
    pub(crate) fn key(&self, path: &str) -> Option<Pos> {
        self.entries.get(path).map(|e| e.key.unwrap_or(e.value))
    }
}

enum Frame {
    /// A mapping; `key` is the pending key when its value is expected next.
    Map {
        path: String,
        key: Option<String>,
        key_pos: Option<Pos>,
        /// Scalar keys seen so far, with where.
        seen: HashMap<String, Pos>,
    },
    Seq {
        path: String,
        index: usize,
    },
    /// Inside a complex key or other structure we do not index.
    Skip,
}

/// The path of the node that starts now, or None when it is a mapping key
/// (recorded as pending) or lies inside a skipped structure.
fn node_path(
    stack: &mut [Frame],
    scalar: Option<String>,
    pos: Pos,
    entries: &mut HashMap<String, Entry>,
    duplicates: &mut Vec<(String, Pos, Pos)>,
) -> Option<String> {
    let Some(top) = stack.last_mut() else {
        return Some(String::new());
    };
    match top {
        Frame::Skip => None,
        Frame::Seq { path, index } => {
            let p = format!("{path}[{index}]");
            *index += 1;
            Some(p)
        }
        Frame::Map {
            path,
            key,
            key_pos,
            seen,
        } => match key.take() {
            None => {
                // This node is a key. Non-scalar keys are not indexed.
                if let Some(k) = &scalar {
                    if let Some(first) = seen.get(k) {
                        duplicates.push((join(path, k), *first, pos));
                    } else {
                        seen.insert(k.clone(), pos);
                    }
                }
                *key = Some(scalar.unwrap_or_default());
                *key_pos = Some(pos);
                None
            }
            Some(k) => {
                let p = join(path, &k);
                entries.insert(
                    p.clone(),
                    Entry {
                        key: key_pos.take(),
                        value: pos,
                    },
                );
                Some(p)
            }
        },
    }
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_by_path() {
        let text = "accounts:\n  - name: a\n    policies:\n      - name: p\n        keep: { last: 3 }\n    tags: [x, y]\n";
        let (l, scan) = Locations::index(text, 32);
        assert_eq!(scan, Scan::Complete);
        let cases: &[(&str, Option<Pos>, Option<Pos>)] = &[
            ("accounts", Some((1, 1)), Some((2, 3))),
            ("accounts[0]", Some((2, 5)), Some((2, 5))),
            ("accounts[0].name", Some((2, 5)), Some((2, 11))),
            ("accounts[0].policies[0].name", Some((4, 9)), Some((4, 15))),
            ("accounts[0].policies[0].keep", Some((5, 9)), Some((5, 15))),
            (
                "accounts[0].policies[0].keep.last",
                Some((5, 17)),
                Some((5, 23)),
            ),
            ("accounts[0].tags[1]", Some((6, 15)), Some((6, 15))),
            ("accounts[1]", None, None),
        ];
        for (path, key, value) in cases {
            assert_eq!(l.key(path), *key, "key of {path}");
            assert_eq!(l.value(path), *value, "value of {path}");
        }
    }

    #[test]
    fn broken_yaml_gives_partial_index() {
        let (l, scan) = Locations::index("a: 1\nb: [\n", 32);
        assert_eq!(l.value("a"), Some((1, 4)));
        assert_eq!(scan, Scan::SyntaxError);
    }

    #[test]
    fn shape_table() {
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        type Dup<'a> = (&'a str, Pos, Pos);
        let cases: &[(&str, Scan, &[Dup])] = &[
            ("a: [[[1]]]\n", Scan::Complete, &[]),
            ("a: [[[[1]]]]\n", Scan::TooDeep((1, 7)), &[]),
            ("- - - - x\n", Scan::Complete, &[]),
            ("- - - - - x\n", Scan::TooDeep((1, 9)), &[]),
            ("a: 1\n---\nb: 2\n", Scan::SecondDocument((2, 1)), &[]),
            ("---\na: 1\n...\n", Scan::Complete, &[]),
            (
                "a:\n  b: 1\n  c: 2\n  b: 3\nd: { x: 1, x: 2 }\n",
                Scan::Complete,
                &[("a.b", (2, 3), (4, 3)), ("d.x", (5, 6), (5, 12))],
            ),
            // The scanner's own limit: 255 open brackets of look-ahead.
            (&deep, Scan::TooDeep((1, 259)), &[]),
        ];
        for (text, scan, dups) in cases {
            let started = std::time::Instant::now();
            let (l, got) = Locations::index(text, 4);
            assert!(started.elapsed().as_secs() < 2, "slow: {}", &text[..20]);
            assert_eq!(got, *scan, "{}", &text[..text.len().min(30)]);
            let want: Vec<(String, Pos, Pos)> = dups
                .iter()
                .map(|(k, a, b)| (k.to_string(), *a, *b))
                .collect();
            assert_eq!(l.duplicates(), want.as_slice(), "{text}");
        }
    }
}
