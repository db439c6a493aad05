//! The sync engine end to end: the `ferry` binary and the library against
//! the sandbox, with the real connector plugins. Books contacts flow to
//! Billing customers (and back, for two-way), linked by a custom field so
//! the sandbox's seeded customers never match by accident.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ferry::capability::HttpSettings;
use ferry::config::{LoadOptions, SecretMode, Workspace};
use ferry::connection::ConnectorRegistry;
use ferry::plugin::{Runtime, RuntimeOptions};
use ferry::store::{LedgerFilter, LedgerOp, RunStatus, SledStore};
use ferry::sync::{self, Env, EnvOptions, NoProgress, RunOptions};
use serde_json::{Value, json};
use zoho_sandbox::{Product, Sandbox};

const BOOKS_ORG: &str = "10234695";
const BILLING_ORG: &str = "30234695";

/// A workspace directory with its secrets and state.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new(sb: &Sandbox, syncs: &str) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let creds = sb.client_credentials();
        std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
        for (name, value) in [
            ("id", &creds.client_id),
            ("secret", &creds.client_secret),
            ("refresh", &creds.refresh_token),
        ] {
            std::fs::write(dir.path().join("secrets").join(name), value).unwrap();
        }
        let auth = "{ client_id: file:secrets/id, client_secret: file:secrets/secret, refresh_token: file:secrets/refresh }";
        let base = sb.base_url();
        let yaml = format!(
            "version: 1\nconnections:\n  books:\n    connector: zoho-books\n    sandbox: {base}\n    settings: {{ organization_id: \"{BOOKS_ORG}\" }}\n    auth: {auth}\n  billing:\n    connector: zoho-billing\n    sandbox: {base}\n    settings: {{ organization_id: \"{BILLING_ORG}\" }}\n    auth: {auth}\nsyncs:\n{syncs}"
        );
        std::fs::write(dir.path().join("workspace.yaml"), yaml).unwrap();
        Bench { dir }
    }

    fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace.yaml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn plugin_dir() -> PathBuf {
        support::plugin("well_behaved")
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The workspace, opened in this process.
    async fn env(&self) -> Env {
        let ws = Workspace::load_with(
            self.workspace(),
            LoadOptions {
                secrets: SecretMode::Resolve,
            },
        )
        .unwrap_or_else(|d| panic!("{}", d.render_short()));
        let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
        let registry = ConnectorRegistry::load(
            runtime,
            &support::repo_root().join("connectors"),
            &Bench::plugin_dir(),
        )
        .unwrap();
        std::fs::create_dir_all(self.state().join("state")).unwrap();
        let store = Arc::new(SledStore::open(&self.state().join("state")).unwrap());
        let env = Env::open(
            ws,
            &registry,
            store,
            EnvOptions {
                http: Some(fast_http()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let diags = ferry::config::validate(&env.workspace, env.catalog());
        assert!(!diags.has_errors(), "{}", diags.render_short());
        env
    }

    /// `ferry <args>` on this workspace.
    fn ferry(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .arg("--workspace")
            .arg(self.workspace())
            .arg("--connectors")
            .arg(support::repo_root().join("connectors"))
            .arg("--plugin-dir")
            .arg(Bench::plugin_dir())
            .arg("--state")
            .arg(self.state())
            .env("RUST_LOG", "warn");
        cmd
    }
}

fn fast_http() -> HttpSettings {
    HttpSettings {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        max_attempts: 8,
        ..HttpSettings::default()
    }
}

/// One-way Books contacts → Billing customers, matched by the Books id kept
/// in a Billing custom field.
const ONE_WAY: &str = r#"  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_id: zcrm_account_id }
    on_duplicate: overwrite
    view: "record.contact_name != 'Customer 000003'"
    fields:
      display_name: { expr: "'B ' + record.contact_name" }
      company_name: company_name
      zcrm_account_id: contact_id
"#;

fn count(sb: &Sandbox, product: &str, org: &str, resource: &str) -> u64 {
    sb.counts()
        .get(&format!("{product}/{org}/{resource}"))
        .copied()
        .unwrap_or(0) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_creates_and_links_then_a_resync_writes_nothing() {
    let sb = Sandbox::builder().seed(30).start().await.unwrap();
    let bench = Bench::new(&sb, ONE_WAY);
    let env = bench.env().await;
    let before = count(&sb, "billing", BILLING_ORG, "customers");

    let run = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.counts.read, 30);
    assert_eq!(run.counts.added, 29, "{run:?}");
    assert_eq!(run.counts.skipped, 1, "the view filter excludes one");
    assert_eq!(count(&sb, "billing", BILLING_ORG, "customers"), before + 29);
    let skipped = env
        .store
        .ledger("customers", run.id, LedgerFilter::Skipped, 0, 10)
        .unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("view filter")
    );

    // Nothing changed: the incremental read finds nothing to write.
    let again = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.status, RunStatus::Completed);
    assert_eq!(again.counts.added + again.counts.updated, 0, "{again:?}");
    // Even a full re-read writes nothing.
    let full = sync::run(
        &env,
        "customers",
        &RunOptions {
            full: true,
            ..Default::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(full.counts.read, 30);
    assert_eq!(full.counts.added + full.counts.updated, 0, "{full:?}");
    assert_eq!(full.counts.unchanged, 29);
    assert_eq!(count(&sb, "billing", BILLING_ORG, "customers"), before + 29);

    // A person edits one Books contact: exactly that one is updated.
    let links = env.store.all_links("customers").unwrap();
    assert_eq!(links.len(), 29);
    let (books_id, billing_id, _) = &links[0];
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Books,
            BOOKS_ORG,
            "contacts",
            books_id,
            json!({"company_name": "Renamed Ltd"}),
        )
        .unwrap();
    let changed = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(changed.counts.updated, 1, "{changed:?}");
    assert_eq!(changed.counts.added, 0);
    let rows = env
        .store
        .ledger("customers", changed.id, LedgerFilter::All, 0, 10)
        .unwrap();
    let update = rows.iter().find(|r| r.op == LedgerOp::Update).unwrap();
    assert_eq!(update.target_id.as_deref(), Some(billing_id.as_str()));
    assert!(
        update
            .diff
            .iter()
            .any(|d| d.field == "company_name" && d.after == json!("Renamed Ltd")),
        "{update:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_previews_and_writes_nothing() {
    let sb = Sandbox::builder().seed(5).start().await.unwrap();
    let bench = Bench::new(&sb, ONE_WAY);
    let env = bench.env().await;
    let before = sb.counts();
    let run = sync::run(
        &env,
        "customers",
        &RunOptions {
            dry_run: true,
            ..Default::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(run.status, RunStatus::DryRun);
    assert_eq!(run.counts.added, 4);
    assert_eq!(sb.counts(), before, "a dry run writes nothing");
    assert!(env.store.all_links("customers").unwrap().is_empty());
    let rows = env
        .store
        .ledger("customers", run.id, LedgerFilter::All, 0, 10)
        .unwrap();
    assert!(
        rows.iter()
            .any(|r| r.reason.as_deref() == Some("would create"))
    );
    // The real run afterwards still creates everything.
    let real = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(real.counts.added, 4, "{real:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_follow_on_duplicate() {
    for (policy, expect_created, expect_linked, expect_skipped) in [
        ("skip", 0, 0, 3),
        ("overwrite", 0, 3, 0),
        ("clone", 0, 0, 0),
    ] {
        let sb = Sandbox::builder().seed(3).start().await.unwrap();
        // Matching by name: every seeded Books contact has a Billing twin.
        let syncs = format!(
            "  customers:\n    from: books.contacts\n    to: billing.customers\n    match: {{ contact_name: display_name }}\n    on_duplicate: {policy}\n    fields:\n      display_name: contact_name\n      company_name: company_name\n"
        );
        let bench = Bench::new(&sb, &syncs);
        let env = bench.env().await;
        let before = count(&sb, "billing", BILLING_ORG, "customers");
        let run = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
            .await
            .unwrap();
        let ledger = env
            .store
            .ledger("customers", run.id, LedgerFilter::All, 0, 100)
            .unwrap();
        let ops = |op| ledger.iter().filter(|r| r.op == op).count();
        assert_eq!(
            ops(LedgerOp::Create),
            expect_created,
            "{policy}: {ledger:?}"
        );
        assert_eq!(ops(LedgerOp::Link), expect_linked, "{policy}");
        assert_eq!(ops(LedgerOp::Skip), expect_skipped, "{policy}");
        assert_eq!(
            count(&sb, "billing", BILLING_ORG, "customers"),
            before + expect_created as u64,
            "{policy}"
        );
        if policy == "clone" {
            // Clone creates another record; Billing refuses a second
            // customer of the same name, and the ledger says so.
            assert_eq!(ops(LedgerOp::Fail), 3);
            assert!(
                ledger[0]
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("already exists")
            );
        }
        if policy == "skip" {
            assert!(
                ledger[0]
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("on_duplicate: skip")
            );
        }
    }
}

/// Two-way: a change on either side reaches the other, Ferry's own writes
/// are not sent back, and a change on both sides is settled by policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_sync_suppresses_echoes_and_settles_conflicts() {
    let sb = Sandbox::builder().seed(4).start().await.unwrap();
    let syncs = r#"  customers:
    from: books.contacts
    to: billing.customers
    direction: two-way
    match: { contact_id: zcrm_account_id }
    conflict: from
    fields:
      display_name: { expr: "'B ' + record.contact_name", direction: one-way }
      company_name: company_name
      zcrm_account_id: { from: contact_id, direction: one-way }
"#;
    let bench = Bench::new(&sb, syncs);
    let env = bench.env().await;
    let first = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.counts.added, 4, "{first:?}");
    // The reverse pass sees the four new customers as Ferry's own writes.
    assert_eq!(first.counts.updated, 0, "echo sent back: {first:?}");

    let links = env.store.all_links("customers").unwrap();
    let (books_id, billing_id, _) = links[0].clone();
    sb.advance_clock(Duration::from_secs(5));
    // A person edits the Billing side: it flows back to Books.
    sb.app()
        .ui_finance_write(
            Product::Billing,
            BILLING_ORG,
            "customers",
            &billing_id,
            json!({"company_name": "From Billing"}),
        )
        .unwrap();
    let back = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(back.counts.updated, 1, "{back:?}");
    let books = books_record(&env, &books_id).await;
    assert_eq!(books["company_name"], "From Billing");
    // ...and that write is not echoed into a third run.
    let quiet = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(quiet.counts.updated + quiet.counts.added, 0, "{quiet:?}");

    // Both sides change: `conflict: from` keeps the Books value.
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Books,
            BOOKS_ORG,
            "contacts",
            &books_id,
            json!({"company_name": "Books wins"}),
        )
        .unwrap();
    sb.app()
        .ui_finance_write(
            Product::Billing,
            BILLING_ORG,
            "customers",
            &billing_id,
            json!({"company_name": "Billing loses"}),
        )
        .unwrap();
    let conflict = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(conflict.counts.conflicts, 1, "{conflict:?}");
    assert_eq!(
        books_record(&env, &books_id).await["company_name"],
        "Books wins"
    );
    let ledger = env
        .store
        .ledger("customers", conflict.id, LedgerFilter::All, 0, 100)
        .unwrap();
    assert!(
        ledger.iter().any(|r| r
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("`from` side wins"))),
        "{ledger:?}"
    );
}

async fn books_record(env: &Env, id: &str) -> Value {
    Value::Object(
        env.connector("books")
            .unwrap()
            .get("contacts", id)
            .await
            .unwrap(),
    )
}

/// `ferry sync pause` holds across processes; `history` exports the
/// skipped records; `--record` syncs one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_pauses_resumes_and_exports_history() {
    let sb = Sandbox::builder().seed(5).start().await.unwrap();
    let bench = Bench::new(&sb, ONE_WAY);
    let run = |args: &[&str]| {
        let out = bench.ferry(args).stdin(Stdio::null()).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["sync", "pause", "customers"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["sync", "run", "customers"]);
    assert!(!ok, "a paused sync must not run");
    assert!(err.contains("paused"), "{err}");
    let (ok, out, _) = run(&["sync", "status"]);
    assert!(
        ok && out.contains("customers") && out.contains("yes"),
        "{out}"
    );
    let (ok, _, err) = run(&["sync", "resume", "customers"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["sync", "run", "customers"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("added 4") && out.contains("skipped 1"),
        "{out}"
    );
    let (ok, out, _) = run(&[
        "history",
        "customers",
        "--run",
        "1",
        "--skipped",
        "--format",
        "csv",
    ]);
    assert!(ok);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("run,side,source_id,target_id,operation,reason,diff")
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(",skip,") && row.contains("view filter"),
        "{row}"
    );
    assert_eq!(lines.next(), None);
    let (ok, out, _) = run(&["history", "customers", "--format", "json"]);
    assert!(ok);
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["counts"]["added"], 4);
    assert_eq!(runs[0]["trigger"], "manual");
}
