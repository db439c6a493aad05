//! The connectors Ferry carries: their manifests and components, found
//! from where the `ferry` binary is, so it works from any directory.
//!
//! Searched in order, the first that has manifests wins:
//!
//! 1. an installation: `<prefix>/share/ferry/{connectors,plugins}` beside
//!    `<prefix>/bin/ferry` (what `scripts/install` lays out);
//! 2. the source checkout the binary was built in: `<repo>/connectors` and
//!    `<repo>/target/plugins/wasm32-wasip2/plugin` beside
//!    `<repo>/target/<profile>/ferry`.
//!
//! `--connectors` and `--plugin-dir` (or `FERRY_CONNECTORS`,
//! `FERRY_PLUGIN_DIR`) add directories searched before these: a manifest
//! there overrides a carried one of the same name.

use std::path::{Path, PathBuf};

/// Where the carried connectors are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub connectors: PathBuf,
    pub plugins: PathBuf,
}

/// The carried connectors of the running binary, if it has any.
pub fn carried() -> Option<Bundle> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    beside(&exe)
}

/// The carried connectors of the binary at `exe`.
pub fn beside(exe: &Path) -> Option<Bundle> {
    let bin = exe.parent()?;
    let installed = bin.parent().map(|prefix| Bundle {
        connectors: prefix.join("share/ferry/connectors"),
        plugins: prefix.join("share/ferry/plugins"),
    });
    // `<repo>/target/<profile>/ferry`, or `<repo>/target/<profile>/deps/…`
    // for a test binary.
    let checkout = bin
        .ancestors()
        .find(|d| d.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent)
        .map(|repo| Bundle {
            connectors: repo.join("connectors"),
            plugins: repo.join("target/plugins/wasm32-wasip2/plugin"),
        });
    [installed, checkout]
        .into_iter()
        .flatten()
        .find(|b| has_manifests(&b.connectors))
}

/// Manifest directories to load, lowest precedence first: the carried
/// ones, then the user's.
pub fn manifest_dirs(user: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = carried().map(|b| b.connectors).into_iter().collect();
    dirs.extend(user.map(Path::to_owned));
    dirs
}

/// Component directories to search, first match wins: the user's, then
/// the carried ones.
pub fn plugin_dirs(user: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = user.map(Path::to_owned).into_iter().collect();
    dirs.extend(carried().map(|b| b.plugins));
    dirs
}

/// Why no connector manifests can be had, if none can: commands that check
/// a workspace against its connectors refuse to call it valid without them.
pub fn missing(user: Option<&Path>) -> Option<String> {
    if manifest_dirs(user).iter().any(|d| has_manifests(d)) {
        return None;
    }
    Some(match user {
        Some(dir) => format!(
            "no connector manifests in `{}`, and this `ferry` carries none",
            dir.display()
        ),
        None => "no connector manifests found: this `ferry` carries none (install it with `scripts/install`); give `--connectors <dir>`".into(),
    })
}

fn has_manifests(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn an_installation_is_found_before_a_checkout() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        touch(&repo.join("connectors/zoho-crm.yaml"));
        let exe = repo.join("target/release/ferry");
        assert_eq!(
            beside(&exe),
            Some(Bundle {
                connectors: repo.join("connectors"),
                plugins: repo.join("target/plugins/wasm32-wasip2/plugin"),
            })
        );
        // A test binary of the checkout finds the same.
        assert_eq!(
            beside(&repo.join("target/debug/deps/sync-0123")).map(|b| b.connectors),
            Some(repo.join("connectors"))
        );

        let prefix = root.path().join("prefix");
        touch(&prefix.join("share/ferry/connectors/zoho-crm.yaml"));
        assert_eq!(
            beside(&prefix.join("bin/ferry")),
            Some(Bundle {
                connectors: prefix.join("share/ferry/connectors"),
                plugins: prefix.join("share/ferry/plugins"),
            })
        );
        // A binary somewhere else carries nothing.
        assert_eq!(beside(&root.path().join("elsewhere/bin/ferry")), None);
    }
}
