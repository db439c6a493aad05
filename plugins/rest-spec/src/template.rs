//! Text with `{…}` placeholders: `{id}`, `{settings.organization_id}`,
//! `{record.email}`, `{criteria.email}`, `{args.amount}`, and `{record}`
//! (the whole record), `{params.topic_id}` (a record's fields sent as
//! request parameters), `{records.contact_email}` (a bulk create: the
//! field's values in its records, comma-separated). A `:json` suffix
//! writes the value as JSON text (`{record:json}`); otherwise strings are
//! written bare and other values as JSON. A `?` at the end makes a value optional (`{params.topic_id?}`):
//! missing, it is written as nothing. `{{` and `}}` are literal braces.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A parsed template; its text is checked when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var {
        root: String,
        path: Vec<String>,
        json: bool,
        optional: bool,
    },
}

/// A template that is not well formed, or a value it needs is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// The values a template may draw on.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vars<'a> {
    pub settings: Option<&'a Map<String, Value>>,
    pub id: Option<&'a str>,
    pub record: Option<&'a Map<String, Value>>,
    pub criteria: Option<&'a Map<String, Value>>,
    pub args: Option<&'a Map<String, Value>>,
    pub params: Option<&'a Map<String, Value>>,
    pub records: Option<&'a [Map<String, Value>]>,
}

impl TryFrom<String> for Template {
    type Error = TemplateError;

    fn try_from(text: String) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let (name, optional) = match inner.strip_suffix('?') {
                        Some(name) => (name, true),
                        None => (inner.as_str(), false),
                    };
                    let (name, json) = match name.strip_suffix(":json") {
                        Some(name) => (name, true),
                        None => (name, false),
                    };
                    let mut path = name.split('.').map(str::to_string);
                    let root = path.next().unwrap_or_default();
                    if root.is_empty() || name.split('.').any(str::is_empty) {
                        return Err(TemplateError(format!(
                            "`{text}`: `{{{inner}}}` names no value"
                        )));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var {
                        root,
                        path: path.collect(),
                        json,
                        optional,
                    });
                }
                '}' => {
                    return Err(TemplateError(format!(
                        "`{text}`: a lone `}}` (write `}}}}` for a brace)"
                    )));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { text, parts })
    }
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        t.text
    }
}

impl Template {
    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a placeholder is optional: a request leaves out a form
    /// field that such a template renders empty.
    pub fn optional(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var { optional: true, .. }))
    }

    /// The roots of its placeholders (`settings`, `id`, …).
    pub fn roots(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { root, .. } => Some(root.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text with every placeholder filled; `encode` escapes each
    /// value (for URL paths).
    pub fn render_with(
        &self,
        vars: &Vars<'_>,
        encode: &dyn Fn(&str) -> String,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var {
                    root,
                    path,
                    optional,
                    json,
                } => {
                    let value = lookup(vars, root, path);
                    if value.is_none() && *optional {
                        continue;
                    }
                    let value = value.ok_or_else(|| {
                        let mut name = root.clone();
                        for p in path {
                            name.push('.');
                            name.push_str(p);
                        }
                        TemplateError(format!("`{}`: no value for `{{{name}}}`", self.text))
                    })?;
                    let text = match (&value, json) {
                        (Value::String(s), false) => s.clone(),
                        (v, _) => v.to_string(),
                    };
                    out.push_str(&encode(&text));
                }
            }
        }
        Ok(out)
    }

    /// The text with every placeholder filled, unescaped.
    pub fn render(&self, vars: &Vars<'_>) -> Result<String, TemplateError> {
        self.render_with(vars, &|s| s.to_string())
    }
}

fn lookup(vars: &Vars<'_>, root: &str, path: &[String]) -> Option<Value> {
    let base = match root {
        "id" => {
            return vars
                .id
                .map(|id| Value::String(id.into()))
                .filter(|_| path.is_empty());
        }
        "settings" => vars.settings?,
        "record" => vars.record?,
        "criteria" => vars.criteria?,
        "args" => vars.args?,
        "params" => vars.params?,
        "records" => {
            let [field] = path else { return None };
            let values: Vec<String> = vars
                .records?
                .iter()
                .filter_map(|r| r.get(field))
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect();
            return (!values.is_empty()).then(|| Value::String(values.join(",")));
        }
        _ => return None,
    };
    let Some((first, rest)) = path.split_first() else {
        return Some(Value::Object(base.clone()));
    };
    let mut value = base.get(first)?;
    for key in rest {
        value = value.get(key)?;
    }
    // A missing optional value reads as absent, not as the text `null`.
    (!value.is_null()).then(|| value.clone())
}
