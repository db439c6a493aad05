//! A cluster of `ferry serve --workspaces` workers on one PostgreSQL store
//! and the sandbox, as processes: they split the workspaces between them,
//! and workers killed with SIGKILL mid-run lose nothing — every record
//! exists once, every won deal has one invoice, the killed runs end
//! interrupted and are resumed by another worker, no workspace ever ran on
//! two workers at once, and no vendor organisation's limit was exceeded.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry::store::postgres::{Leases, Pg, PgOptions, PgPacer};
use ferry::store::{EmbeddedStore, RunStatus, RunTrigger, StateStore};
use serde_json::Value;
use support::bench::{AP, BILLING, BOOKS, CRM, ap_customers, count, distinct_emails, sandbox_find};
use support::cluster::{
    TO_AP, TO_BILLING, Worker, all_done, held, logs, spawn_worker, start_worker,
    start_worker_with_console, workspaces,
};
use support::postgres::PgServer;
use support::stdout_of;
use zoho_sandbox::{FaultConfig, LimitConfig, Sandbox};

/// Workspaces, one per last digit and parity of the tens digit of the CRM
/// accounts' numbers.
const WORKSPACES: usize = 20;
/// CRM accounts, five per workspace, and as many deals (one won in nine).
const ACCOUNTS: usize = 100;

/// Zoho's per-minute limit per organisation, scaled down to a second so
/// the test sees it at work: the sandbox admits `PER_SECOND` requests a
/// second to each organisation (and five at once, as Books' free plan) and
/// counts what it refuses; each connection is paced a little under it, so
/// only pacing shared by the workers keeps three of them within it.
const PER_SECOND: u32 = 10;
const PACED: &str = "rate_limit: { requests_per_minute: 540 }";

/// A workspace `ws<k>` per share of the accounts (see [`WORKSPACES`]):
/// CRM Accounts → Billing customers, and the share's won deals invoiced in
/// Billing (the deal's account first, when not yet synced), every hour.
fn account_workspaces(sb: &Sandbox) -> support::bench::Bench {
    let bench = support::bench::Bench::new(sb, &[CRM, BILLING], "");
    let connections = std::fs::read_to_string(bench.workspace())
        .unwrap()
        .replace("rate_limit: off", PACED);
    std::fs::remove_file(bench.workspace()).unwrap();
    for k in 0..WORKSPACES {
        let share = format!("[{}]{}$", if k < 10 { "02468" } else { "13579" }, k % 10);
        std::fs::write(
            bench.dir().join(format!("ws{k}.yaml")),
            format!(
                r#"{connections}syncs:
  customers:
    from: crm.Accounts
    to: billing.customers
    match: {{ id: zcrm_account_id }}
    fields:
      display_name: Account_Name
      zcrm_account_id: id
    view: "record.Account_Name.matches('{share}')"
    schedule: every 1h
triggers:
  invoice-on-won:
    on: crm.Deals
    when: {{ stage: won }}
    guards: ["record.Account_Name.name.matches('{share}')"]
    first_run: fire
    schedule: every 1h
    create: billing.invoices
    fields:
      customer_id: {{ link: customers, from: Account_Name.id, missing: create }}
      invoice_items:
        - name: Deal_Name
          price: {{ from: Amount, type: decimal }}
          quantity: {{ const: 1 }}
      cf_crm_deal_id: id
"#
            ),
        )
        .unwrap();
    }
    bench
}

