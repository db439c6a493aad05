//! Plugin host costs: compile vs cached load, instantiate, an empty call,
//! and an HTTP round trip through the capability to a loopback server. The
//! plugin costs are measured for the well-behaved test connector in Rust
//! and in Python (componentize-py), side by side; the component sizes are
//! printed first.
//!
//! `scripts/build-plugins && cargo bench -p ferry --bench plugin_host`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ferry::capability::http::{Method, Request};
use ferry::capability::{
    AllowedHosts, Capabilities, HostPattern, HttpCapability, HttpConfig, HttpSettings,
};
use ferry::plugin::{Limits, Runtime, RuntimeOptions};
use wasmtime::component::Component;

/// The well-behaved test connector in each language.
const LANGS: [(&str, &str); 2] = [
    ("rust", "test_plugin_well_behaved.wasm"),
    ("python", "test_plugin_well_behaved_py.wasm"),
];

fn wasm(file: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("target/plugins/wasm32-wasip2/plugin").join(file);
    assert!(path.is_file(), "run scripts/build-plugins first");
    path
}

fn load(c: &mut Criterion) {
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("load");
    // A Python component takes seconds to compile: few samples.
    g.sample_size(10);
    for (lang, file) in LANGS {
        let bytes = std::fs::read(wasm(file)).unwrap();
        eprintln!("component size, {lang}: {} bytes", bytes.len());
        let cwasm = dir.path().join(format!("{lang}.cwasm"));
        std::fs::write(
            &cwasm,
            runtime.engine().precompile_component(&bytes).unwrap(),
        )
        .unwrap();
        g.bench_function(BenchmarkId::new("compile", lang), |b| {
            b.iter(|| Component::new(runtime.engine(), &bytes).unwrap())
        });
        // SAFETY: the file was written just above by this engine.
        g.bench_function(BenchmarkId::new("cached", lang), |b| {
            b.iter(|| unsafe { Component::deserialize_file(runtime.engine(), &cwasm) }.unwrap())
        });
    }
    g.finish();
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    for (lang, file) in LANGS {
        let plugin = runtime.load(&wasm(file)).unwrap();
        let connector = plugin.connect(
            None,
            Limits::default(),
            serde_json::json!({"base_url": "http://127.0.0.1"}),
        );
        c.bench_function(&format!("instantiate/{lang}"), |b| {
            b.iter(|| rt.block_on(connector.bench_instantiate()).unwrap())
        });
        c.bench_function(&format!("empty_call/{lang}"), |b| {
            b.iter_custom(|n| {
                let start = std::time::Instant::now();
                rt.block_on(connector.bench_empty_calls(n)).unwrap();
                start.elapsed()
            })
        });
        c.bench_function(
            &format!("full_call (instantiate + configure + check)/{lang}"),
            |b| b.iter(|| rt.block_on(connector.check()).unwrap()),
        );
    }
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = rt.block_on(async {
        let app =
            axum::Router::new().route("/ping", axum::routing::get(|| async { "{\"ok\":true}" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    });
    let http = HttpCapability::new(
        HttpConfig {
            base_url: base.parse().unwrap(),
            allowed_hosts: AllowedHosts::new(vec![HostPattern::new("127.0.0.1:*")], None),
            requests_per_minute: None,
            requests_per_second: None,
            concurrency: 4,
            settings: HttpSettings {
                request_timeout: Duration::from_secs(5),
                ..HttpSettings::default()
            },
            dns_overrides: Default::default(),
        },
        None,
    )
    .unwrap();
    let caps = Capabilities::new("bench", "bench", http);
    let req = Request {
        method: Method::Get,
        url: "/ping".into(),
        headers: vec![],
        body: None,
        idempotent: true,
    };
    c.bench_function("http_round_trip", |b| {
        b.iter(|| rt.block_on(caps.http.send(req.clone())).unwrap())
    });
}

criterion_group!(benches, load, calls, http);
criterion_main!(benches);
