//! The `serve:` section: listen address, public URL, admin API access,
//! polling and debounce intervals and webhook secrets.

use std::path::Path;

use super::Loader;
use crate::config::model::*;
use crate::config::yaml::Node;

impl Loader {
    /// `serve:`.
    pub(super) fn serve_config(&mut self, node: &Node, base: &Path) -> ServeConfig {
        let mut out = ServeConfig::default();
        if node.is_null() || self.map(node, "`serve`").is_none() {
            return out;
        }
        self.keys(
            node,
            &[
                "listen",
                "public_url",
                "open_on_loopback",
                "poll_every",
                "debounce",
                "webhook_secrets",
            ],
            "`serve`",
            false,
        );
        if let Some(l) = node
            .get("listen")
            .and_then(|n| self.string(n, "`serve.listen`"))
        {
            match l.value.parse::<std::net::SocketAddr>() {
                Ok(a) => out.listen = a,
                Err(_) => self.err_hint(
                    &l.span,
                    format!("`{}` is not an address and port", l.value),
                    Some("for example `127.0.0.1:8700` or `0.0.0.0:8700`".into()),
                ),
            }
        }
        if let Some(u) = node
            .get("public_url")
            .and_then(|n| self.string(n, "`serve.public_url`"))
        {
            match url::Url::parse(&u.value) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    out.public_url = Some(u.value.trim_end_matches('/').to_string())
                }
                _ => self.err_hint(
                    &u.span,
                    format!("`{}` is not an http(s) URL", u.value),
                    Some(
                        "the address vendors reach Ferry at, e.g. `https://ferry.example.com`"
                            .into(),
                    ),
                ),
            }
        }
        if let Some(o) = node.get("open_on_loopback") {
            let open = self.boolean(o, "`serve.open_on_loopback`").unwrap_or(false);
            if open && !out.listen.ip().is_loopback() {
                self.err_hint(
                    &o.span,
                    format!(
                        "the admin API can be open only on a loopback address, not {}",
                        out.listen
                    ),
                    Some(
                        "bind `listen: 127.0.0.1:…`, or give callers tokens (`ferry tokens add`)"
                            .into(),
                    ),
                );
            } else {
                out.open_on_loopback = open;
            }
        }
        for (key, slot) in [
            ("poll_every", &mut out.poll_every),
            ("debounce", &mut out.debounce),
        ] {
            if let Some(n) = node.get(key)
                && let Some(t) = self.string(n, &format!("`serve.{key}`"))
            {
                match humantime::parse_duration(t.value.trim()) {
                    Ok(d) => *slot = d,
                    Err(e) => self.err_hint(
                        &t.span,
                        format!("`{}` is not a duration: {e}", t.value),
                        Some("for example `1h` or `2s`".into()),
                    ),
                }
            }
        }
        if let Some(w) = node.get("webhook_secrets").filter(|n| !n.is_null())
            && let Some(entries) = self.map(w, "`serve.webhook_secrets`")
        {
            for (k, v) in entries {
                let (Some(conn), Some(val)) = (
                    self.string(k, "a connection name"),
                    self.string(v, "a secret reference"),
                ) else {
                    continue;
                };
                let what = format!("webhook_secrets.{}", conn.value);
                let Some(secret) = self.secret(&val, &what, "env:FERRY_WEBHOOK_SECRET", base)
                else {
                    continue;
                };
                out.webhook_secrets
                    .insert(conn.value, Spanned::new(secret, conn.span));
            }
        }
        out
    }
}
