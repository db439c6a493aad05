//! The plugin host against real components: loading, the import policy,
//! the compile cache, the well-behaved path and the hostile suite. Every
//! hostile case asserts its specific contained failure, then that the next
//! good call on the same host succeeds. The well-behaved and hostile cases
//! run against the Rust plugins and their Python twins alike
//! (`case::rust`, `case::python`).

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::Query;
use axum::routing::get;
use ferry::install_key::InstallationKey;
use ferry::plugin::{
    CallError, ConnectorError, FieldKind, Limit, Limits, LoadError, LoadSource, Operation, Plugin,
    Runtime, RuntimeOptions,
};
use serde_json::{Value, json};
use support::{Lang, capabilities, plugin, plugin_in};

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions::default()).unwrap()
}

/// One runtime for the cases run in both languages: it keeps what it
/// loaded, so each component is compiled once per test process (a Python
/// component takes seconds), one load at a time.
fn shared() -> Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(runtime).clone()
}

fn load(rt: &Runtime, name: &str, lang: Lang) -> Arc<Plugin> {
    static LOADING: Mutex<()> = Mutex::new(());
    let _one = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    rt.load(&plugin_in(name, lang))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn tight() -> Limits {
    Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// A loopback server with two pages of `items`.
async fn items_server() -> String {
    async fn items(Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
        let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        Json(
            json!({"items": [{"id": format!("i{page}"), "name": format!("Item {page}")}], "more": page < 2}),
        )
    }
    let app = axum::Router::new().route("/items", get(items));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn settings(base: &str) -> Value {
    json!({"base_url": base, "data_center": "sandbox"})
}

each_lang! {
#[tokio::test]
async fn inspect_reports_modules_fields_operations_and_actions(lang) {
    let p = load(&shared(), "well_behaved", lang);
    assert_eq!(p.contract(), "ferry:connector@0.1.0");
    let info = p.inspect().await.unwrap();
    assert_eq!(info.name, "well-behaved");
    let items = info.module("items").unwrap();
    assert_eq!(items.id_field, "id");
    assert!(items.supports(Operation::Incremental));
    assert!(!items.supports(Operation::Delete));
    assert_eq!(items.field("price").unwrap().kind, FieldKind::Decimal);
    assert!(items.field("name").unwrap().required);
    assert_eq!(
        items.field("status").unwrap().picklist,
        ["active", "inactive"]
    );
    assert!(items.action("archive").is_some());
    assert_eq!(items.max_batch, 100);
}
}

each_lang! {
#[tokio::test]
async fn well_behaved_plugin_lists_pages_through_the_host(lang) {
    let base = items_server().await;
    let p = load(&shared(), "well_behaved", lang);
    let c = p.connect(
        Some(capabilities(&base, &["127.0.0.1:*"], &[], None)),
        Limits::default(),
        settings(&base),
    );
    let first = c.list("items", None, None).await.unwrap();
    assert_eq!(first.records[0]["id"], "i1");
    assert_eq!(first.next_cursor.as_deref(), Some("2"));
    let second = c
        .list("items", None, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(second.records[0]["name"], "Item 2");
    assert_eq!(second.next_cursor, None);
    // Per-input results, in order, with the failure named.
    let mut good = serde_json::Map::new();
    good.insert("name".into(), json!("A"));
    let results = c
        .create("items", &[good, serde_json::Map::new()])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap()["id"], "new-1");
    assert_eq!(
        results[1],
        Err(ConnectorError::Invalid {
            field: "name".into(),
            message: "name is required".into()
        })
    );
    let archived = c
        .act("items", "i1", "archive", &Default::default())
        .await
        .unwrap();
    assert_eq!(archived["status"], "inactive");
}
}

each_lang! {
#[tokio::test]
async fn configure_errors_reach_the_caller(lang) {
    let p = load(&shared(), "well_behaved", lang);
    let c = p.connect(None, Limits::default(), json!({}));
    let err = c.list("items", None, None).await.unwrap_err();
    assert!(
        matches!(err.connector_error(), Some(ConnectorError::Invalid { field, .. }) if field == "base_url"),
        "{err}"
    );
}
}

each_lang! {
/// The SDK turns the host's refusal into the error the engine acts on, in
/// either language: a vendor error coded `denied`, naming why.
#[tokio::test]
async fn a_refused_request_reaches_the_connector_as_denied(lang) {
    let p = load(&shared(), "well_behaved", lang);
    let caps = capabilities(
        "https://api.allowed.test",
        &["*.allowed.test"],
        &[("api.allowed.test", "127.0.0.1".parse().unwrap())],
        None,
    );
    let c = p.connect(Some(caps), Limits::default(), settings("https://api.allowed.test"));
    let err = c.list("items", None, None).await.unwrap_err();
    let msg = denied(&err);
    assert!(msg.starts_with("request denied by the host: ") && msg.contains("loopback"), "{msg}");
}
}

/// Run `list(module)` on the hostile plugin in `lang`, then prove the host
/// still serves.
async fn hostile(lang: Lang, module: &str, limits: Limits) -> CallError {
    hostile_with(
        lang,
        module,
        limits,
        capabilities("https://api.allowed.test", &["*.allowed.test"], &[], None),
    )
    .await
}

async fn hostile_with(
    lang: Lang,
    module: &str,
    limits: Limits,
    caps: Arc<ferry::capability::Capabilities>,
) -> CallError {
    let rt = shared();
    let p: Arc<Plugin> = load(&rt, "hostile", lang);
    let c = p.connect(Some(caps), limits, json!({}));
    let err = c
        .list(module, None, None)
        .await
        .expect_err("the hostile call must fail");
    // The same plugin on the same host still serves.
    let ok = c.list("ok", None, None).await.unwrap();
    assert_eq!(ok.records[0]["id"], "1");
    // And another plugin on the same runtime too.
    let other = load(&rt, "well_behaved", lang);
    assert_eq!(other.inspect().await.unwrap().name, "well-behaved");
    err
}

each_lang! {
#[tokio::test]
async fn infinite_loop_hits_the_time_limit(lang) {
    let err = hostile(lang, "loop", tight()).await;
    assert_eq!(
        err.limit(),
        Some(Limit::Timeout(Duration::from_millis(300))),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("`{}`", lang.plugin_name("hostile")))
            && text.contains("`list`")
            && text.contains("time limit"),
        "{text}"
    );
}
}

each_lang! {
#[tokio::test]
async fn memory_bomb_hits_the_memory_cap(lang) {
    // Room for CPython (about 14 MiB at rest), not for a hoard.
    let err = hostile(
        lang,
        "memory",
        Limits {
            memory: 32 << 20,
            ..tight()
        },
    )
    .await;
    assert_eq!(err.limit(), Some(Limit::Memory(32 << 20)), "{err}");
    assert!(
        err.to_string().contains("memory limit of 32 MiB exceeded"),
        "{err}"
    );
}
}

#[tokio::test]
async fn deep_recursion_hits_the_stack_limit() {
    // Rust only: CPython stops deep recursion itself (`RecursionError`).
    let err = hostile(Lang::Rust, "recursion", tight()).await;
    assert_eq!(err.limit(), Some(Limit::Stack), "{err}");
}

each_lang! {
#[tokio::test]
async fn huge_argument_into_a_host_call_is_stopped(lang) {
    let err = hostile(
        lang,
        "huge-hostcall",
        Limits {
            hostcall_data: 1 << 20,
            ..Limits::default()
        },
    )
    .await;
    assert_eq!(err.limit(), Some(Limit::HostcallData(1 << 20)), "{err}");
}
}

fn denied(err: &CallError) -> String {
    match err.connector_error() {
        Some(ConnectorError::Vendor { code, message, .. }) if code == "denied" => message.clone(),
        _ => panic!("expected a denied request, got {err}"),
    }
}

each_lang! {
#[tokio::test]
async fn request_to_a_host_not_allowed_is_refused(lang) {
    let msg = denied(&hostile(lang, "forbidden-host", Limits::default()).await);
    assert!(
        msg.contains("evil.example.com") && msg.contains("allowed hosts"),
        "{msg}"
    );
}
}

each_lang! {
#[tokio::test]
async fn allowed_name_resolving_to_loopback_is_refused(lang) {
    let caps = capabilities(
        "https://api.allowed.test",
        &["*.allowed.test"],
        &[("rebind.allowed.test", "127.0.0.1".parse().unwrap())],
        None,
    );
    let msg = denied(&hostile_with(lang, "rebinding", Limits::default(), caps).await);
    assert!(
        msg.contains("127.0.0.1") && msg.contains("loopback"),
        "{msg}"
    );
}
}

each_lang! {
#[tokio::test]
async fn plugin_setting_credentials_is_refused(lang) {
    let msg = denied(&hostile(lang, "own-auth", Limits::default()).await);
    assert!(msg.contains("Authorization"), "{msg}");
    let msg = denied(&hostile(lang, "cookie", Limits::default()).await);
    assert!(msg.contains("Cookie"), "{msg}");
}
}

each_lang! {
#[tokio::test]
async fn malformed_output_is_a_protocol_error(lang) {
    let err = hostile(lang, "malformed", Limits::default()).await;
    assert!(
        matches!(&err, CallError::Protocol { message, .. } if message.contains("not valid JSON")),
        "{err}"
    );
    let err = hostile(lang, "not-object", Limits::default()).await;
    assert!(
        matches!(&err, CallError::Protocol { message, .. } if message.contains("not a JSON object")),
        "{err}"
    );
}
}

each_lang! {
#[tokio::test]
async fn batch_with_missing_results_is_a_protocol_error(lang) {
    let p = load(&shared(), "hostile", lang);
    let c = p.connect(None, Limits::default(), json!({}));
    let err = c
        .create("ok", &[Default::default(), Default::default()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Protocol { message, .. } if message == "1 results for 2 inputs"),
        "{err}"
    );
}
}

each_lang! {
#[tokio::test]
async fn panic_is_a_trap_with_the_message(lang) {
    let err = hostile(lang, "panic", Limits::default()).await;
    assert!(
        matches!(&err, CallError::Trap { reason, .. } if reason.contains("the plugin gave up")),
        "{err}"
    );
}
}

#[tokio::test]
async fn forbidden_imports_are_refused_at_load() {
    let err = match runtime().load(&plugin("http_import")) {
        Err(e) => e,
        Ok(_) => panic!("a component importing `wasi:http` must be refused"),
    };
    let LoadError::ForbiddenImports { forbidden, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(forbidden.len(), 1, "{err}");
    assert!(
        forbidden[0].0.starts_with("wasi:http/")
            && forbidden[0]
                .1
                .contains("through the host's `ferry:connector/http`"),
        "{err}"
    );
    assert!(
        err.to_string().contains("test_plugin_http_import.wasm"),
        "{err}"
    );
}

/// The file system a component may import has no directory in it: the
/// Rust plugin that reads `/etc/passwd` in `describe` loads, and reads
/// nothing.
#[tokio::test]
async fn the_file_system_plugins_import_is_empty() {
    let p = runtime().load(&plugin("fs_import")).unwrap();
    assert_eq!(p.inspect().await.unwrap().description, "");
}

/// What componentize-py's CPython links but the host grants nothing
/// through: no file, no directory, no environment, clocks stopped at zero,
/// no socket. Random bytes are real (two calls differ).
#[tokio::test]
async fn python_gets_no_files_environment_clocks_or_sockets() {
    let p = load(&shared(), "hostile", Lang::Python);
    let c = p.connect(None, Limits::default(), json!({}));
    let seen = |page: ferry::plugin::Page| -> Value {
        serde_json::from_str(page.records[0]["body"].as_str().unwrap()).unwrap()
    };
    let first = seen(c.list("sandbox", None, None).await.unwrap());
    assert_eq!(first["file"], "FileNotFoundError", "{first}");
    assert_eq!(first["dir"], "FileNotFoundError", "{first}");
    assert_eq!(first["env"], json!({}), "{first}");
    assert_eq!(first["time"], 0.0, "{first}");
    assert_eq!(first["monotonic"], 0.0, "{first}");
    assert_eq!(first["socket"], "PermissionError", "{first}");
    let second = seen(c.list("sandbox", None, None).await.unwrap());
    assert_ne!(first["random"], second["random"]);
}

#[test]
fn non_components_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"definitely not wasm").unwrap();
    let err = runtime().load(&junk).err().unwrap().to_string();
    assert!(
        err.contains("junk.wasm") && err.contains("magic bytes"),
        "{err}"
    );
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, [0, b'a', b's', b'm', 1, 0, 0, 0]).unwrap();
    let err = runtime().load(&core).err().unwrap().to_string();
    assert!(
        err.contains("core WebAssembly module") && err.contains("wasm32-wasip2"),
        "{err}"
    );
    let missing = runtime()
        .load(&dir.path().join("nope.wasm"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("nope.wasm"), "{missing}");
}

fn cache_options(dir: &std::path::Path, secret: u8) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(dir.join("cache")),
        key: Some(std::sync::Arc::new(InstallationKey::from_secret(
            dir.join("test.key"),
            &[secret; 32],
        ))),
    }
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let opts = cache_options(dir.path(), 1);
    let first = Runtime::new(opts.clone())
        .unwrap()
        .load(&plugin("well_behaved"))
        .unwrap();
    assert_eq!(first.load_stats().0, LoadSource::Compiled);
    let cached = std::fs::read_dir(dir.path().join("cache")).unwrap().count();
    assert_eq!(cached, 1);
    let second = Runtime::new(opts)
        .unwrap()
        .load(&plugin("well_behaved"))
        .unwrap();
    assert_eq!(second.load_stats().0, LoadSource::Cached);
    assert_eq!(first.sha256(), second.sha256());
}

