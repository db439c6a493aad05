//! The host's guarantees as a user meets them: the hostile test plugin run
//! through the `ferry` binary (`sync run` and `serve` as processes), not
//! through the library. Each case asserts containment, then that the next
//! good run succeeds.
//!
//! The hostile connector (tests/fixtures/connectors/hostile.yaml) points at
//! a loopback "vendor" started here, which serves the token endpoint and
//! echoes what it received, so a test can see where the token went. The
//! cases that concern the plugin (limits, hosts, credentials, malformed
//! output) run against the Rust test plugins and their Python twins alike
//! (`case::rust`, `case::python`).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{any, post};
use serde_json::{Value, json};
use support::Lang;
use support::bench::Bench;
use support::served::{Served, token};

/// What a loopback vendor received: (path, `Authorization` header).
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(String, Option<String>)>>,
    /// `client_id` and `client_secret` of each token request.
    grants: Mutex<Vec<(String, String)>>,
}

/// A loopback vendor: `/oauth/v2/token` mints `tok-<port>`; every other
/// path answers with what it was sent.
async fn vendor() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    async fn grant(
        State((seen, port)): State<(Arc<Seen>, u16)>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::Json<Value> {
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        seen.grants
            .lock()
            .unwrap()
            .push((get("client_id"), get("client_secret")));
        axum::Json(json!({"access_token": format!("tok-{port}"), "expires_in": 3600}))
    }
    async fn echo(
        State((seen, _)): State<(Arc<Seen>, u16)>,
        uri: axum::http::Uri,
        headers: HeaderMap,
    ) -> axum::Json<Value> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        seen.requests
            .lock()
            .unwrap()
            .push((uri.path().to_string(), auth.clone()));
        axum::Json(json!({"authorization": auth}))
    }
    let app = axum::Router::new()
        .route("/oauth/v2/token", post(grant))
        .fallback(any(echo))
        .with_state((seen.clone(), port));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// A port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test connector manifests, copied into `dir`.
fn connectors(dir: &Path) -> PathBuf {
    connectors_in(dir, Lang::Rust)
}

/// The test connector manifests, copied into `dir`, naming the test
/// plugins written in `lang`.
fn connectors_in(dir: &Path, lang: Lang) -> PathBuf {
    let out = dir.join("connectors");
    std::fs::create_dir_all(&out).unwrap();
    let fixtures = support::repo_root().join("host/tests/fixtures/connectors");
    for (file, plugin) in [
        ("hostile.yaml", "hostile"),
        ("well-behaved.yaml", "well_behaved"),
    ] {
        let manifest = std::fs::read_to_string(fixtures.join(file)).unwrap();
        let rust = format!("component: {}", Lang::Rust.component(plugin));
        assert!(manifest.contains(&rust), "{file} names {rust}");
        let manifest = manifest.replace(&rust, &format!("component: {}", lang.component(plugin)));
        std::fs::write(out.join(file), manifest).unwrap();
    }
    // Build the plugins before the first `ferry` looks for them.
    support::plugin_in("hostile", lang);
    out
}

/// Workspace YAML: one `hostile` connection per (name, limits, settings)
/// at `vendor`, a `well` target, and one sync per (sync,
/// connection.module), each with `extra` lines.
fn workspace(
    vendor: &str,
    connections: &[(&str, &str, Value)],
    syncs: &[(&str, &str)],
    extra: &str,
) -> String {
    let mut yaml = String::from("version: 1\nconnections:\n");
    for (name, limits, settings) in connections {
        yaml.push_str(&format!(
            "  {name}:\n    connector: hostile\n    sandbox: {vendor}\n    limits: {limits}\n    settings: {settings}\n"
        ));
    }
    yaml.push_str(&format!(
        "  well:\n    connector: well-behaved\n    sandbox: {vendor}\nsyncs:\n"
    ));
    for (name, from) in syncs {
        yaml.push_str(&format!(
            "  {name}:\n    from: {from}\n    to: well.items\n    fields: {{ name: name }}\n{extra}"
        ));
    }
    yaml
}

