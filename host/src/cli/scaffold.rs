//! `ferry plugins new --lang rust|python <name>`: a connector to start
//! from — its code, a manifest, a build script and unit tests — that
//! builds against a Ferry source checkout (the SDKs and the WIT contract
//! live there). `--declarative`: a manifest alone, with a cassette and a
//! config test, nothing to build.

use std::path::{Component, Path, PathBuf};

use crate::connector::Manifest;

/// The componentize-py release Python connectors are built with; the same
/// as `scripts/build-plugins` pins (a test keeps them equal).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The language a connector is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    /// No code: a manifest whose `rest:` section the generic REST
    /// component runs.
    Declarative,
}

/// What to scaffold, and where.
#[derive(Debug, Clone)]
pub struct Scaffold {
    pub lang: Lang,
    /// Connector name: lowercase letters, digits and `-` (`shop`, `acme-crm`).
    pub name: String,
    /// The folder the connector's folder is made in.
    pub parent: PathBuf,
    /// The Ferry source checkout; found from `parent`, the working
    /// directory or the `ferry` executable when absent.
    pub ferry_src: Option<PathBuf>,
}

/// What was made.
#[derive(Debug)]
pub struct Made {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// The commands to build and test, to print.
    pub next: Vec<String>,
}

impl Scaffold {
    /// Write the connector's folder; refuses to touch an existing one.
    pub fn make(&self) -> anyhow::Result<Made> {
        check_name(&self.name)?;
        let parent = absolute(&self.parent)?;
        if self.lang == Lang::Declarative {
            return self.make_declarative(&parent);
        }
        let src = match &self.ferry_src {
            Some(dir) => {
                let dir = absolute(dir)?;
                if !is_checkout(&dir) {
                    anyhow::bail!(
                        "{} is not a Ferry source checkout (it needs wit/v0.1.0, plugins/sdk and plugins/sdk-python)",
                        dir.display()
                    );
                }
                dir
            }
            None => find_checkout(&parent).ok_or_else(|| {
                anyhow::anyhow!(
                    "no Ferry source checkout found above {} or beside the `ferry` executable; the connector builds against its SDKs and WIT contract: pass --ferry-src <checkout>",
                    parent.display()
                )
            })?,
        };
        let dir = parent.join(&self.name);
        if dir.exists() {
            anyhow::bail!("{} already exists", dir.display());
        }
        // Cargo takes every folder in these for a crate of Ferry's workspace.
        let members = [src.join("plugins"), src.join("tests/plugins")];
        let member = members.contains(&parent);
        if self.lang == Lang::Python && member {
            anyhow::bail!(
                "Python connectors in a Ferry checkout go in plugins/python/ (cargo takes every folder of {} for a Rust crate); try --dir {}",
                parent.display(),
                parent.join("python").display()
            );
        }
        let vars = Vars {
            name: self.name.clone(),
            snake: self.name.replace('-', "_"),
            class: class_name(&self.name),
            ferry_src: relative(&dir, &src),
        };
        let files: Vec<(&str, String, bool)> = match self.lang {
            Lang::Python => vec![
                (
                    "connector.py",
                    vars.fill(include_str!("templates/python_connector.py")),
                    false,
                ),
                (
                    "test_connector.py",
                    vars.fill(include_str!("templates/python_test.py")),
                    false,
                ),
                (
                    "pyproject.toml",
                    vars.fill(include_str!("templates/pyproject.toml")),
                    false,
                ),
                (
                    "build.sh",
                    vars.fill(include_str!("templates/python_build.sh")),
                    true,
                ),
                (
                    "test.sh",
                    vars.fill(include_str!("templates/python_test.sh")),
                    true,
                ),
            ],
            Lang::Declarative => unreachable!("made above"),
            Lang::Rust => vec![
                ("Cargo.toml", vars.cargo_toml(member), false),
                (
                    "src/lib.rs",
                    vars.fill(include_str!("templates/rust_lib.rs")),
                    false,
                ),
                (
                    "build.sh",
                    vars.fill(include_str!("templates/rust_build.sh")),
                    true,
                ),
            ],
        };
        let mut files = files;
        files.push((
            "manifest.yaml",
            vars.fill(include_str!("templates/manifest.yaml")),
            false,
        ));
        files.push((".gitignore", "target/\n__pycache__/\n".into(), false));
        let mut written = Vec::new();
        for (file, text, executable) in files {
            let path = dir.join(file);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            std::fs::write(&path, text)?;
            if executable {
                make_executable(&path)?;
            }
            written.push(path);
        }
        // What we wrote must be what `ferry` loads.
        Manifest::load(&dir.join("manifest.yaml"))?;
        let next = match self.lang {
            Lang::Declarative => unreachable!("made above"),
            Lang::Python => vec![
                format!("{}/test.sh", dir.display()),
                format!("{}/build.sh", dir.display()),
            ],
            Lang::Rust => vec![
                format!("cargo test --manifest-path {}/Cargo.toml", dir.display()),
                format!("{}/build.sh", dir.display()),
            ],
        };
        Ok(Made {
            next: next
                .into_iter()
                .chain([format!(
                    "ferry plugins inspect {}/target/wasm32-wasip2/plugin/{}.wasm",
                    dir.display(),
                    vars.snake
                )])
                .collect(),
            dir,
            files: written,
        })
    }
}

