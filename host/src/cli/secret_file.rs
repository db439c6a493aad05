//! Where `ferry connect` keeps a refresh token, and how: a file only its
//! owner can read (mode 0600), never replaced without `--force`, named in
//! the workspace as a `file:` secret.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::config::SecretRef;

/// Where the token goes, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `--secret-file`.
    Given(PathBuf),
    /// The file the connection's `auth.refresh_token` already names.
    Workspace(PathBuf),
    /// Nothing named one: `<state>/secrets/<connection>.refresh-token`.
    Default(PathBuf),
}

impl Choice {
    pub fn path(&self) -> &Path {
        match self {
            Choice::Given(p) | Choice::Workspace(p) | Choice::Default(p) => p,
        }
    }
}

/// Decide where the refresh token of `connection` goes: `given`, else the
/// file its `auth.refresh_token` names (`current`, when the workspace's
/// own credentials apply), else a file in the state directory.
pub fn choose(
    given: Option<&Path>,
    current: Option<&SecretRef>,
    state_dir: &Path,
    connection: &str,
) -> Choice {
    if let Some(p) = given {
        return Choice::Given(p.to_owned());
    }
    if let Some(SecretRef::File(p)) = current {
        return Choice::Workspace(p.clone());
    }
    Choice::Default(
        state_dir
            .join("secrets")
            .join(format!("{connection}.refresh-token")),
    )
}

/// The `file:` reference to `path` as the workspace in `ws_dir` writes
/// it: relative to the workspace's folder when inside it.
pub fn reference(path: &Path, ws_dir: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(path)
        .with_context(|| format!("cannot resolve `{}`", path.display()))?;
    let base = std::path::absolute(ws_dir).unwrap_or_else(|_| ws_dir.to_owned());
    let shown = abs
        .strip_prefix(&base)
        .map(Path::to_path_buf)
        .unwrap_or(abs);
    let text = shown
        .to_str()
        .with_context(|| format!("`{}` is not UTF-8", shown.display()))?;
    Ok(format!("file:{text}"))
}

/// `key: value` as one line of YAML, the value quoted if it must be.
pub fn yaml_line(key: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:-+@~".contains(c))
        && !value.contains(": ");
    if plain {
        format!("{key}: {value}")
    } else {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{key}: \"{escaped}\"")
    }
}

/// Refuse to go on if `path` exists and may not be replaced (checked
/// before a grant code is spent).
pub fn ensure_free(path: &Path, force: bool) -> anyhow::Result<()> {
    if !force && path.exists() {
        bail!(
            "`{}` already exists; give `--force` to replace it, or `--secret-file` to write elsewhere",
            path.display()
        );
    }
    Ok(())
}

/// Write `value` to `path`, readable by its owner only. An existing file
/// is replaced (atomically) only with `force`; whether one was.
pub fn write(path: &Path, value: &str, force: bool) -> anyhow::Result<bool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let existed = path.exists();
    ensure_free(path, force)?;
    let text = format!("{value}\n");
    if !existed {
        // `create_new`: a file that appeared meanwhile is not clobbered.
        let mut file =
            private_file(path).with_context(|| format!("cannot create `{}`", path.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        return Ok(false);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot replace `{}`", path.display()))?;
    Ok(true)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_where_the_workspace_already_looks() {
        let state = Path::new("/w/.ferry");
        let named = SecretRef::File(PathBuf::from("/w/secrets/crm"));
        assert_eq!(
            choose(None, Some(&named), state, "crm"),
            Choice::Workspace(PathBuf::from("/w/secrets/crm"))
        );
        assert_eq!(
            choose(Some(Path::new("x")), Some(&named), state, "crm"),
            Choice::Given(PathBuf::from("x"))
        );
        assert_eq!(
            choose(None, Some(&SecretRef::Env("T".into())), state, "crm"),
            Choice::Default(PathBuf::from("/w/.ferry/secrets/crm.refresh-token"))
        );
    }

    #[test]
    fn references_are_relative_to_the_workspace_and_valid_yaml() {
        assert_eq!(
            reference(Path::new("/w/.ferry/secrets/crm"), Path::new("/w")).unwrap(),
            "file:.ferry/secrets/crm"
        );
        assert_eq!(
            reference(Path::new("/elsewhere/crm"), Path::new("/w")).unwrap(),
            "file:/elsewhere/crm"
        );
        assert_eq!(
            yaml_line("refresh_token", "file:.ferry/secrets/crm"),
            "refresh_token: file:.ferry/secrets/crm"
        );
        assert_eq!(
            yaml_line("refresh_token", "file:my secrets/#1"),
            "refresh_token: \"file:my secrets/#1\""
        );
    }

    #[test]
    fn a_secret_file_is_private_and_never_silently_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets/crm");
        assert!(!write(&path, "one", false).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        let refused = write(&path, "two", false).unwrap_err().to_string();
        assert!(refused.contains("--force"), "{refused}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        assert!(write(&path, "two", true).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("secrets")), 0o700);
        }
    }
}