/// `ferry <args>` on the bench, off the async runtime (the loopback
/// vendors run on it).
async fn ferry(bench: &Bench, args: &[&str]) -> (Output, Duration) {
    let mut cmd = bench.ferry(args);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (out, started.elapsed())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `sync run <name>` fails, saying `why`.
async fn fails(bench: &Bench, sync: &str, why: &str) -> Duration {
    let (out, took) = ferry(bench, &["sync", "run", sync]).await;
    let said = text(&out);
    assert!(!out.status.success(), "{sync} should fail: {said}");
    assert!(said.contains(why), "{sync}: expected `{why}` in: {said}");
    took
}

async fn succeeds(bench: &Bench, sync: &str) -> String {
    let (out, _) = ferry(bench, &["sync", "run", sync]).await;
    let said = text(&out);
    assert!(out.status.success(), "{sync}: {said}");
    said
}

each_lang! {
/// A plugin that loops is stopped at its time limit, one that hoards
/// memory at its memory limit, a listing that never ends at once, and
/// records that are not JSON objects fail the run; after each, the next
/// good run succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_in_sync_run(lang) {
    let (url, _) = vendor().await;
    let dir = tempfile::tempdir().unwrap();
    let limits = "{ timeout: 2s, memory: 32MiB }";
    let yaml = workspace(
        &url,
        &[
            ("hostile", limits, json!({})),
            ("fresh", limits, json!({"cursor": "fresh"})),
        ],
        &[
            ("good", "hostile.ok"),
            ("spin", "hostile.loop"),
            ("hog", "hostile.memory"),
            ("endless", "hostile.endless"),
            ("circles", "fresh.endless"),
            ("garbled", "hostile.malformed"),
        ],
        "",
    );
    let bench = Bench::custom(&yaml, connectors_in(dir.path(), lang));
    // The first run compiles the component; later ones load it cached.
    assert!(succeeds(&bench, "good").await.contains("added 1"));

    let took = fails(&bench, "spin", "time limit of 2s exceeded").await;
    assert!(
        took < Duration::from_secs(5),
        "a 2 s limit took {took:?} to stop the plugin"
    );
    succeeds(&bench, "good").await;
    fails(&bench, "hog", "memory limit of 32 MiB exceeded").await;
    succeeds(&bench, "good").await;
    fails(&bench, "endless", "handed out cursor `1` a second time").await;
    fails(&bench, "circles", "goes round in circles").await;
    fails(&bench, "garbled", "record 0 is not valid JSON").await;
    succeeds(&bench, "good").await;

    // Failed runs say so in the history, with the reason.
    let (out, _) = ferry(&bench, &["history", "spin", "--format", "json"]).await;
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(runs.to_string().contains("time limit"), "{runs}");
}
}

each_lang! {
/// The token goes to the connection's API origin only. Another port of
/// this machine — here an echo server that would hand the token back to
/// the plugin — is refused before anything is sent, and so is a request
/// carrying an `Authorization` header of the plugin's own. (That an extra
/// allowed origin gets requests without the token is tested on the
/// capability in `http_capability.rs`: a sandbox connection allows only
/// its sandbox.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_reach_only_the_api_origin(lang) {
    let (api, api_seen) = vendor().await;
    let (echo, echo_seen) = vendor().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = workspace(
        &api,
        &[
            ("own", "{}", json!({"target": "/echo"})),
            ("echo", "{}", json!({"target": format!("{echo}/echo")})),
        ],
        &[
            ("own", "own.reach"),
            ("echo", "echo.reach"),
            ("forged", "own.own-auth"),
        ],
        "",
    );
    let bench = Bench::custom(&yaml, connectors_in(dir.path(), lang));
    succeeds(&bench, "own").await;
    let port = api.rsplit(':').next().unwrap();
    assert_eq!(
        api_seen.requests.lock().unwrap().as_slice(),
        [(
            "/echo".to_string(),
            Some(format!("Zoho-oauthtoken tok-{port}"))
        )]
    );

    fails(&bench, "echo", "is not among the connector's allowed hosts").await;
    assert!(echo_seen.requests.lock().unwrap().is_empty());
    assert!(echo_seen.grants.lock().unwrap().is_empty());
    fails(&bench, "forged", "Authorization").await;
    assert_eq!(api_seen.requests.lock().unwrap().len(), 1, "nothing sent");
    succeeds(&bench, "own").await;
}
}

