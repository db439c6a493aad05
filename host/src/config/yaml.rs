//! A YAML tree that remembers where every node was written.
//!
//! serde_yaml decides what is valid YAML (its syntax errors, with their
//! location, are what the user sees); this module then replays the same text
//! through `yaml-rust2`'s marked events to build a [`Node`] tree in which
//! every key and value carries its [`Span`]. Decoding into the typed model
//! and all semantic checks work on that tree, so every diagnostic points at
//! the file, line and column the operator wrote.

use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One loaded source file: its name as shown to people and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A leading byte-order mark (which some Windows editors write) is
    /// dropped: it is not part of the YAML, and lines and columns are
    /// counted as editors show them, without it.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<SourceFile> {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(SourceFile {
            name: name.into(),
            text,
            line_starts,
        })
    }

    /// Byte offset of 1-based `line` and 1-based character `col`.
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let end = rest.find('\n').unwrap_or(rest.len());
        let line_text = &rest[..end];
        let byte = line_text
            .char_indices()
            .nth(col.saturating_sub(1))
            .map(|(i, _)| i)
            .unwrap_or(line_text.len());
        start + byte
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }
}

/// Where something was written: a file and a byte range in it.
#[derive(Clone)]
pub struct Span {
    pub file: Arc<SourceFile>,
    /// Byte offset of the first character.
    pub offset: usize,
    /// Length in bytes (at least 1 where the file has text there).
    pub len: usize,
}

impl Span {
    pub fn new(file: &Arc<SourceFile>, offset: usize, len: usize) -> Span {
        let offset = offset.min(file.text.len());
        let len = len.min(file.text.len() - offset);
        Span {
            file: file.clone(),
            offset,
            len,
        }
    }

    /// 1-based line and column.
    pub fn line_col(&self) -> (usize, usize) {
        self.file.line_col(self.offset)
    }

    /// `file:line:col`.
    pub fn location(&self) -> String {
        let (l, c) = self.line_col();
        format!("{}:{l}:{c}", self.file.name)
    }

    /// The text the span covers.
    pub fn snippet(&self) -> &str {
        &self.file.text[self.offset..self.offset + self.len]
    }

    /// A sub-span `start..start+len` bytes into this one (clamped).
    pub fn sub(&self, start: usize, len: usize) -> Span {
        let start = start.min(self.len);
        Span::new(&self.file, self.offset + start, len.min(self.len - start))
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location())
    }
}

impl PartialEq for Span {
    fn eq(&self, other: &Self) -> bool {
        self.file.name == other.file.name && self.offset == other.offset && self.len == other.len
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// A YAML node with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    /// Entries in the order written; keys are nodes too (with spans).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// Whether this is YAML null (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, Style::Plain) if matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// What kind of YAML value this is, for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Scalar(..) if self.is_null() => "null",
            Kind::Scalar(s, Style::Plain) => {
                if s == "true" || s == "false" {
                    "a boolean"
                } else if s.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            Kind::Scalar(..) => "a string",
        }
    }

    /// The node as JSON (YAML 1.2 core schema for plain scalars).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Scalar(s, Style::Plain) => plain_scalar_json(s),
            Kind::Scalar(s, _) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| k.span.snippet().to_owned()),
                            v.to_json(),
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// A plain YAML scalar as JSON: null, booleans and numbers as in YAML 1.2's
/// core schema, everything else a string.
pub fn plain_scalar_json(s: &str) -> serde_json::Value {
    use serde_json::Value;
    match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(i) = s.parse::<i64>() {
                return Value::from(i);
            }
            let looks_numeric = s
                .trim_start_matches(['-', '+'])
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '.');
            if looks_numeric
                && let Ok(f) = s.parse::<f64>()
                && let Some(n) = serde_json::Number::from_f64(f)
            {
                return Value::Number(n);
            }
            Value::String(s.to_owned())
        }
    }
}

