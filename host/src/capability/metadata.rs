//! Vendor metadata kept between runs: the answers to `GET`s of paths a
//! manifest names in `metadata_paths` (CRM's `settings/fields` and `org`,
//! a finance organisation), which describe how the vendor is set up rather
//! than its records. A connector asks for them on every run (CRM's listing
//! needs a module's field names for its first page); answered from here, a
//! run with nothing to do costs one list call per module read.
//!
//! The answers live and die with the connection's described schema, kept
//! in the state beside them: reused exactly while the describe is reused
//! (younger than the schema's maximum age, naming everything the workspace
//! reads), and dropped whenever the connection is described live again,
//! which is also what a workspace naming a field the kept schema lacks
//! causes. Only `200` answers with a UTF-8 body are kept.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::http::{Method, Request, Response};

/// One connection's kept metadata answers.
#[derive(Debug, Clone)]
pub struct MetadataCache {
    dir: PathBuf,
    paths: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    url: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl MetadataCache {
    /// Answers for the paths (relative to the connection's base URL) in
    /// `paths`, kept in `dir`. `reuse`: the connection's describe came
    /// from the state, so its answers may be used; otherwise they are
    /// dropped first and kept anew.
    pub fn open(dir: PathBuf, paths: &[String], reuse: bool) -> MetadataCache {
        if !reuse
            && let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), "cannot drop kept vendor metadata: {e}");
        }
        MetadataCache {
            dir,
            paths: paths.to_vec(),
        }
    }

    /// Whether a request for `url` (relative to the base URL, with its
    /// query) asks for metadata: a `GET` of a named path or below it.
    pub fn covers(&self, request: &Request, url: &str) -> bool {
        if !matches!(request.method, Method::Get) || !url.starts_with('/') {
            return false;
        }
        let path = url.split('?').next().unwrap_or(url);
        self.paths.iter().any(|p| {
            let p = p.trim_end_matches('/');
            path == p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// The kept answer to `url`, if any.
    pub fn get(&self, url: &str) -> Option<Response> {
        let text = std::fs::read(self.file(url)).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        // A hash collision, however unlikely, must not answer another URL.
        (entry.url == url).then(|| Response {
            status: entry.status,
            headers: entry.headers,
            body: entry.body.into_bytes(),
        })
    }

    /// Keep `response` to `url` when it is a success with a text body.
    pub fn put(&self, url: &str, response: &Response) {
        if response.status != 200 {
            return;
        }
        let Ok(body) = std::str::from_utf8(&response.body) else {
            return;
        };
        let entry = Entry {
            url: url.to_string(),
            status: response.status,
            headers: response.headers.clone(),
            body: body.to_string(),
        };
        if let Err(e) = write_atomically(&self.dir, &self.file(url), &entry) {
            tracing::warn!(dir = %self.dir.display(), "cannot keep vendor metadata: {e}");
        }
    }

    fn file(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(url.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }
}

fn write_atomically(dir: &Path, path: &Path, entry: &Entry) -> std::io::Result<()> {
    // Syncs running at once may keep the same answer at the same moment:
    // each writes its own partial file, and the last rename wins.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let partial = path.with_extension(format!("{}.{n}.new", std::process::id()));
    std::fs::write(&partial, serde_json::to_vec(entry).expect("plain data"))?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn named_paths_and_below_are_metadata_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MetadataCache::open(
            dir.path().join("crm"),
            &["/settings/fields".into(), "/org".into()],
            true,
        );
        for (url, covered) in [
            ("/settings/fields?module=Accounts", true),
            ("/settings/fields", true),
            ("/org", true),
            ("/org/currencies", true),
            ("/organizations", false),
            ("/Accounts?fields=a", false),
            ("https://elsewhere.example/org", false),
        ] {
            assert_eq!(cache.covers(&Request::get(url), url), covered, "{url}");
        }
        let mut post = Request::get("/org");
        post.method = Method::Post;
        assert!(!cache.covers(&post, "/org"), "only reads are kept");
    }

    #[test]
    fn answers_are_kept_per_url_until_the_connection_is_described_again() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ["/settings/fields".to_string()];
        let at = dir.path().join("crm");
        let cache = MetadataCache::open(at.clone(), &paths, true);
        let accounts = "/settings/fields?module=Accounts";
        assert!(cache.get(accounts).is_none());
        cache.put(accounts, &ok(r#"{"fields":[]}"#));
        cache.put("/settings/fields?module=Deals", &ok(r#"{"fields":[1]}"#));
        let mut refused = ok("{}");
        refused.status = 400;
        cache.put("/settings/fields?module=Nope", &refused);
        assert!(cache.get("/settings/fields?module=Nope").is_none());
        // Another run reusing the describe reads them back.
        let again = MetadataCache::open(at.clone(), &paths, true);
        let kept = again.get(accounts).unwrap();
        assert_eq!(
            (kept.status, kept.body.as_slice()),
            (200, &br#"{"fields":[]}"#[..])
        );
        assert_eq!(kept.headers, ok("").headers);
        // Described live: everything is asked for again.
        let fresh = MetadataCache::open(at, &paths, false);
        assert!(fresh.get(accounts).is_none());
    }
}