/// `--sandbox` never sends a connection's real credentials to the sandbox:
/// the sandbox's own test client is used, and tokens are kept per endpoint
/// (a token made against one sandbox is not sent to another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_flag_keeps_real_secrets_and_tokens_apart() {
    let (first, first_seen) = vendor().await;
    let (second, second_seen) = vendor().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("real-secret"), "the-real-secret").unwrap();
    let secret = dir.path().join("real-secret");
    let yaml = format!(
        "version: 1\nconnections:\n  hostile:\n    connector: hostile\n    auth: {{ client_id: env:FERRY_TEST_REAL_ID, client_secret: file:{}, refresh_token: env:FERRY_TEST_REAL_ID }}\n    settings: {{ target: /echo }}\n  well:\n    connector: well-behaved\nsyncs:\n  own:\n    from: hostile.reach\n    to: well.items\n    fields: {{ name: name }}\n",
        secret.display()
    );
    // A data centre the test connector does not have: without `--sandbox`
    // this workspace cannot run at all; with it, it must not leak.
    let yaml = yaml.replace(
        "    connector: hostile\n",
        "    connector: hostile\n    data_center: nowhere\n",
    );
    let bench = Bench::custom(&yaml, connectors(dir.path()));
    for (url, seen) in [(&first, &first_seen), (&second, &second_seen)] {
        // One state for both sandboxes (`--rebind`: the state would refuse
        // a second endpoint otherwise): tokens must still stay apart.
        let mut cmd = bench.ferry(&["sync", "run", "own", "--sandbox", url, "--rebind"]);
        cmd.env("FERRY_TEST_REAL_ID", "real-client-id");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let grants = seen.grants.lock().unwrap().clone();
        assert_eq!(
            grants,
            [(
                "1000.SANDBOXCLIENTID0000000000000000".to_string(),
                "sandbox0secret0000000000000000000000000000".to_string()
            )],
            "the sandbox's own client, once per sandbox"
        );
        let port = url.rsplit(':').next().unwrap();
        assert_eq!(
            seen.requests.lock().unwrap().as_slice(),
            [(
                "/echo".to_string(),
                Some(format!("Zoho-oauthtoken tok-{port}"))
            )],
            "each sandbox sees its own token"
        );
    }
}

/// A compiled component planted in the state's cache under the name Ferry
/// would use is not run: it lacks this installation's tag, so Ferry says
/// so, compiles the plugin itself and the run succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_cache_entry_is_not_run() {
    let (url, _) = vendor().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = workspace(
        &url,
        &[("hostile", "{}", json!({}))],
        &[("good", "hostile.ok")],
        "",
    );
    let bench = Bench::custom(&yaml, connectors(dir.path()));
    succeeds(&bench, "good").await;
    let cache = bench.state().join("cache");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "cwasm") && std::fs::read(p).unwrap().len() > 100_000
        })
        .expect("a cached component");
    // What an attacker can make: a genuine artifact of this engine (it
    // could hold any native code), without the tag.
    let wasm = std::fs::read(support::plugin("hostile")).unwrap();
    let runtime = ferry::plugin::Runtime::new(Default::default()).unwrap();
    let planted = runtime.engine().precompile_component(&wasm).unwrap();
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    for path in &entries {
        std::fs::write(path, &planted).unwrap();
    }
    let said = succeeds(&bench, "good").await;
    assert!(
        said.contains("did not write"),
        "the planted entry is reported: {said}"
    );
    assert_ne!(
        std::fs::read(&entry).unwrap(),
        planted,
        "the entry is replaced by Ferry's own"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&bench.state()), 0o700);
        assert_eq!(mode(&cache), 0o700);
        assert_eq!(mode(&bench.state().join("state.redb")), 0o600);
    }
}