/// Three workers on twenty workspaces, with Zoho's per-organisation limits
/// on; three times a worker is killed with SIGKILL while it holds a
/// workspace mid-run, and another started. Afterwards every account is
/// once in Billing, every won deal has exactly one live invoice, no
/// workspace ran twice at once, killed runs ended interrupted and were
/// resumed, and no organisation was ever refused for exceeding its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_workspaces_and_killed_ones_lose_nothing() {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder()
        .seed(ACCOUNTS)
        .limits(LimitConfig {
            per_minute: Some(PER_SECOND),
            window_ms: Some(1000),
            concurrency: Some(5),
            per_day: None,
        })
        .start()
        .await
        .unwrap();
    let bench = account_workspaces(&sb);
    let customers = || count(&sb, &format!("billing/{}/customers", BILLING.2.unwrap()));
    let before = customers();
    // Slow creates, so kills land mid-run.
    sb.faults(FaultConfig {
        latency_ms: 150,
        only: "POST /billing/v1/".into(),
        ..Default::default()
    });

    let logs_dir = tempfile::tempdir().unwrap();
    let log = |n: usize| logs_dir.path().join(format!("worker-{n}.log"));
    let mut workers: Vec<Worker> = (0..3)
        .map(|n| start_worker(bench.dir(), &url, &log(n)))
        .collect();
    let mut started = workers.len();
    let leases = Leases::new(Pg::connect(&url).unwrap());

    // Three times: kill a worker while it holds a workspace mid-run, and start
    // another in its place.
    let mut killed = Vec::new();
    for _ in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(120);
        let (i, workspace) = 'found: loop {
            let now = held(&leases);
            let made = created(&sb).await;
            for (i, w) in workers.iter().enumerate() {
                for (ws, holder) in &now {
                    // Mid-run: some of its records made, not all.
                    let n = made.get(ws).copied().unwrap_or(0);
                    if *holder == w.holder && !killed.contains(ws) && (1..4).contains(&n) {
                        break 'found (i, ws.clone());
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no worker was ever caught mid-run"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(workers.remove(i)); // SIGKILL
        killed.push(workspace);
        workers.push(start_worker(bench.dir(), &url, &log(started)));
        started += 1;
    }

    // Every workspace runs to the end and is next due in an hour.
    let all_logs = || (0..started).map(|n| logs(&log(n))).collect::<String>();
    all_done(&leases, WORKSPACES, all_logs).await;
    sb.faults(FaultConfig::default());

    // Every account once in Billing.
    assert_eq!(
        customers(),
        before + ACCOUNTS as u64,
        "{:#?}\n{}",
        created(&sb).await,
        all_logs()
    );
    let copies = tally(&finance_records(&sb, "customers").await, |c| {
        c["zcrm_account_id"].as_str().map(String::from)
    });
    assert_eq!(copies.len(), ACCOUNTS, "{copies:?}");
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");

    // Every won deal has exactly one invoice, and it is live.
    let won: Vec<String> = crm_records(&sb, "Deals?Stage=Closed%20Won")
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert!(won.len() >= 10, "{won:?}");
    let invoices = finance_records(&sb, "invoices").await;
    let invoiced = tally(&invoices, |i| {
        i["custom_field_hash"]["cf_crm_deal_id"]
            .as_str()
            .map(String::from)
    });
    let won: std::collections::BTreeSet<String> = won.into_iter().collect();
    assert_eq!(
        invoiced
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        won,
        "{}",
        all_logs()
    );
    assert!(invoiced.values().all(|n| *n == 1), "{invoiced:?}");
    for i in &invoices {
        if i["custom_field_hash"]["cf_crm_deal_id"].is_string() {
            assert_ne!(i["status"], "void", "{i:#}");
        }
    }

    // No organisation was ever refused: the workers kept to each one's
    // limit together.
    let usage = sb.org_usage();
    assert!(usage.len() >= 2, "{usage:?}");
    for org in &usage {
        assert_eq!(org.throttled, 0, "{usage:#?}");
        assert!(org.peak_per_window <= PER_SECOND, "{usage:#?}");
    }

    // The workers stop (SIGKILL; their leases are idle by now), and each
    // workspace's history tells what happened.
    drop(workers);
    for d in 0..WORKSPACES {
        let workspace = format!("ws{d}");
        let store = open_when_free(&url, &workspace).await;
        let runs = store.runs("customers", 10).unwrap();
        assert_eq!(
            runs[0].status,
            RunStatus::Completed,
            "{workspace}: {runs:?}"
        );
        assert_eq!(
            store.all_links("customers").unwrap().len(),
            ACCOUNTS / WORKSPACES,
            "{workspace}"
        );
        assert!(store.pending_intents("customers").unwrap().is_empty());
        assert!(store.pending_intents("invoice-on-won").unwrap().is_empty());
        // Never two at once: each run ended before the next began.
        for pair in runs.windows(2) {
            let (newer, older) = (&pair[0], &pair[1]);
            assert!(
                older.ended.is_some_and(|e| e <= newer.started),
                "{workspace}: runs overlap: {runs:?}"
            );
        }
        if killed.contains(&workspace) {
            assert!(
                runs.iter().any(
                    |r| matches!(&r.status, RunStatus::Failed(w) if w.contains("interrupted"))
                ),
                "{workspace} was killed mid-run: {runs:?}"
            );
        } else {
            assert_eq!(runs.len(), 1, "{workspace} ran once: {runs:?}");
        }
    }

    // `ferry cluster status` shows the workspaces and their epochs.
    let rows: Value = serde_json::from_slice(&stdout_of(
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["cluster", "status", "--json", "--store", &url]),
    ))
    .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), WORKSPACES, "{rows}");
    for w in &killed {
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workspace"] == *w)
            .unwrap();
        assert!(
            row["epoch"].as_i64().unwrap() >= 2,
            "claimed again after the kill: {row}"
        );
    }
}

