//! `ferry plugins inspect` as a user runs it.

mod support;

use std::process::Command;

fn ferry(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_prints_modules_operations_actions_and_fields() {
    let wasm = support::plugin("well_behaved");
    let (ok, out, err) = ferry(&["plugins", "inspect", wasm.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("contract  ferry:connector@0.1.0"), "{out}");
    assert!(out.contains("module items (Items)"), "{out}");
    assert!(
        out.contains("operations   read, create, incremental"),
        "{out}"
    );
    assert!(
        out.contains("archive") && out.contains("Archive the item"),
        "{out}"
    );
    assert!(
        out.contains("Name [required]") && out.contains("one of: active, inactive"),
        "{out}"
    );
}

#[test]
fn inspect_json_is_machine_readable() {
    let wasm = support::plugin("well_behaved");
    let (ok, out, err) = ferry(&["plugins", "inspect", "--json", wasm.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["contract"], "ferry:connector@0.1.0");
    assert_eq!(
        v["modules"][0]["operations"],
        serde_json::json!(["read", "create", "incremental"])
    );
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn inspect_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, "text").unwrap();
    let (ok, _, err) = ferry(&["plugins", "inspect", junk.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("junk.wasm") && err.contains("not a WebAssembly component"),
        "{err}"
    );

    let snoop = support::plugin("fs_import");
    let (ok, _, err) = ferry(&["plugins", "inspect", snoop.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("test_plugin_fs_import.wasm") && err.contains("wasi:filesystem"),
        "{err}"
    );

    let missing = dir.path().join("missing.wasm");
    let (ok, _, err) = ferry(&["plugins", "inspect", missing.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}