/// In `ferry serve`, two plugins looping at once do not take the service
/// down: `/healthz` and the API answer, another job runs, each looping job
/// fails with the reason and backs off, and SIGTERM stops the service
/// promptly even while a plugin is still looping. A plugin aiming at the
/// admin API (another port of this machine) is refused and mints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stays_up_while_plugins_loop() {
    let (url, _) = vendor().await;
    let admin_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("http://127.0.0.1:{admin_port}/v1/tokens");
    let mut yaml = workspace(
        &url,
        &[
            ("hostile", "{ timeout: 4s }", json!({})),
            ("ssrf", "{}", json!({"target": admin})),
            // A limit longer than the shutdown grace.
            ("slow", "{ timeout: 120s }", json!({})),
        ],
        &[
            ("good", "hostile.ok"),
            ("spin1", "hostile.loop"),
            ("spin2", "hostile.loop"),
            ("mint", "ssrf.reach-post"),
            ("forever", "slow.loop"),
        ],
        "    schedule: manual\n",
    );
    yaml.push_str("serve:\n  open_on_loopback: true\n");
    let bench = Bench::custom(&yaml, connectors(dir.path()));
    let root = token(&bench, "root", "admin");
    let served = Served::start(&bench, &["--listen", &format!("127.0.0.1:{admin_port}")]);

    let run = |name: &'static str| {
        let served = &served;
        let root = root.clone();
        async move {
            let (status, body) = served
                .call("POST", &format!("/v1/jobs/{name}/run"), Some(&root), None)
                .await;
            assert!(status < 300, "run {name}: {status} {body}");
        }
    };
    run("spin1").await;
    run("spin2").await;
    // While both loop, the service answers and other work goes on.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    run("good").await;
    while started.elapsed() < Duration::from_secs(3) {
        let asked = Instant::now();
        let (status, _) = served.call("GET", "/healthz", None, None).await;
        assert_eq!(status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/healthz took {:?} while plugins loop",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let good = served.wait_runs("good", &root, 1).await;
    assert_eq!(good[0]["status"]["status"], "completed", "{good:?}");
    for name in ["spin1", "spin2"] {
        let runs = served.wait_runs(name, &root, 1).await;
        assert_eq!(runs[0]["status"]["status"], "failed", "{runs:?}");
        let why = runs[0]["status"]["reason"].as_str().unwrap();
        assert!(why.contains("time limit of 4s exceeded"), "{why}");
    }

    // The plugin's request to the admin API never leaves the host.
    run("mint").await;
    let runs = served.wait_runs("mint", &root, 1).await;
    let why = runs[0]["status"]["reason"].as_str().unwrap();
    assert!(
        why.contains("not among the connector's allowed hosts"),
        "{why}"
    );
    let tokens = served.get("/v1/tokens", &root).await;
    assert_eq!(
        tokens.to_string().matches("\"name\"").count(),
        1,
        "only the test's own token: {tokens}"
    );

    // Shutdown while a plugin with a 120 s limit loops.
    run("forever").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    served.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "SIGTERM took {:?}",
        stopping.elapsed()
    );
    // The interrupted run is closed as such at the next opening.
    let (out, _) = ferry(&bench, &["history", "forever", "--format", "json"]).await;
    let history = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(history.contains("interrupted"), "{history}");
}