/// How many of `records` carry each value of `key`.
fn tally(records: &[Value], key: impl Fn(&Value) -> Option<String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        if let Some(k) = key(r).filter(|k| !k.is_empty()) {
            *out.entry(k).or_default() += 1;
        }
    }
    out
}

/// CRM notification channels in a cluster: the worker holding a workspace
/// opens its channel, notifying the cluster's public URL with the
/// workspace in the path (here one worker's console; behind a load
/// balancer, any). A person's edit in CRM comes back through that console
/// and runs the sync once, with trigger `webhook`, on whichever worker
/// claims the workspace; later turns keep the channel rather than open
/// another; a notification with a wrong token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_channels_reach_the_cluster_through_any_worker() {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder().seed(4).start().await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = format!("http://127.0.0.1:{port}");
    let bench = support::bench::Bench::new(&sb, &[CRM, BILLING], "");
    let connections = std::fs::read_to_string(bench.workspace()).unwrap();
    std::fs::remove_file(bench.workspace()).unwrap();
    std::fs::write(
        bench.dir().join("ws0.yaml"),
        format!(
            r#"{connections}syncs:
  accounts:
    from: crm.Accounts
    to: billing.customers
    match: {{ id: zcrm_account_id }}
    fields:
      display_name: Account_Name
      zcrm_account_id: id
    schedule: every 1h
serve:
  public_url: {public}
  debounce: 300ms
"#
        ),
    )
    .unwrap();
    let logs_dir = tempfile::tempdir().unwrap();
    let log = |n: usize| logs_dir.path().join(format!("worker-{n}.log"));
    let all_logs = || (0..2).map(|n| logs(&log(n))).collect::<String>();
    let listen = format!("127.0.0.1:{port}");
    let (w0, _) = spawn_worker(bench.dir(), &url, &log(0), &["--listen", &listen], "3s");
    let w1 = start_worker(bench.dir(), &url, &log(1));
    let leases = Leases::new(Pg::connect(&url).unwrap());
    all_done(&leases, 1, all_logs).await;

    let watches = || sb.app().read(|st| st.watches.clone());
    let opened = watches();
    assert_eq!(opened.len(), 1, "{opened:?}\n{}", all_logs());
    assert_eq!(opened[0].notify_url, format!("{public}/hooks/ws0/crm"));
    assert!(
        opened[0].events.iter().any(|e| e == "Accounts.all"),
        "{opened:?}"
    );

    // A person renames an account in CRM; CRM notifies the cluster.
    let account = sb
        .app()
        .read(|st| st.crm.modules["Accounts"].records.keys().next().copied())
        .unwrap()
        .to_string();
    sb.app()
        .ui_crm_write(
            "Accounts",
            Some(&account),
            serde_json::json!({"Account_Name": "Renamed in CRM"}),
        )
        .unwrap();
    renamed_and_spent(&sb, &leases, "Renamed in CRM", all_logs).await;
    // The second turn kept the channel.
    let kept = watches();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].channel_id, opened[0].channel_id);
    assert_eq!(
        kept[0].channel_expiry_ms, opened[0].channel_expiry_ms,
        "not renewed on every turn"
    );

    // A notification with the channel's id but not its token is refused.
    let forged = serde_json::json!({
        "channel_id": opened[0].channel_id,
        "token": "guessed",
        "module": "Accounts",
    });
    let answer = reqwest::Client::new()
        .post(format!("{public}/hooks/ws0/crm"))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);

    drop((w0, w1));
    let store = open_when_free(&url, "ws0").await;
    let runs = store.runs("accounts", 10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].trigger, RunTrigger::Webhook, "{runs:?}");
    assert_eq!(runs[0].counts.updated, 1, "{runs:?}");
}

