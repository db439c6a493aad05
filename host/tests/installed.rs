//! Ferry as an installed tool: the binary laid out as `scripts/install`
//! lays it out (`<prefix>/bin/ferry`, `<prefix>/share/ferry/{connectors,
//! plugins}`), run from a directory that has nothing of Ferry's, with no
//! `--connectors` or `--plugin-dir`.

mod support;

use std::path::Path;
use std::process::Command;

use support::bench::{BILLING, BOOKS, Bench, count};
use zoho_sandbox::Sandbox;

/// Copy the built `ferry` to `<prefix>/bin`, and, if `carry`, the
/// connector manifests and their components to `<prefix>/share/ferry`.
fn install(prefix: &Path, carry: bool) -> std::path::PathBuf {
    let bin = prefix.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ferry = bin.join("ferry");
    std::fs::copy(env!("CARGO_BIN_EXE_ferry"), &ferry).unwrap();
    if carry {
        let connectors = prefix.join("share/ferry/connectors");
        let plugins = prefix.join("share/ferry/plugins");
        std::fs::create_dir_all(&connectors).unwrap();
        std::fs::create_dir_all(&plugins).unwrap();
        let repo = support::repo_root();
        for m in ferry::connector::Manifest::load_dir(&repo.join("connectors")).unwrap() {
            let file = format!("{}.yaml", m.name);
            std::fs::copy(repo.join("connectors").join(&file), connectors.join(&file)).unwrap();
            std::fs::copy(
                Bench::plugin_dir().join(&m.component),
                plugins.join(&m.component),
            )
            .unwrap();
        }
    }
    ferry
}

fn output(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installed_ferry_runs_from_any_directory() {
    let prefix = tempfile::tempdir().unwrap();
    let ferry = install(prefix.path(), true);
    // Somewhere with nothing of Ferry's.
    let cwd = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&ferry);
        cmd.args(args)
            .current_dir(cwd.path())
            .env_remove("FERRY_CONNECTORS")
            .env_remove("FERRY_PLUGIN_DIR")
            .env("RUST_LOG", "warn");
        output(&mut cmd)
    };

    let (code, version) = run(&["--version"]);
    assert_eq!(code, Some(0), "{version}");
    assert!(
        version.contains("ferry:connector@0.1.0")
            && version.contains("zoho-books")
            && version.contains("share/ferry/connectors"),
        "{version}"
    );

    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    let bench = Bench::new(
        &sb,
        &[BOOKS, BILLING],
        r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    fields:
      display_name: { expr: "'I ' + record.contact_name" }
"#,
    );
    let ws = bench.workspace();
    let state = bench.state();
    let (ws, state) = (ws.to_str().unwrap(), state.to_str().unwrap());
    let (code, said) = run(&["validate", "-w", ws]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("valid"), "{said}");

    let before = count(&sb, "billing/30234695/customers");
    let (code, said) = run(&["sync", "run", "customers", "-w", ws, "--state", state]);
    assert_eq!(code, Some(0), "{said}");
    assert!(count(&sb, "billing/30234695/customers") > before, "{said}");

    // The schema: before any run only the connectors' standard fields are
    // known, so a field they lack may be a custom one (a warning); `ferry
    // discover` reads the organisation's own, and then it is an error.
    let typo = bench.dir().join("typo-field.yaml");
    std::fs::write(
        &typo,
        std::fs::read_to_string(bench.workspace())
            .unwrap()
            .replace("record.contact_name", "record.contact_nmae"),
    )
    .unwrap();
    let typo = typo.to_str().unwrap();
    let (code, said) = run(&["validate", "-w", typo]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("contact_nmae") && said.contains("among the standard ones"),
        "{said}"
    );
    let (code, said) = run(&["discover", "-w", typo]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("books (zoho-books):") && said.contains("contacts"),
        "{said}"
    );
    let (code, said) = run(&["validate", "-w", typo]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("unknown field `contact_nmae`") && !said.contains("among the standard"),
        "{said}"
    );
    let (code, said) = run(&["validate", "-w", typo, "--json"]);
    assert_eq!(code, Some(1), "{said}");
    let report: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(report["valid"], false);
    let problem = &report["problems"][0];
    assert_eq!(problem["severity"], "error", "{report}");
    assert!(
        problem["location"]
            .as_str()
            .unwrap()
            .contains("typo-field.yaml:"),
        "{report}"
    );
    // `--sandbox`: checked against what the sandbox describes, at once.
    let twin = bench.dir().join("typo-twin.yaml");
    std::fs::copy(typo, &twin).unwrap();
    let (code, said) = run(&[
        "validate",
        "-w",
        twin.to_str().unwrap(),
        "--sandbox",
        &sb.base_url(),
    ]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("unknown field `contact_nmae`") && !said.contains("among the standard"),
        "{said}"
    );
    let (code, said) = run(&["discover", "books", "-w", typo, "--json"]);
    assert_eq!(code, Some(0), "{said}");
    let books: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(books["name"], "zoho-books");

    // A mistyped connector is named, with the carried ones to choose from.
    std::fs::write(
        cwd.path().join("typo.yaml"),
        "version: 1\nconnections:\n  books:\n    connector: zoho-bookz\n    data_center: com\n",
    )
    .unwrap();
    let (code, said) = run(&["validate", "-w", "typo.yaml", "--no-secrets"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("zoho-bookz"), "{said}");
}

#[test]
fn a_ferry_that_carries_no_connectors_says_so_and_validates_nothing() {
    let prefix = tempfile::tempdir().unwrap();
    let ferry = install(prefix.path(), false);
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("workspace.yaml"),
        "version: 1\nconnections:\n  books:\n    connector: zoho-books\n    data_center: com\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&ferry);
        cmd.args(args)
            .current_dir(cwd.path())
            .env_remove("FERRY_CONNECTORS")
            .env_remove("FERRY_PLUGIN_DIR");
        output(&mut cmd)
    };
    let (code, version) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(version.contains("connectors carried: none"), "{version}");
    let (code, said) = run(&["validate", "--no-secrets"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("no connector manifests found") && !said.contains("valid ("),
        "{said}"
    );
    let (code, said) = run(&["test", "."]);
    assert_eq!(code, Some(1), "{said}");
}