/// A YAML syntax error with where it happened.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// Parse `file` into a spanned tree. An empty document is an empty mapping.
pub fn parse(file: &Arc<SourceFile>) -> Result<Node, SyntaxError> {
    // serde_yaml is the judge of what is valid YAML.
    // Duplicate keys are left to the spanned pass, which points at the
    // second one and names the first.
    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&file.text)
        && !e.to_string().contains("duplicate entry with key")
    {
        let span = match e.location() {
            Some(loc) => Span::new(file, loc.index(), 1),
            None => Span::new(file, 0, 0),
        };
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C"; the span says that.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        return Err(SyntaxError { message, span });
    }
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
        error: None,
    };
    let mut parser = Parser::new_from_str(&file.text);
    if let Err(e) = parser.load(&mut builder, false) {
        let m = e.marker();
        return Err(SyntaxError {
            message: e.info().to_owned(),
            span: Span::new(file, file.offset(m.line(), m.col() + 1), 1),
        });
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.root.unwrap_or_else(|| Node {
        kind: Kind::Map(Vec::new()),
        span: Span::new(file, 0, 0),
    }))
}

enum Frame {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

struct Builder {
    file: Arc<SourceFile>,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn span_at(&self, mark: Marker, len: usize) -> Span {
        // yaml-rust2 markers: 1-based line, 0-based column.
        Span::new(
            &self.file,
            self.file.offset(mark.line(), mark.col() + 1),
            len,
        )
    }

    fn scalar_len(&self, offset: usize, style: TScalarStyle, value: &str) -> usize {
        let text = &self.file.text[offset.min(self.file.text.len())..];
        match style {
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let quote = if style == TScalarStyle::SingleQuoted {
                    '\''
                } else {
                    '"'
                };
                let mut escaped = false;
                for (i, c) in text.char_indices().skip(1) {
                    if quote == '"' && c == '\\' && !escaped {
                        escaped = true;
                        continue;
                    }
                    if c == quote && !escaped {
                        return i + 1;
                    }
                    escaped = false;
                }
                text.len()
            }
            TScalarStyle::Plain => {
                let first_line = text.split('\n').next().unwrap_or("");
                value.len().min(first_line.len()).max(1)
            }
            _ => text.split('\n').next().unwrap_or("").len().max(1),
        }
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                let start = self.span_at(mark, 0);
                let len = self.scalar_len(start.offset, style, &value);
                let s = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
                    _ => Style::Block,
                };
                let node = Node {
                    kind: Kind::Scalar(value, s),
                    span: Span::new(&self.file, start.offset, len),
                };
                self.push(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                let span = self.span_at(mark, 1);
                self.stack.push(Frame::Seq(Vec::new(), span, anchor));
            }
            Event::MappingStart(anchor, _) => {
                let span = self.span_at(mark, 1);
                self.stack.push(Frame::Map(Vec::new(), None, span, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // A collection's marker sits where the parser stopped; its
                // first entry is where people look for it.
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, span, anchor)) => {
                        let span = items.first().map(|n| n.span.clone()).unwrap_or(span);
                        (
                            Node {
                                kind: Kind::Seq(items),
                                span,
                            },
                            anchor,
                        )
                    }
                    Some(Frame::Map(entries, _, span, anchor)) => {
                        let span = entries.first().map(|(k, _)| k.span.clone()).unwrap_or(span);
                        (
                            Node {
                                kind: Kind::Map(merge_keys(entries)),
                                span,
                            },
                            anchor,
                        )
                    }
                    None => return,
                };
                self.push(node, anchor);
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, n)) => {
                    let mut n = n.clone();
                    n.span = self.span_at(mark, 1);
                    self.push(n, 0);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some(SyntaxError {
                            message: "unknown anchor".into(),
                            span: self.span_at(mark, 1),
                        });
                    }
                }
            },
            _ => {}
        }
    }
}

/// Apply YAML merge keys (`<<: *defaults`): entries of the merged mapping(s)
/// that the mapping does not set itself.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries
        .iter()
        .any(|(k, _)| matches!(&k.kind, Kind::Scalar(s, Style::Plain) if s == "<<"))
    {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (k, v) in entries {
        if matches!(&k.kind, Kind::Scalar(s, Style::Plain) if s == "<<") {
            match v.kind {
                Kind::Map(m) => merged.extend(m),
                Kind::Seq(items) => {
                    for item in items {
                        if let Kind::Map(m) = item.kind {
                            merged.extend(m);
                        }
                    }
                }
                Kind::Scalar(..) => own.push((k, v)),
            }
        } else {
            own.push((k, v));
        }
    }
    for (k, v) in merged {
        if !own
            .iter()
            .any(|(o, _)| o.as_str().is_some() && o.as_str() == k.as_str())
        {
            own.push((k, v));
        }
    }
    own
}