/// Wait until a Billing customer is named `name` and every request is
/// spent, with every workspace next due in an hour.
async fn renamed_and_spent(sb: &Sandbox, leases: &Leases, name: &str, logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let renamed = finance_records(sb, "customers")
            .await
            .iter()
            .any(|c| c["display_name"] == name);
        let rows = leases.list().unwrap();
        if renamed && rows.iter().all(|r| r.requests == 0 && r.due_in > 600.0) {
            return;
        }
        assert!(Instant::now() < deadline, "{rows:#?}\n{}", logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Open a workspace's state once no worker's lease holds it.
async fn open_when_free(url: &str, workspace: &str) -> EmbeddedStore {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match EmbeddedStore::open_postgres(&PgOptions {
            url: url.to_string(),
            workspace: workspace.to_string(),
            ttl: Duration::from_secs(5),
        }) {
            Ok(store) => return store,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{workspace}: {e}"),
        }
    }
}

/// Billing's stored `resource` records.
async fn finance_records(sb: &Sandbox, resource: &str) -> Vec<Value> {
    sandbox_find(sb, &format!("billing/{}/{resource}", BILLING.2.unwrap())).await
}

/// CRM's stored records of `query` (`Module?Field=value`).
async fn crm_records(sb: &Sandbox, query: &str) -> Vec<Value> {
    sandbox_find(sb, &format!("crm/{query}")).await
}

/// Billing customers made so far, by the workspace that made them (the
/// last two digits of the account's number: see `account_workspaces`).
async fn created(sb: &Sandbox) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in finance_records(sb, "customers").await {
        let name = c["display_name"].as_str().unwrap_or_default();
        let digits: Vec<u32> = name
            .chars()
            .rev()
            .take(2)
            .filter_map(|c| c.to_digit(10))
            .collect();
        if let (true, [d, tens]) = (name.starts_with("Account "), digits.as_slice()) {
            *out.entry(format!("ws{}", d + 10 * (tens % 2))).or_default() += 1;
        }
    }
    out
}

/// Three workers on six workspaces, all syncing to one Alternative
/// Payments account (5 requests a second per API key, which the sandbox
/// enforces and counts): the workers pace their requests together through
/// the store, so the account's limit is never hit, though each worker
/// alone would keep to it and three together would not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_pace_one_vendor_account_together() {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder().seed(60).start().await.unwrap();
    let bench = workspaces(&sb, AP, 6, TO_AP);
    let logs_dir = tempfile::tempdir().unwrap();
    let log = |n: usize| logs_dir.path().join(format!("worker-{n}.log"));
    let workers: Vec<Worker> = (0..3)
        .map(|n| start_worker(bench.dir(), &url, &log(n)))
        .collect();
    let leases = Leases::new(Pg::connect(&url).unwrap());
    all_done(&leases, 6, || (0..3).map(|n| logs(&log(n))).collect()).await;
    drop(workers);

    let customers = ap_customers(&sb);
    assert_eq!(customers.len(), 36, "six workspaces of six contacts");
    assert_eq!(distinct_emails(&customers), 36, "each once");
    let stats = sb.ap_stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert!(stats.peak_per_second <= 5, "{stats:?}");
}

