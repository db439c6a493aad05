//! `ferry serve` as a process against the sandbox: roles on every route,
//! schedules driven by a manual clock, a pause that survives a restart, an
//! API budget that holds a sync back, and vendor notifications (a finance
//! webhook, a CRM channel Ferry opens itself) starting instant runs.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::bench::{BILLING, BOOKS, Bench, CRM};
use support::served::{Served, token};
use zoho_sandbox::{Product, Sandbox};

const BOOKS_ORG: &str = "10234695";

/// Books contacts → Billing customers.
fn customers(schedule: &str) -> String {
    format!(
        r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    match: {{ contact_id: zcrm_account_id }}
    on_duplicate: overwrite
    fields:
      display_name: {{ expr: "'B ' + record.contact_name" }}
      zcrm_account_id: contact_id
    schedule: {schedule}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_the_callers_role() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], &customers("manual"));
    let tokens = [
        ("viewer", token(&bench, "view", "viewer")),
        ("operator", token(&bench, "ops", "operator")),
        ("admin", token(&bench, "root", "admin")),
    ];
    let served = Served::start(&bench, &["--listen", "127.0.0.1:0", "--manual-clock"]);
    let rank = |role: &str| {
        ["viewer", "operator", "admin"]
            .iter()
            .position(|r| *r == role)
    };
    let routes: &[(&str, &str, Option<&str>, Option<Value>)] = &[
        ("GET", "/healthz", None, None),
        ("GET", "/metrics", Some("viewer"), None),
        ("GET", "/v1/status", Some("viewer"), None),
        ("GET", "/v1/jobs/customers/runs", Some("viewer"), None),
        ("GET", "/v1/jobs/customers/links", Some("viewer"), None),
        ("POST", "/v1/jobs/customers/preview", Some("operator"), None),
        ("POST", "/v1/jobs/customers/run", Some("operator"), None),
        ("POST", "/v1/jobs/customers/retry", Some("operator"), None),
        ("POST", "/v1/jobs/customers/pause", Some("operator"), None),
        ("POST", "/v1/jobs/customers/resume", Some("operator"), None),
        ("GET", "/v1/workspace", Some("admin"), None),
        ("GET", "/v1/tokens", Some("admin"), None),
        (
            "POST",
            "/v1/clock",
            Some("admin"),
            Some(json!({"advance_secs": 1})),
        ),
    ];
    for (method, path, need, body) in routes {
        let callers = [(None, "nobody"), (Some("fry_not_a_token"), "a stranger")]
            .into_iter()
            .map(|(t, who)| (t.map(str::to_string), who.to_string(), None))
            .chain(
                tokens
                    .iter()
                    .map(|(role, t)| (Some(t.clone()), role.to_string(), rank(role))),
            );
        for (tok, who, rank_of) in callers {
            let (status, answer) = served
                .call(method, path, tok.as_deref(), body.clone())
                .await;
            let expected = match (need, rank_of) {
                (None, _) => "allowed",
                (Some(_), None) => "401",
                (Some(need), Some(r)) if r < rank(need).unwrap() => "403",
                _ => "allowed",
            };
            match expected {
                "401" => assert_eq!(status, 401, "{who} on {method} {path}: {answer}"),
                "403" => assert_eq!(status, 403, "{who} on {method} {path}: {answer}"),
                _ => assert!(
                    (200..300).contains(&status),
                    "{who} on {method} {path}: {status} {answer}"
                ),
            }
        }
    }
    // The workspace as admins see it names where secrets come from, never them.
    let ws = served.get("/v1/workspace", &tokens[2].1).await;
    let text = ws.to_string();
    assert!(text.contains("file:"), "{text}");
    assert!(!text.contains(&sb.client_credentials().client_secret));
    // Tokens made over the API work at once; revoked ones stop working.
    let (status, made) = served
        .call(
            "POST",
            "/v1/tokens",
            Some(&tokens[2].1),
            Some(json!({"name": "late", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let late = made["token"].as_str().unwrap().to_string();
    assert_eq!(
        served.call("GET", "/v1/status", Some(&late), None).await.0,
        200
    );
    assert_eq!(
        served
            .call("DELETE", "/v1/tokens/late", Some(&tokens[2].1), None)
            .await
            .0,
        200
    );
    assert_eq!(
        served.call("GET", "/v1/status", Some(&late), None).await.0,
        401
    );
    served.stop();
}

/// Commands beside a running `ferry serve`: the store admits one process,
/// so reads, pauses and runs go through the service (with the token in its
/// service file) and answer as they would without it. The service logs one
/// line per run, and its service file goes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_beside_serve_go_through_it() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], &customers("manual"));
    token(&bench, "root", "admin");
    let log = bench.dir().join("serve.log");
    let mut serve = bench.ferry(&["serve", "--listen", "127.0.0.1:0"]);
    // As a user runs it: the service logs at INFO by default.
    serve.env_remove("RUST_LOG");
    let served = Served::spawn_logging(serve, std::fs::File::create(&log).unwrap());
    let ferry = |args: &[&str]| {
        let out = bench.ferry(args).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "ferry {args:?}: {stdout}{stderr}");
        (stdout, stderr)
    };

    let (out, err) = ferry(&["sync", "run", "customers"]);
    assert!(err.contains("holds this state"), "{err}");
    assert!(
        out.contains("customers") && out.contains("added 3"),
        "{out}"
    );
    let (out, _) = ferry(&["sync", "status"]);
    assert!(out.contains("#1") && out.contains("completed"), "{out}");
    assert!(out.contains("held by `ferry serve`"), "{out}");
    let (out, _) = ferry(&["history", "customers"]);
    assert!(out.starts_with("#1"), "{out}");
    let (out, _) = ferry(&["history", "customers", "--run", "1", "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 3, "{out}");
    // A run the service does not have is named as such, not as a failure
    // of the service.
    let missing = bench
        .ferry(&["history", "customers", "--run", "99"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("customers has no run #99"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let (out, _) = ferry(&["links", "list", "customers"]);
    assert_eq!(out.lines().filter(|l| l.contains('→')).count(), 3, "{out}");
    let (out, _) = ferry(&["links", "list", "customers", "--json"]);
    let links: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(links.len(), 3, "{out}");
    assert_eq!(links[0]["link"]["origin"]["kind"], "sync", "{out}");
    let (out, _) = ferry(&["tokens", "list"]);
    assert!(out.contains("root") && out.contains("admin"), "{out}");
    let (out, _) = ferry(&["tokens", "list", "--json"]);
    let tokens: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&tokens[0]["name"], &tokens[0]["role"]),
        (&json!("root"), &json!("admin"))
    );
    let (out, _) = ferry(&["sync", "run", "customers", "--json"]);
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["id"], 2, "{out}");
    ferry(&["sync", "pause", "customers"]);
    let (out, _) = ferry(&["sync", "status", "--json"]);
    let status: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(status[0]["paused"], true, "{out}");
    ferry(&["sync", "resume", "customers"]);
    // What the service cannot lend is refused with the reason.
    let out = bench
        .ferry(&["sync", "run", "customers", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`ferry serve` holds this state"));

    served.stop();
    assert!(
        !bench.state().join("serve.json").exists(),
        "service file left"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("run completed") && l.contains("customers"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per run:\n{log}");
    assert!(lines[0].contains("added=3"), "{log}");
    // Stopped: the same commands read the store itself.
    let (out, _) = ferry(&["sync", "status"]);
    assert!(!out.contains("held by") && out.contains("#2"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_follow_the_clock_and_a_pause_survives_a_restart() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], &customers("every 1h"));
    let admin = token(&bench, "root", "admin");
    let start = chrono::Utc::now();
    let served = Served::start(
        &bench,
        &[
            "--listen",
            "127.0.0.1:0",
            "--manual-clock",
            &start.to_rfc3339(),
        ],
    );
    // Never run: due at once.
    let runs = served.wait_runs("customers", &admin, 1).await;
    assert_eq!(runs[0]["trigger"], "schedule");
    assert_eq!(runs[0]["counts"]["added"], 3);
    // Half an hour on: not yet.
    served.advance(&admin, 30 * 60).await;
    let status = served.status_of("customers", &admin).await;
    assert_eq!(served.runs("customers", &admin).await.len(), 1, "{status}");
    let next = chrono::DateTime::parse_from_rfc3339(status["next_run"].as_str().unwrap()).unwrap();
    assert_eq!(
        (next.with_timezone(&chrono::Utc) - start).num_minutes(),
        60,
        "{status}"
    );
    // An hour on: the second run.
    served.advance(&admin, 31 * 60).await;
    served.wait_runs("customers", &admin, 2).await;

    let (status, body) = served
        .call("POST", "/v1/jobs/customers/pause", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{body}");
    served.stop();

    // Down for five hours; back up, still paused: nothing runs.
    let later = start + chrono::Duration::hours(6);
    let served = Served::start(
        &bench,
        &[
            "--listen",
            "127.0.0.1:0",
            "--manual-clock",
            &later.to_rfc3339(),
        ],
    );
    let status = served.status_of("customers", &admin).await;
    assert_eq!(status["paused"], true, "{status}");
    served.advance(&admin, 3 * 3600).await;
    assert_eq!(
        served.status_of("customers", &admin).await["running"],
        false
    );
    assert_eq!(served.runs("customers", &admin).await.len(), 2);
    // Resumed: the missed slots make one run, not eight.
    served
        .call("POST", "/v1/jobs/customers/resume", Some(&admin), None)
        .await;
    served.wait_runs("customers", &admin, 3).await;
    served.advance(&admin, 60).await;
    let status = served.status_of("customers", &admin).await;
    assert_eq!(served.runs("customers", &admin).await.len(), 3, "{status}");
    served.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_api_budget_holds_a_sync_back() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], &customers("manual"));
    // Budget the Billing connection at a handful of calls.
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap().replace(
        "connector: zoho-billing\n",
        "connector: zoho-billing\n    budget: { daily: 5, pause_at: 100% }\n",
    );
    std::fs::write(bench.workspace(), yaml).unwrap();
    let admin = token(&bench, "root", "admin");
    let served = Served::start(&bench, &["--listen", "127.0.0.1:0", "--manual-clock"]);
    served
        .call("POST", "/v1/jobs/customers/run", Some(&admin), None)
        .await;
    served.wait_runs("customers", &admin, 1).await;
    served
        .call("POST", "/v1/jobs/customers/run", Some(&admin), None)
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let s = served.status_of("customers", &admin).await;
        if s["held"].is_string() {
            break s;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        held["held"]
            .as_str()
            .unwrap()
            .contains("connection `billing`"),
        "{held}"
    );
    assert_eq!(served.runs("customers", &admin).await.len(), 1);
    let metrics = served.call("GET", "/metrics", Some(&admin), None).await.1;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("ferry_api_calls_total"), "{text}");
    assert!(text.contains("ferry_runs_total"), "{text}");
    assert!(text.contains("ferry_budget_pauses_total"), "{text}");
    served.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_notifications_start_instant_runs() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let body = format!(
        "{}  accounts:\n    from: crm.Accounts\n    to: billing.customers\n    match: {{ Account_Name: display_name }}\n    on_duplicate: overwrite\n    fields:\n      display_name: Account_Name\n      zcrm_account_id: id\n    schedule: webhook\n",
        customers("webhook")
    );
    let bench = Bench::new(&sb, &[CRM, BOOKS, BILLING], &body);
    let admin = token(&bench, "root", "admin");
    let dir = bench.workspace().parent().unwrap().to_path_buf();
    std::fs::write(dir.join("secrets/hook"), "s3cret").unwrap();
    // The public URL is where the service listens: it needs the port, so
    // the service is started once to learn a free port, then with it.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap()
        + &format!(
            "serve:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n  debounce: 200ms\n  webhook_secrets: {{ books: file:secrets/hook }}\n"
        );
    std::fs::write(bench.workspace(), yaml).unwrap();
    let served = Served::start(&bench, &[]);
    assert_eq!(served.url, format!("http://127.0.0.1:{port}"));
    // First runs (never run: due at once).
    served.wait_runs("customers", &admin, 1).await;
    served.wait_runs("accounts", &admin, 1).await;

    // Books pushes a webhook with the shared secret.
    let hook = format!("{}/hooks/books", served.url);
    let client = reqwest::Client::new();
    client
        .post(format!("{}/__sandbox/webhooks", sb.base_url()))
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({"product": "books", "organization_id": BOOKS_ORG, "entity": "contact", "url": hook, "secret": "s3cret"}))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let contact = sb
        .app()
        .read(|st| {
            st.finance.data[&format!("books/{BOOKS_ORG}")].tables["contacts"]
                .rows
                .keys()
                .next()
                .copied()
        })
        .unwrap()
        .to_string();
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Books,
            BOOKS_ORG,
            "contacts",
            &contact,
            json!({"contact_name": "Renamed by a person"}),
        )
        .unwrap();
    let runs = served.wait_runs("customers", &admin, 2).await;
    assert_eq!(runs[0]["trigger"], "webhook", "{runs:?}");
    assert_eq!(runs[0]["counts"]["updated"], 1, "{runs:?}");

    // A webhook without the secret is refused.
    let refused = client
        .post(&hook)
        .header("x-zoho-webhook-secret", "wrong")
        .header("content-type", "application/json")
        .body(r#"{"contact": {"contact_id": "1"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    // CRM: Ferry opened a channel for Accounts; a person's edit comes
    // through it.
    let channels: Vec<Value> = sb.app().read(|st| {
        st.watches
            .iter()
            .map(|w| json!({"events": w.events, "url": w.notify_url}))
            .collect()
    });
    assert_eq!(channels.len(), 1, "{channels:?}");
    assert!(channels[0]["events"].to_string().contains("Accounts.all"));
    let account = sb
        .app()
        .read(|st| st.crm.modules["Accounts"].records.keys().next().copied())
        .unwrap()
        .to_string();
    sb.app()
        .ui_crm_write(
            "Accounts",
            Some(&account),
            json!({"Account_Name": "Renamed Account"}),
        )
        .unwrap();
    let runs = served.wait_runs("accounts", &admin, 2).await;
    assert_eq!(runs[0]["trigger"], "webhook", "{runs:?}");
    assert_eq!(runs[0]["counts"]["updated"], 1, "{runs:?}");
    served.stop();
}

/// A connection whose credentials are refused: its sync fails with the
/// reason and backs off (1, 2, 4 … minutes), while the other sync keeps
/// its schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_refused_credentials_backs_off_and_the_others_run() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let body = format!(
        "{}  refused:\n    from: invoice.contacts\n    to: billing.customers\n    fields:\n      display_name: contact_name\n    schedule: every 1m\n",
        customers("every 1m")
    );
    let bench = Bench::new(
        &sb,
        &[
            BOOKS,
            BILLING,
            ("invoice", "zoho-invoice", Some("20234695")),
        ],
        &body,
    );
    // The Invoice connection's client secret is wrong: every refresh is refused.
    let dir = bench.workspace().parent().unwrap().to_path_buf();
    std::fs::write(dir.join("secrets/wrong"), "not-the-secret").unwrap();
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap();
    let (head, tail) = yaml.split_once("  invoice:").unwrap();
    let tail = tail.replacen(
        "client_secret: file:secrets/secret",
        "client_secret: file:secrets/wrong",
        1,
    );
    std::fs::write(bench.workspace(), format!("{head}  invoice:{tail}")).unwrap();
    let admin = token(&bench, "root", "admin");
    let served = Served::start(&bench, &["--listen", "127.0.0.1:0", "--manual-clock"]);

    let refused = served.wait_runs("refused", &admin, 1).await;
    let why = refused[0]["status"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(refused[0]["status"]["status"], "failed", "{refused:?}");
    assert!(why.contains("invoice"), "{why}");
    served.wait_runs("customers", &admin, 1).await;

    // Minute 1: both due; `refused` fails again.
    served.advance(&admin, 60).await;
    served.wait_runs("refused", &admin, 2).await;
    served.wait_runs("customers", &admin, 2).await;
    // Minute 2: `customers` runs; `refused` waits out its 2-minute backoff.
    served.advance(&admin, 60).await;
    served.wait_runs("customers", &admin, 3).await;
    assert_eq!(served.runs("refused", &admin).await.len(), 2);
    // Minute 3: the backoff is over; both are due again.
    served.advance(&admin, 60).await;
    served.wait_runs("refused", &admin, 3).await;
    let ok = served.wait_runs("customers", &admin, 4).await;
    assert!(
        ok.iter().all(|r| r["status"]["status"] == "completed"),
        "{ok:?}"
    );
    served.stop();
}

/// Ferry renews its CRM notification channel half way through its life
/// (the manifest opens them for a day), by the service's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_channels_are_renewed_before_they_lapse() {
    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    let body = "syncs:\n  accounts:\n    from: crm.Accounts\n    to: billing.customers\n    fields:\n      display_name: Account_Name\n    schedule: webhook\n";
    let bench = Bench::new(&sb, &[CRM, BILLING], body);
    let admin = token(&bench, "root", "admin");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap()
        + &format!("serve:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n");
    std::fs::write(bench.workspace(), yaml).unwrap();
    let served = Served::start(&bench, &["--manual-clock"]);
    served.wait_runs("accounts", &admin, 1).await;
    let expiry = || {
        sb.app()
            .read(|st| st.watches.first().map(|w| w.channel_expiry_ms))
    };
    let first = expiry().expect("a channel is open");
    // Thirteen hours on: past half of its day, so renewed.
    served.advance(&admin, 13 * 3600).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while expiry() == Some(first) {
        assert!(Instant::now() < deadline, "the channel was not renewed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let renewed = expiry().unwrap();
    assert!(renewed >= first + 12 * 3600 * 1000, "{first} → {renewed}");
    assert_eq!(
        sb.app().read(|st| st.watches.len()),
        1,
        "renewed, not a second channel"
    );
    served.stop();
}

/// A page of another site cannot change anything: a form post (even one
/// that somehow carries a token) and a post from another origin are
/// refused; scripts sending JSON, or no body, pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_and_other_hosts_are_refused() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], &customers("manual"));
    let ops = token(&bench, "ops", "operator");
    let admin = token(&bench, "root", "admin");
    let served = Served::start(&bench, &["--listen", "127.0.0.1:0", "--manual-clock"]);
    let bearer = format!("Bearer {ops}");
    let root = format!("Bearer {admin}");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let paused = || async { served.status_of("customers", &ops).await["paused"].clone() };

    // (a) A form post to pause, with or without a token: refused, not paused.
    for headers in [vec![form], vec![form, ("authorization", bearer.as_str())]] {
        let (status, body) = served
            .send(
                "POST",
                "/v1/jobs/customers/pause",
                &headers,
                Some("paused=true"),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("application/x-www-form-urlencoded"),
            "{body}"
        );
    }
    for ct in ["multipart/form-data; boundary=x", "text/plain"] {
        let (status, body) = served
            .send(
                "POST",
                "/v1/jobs/customers/pause",
                &[("content-type", ct), ("authorization", &bearer)],
                Some("--x--"),
            )
            .await;
        assert_eq!(status, 403, "{ct}: {body}");
    }
    // Minting a token by a form: refused too.
    let (status, body) = served
        .send(
            "POST",
            "/v1/tokens",
            &[form, ("authorization", &root)],
            Some("name=evil&role=admin"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(paused().await, false);
    // Another origin, even with a token and a JSON body: refused.
    for origin in [
        "http://evil.example",
        "null",
        &format!("http://127.0.0.1:{}", served.port() + 1),
    ] {
        let (status, body) = served
            .send(
                "POST",
                "/v1/jobs/customers/pause",
                &[
                    ("origin", origin),
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                ],
                Some("{}"),
            )
            .await;
        assert_eq!(status, 403, "{origin}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Origin"), "{body}");
    }
    let (status, body) = served
        .send(
            "POST",
            "/v1/jobs/customers/pause",
            &[("sec-fetch-site", "cross-site"), ("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(paused().await, false);
    // A script: JSON and no Origin, or no body at all — works; so does
    // the server's own origin.
    let (status, body) = served
        .call(
            "POST",
            "/v1/jobs/customers/pause",
            Some(&ops),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(paused().await, true);
    let (status, body) = served
        .send(
            "POST",
            "/v1/jobs/customers/resume",
            &[("authorization", &bearer), ("origin", &served.url)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(paused().await, false);

    // (b) Another Host (DNS rebinding): refused before the token is looked at.
    let port = served.port();
    for (method, path) in [
        ("GET", "/v1/status"),
        ("GET", "/v1/tokens"),
        ("POST", "/v1/jobs/customers/pause"),
    ] {
        let (status, body) = served
            .send(
                method,
                path,
                &[("host", "evil.example:1234"), ("authorization", &root)],
                None,
            )
            .await;
        assert_eq!(status, 421, "{method} {path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("evil.example:1234"),
            "{body}"
        );
    }
    let (status, _) = served
        .send(
            "GET",
            "/v1/status",
            &[
                ("host", &format!("evil.example:{port}")),
                ("authorization", &root),
            ],
            None,
        )
        .await;
    assert_eq!(status, 421);
    assert_eq!(paused().await, false);
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let (status, body) = served
            .send(
                "GET",
                "/v1/status",
                &[("host", &host), ("authorization", &root)],
                None,
            )
            .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // The hooks are not screened (vendors come through proxies; each
    // hook carries its own secret): refused for want of the secret.
    let (status, body) = served
        .send(
            "POST",
            "/hooks/books",
            &[
                ("host", "evil.example:1234"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(r#"{"contact": {"contact_id": "1"}}"#),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = served
        .send("GET", "/healthz", &[("host", "evil.example:1234")], None)
        .await;
    assert_eq!(status, 200);
    served.stop();
}

/// `serve.open_on_loopback` lets a caller on this machine read without a
/// token, never change anything; a request a proxy relayed is not one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_on_loopback_opens_reading_only() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], &customers("manual"));
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap()
        + "serve:\n  listen: 127.0.0.1:0\n  open_on_loopback: true\n";
    std::fs::write(bench.workspace(), yaml).unwrap();
    // No token is needed to start.
    let served = Served::start(&bench, &["--manual-clock"]);
    let (status, body) = served.call("GET", "/v1/status", None, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = served
        .call("GET", "/v1/jobs/customers/runs", None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    // Changing anything, or reading what only admins may, needs a token.
    let (status, body) = served
        .call("POST", "/v1/jobs/customers/pause", None, None)
        .await;
    assert!(status == 401 || status == 403, "{status} {body}");
    assert!(
        body["error"].as_str().unwrap().contains("open_on_loopback"),
        "{body}"
    );
    let (status, body) = served
        .call(
            "POST",
            "/v1/tokens",
            None,
            Some(json!({"name": "mine", "role": "admin"})),
        )
        .await;
    assert!(status == 401 || status == 403, "{status} {body}");
    for path in ["/v1/tokens", "/v1/workspace"] {
        let (status, body) = served.call("GET", path, None, None).await;
        assert!(status == 401 || status == 403, "{path}: {status} {body}");
    }
    // Through a proxy on this machine: not a loopback caller.
    for relayed in [
        ("x-forwarded-for", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
    ] {
        let (status, body) = served.send("GET", "/v1/status", &[relayed], None).await;
        assert_eq!(status, 401, "{relayed:?}: {body}");
    }
    served.stop();
    // With a token, changes work.
    let ops = token(&bench, "ops", "operator");
    let served = Served::start(&bench, &["--manual-clock"]);
    let (status, body) = served
        .call("POST", "/v1/jobs/customers/pause", Some(&ops), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = served.call("GET", "/v1/status", None, None).await;
    assert_eq!(status, 200, "{body}");
    let job = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "customers")
        .unwrap()
        .clone();
    assert_eq!(job["paused"], true, "{job}");
    served.stop();
}
