//! Where each key and value of a YAML document sits: a key path
//! (`accounts[1].policies[0].keep`) to line:column index built from the event
//! stream of a parser that reports marks (`saphyr-parser`).
//!
//! Owns only positions. Must never: decide whether a document is valid (the
//! serde parse and validation do that), or fail: an index that cannot be
//! built is empty, and diagnostics then fall back to key paths.

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
}

impl Locations {
    /// Build the index; on a scanner error, keep what was found so far.
    pub(crate) fn index(text: &str) -> Self {
        let mut entries = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let pos = (span.start.line(), span.start.col() + 1);
            match event {
                Event::Scalar(..) | Event::Alias(..) => {
                    let scalar = match &event {
                        Event::Scalar(s, ..) => Some(s.to_string()),
                        _ => None,
                    };
                    if let Some(path) = node_path(&mut stack, scalar, pos, &mut entries) {
                        entries.entry(path).or_insert(Entry {
                            key: None,
                            value: pos,
                        });
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    let frame = match node_path(&mut stack, None, pos, &mut entries) {
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
        Self { entries }
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
        Frame::Map { path, key, key_pos } => match key.take() {
            None => {
                // This node is a key. Non-scalar keys are not indexed.
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
        let l = Locations::index(text);
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
        let l = Locations::index("a: 1\nb: [\n");
        assert_eq!(l.value("a"), Some((1, 4)));
    }
}
