//! Building one request from the spec and sending it through the host.

use ferry_plugin_sdk::http::{Method, Request as Http, encode};
use ferry_plugin_sdk::prelude::*;
use ferry_rest_spec::{Body, Method as SpecMethod, Request, Spec, Template, Vars};

use crate::answer::{Answer, read};

/// One request about to be made: its spec, the values its placeholders
/// take, and the record or arguments a JSON body carries.
pub struct Call<'a> {
    request: &'a Request,
    default_method: &'static str,
    vars: Vars<'a>,
    body: Option<&'a Record>,
    /// Extra query parameters (paging, the `since` filter).
    extra: Vec<(String, String)>,
    /// A full URL to fetch instead (a `Link` header's next page).
    url: Option<String>,
}

impl<'a> Call<'a> {
    pub fn new(request: &'a Request, default_method: &'static str, vars: Vars<'a>) -> Call<'a> {
        Call {
            request,
            default_method,
            vars,
            body: None,
            extra: Vec::new(),
            url: None,
        }
    }

    /// Send `record` as the body the spec describes.
    pub fn with_body(mut self, record: &'a Record) -> Call<'a> {
        self.body = Some(record);
        self
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Call<'a> {
        self.extra.push((name.to_string(), value.to_string()));
        self
    }

    pub fn at_url(mut self, url: String) -> Call<'a> {
        self.url = Some(url);
        self
    }

    fn method(&self) -> Method {
        let method = match self.request.method {
            Some(m) => m,
            None => match self.default_method {
                "POST" => SpecMethod::Post,
                "PATCH" => SpecMethod::Patch,
                "DELETE" => SpecMethod::Delete,
                _ => SpecMethod::Get,
            },
        };
        match method {
            SpecMethod::Get => Method::Get,
            SpecMethod::Post => Method::Post,
            SpecMethod::Put => Method::Put,
            SpecMethod::Patch => Method::Patch,
            SpecMethod::Delete => Method::Delete,
        }
    }
}

fn render(t: &Template, vars: &Vars<'_>) -> Result<String, ConnectorError> {
    t.render(vars)
        .map_err(|e| ConnectorError::invalid(t.as_str(), e.to_string()))
}

/// Send `call` and read its answer: a vendor error becomes the contract's
/// error, per the spec's error rules.
pub fn send(spec: &Spec, call: &Call<'_>) -> Result<Answer, ConnectorError> {
    let vars = &call.vars;
    let mut http = match &call.url {
        Some(url) => Http::new(call.method(), url.clone()),
        None => {
            let path = call
                .request
                .path
                .render_with(vars, &|value| encode(value))
                .map_err(|e| ConnectorError::invalid(call.request.path.as_str(), e.to_string()))?;
            let mut http = Http::new(call.method(), path);
            for (name, t) in spec.query.iter().chain(&call.request.query) {
                http = http.query(name, render(t, vars)?);
            }
            for (name, value) in &call.extra {
                http = http.query(name, value);
            }
            http
        }
    };
    http = http.header("Accept", "application/json");
    match &call.request.body {
        Body::None => {}
        Body::Auto => {
            if let Some(record) = call.body {
                http = http.json(record);
            }
        }
        Body::Json { wrap } => {
            let record = call.body.cloned().unwrap_or_default();
            http = match wrap {
                Some(key) => http.json(&json!({ key: record })),
                None => http.json(&record),
            };
        }
        Body::Form { fields } => {
            let mut form = Vec::new();
            for (name, t) in fields {
                let value = render(t, vars)?;
                // An optional value that is absent leaves its field out.
                if value.is_empty() && t.optional() {
                    continue;
                }
                form.push(format!("{}={}", encode(name), encode(&value)));
            }
            http = http
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.join("&").into_bytes());
        }
    }
    read(spec, http.send()?)
}
