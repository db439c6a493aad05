//! `ferry plugins inspect` and `ferry plugins new` as a user runs them.

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

each_lang! {
#[test]
fn inspect_prints_modules_operations_actions_and_fields(lang) {
    let wasm = support::plugin_in("well_behaved", lang);
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
}

each_lang! {
#[test]
fn inspect_json_is_machine_readable(lang) {
    let wasm = support::plugin_in("well_behaved", lang);
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

    let snoop = support::plugin("http_import");
    let (ok, _, err) = ferry(&["plugins", "inspect", snoop.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("test_plugin_http_import.wasm") && err.contains("`wasi:http/direct@0.2.6`"),
        "{err}"
    );

    let missing = dir.path().join("missing.wasm");
    let (ok, _, err) = ferry(&["plugins", "inspect", missing.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

/// The describe fixtures that `ferry validate --describe-dir` and the
/// config tests use are what the real Zoho plugins report, plus the
/// organisation's custom fields (and picklist values, and CRM modules named
/// in settings): no fixture may drift from the plugin it stands for.
#[test]
fn describe_fixtures_match_the_real_plugins() {
    support::plugin("well_behaved");
    let dir = support::repo_root().join("host/tests/fixtures/config/describe");
    for product in ["crm", "books", "invoice", "billing"] {
        let wasm = support::repo_root().join(format!(
            "target/plugins/wasm32-wasip2/plugin/zoho_{product}.wasm"
        ));
        let (ok, out, err) = ferry(&["plugins", "inspect", "--json", wasm.to_str().unwrap()]);
        assert!(ok, "{err}");
        let real: serde_json::Value = serde_json::from_str(&out).unwrap();
        let path = dir.join(format!("zoho-{product}.json"));
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for module in real["modules"].as_array().unwrap() {
            let name = module["name"].as_str().unwrap();
            let twin = fixture["modules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
                .unwrap_or_else(|| panic!("{product}: fixture lacks module {name}"));
            for key in [
                "id_field",
                "modified_field",
                "operations",
                "actions",
                "max_batch",
            ] {
                assert_eq!(twin[key], module[key], "{product}.{name}: {key}");
            }
            let standard = |fields: &serde_json::Value| -> Vec<serde_json::Value> {
                fields
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["custom"] == false)
                    .map(|f| {
                        let mut f = f.clone();
                        f.as_object_mut().unwrap().remove("picklist");
                        f
                    })
                    .collect()
            };
            assert_eq!(
                standard(&twin["fields"]),
                standard(&module["fields"]),
                "{product}.{name}: standard fields"
            );
        }
    }
}

each_lang! {
/// `ferry plugins new` in each language, outside any checkout: the files,
/// a manifest `ferry validate` loads, unit tests that pass natively and a
/// component that builds and that `ferry plugins inspect` loads. (The Rust
/// one's build and `cargo test` take a minute of compiling, so here its
/// crate is only read by cargo; they are run by hand.)
#[test]
fn new_connectors_validate_build_and_load(lang) {
    use support::Lang;
    // Builds the guests, componentize-py's virtual environment among them.
    support::plugin_in("well_behaved", lang);
    let root = support::repo_root();
    let dir = tempfile::tempdir().unwrap();
    let (language, files): (&str, &[&str]) = match lang {
        Lang::Rust => ("rust", &["Cargo.toml", "src/lib.rs", "build.sh", "manifest.yaml"]),
        Lang::Python => (
            "python",
            &["connector.py", "test_connector.py", "pyproject.toml", "build.sh", "test.sh", "manifest.yaml"],
        ),
    };
    let args = [
        "plugins",
        "new",
        "--lang",
        language,
        "acme-shop",
        "--dir",
        dir.path().to_str().unwrap(),
        "--ferry-src",
        root.to_str().unwrap(),
    ];
    let (ok, out, err) = ferry(&args);
    assert!(ok, "{err}");
    let made = dir.path().join("acme-shop");
    for file in files {
        assert!(made.join(file).is_file(), "{file} missing: {out}");
    }
    let (again, _, err) = ferry(&args);
    assert!(!again && err.contains("already exists"), "{err}");

    let ws = dir.path().join("workspace.yaml");
    std::fs::write(
        &ws,
        "version: 1\nconnections:\n  shop:\n    connector: acme-shop\n    data_center: com\n",
    )
    .unwrap();
    let manifests = made.to_str().unwrap();
    let (ok, out, err) = ferry(&["validate", "-w", ws.to_str().unwrap(), "--connectors", manifests]);
    assert!(ok, "{out}{err}");

    let run = |program: &str, args: &[&str]| {
        let program = match program {
            "cargo" => std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            other => other.to_string(),
        };
        let componentize = root.join("target/python/venv/bin/componentize-py");
        let out = Command::new(&program)
            .args(args)
            .current_dir(&made)
            .env("COMPONENTIZE_PY", componentize)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{program} {args:?}: {said}");
        said
    };
    match lang {
        Lang::Rust => {
            let meta = run("cargo", &["metadata", "--no-deps", "--offline", "--format-version", "1"]);
            assert!(meta.contains("\"name\":\"acme-shop\""), "{meta}");
        }
        Lang::Python => {
            let tests = run("./test.sh", &[]);
            assert!(tests.contains("Ran 3 tests") && tests.contains("OK"), "{tests}");
            run("./build.sh", &[]);
            let wasm = made.join("target/wasm32-wasip2/plugin/acme_shop.wasm");
            let (ok, out, err) = ferry(&["plugins", "inspect", wasm.to_str().unwrap()]);
            assert!(ok, "{err}");
            assert!(
                out.contains("acme-shop 0.1.0") && out.contains("operations   read, incremental, create"),
                "{out}"
            );
        }
    }
}
}

/// `ferry plugins test --record` keeps a connector's HTTP with no secret in
/// it; `--replay` runs the same exercise offline, and a cassette whose
/// answers changed fails it.
#[tokio::test(flavor = "multi_thread")]
async fn a_connector_replays_its_recorded_exchanges_offline() {
    let sb = zoho_sandbox::Sandbox::builder()
        .seed(6)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("crm.json");
    let cassette_arg = cassette.to_str().unwrap().to_string();
    let plugins = support::plugin("well_behaved")
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let connectors = support::repo_root().join("connectors");
    let common = [
        "--connectors",
        connectors.to_str().unwrap(),
        "--plugin-dir",
        &plugins,
    ];
    let url = sb.base_url();
    let mut record = vec!["plugins", "test", "zoho-crm", "--sandbox", &url, "--record"];
    record.push(&cassette_arg);
    record.extend(common);
    let (ok, out, err) = tokio::task::spawn_blocking({
        let record: Vec<String> = record.iter().map(|s| s.to_string()).collect();
        move || ferry(&record.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("Accounts") && out.contains("get "), "{out}");
    let text = std::fs::read_to_string(&cassette).unwrap();
    let client = sb.client_credentials();
    for secret in [&client.client_secret, &client.refresh_token] {
        assert!(!text.contains(secret.as_str()), "a secret was recorded");
    }
    assert!(!text.contains("oauthtoken"), "a token was recorded");
    drop(sb); // replay needs no network

    let mut replay = vec!["plugins", "test", "zoho-crm", "--replay", &cassette_arg];
    replay.extend(common);
    let (ok, out, err) = ferry(&replay);
    assert!(ok, "{out}{err}");
    assert!(out.contains("same outcome"), "{out}");

    // A vendor answering differently: the first Accounts page lost a record.
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first_id = file["outcome"]["modules"]["Accounts"]["first_page"]["Ok"][0]
        .as_str()
        .unwrap()
        .to_string();
    for e in file["exchanges"].as_array_mut().unwrap() {
        if e["url"].as_str().unwrap().starts_with("/Accounts?") {
            let body = e["response"].as_str().unwrap().replace(&first_id, "1");
            e["response"] = body.into();
        }
    }
    std::fs::write(&cassette, file.to_string()).unwrap();
    let (ok, out, _) = ferry(&replay);
    assert!(!ok, "a changed answer must fail the replay: {out}");
    assert!(out.contains("the outcome differs"), "{out}");
}

/// A platform team's path to a declarative connector: `ferry plugins new
/// --declarative` gives a manifest, a cassette its replay test passes on,
/// and an example workspace whose config test passes — all offline.
#[test]
fn a_declarative_connector_starts_with_passing_offline_tests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let (ok, out, err) = ferry(&["plugins", "new", "--declarative", "shop", "--dir", root]);
    assert!(ok, "{out}{err}");
    let shop = dir.path().join("shop");
    let connectors = shop.to_str().unwrap();
    let plugins = support::plugin("well_behaved");
    let plugins = plugins.parent().unwrap().to_str().unwrap();
    let cassette = shop.join("shop.cassette.json");
    let located = ["--connectors", connectors, "--plugin-dir", plugins];

    let mut replay = vec![
        "plugins",
        "test",
        "shop",
        "--replay",
        cassette.to_str().unwrap(),
    ];
    replay.extend(located);
    let (ok, out, err) = ferry(&replay);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("items") && out.contains("same outcome"),
        "{out}"
    );

    let example = shop.join("example");
    let mut test = vec!["test", example.to_str().unwrap()];
    test.extend(located);
    let (ok, out, err) = ferry(&test);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");

    let workspace = example.join("shop-copy.yaml");
    let mut validate = vec![
        "validate",
        "-w",
        workspace.to_str().unwrap(),
        "--no-secrets",
    ];
    validate.extend(located);
    let (ok, out, err) = ferry(&validate);
    assert!(ok, "{out}{err}");

    // The manifest is the connector: break a placeholder and it says where.
    let manifest = shop.join("shop.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("/items/{id}", "/items/{criteria.id}"),
    )
    .unwrap();
    let (ok, out, err) = ferry(&replay);
    assert!(!ok, "{out}");
    assert!(
        err.contains("rest.modules.items.get.path")
            && err.contains("`{criteria}` has no value here"),
        "{err}"
    );
}

/// A declarative connector is inspected through its manifest: the generic
/// component, as the manifest configures it.
#[test]
fn a_declarative_manifest_is_inspected_as_its_connector() {
    let manifest = support::repo_root().join("connectors/alternative-payments.yaml");
    let (ok, out, err) = ferry(&["plugins", "inspect", manifest.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    for module in ["customers", "invoices", "payments", "payouts", "archive"] {
        assert!(out.contains(module), "{out}");
    }
}
