//! A YAML document as a tree whose every node knows its line and column.
//!
//! serde's YAML support forgets positions once a value is built, so errors found after parsing
//! (a duplicate project, a path that does not exist) could not say where they are. This tree,
//! built from saphyr-parser's events, keeps them, and keeps mapping entries in file order with
//! duplicates (so that a duplicate key is an error that names both places, not a silent overwrite).
//!
//! The tree is bounded whatever the file says: it nests at most [`MAX_DEPTH`] lists and maps
//! deep (dropping, copying or reading a deeper tree recurses past the stack), and aliases add at
//! most [`MAX_ALIAS_SIZE`] to it (a few hundred bytes of aliases of aliases, a "billion laughs",
//! would otherwise expand to billions of nodes).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// How many lists and maps deep a document may nest; a config needs a handful.
pub const MAX_DEPTH: usize = 128;

/// How large the copies that aliases make may be in all, counting one per node and one per byte
/// of a scalar's text: a few MiB at most.
pub const MAX_ALIAS_SIZE: usize = 100_000;

/// A 1-based line and column.
pub type Pos = (usize, usize);

/// One node of the document.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it holds.
    pub kind: Kind,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar as written; `plain` when unquoted (only plain scalars can be null, a bool or a
    /// number).
    Scalar {
        /// The scalar's text.
        text: String,
        /// Whether it was written without quotes or block indicators.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order, duplicates kept.
    Map(Vec<(Node, Node)>),
}

/// What a scalar means under YAML 1.2's core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `~`, `null`, or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// Anything else.
    Str(&'a str),
}

impl Node {
    /// The scalar's meaning, or `None` for a sequence or mapping.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let Kind::Scalar { text, plain } = &self.kind else {
            return None;
        };
        if !plain {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t => {
                if let Some(i) = parse_int(t) {
                    Scalar::Int(i)
                } else if let Some(f) = parse_float(t) {
                    Scalar::Float(f)
                } else {
                    Scalar::Str(t)
                }
            }
        })
    }

    /// A word for the node's type, for errors: "a string", "a list", ...
    pub fn describe(&self) -> &'static str {
        match (&self.kind, self.scalar()) {
            (Kind::Seq(_), _) => "a list",
            (Kind::Map(_), _) => "a map",
            (_, Some(Scalar::Null)) => "nothing",
            (_, Some(Scalar::Bool(_))) => "a boolean",
            (_, Some(Scalar::Int(_))) => "a whole number",
            (_, Some(Scalar::Float(_))) => "a number",
            _ => "a string",
        }
    }

    /// The node as JSON (what an agent plugin hands its agent).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
            Kind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) | None => Value::Null,
                Some(Scalar::Bool(b)) => Value::Bool(b),
                Some(Scalar::Int(i)) => Value::from(i),
                Some(Scalar::Float(f)) => Value::from(f),
                Some(Scalar::Str(s)) => Value::String(s.to_string()),
            },
        }
    }

    /// A mapping key as text (a non-scalar key, which YAML allows, as its type word).
    pub fn key_text(&self) -> String {
        match &self.kind {
            Kind::Scalar { text, .. } => text.clone(),
            _ => self.describe().to_string(),
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(sign * value)
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // Rust accepts "inf" and "nan" too, which YAML reads as strings.
    let numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if numeric && t.bytes().any(|b| b.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// A document that is not YAML, or not one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

/// How large a node is (one per node, one per byte of text) and how many lists and maps deep it
/// nests.
#[derive(Debug, Clone, Copy)]
struct Measure {
    size: usize,
    depth: usize,
}

impl Measure {
    /// An empty list or map's contents.
    const EMPTY: Measure = Measure { size: 0, depth: 0 };

    /// Adds a node held inside.
    fn hold(&mut self, inner: Measure) {
        self.size = self.size.saturating_add(inner.size);
        self.depth = self.depth.max(inner.depth);
    }

    /// The list or map that holds what was measured.
    fn wrapped(self) -> Measure {
        Measure {
            size: self.size.saturating_add(1),
            depth: self.depth + 1,
        }
    }
}

fn too_deep(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!(
            "this list or map nests deeper than {MAX_DEPTH} levels; a config needs far fewer \
             (is the file what you meant?)"
        ),
    }
}

fn pos_of(span: &Span) -> Pos {
    (span.start.line(), span.start.col() + 1)
}

/// Parses one YAML document; `None` when the text holds none (empty, or only comments).
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    // Containers being built: the node (with its items so far) and, for a mapping, a key
    // waiting for its value.
    enum Open {
        Seq(Pos, usize, Vec<Node>),
        Map(Pos, usize, Vec<(Node, Node)>, Option<Node>),
    }
    // Beside each open container: the size of what it holds so far and how deep that nests (see
    // MAX_ALIAS_SIZE and MAX_DEPTH).
    let mut stack: Vec<(Open, Measure)> = Vec::new();
    let mut anchors: HashMap<usize, (Node, Measure)> = HashMap::new();
    let mut alias_size = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0;

    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| {
            let pos = (e.marker().line(), e.marker().col() + 1);
            // The scanner looks ahead through a flow collection (`[[[[`), and has a bound of its
            // own on how deep it goes.
            if e.info().contains("recursion limit") {
                return too_deep(pos);
            }
            SyntaxError {
                pos,
                message: format!("this is not valid YAML: {}", e.info()),
            }
        })?;
        let pos = pos_of(&span);
        let done: Option<(Node, usize, Measure)> = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos,
                        message: "the file holds more than one YAML document; keep one (remove \
                                  the extra `---`)"
                            .into(),
                    });
                }
                None
            }
            Event::Alias(id) => {
                let (node, measure) = anchors.get(&id).ok_or_else(|| SyntaxError {
                    pos,
                    message: "this alias names no anchor defined before it".into(),
                })?;
                // Checked before the copy is made, so that a refused one costs nothing.
                alias_size = alias_size.saturating_add(measure.size);
                if alias_size > MAX_ALIAS_SIZE {
                    return Err(SyntaxError {
                        pos,
                        message: format!(
                            "this alias would make the document larger than {MAX_ALIAS_SIZE} \
                             values and bytes of aliased copies (aliases of aliases multiply); \
                             write the values out, or alias less"
                        ),
                    });
                }
                if stack.len() + measure.depth > MAX_DEPTH {
                    return Err(too_deep(pos));
                }
                Some((node.clone(), 0, *measure))
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let measure = Measure {
                    size: 1 + text.len(),
                    depth: 0,
                };
                let node = Node {
                    pos,
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                };
                Some((node, anchor, measure))
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(too_deep(pos));
            }
            Event::SequenceStart(anchor, _) => {
                stack.push((Open::Seq(pos, anchor, Vec::new()), Measure::EMPTY));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push((Open::Map(pos, anchor, Vec::new(), None), Measure::EMPTY));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some((Open::Seq(p, anchor, items), inside)) => Some((
                    Node {
                        pos: p,
                        kind: Kind::Seq(items),
                    },
                    anchor,
                    inside.wrapped(),
                )),
                Some((Open::Map(p, anchor, entries, _), inside)) => Some((
                    Node {
                        pos: p,
                        kind: Kind::Map(entries),
                    },
                    anchor,
                    inside.wrapped(),
                )),
                None => None,
            },
        };
        let Some((node, anchor, measure)) = done else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), measure));
        }
        if let Some((_, inside)) = stack.last_mut() {
            inside.hold(measure);
        }
        match stack.last_mut().map(|(open, _)| open) {
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => root = Some(node),
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are() {
        let text = "a: 1\nb:\n  - x\n  - 'y'\nc: {d: true}\n";
        let root = parse(text).unwrap().unwrap();
        let Kind::Map(entries) = &root.kind else {
            panic!("{root:?}")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].0.pos, (1, 1));
        assert_eq!(entries[0].1.scalar(), Some(Scalar::Int(1)));
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(items[0].pos, (3, 5));
        assert_eq!(items[1].scalar(), Some(Scalar::Str("y")));
        assert_eq!(entries[2].1.to_json(), serde_json::json!({"d": true}));
    }

    #[test]
    fn duplicate_keys_are_kept_and_empty_text_is_no_document() {
        let root = parse("a: 1\na: 2\n").unwrap().unwrap();
        let Kind::Map(entries) = &root.kind else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
        assert!(parse("# nothing\n").unwrap().is_none());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn nesting_is_bounded_where_it_passes_the_bound() {
        let ok = "- ".repeat(MAX_DEPTH) + "x\n";
        assert!(parse(&ok).is_ok());
        let err = parse(&("- ".repeat(100_000) + "x\n")).unwrap_err();
        assert_eq!(err.pos, (1, 2 * MAX_DEPTH + 1), "{err:?}");
        assert!(err.message.contains("nests deeper than 128"), "{err:?}");
        // saphyr's scanner, which looks ahead through flow collections, stops these first.
        let err = parse(&("[".repeat(100_000) + &"]".repeat(100_000))).unwrap_err();
        assert_eq!(err.pos.0, 1, "{err:?}");
        assert!(err.message.contains("nests deeper than 128"), "{err:?}");
        // An alias cannot carry a deep value deeper than the bound.
        let deep = "[".repeat(100) + &"]".repeat(100);
        let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(40), "]".repeat(40));
        let err = parse(&text).unwrap_err();
        assert_eq!(err.pos, (2, 44), "{err:?}");
    }

    #[test]
    fn aliases_are_copied_up_to_a_bound() {
        let text = "a: &a [x, y]\nb: [*a, *a, *a]\n";
        let root = parse(text).unwrap().unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": ["x", "y"], "b": [["x", "y"], ["x", "y"], ["x", "y"]]})
        );
        // Nine levels of nine aliases each: 9^9 strings.
        let mut text = String::from("a: &a [l, l, l, l, l, l, l, l, l]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        let err = parse(&text).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(err.message.contains("alias would make"), "{err:?}");
        // A big scalar counts by its bytes.
        let big = "x".repeat(MAX_ALIAS_SIZE / 2);
        let err = parse(&format!("a: &a {big}\nb: [*a, *a, *a]\n")).unwrap_err();
        assert_eq!(err.pos.0, 2, "{err:?}");
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let node = |t: &str| Node {
            pos: (1, 1),
            kind: Kind::Scalar {
                text: t.into(),
                plain: true,
            },
        };
        let s = |t: &str| format!("{:?}", node(t).scalar().unwrap());
        let d = |v: Scalar<'_>| format!("{v:?}");
        assert_eq!(s("300000"), d(Scalar::Int(300000)));
        assert_eq!(s("0x10"), d(Scalar::Int(16)));
        assert_eq!(s("1.5"), d(Scalar::Float(1.5)));
        assert_eq!(s("yes"), d(Scalar::Str("yes")));
        assert_eq!(s("inf"), d(Scalar::Str("inf")));
        assert_eq!(s("~"), d(Scalar::Null));
    }
}