/// Native code in the cache runs inside Ferry, so only entries this
/// installation wrote are loaded: a genuine artifact planted under the
/// expected name, an entry of another installation and an altered entry
/// are all compiled afresh (and the entry rewritten).
#[test]
fn cache_entries_this_installation_did_not_write_are_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let entry = || {
        std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .unwrap()
    };
    let load = |secret| {
        Runtime::new(cache_options(dir.path(), secret))
            .unwrap()
            .load(&plugin("well_behaved"))
            .unwrap()
            .load_stats()
            .0
    };
    assert_eq!(load(1), LoadSource::Compiled);
    let path = entry();

    // A valid artifact of this very engine, but without this
    // installation's tag: what an attacker can produce.
    let rt = Runtime::new(RuntimeOptions::default()).unwrap();
    let wasm = std::fs::read(plugin("well_behaved")).unwrap();
    std::fs::write(&path, rt.engine().precompile_component(&wasm).unwrap()).unwrap();
    assert_eq!(load(1), LoadSource::Compiled, "planted entry loaded");
    assert_eq!(load(1), LoadSource::Cached, "rewritten with a tag");

    assert_eq!(
        load(2),
        LoadSource::Compiled,
        "another installation's entry"
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(load(2), LoadSource::Compiled, "altered entry loaded");
}