impl Scaffold {
    /// A declarative connector: its manifest, a cassette its replay test
    /// runs against, and an example workspace with a config test — all
    /// usable with no network and nothing to build.
    fn make_declarative(&self, parent: &Path) -> anyhow::Result<Made> {
        let dir = parent.join(&self.name);
        if dir.exists() {
            anyhow::bail!("{} already exists", dir.display());
        }
        let name = &self.name;
        let fill = |t: &str| {
            t.replace("{{name}}", name)
                .replace("{{NAME}}", &name.replace('-', "_").to_uppercase())
        };
        let files = [
            (
                format!("{name}.yaml"),
                fill(include_str!("templates/declarative/manifest.yaml")),
            ),
            (
                format!("{name}.cassette.json"),
                fill(include_str!("templates/declarative/cassette.json")),
            ),
            (
                format!("example/{name}-copy.yaml"),
                fill(include_str!("templates/declarative/workspace.yaml")),
            ),
            (
                format!("example/{name}-copy.test.yaml"),
                fill(include_str!("templates/declarative/workspace.test.yaml")),
            ),
        ];
        let mut written = Vec::new();
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
            std::fs::write(&path, text)?;
            written.push(path);
        }
        // What we wrote must be what `ferry` loads.
        Manifest::load(&dir.join(format!("{name}.yaml")))?;
        let d = dir.display();
        Ok(Made {
            next: vec![
                format!(
                    "ferry plugins test {name} --connectors {d} --replay {d}/{name}.cassette.json"
                ),
                format!("ferry test {d}/example --connectors {d}"),
                format!(
                    "ferry plugins test {name} --connectors {d} --sandbox <url> --record {d}/{name}.cassette.json   # once it talks to a real API"
                ),
            ],
            dir,
            files: written,
        })
    }
}

struct Vars {
    name: String,
    snake: String,
    class: String,
    /// The checkout, relative to the connector's folder when inside it.
    ferry_src: String,
}

impl Vars {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{snake}}", &self.snake)
            .replace("{{Class}}", &self.class)
            .replace("{{ferry_src}}", &self.ferry_src)
            .replace("{{componentize_py_version}}", COMPONENTIZE_PY_VERSION)
    }

    /// A member of Ferry's workspace takes its profiles; a crate elsewhere
    /// is a workspace of its own and brings the `plugin` profile.
    fn cargo_toml(&self, member: bool) -> String {
        let mut toml = format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
ferry-plugin-sdk = {{ path = "{src}/plugins/sdk" }}
serde_json = "1"
"#,
            name = self.name,
            src = self.ferry_src,
        );
        if !member {
            toml.push_str(
                r#"
# A workspace of its own, with the profile Ferry builds components with.
[workspace]

[profile.plugin]
inherits = "release"
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#,
            );
        }
        toml
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        anyhow::bail!(
            "`{name}` is not a connector name: use lowercase letters, digits and single dashes, starting with a letter (`shop`, `acme-crm`)"
        );
    }
    Ok(())
}

/// `acme-crm` → `AcmeCrm`.
fn class_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn is_checkout(dir: &Path) -> bool {
    dir.join("wit/v0.1.0/connector.wit").is_file()
        && dir.join("plugins/sdk/Cargo.toml").is_file()
        && dir
            .join("plugins/sdk-python/ferry_sdk/__init__.py")
            .is_file()
}

/// The checkout `start` is in, else the one the working directory or the
/// `ferry` executable (`<checkout>/target/debug/ferry`) is in.
fn find_checkout(start: &Path) -> Option<PathBuf> {
    let mut starts = vec![start.to_owned()];
    starts.extend(std::env::current_dir().ok());
    starts.extend(std::env::current_exe().ok());
    starts
        .iter()
        .flat_map(|s| s.ancestors())
        .find(|dir| is_checkout(dir))
        .map(Path::to_owned)
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    // Lexically normal, so paths compare and relate (`a/./b/..` → `a`).
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `to` as seen from `from` (`../..`) when they share more than the root,
/// else `to` itself.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common <= 1 {
        return to.display().to_string();
    }
    let mut parts: Vec<String> = vec!["..".into(); from.len() - common];
    parts.extend(
        to_parts[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(class_name("acme-crm"), "AcmeCrm");
        assert!(check_name("shop").is_ok());
        for bad in ["Shop", "1shop", "shop-", "sh--op", "sh_op", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            relative(Path::new("/r/plugins/python/shop"), Path::new("/r")),
            "../../.."
        );
        assert_eq!(relative(Path::new("/tmp/x/shop"), Path::new("/r")), "/r");
    }

    #[test]
    fn build_plugins_pins_the_same_componentize_py() {
        let script = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-plugins"),
        )
        .unwrap();
        assert!(
            script.contains(&format!(
                "componentize_py_version=\"{COMPONENTIZE_PY_VERSION}\""
            )),
            "scripts/build-plugins pins another componentize-py"
        );
    }
}