/// Webhooks may arrive at any worker: a burst of them, sent to two
/// workers, becomes one run of the workspace they name, on whichever
/// worker claims it; a wrong secret, an unknown workspace and a CRM
/// notification on a channel never opened are refused. Every worker's console shows the whole
/// cluster to a cluster token, and to no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_any_worker_once_and_every_console_shows_the_cluster() {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder().seed(20).start().await.unwrap();
    let bench = workspaces(&sb, BILLING, 2, TO_BILLING);
    std::fs::write(bench.dir().join("secrets/hook"), "s3cret").unwrap();
    for d in 0..2 {
        let path = bench.dir().join(format!("ws{d}.yaml"));
        let yaml = std::fs::read_to_string(&path).unwrap()
            + "serve:\n  debounce: 300ms\n  webhook_secrets: { books: file:secrets/hook }\n";
        std::fs::write(path, yaml).unwrap();
    }
    let logs_dir = tempfile::tempdir().unwrap();
    let log = |n: usize| logs_dir.path().join(format!("worker-{n}.log"));
    let all_logs = || (0..3).map(|n| logs(&log(n))).collect::<String>();
    let (w0, console0) = start_worker_with_console(bench.dir(), &url, &log(0));
    let (w1, console1) = start_worker_with_console(bench.dir(), &url, &log(1));
    let w2 = start_worker(bench.dir(), &url, &log(2));
    let leases = Leases::new(Pg::connect(&url).unwrap());
    all_done(&leases, 2, all_logs).await;

    // A person renames a contact of ws0 in Books; Books tells two workers,
    // several times.
    let books_org = BOOKS.2.unwrap();
    let contact = sb
        .app()
        .read(|st| {
            st.finance.data[&format!("books/{books_org}")].tables["contacts"]
                .rows
                .iter()
                .find(|(_, r)| {
                    r.data["contact_name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with('0'))
                })
                .map(|(id, _)| *id)
        })
        .unwrap()
        .to_string();
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            zoho_sandbox::Product::Books,
            books_org,
            "contacts",
            &contact,
            serde_json::json!({"contact_name": "Renamed by a person 0"}),
        )
        .unwrap();
    let client = reqwest::Client::new();
    let hook = |console: &str, workspace: &str, secret: &str, body: &str| {
        client
            .post(format!("{console}/hooks/{workspace}/books"))
            .header("x-zoho-webhook-secret", secret)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let event =
        format!(r#"{{"event_type": "contact_updated", "contact": {{"contact_id": "{contact}"}}}}"#);
    for console in [&console0, &console1, &console0, &console1, &console0] {
        let answer = hook(console, "ws0", "s3cret", &event).await.unwrap();
        assert_eq!(answer.status().as_u16(), 202, "{:?}", answer.text().await);
    }
    // Refused: a wrong secret, a workspace no worker has, a CRM body.
    assert_eq!(
        hook(&console0, "ws0", "wrong", &event)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        hook(&console1, "ws9", "s3cret", &event)
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let crm = r#"{"channel_id": "1", "token": "t", "module": "Accounts"}"#;
    assert_eq!(
        hook(&console0, "ws0", "s3cret", crm)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );

    // The rename reaches Billing, and the request is spent.
    renamed_and_spent(&sb, &leases, "C Renamed by a person 0", all_logs).await;

    // The console: the cluster to a cluster token only, screened by Host.
    let cluster = format!("{console1}/v1/cluster");
    assert_eq!(
        client.get(&cluster).send().await.unwrap().status().as_u16(),
        401
    );
    let token = String::from_utf8(stdout_of(
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["cluster", "tokens", "add", "ops", "--store", &url]),
    ))
    .unwrap()
    .trim()
    .to_string();
    let wrong = client
        .get(&cluster)
        .bearer_auth("fry_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let rebound = client
        .get(&cluster)
        .bearer_auth(&token)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 421);
    let view: Value = client
        .get(&cluster)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["worker"], w1.holder, "{view}");
    let names: Vec<&str> = view["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["workspace"].as_str())
        .collect();
    assert_eq!(names, ["ws0", "ws1"], "{view}");
    assert!(
        view["workspaces"][0]["epoch"].as_i64().unwrap() >= 2,
        "{view}"
    );

    // The page: sign in with the token, see every workspace.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let unsigned = browser.get(format!("{console0}/")).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 303);
    let signed = browser
        .post(format!("{console0}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status().as_u16(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = browser
        .get(format!("{console0}/"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    for needle in ["ws0", "ws1", w0.holder.as_str(), "Cluster"] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    drop((w0, w1, w2));

    // ws0 ran twice (its first run and one for the burst), ws1 once.
    for (workspace, n) in [("ws0", 2), ("ws1", 1)] {
        let store = open_when_free(&url, workspace).await;
        let runs = store.runs("customers", 10).unwrap();
        assert_eq!(runs.len(), n, "{workspace}: {runs:?}\n{}", all_logs());
        if n == 2 {
            assert_eq!(
                runs[0].trigger,
                ferry::store::RunTrigger::Webhook,
                "{runs:?}"
            );
        }
    }
}

/// A daily budget holds for the vendor account, not for one workspace:
/// once one workspace's run has spent what the Books organisation allows
/// today, another workspace on the same organisation is held back (by
/// whichever worker claims it), though it sent nothing itself yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_budget_counts_every_workspace_on_the_organisation() {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder().seed(20).start().await.unwrap();
    let bench = workspaces(&sb, BILLING, 2, TO_BILLING);
    // Books paced (so counted) in the store, fast enough not to wait.
    let books_paced = |budget: Option<u64>| {
        let path = bench.dir().join("ws0.yaml");
        let yaml = std::fs::read_to_string(path).unwrap();
        let (head, tail) = yaml.split_once("connector: zoho-books\n").unwrap();
        let tail = tail.replacen(
            "rate_limit: off",
            "rate_limit: { requests_per_minute: 60000 }",
            1,
        );
        let budget = budget.map_or(String::new(), |n| {
            format!("    budget: {{ daily: {n}, pause_at: 100% }}\n")
        });
        format!("{head}connector: zoho-books\n{budget}{tail}")
    };
    let ws1 = bench.dir().join("ws1.yaml");
    std::fs::rename(&ws1, bench.dir().join("ws1.later")).unwrap();
    std::fs::write(bench.dir().join("ws0.yaml"), books_paced(None)).unwrap();

    let logs_dir = tempfile::tempdir().unwrap();
    let log = |n: usize| logs_dir.path().join(format!("worker-{n}.log"));
    let all_logs = || (0..2).map(|n| logs(&log(n))).collect::<String>();
    let workers: Vec<Worker> = (0..2)
        .map(|n| start_worker(bench.dir(), &url, &log(n)))
        .collect();
    let leases = Leases::new(Pg::connect(&url).unwrap());
    all_done(&leases, 1, all_logs).await;

    // What ws0's describe and run sent the organisation: its budget.
    let pacer = PgPacer::new(Pg::connect(&url).unwrap());
    let accounts = pacer.accounts_today().unwrap();
    let books: Vec<&(String, u64)> = accounts
        .iter()
        .filter(|(key, _)| key.starts_with("zoho-books "))
        .collect();
    assert_eq!(books.len(), 1, "{accounts:?}");
    let spent = books[0].1;
    assert!(spent > 1, "{accounts:?}");

    // ws1, on the same organisation with that budget, joins the folder.
    std::fs::write(&ws1, books_paced(Some(spent))).unwrap();
    std::fs::remove_file(bench.dir().join("ws1.later")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = leases.list().unwrap();
        let held_back = rows.iter().any(|r| {
            r.workspace == "ws1" && r.holder.is_none() && (60.0..600.0).contains(&r.due_in)
        });
        if held_back {
            break;
        }
        assert!(Instant::now() < deadline, "{rows:#?}\n{}", all_logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(workers);
    assert!(
        all_logs().contains("API calls today"),
        "held by the budget: {}",
        all_logs()
    );
    let store = open_when_free(&url, "ws1").await;
    assert!(
        store.runs("customers", 10).unwrap().is_empty(),
        "ws1 must not run past the organisation's budget"
    );
}