#[test]
fn precompiled_artifacts_are_not_accepted_as_plugins() {
    let rt = runtime();
    let wasm = std::fs::read(plugin("well_behaved")).unwrap();
    let cwasm = rt.engine().precompile_component(&wasm).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sneaky.cwasm");
    std::fs::write(&path, cwasm).unwrap();
    let err = rt.load(&path).err().unwrap().to_string();
    assert!(err.contains("precompiled"), "{err}");
}

/// The import policy as users read it: every WASI interface the host
/// accepts is named in the README's table, and those that could reach
/// files, sockets, clocks or the environment grant nothing.
#[test]
fn accepted_wasi_interfaces_are_documented_and_empty_where_it_matters() {
    let readme = std::fs::read_to_string(support::repo_root().join("README.md")).unwrap();
    for (interface, grant) in ferry::plugin::accepted_wasi() {
        let short = interface.rsplit('/').next().unwrap();
        assert!(
            readme.contains(&format!("`{interface}`")) || readme.contains(&format!("`{short}`")),
            "README does not name `{interface}`"
        );
        let family = interface.split('/').next().unwrap();
        if ["wasi:filesystem", "wasi:sockets", "wasi:clocks"].contains(&family)
            || *interface == "wasi:cli/environment"
        {
            assert_eq!(*grant, ferry::plugin::Grant::Nothing, "{interface}");
        }
    }
}
