//! A small OpenAPI 3 response-schema validator over Zoho's spec files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where Zoho's OpenAPI files are: `$ZOHO_OPENAPI_DIR`, else
/// `<repository>/../shared/reference/zoho-openapi`.
pub fn spec_dir() -> PathBuf {
    if let Ok(d) = std::env::var("ZOHO_OPENAPI_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/zoho-openapi")
}

/// The spec folder, or `None` (after saying so loudly) when it is absent.
/// Under CI (`CI=true`) a missing folder is a failure.
pub fn require_specs() -> Option<PathBuf> {
    let dir = spec_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "Zoho OpenAPI folder not found at {} (set ZOHO_OPENAPI_DIR). Conformance tests are SKIPPED.",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{msg} CI=true: the folder is required in CI.");
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!! {msg}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// Loaded spec documents, by file name.
pub struct Specs {
    dir: PathBuf,
    docs: HashMap<String, Value>,
}

impl Specs {
    pub fn new(dir: PathBuf) -> Specs {
        Specs {
            dir,
            docs: HashMap::new(),
        }
    }

    /// Load `sub/file` (YAML or JSON).
    pub fn doc(&mut self, file: &str) -> &Value {
        if !self.docs.contains_key(file) {
            let path = self.dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let v: Value = if file.ends_with(".json") {
                serde_json::from_str(&text).unwrap()
            } else {
                serde_yaml::from_str(&text).unwrap()
            };
            self.docs.insert(file.to_string(), v);
        }
        &self.docs[file]
    }

    /// The response schema of an operation. Falls back to the first 2xx
    /// response when `status` is not listed.
    pub fn response_schema(
        &mut self,
        file: &str,
        method: &str,
        path: &str,
        status: u16,
    ) -> (String, Value) {
        let doc = self.doc(file).clone();
        let op = doc["paths"][path][method].clone();
        assert!(op.is_object(), "{file}: no operation {method} {path}");
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        let resp = responses
            .get(&status.to_string())
            .or_else(|| {
                responses
                    .iter()
                    .find(|(k, _)| k.starts_with('2'))
                    .map(|(_, v)| v)
            })
            .cloned()
            .unwrap_or(Value::Null);
        let resp = self.resolve(file, &resp).1;
        let schema = resp["content"]["application/json"]["schema"].clone();
        (op["operationId"].as_str().unwrap_or("").to_string(), schema)
    }

    /// Follow a `$ref` (local or to a sibling file). Returns (file, target).
    fn resolve(&mut self, file: &str, v: &Value) -> (String, Value) {
        let mut file = file.to_string();
        let mut v = v.clone();
        for _ in 0..20 {
            let Some(r) = v.get("$ref").and_then(Value::as_str).map(String::from) else {
                break;
            };
            let (target_file, pointer) = match r.split_once('#') {
                Some(("", p)) => (file.clone(), p.to_string()),
                Some((f, p)) => {
                    let name = f.rsplit('/').next().unwrap_or(f);
                    let folder = file.rsplit_once('/').map(|x| x.0).unwrap_or("");
                    (format!("{folder}/{name}"), p.to_string())
                }
                None => (file.clone(), String::new()),
            };
            v = self
                .doc(&target_file)
                .pointer(&pointer)
                .cloned()
                .unwrap_or(Value::Null);
            file = target_file;
        }
        (file, v)
    }

    /// Validate `value` against `schema`; returns the errors as
    /// `(json-path, message)`.
    pub fn validate(&mut self, file: &str, schema: &Value, value: &Value) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        self.check(file, schema, value, "$", &mut errs, 0);
        errs
    }

    fn check(
        &mut self,
        file: &str,
        schema: &Value,
        value: &Value,
        at: &str,
        errs: &mut Vec<(String, String)>,
        depth: usize,
    ) {
        if depth > 40 || schema.is_null() {
            return;
        }
        let (file, schema) = self.resolve(file, schema);
        let file = file.as_str();
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.check(file, s, value, at, errs, depth + 1);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                let mut best: Option<Vec<(String, String)>> = None;
                for s in alts {
                    let mut e = Vec::new();
                    self.check(file, s, value, at, &mut e, depth + 1);
                    if best.as_ref().is_none_or(|b| e.len() < b.len()) {
                        best = Some(e);
                    }
                }
                errs.extend(best.unwrap_or_default());
            }
        }
        if value.is_null() {
            // Zoho returns null for empty values of almost any field; the
            // files rarely say `nullable` (exception N1 in the test).
            return;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let ok = match ty {
            Some("string") => value.is_string(),
            // JSON Schema: a number with a zero fractional part is an integer.
            Some("integer") => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            _ => true,
        };
        if !ok {
            errs.push((
                at.to_string(),
                format!("expected {}, got {}", ty.unwrap_or("?"), short(value)),
            ));
            return;
        }
        if let Some(en) = schema.get("enum").and_then(Value::as_array)
            && !en.is_empty()
            && !en.contains(value)
        {
            errs.push((at.to_string(), format!("{} not in enum", short(value))));
        }
        if let Some(obj) = value.as_object() {
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = req.as_str()
                    && !obj.contains_key(r)
                {
                    errs.push((format!("{at}.{r}"), "required property missing".into()));
                }
            }
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => self.check(file, s, v, &format!("{at}.{k}"), errs, depth + 1),
                    None => {
                        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                            errs.push((
                                format!("{at}.{k}"),
                                "additional property not allowed".into(),
                            ));
                        } else if let Some(ap) =
                            schema.get("additionalProperties").filter(|a| a.is_object())
                        {
                            let ap = ap.clone();
                            self.check(file, &ap, v, &format!("{at}.{k}"), errs, depth + 1);
                        }
                    }
                }
            }
        }
        if let (Some(arr), Some(items)) = (value.as_array(), schema.get("items")) {
            let items = items.clone();
            for (i, v) in arr.iter().enumerate() {
                self.check(file, &items, v, &format!("{at}[{i}]"), errs, depth + 1);
            }
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..60])
    } else {
        s
    }
}
