//! The dashboard in a real browser: a headless Chromium (over WebDriver)
//! against `ferry serve` on the sandbox. An operator signs in, previews a
//! first sync, watches a run's progress without reloading, pauses and
//! resumes, and reads why a record failed; a viewer sees no buttons, and
//! a request it forges is refused. Screenshots land in
//! `target/dashboard-screenshots/` for review.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium
//! chromium-driver`); without them the tests fail, unless
//! `FERRY_SKIP_BROWSER_TESTS=1`.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::bench::{BILLING, BOOKS, Bench};
use support::served::{Served, token};
use support::webdriver::Browser;
use zoho_sandbox::{FaultConfig, Product, Sandbox};

/// Books contacts → Billing customers, twice. `customers` gives every
/// customer the same name, so Billing takes the first and refuses the
/// rest ("already exists"): a run with failed records and their reason.
/// `accounts` names them apart and succeeds.
const WORKSPACE: &str = r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_id: zcrm_account_id }
    on_duplicate: overwrite
    fields:
      display_name: { expr: "'Twin & <Co>'" }
      zcrm_account_id: contact_id
    schedule: manual
  accounts:
    from: books.contacts
    to: billing.customers
    match: { contact_id: zcrm_account_id }
    on_duplicate: overwrite
    fields:
      display_name: { expr: "'B ' + record.contact_name" }
      zcrm_account_id: contact_id
    schedule: manual
"#;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-screenshots")
}

async fn sign_in(browser: &Browser, url: &str, token: &str) {
    browser.goto(&format!("{url}/")).await;
    assert!(
        browser.url().await.ends_with("/login"),
        "a browser without a session is sent to sign in, not shown {}: {}",
        browser.url().await,
        browser.text("body").await
    );
    browser.type_into("#token", token).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_text("h1", "the overview", |t| t == "Overview")
        .await;
}

fn status_of(statuses: &Value, name: &str) -> Value {
    statuses["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_previews_watches_a_run_pauses_resumes_and_reads_a_failure() {
    let Some(browser) = Browser::start(1280, 900, shots()).await else {
        return;
    };
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], WORKSPACE);
    let ops = token(&bench, "ops", "operator");
    let served = Served::start(&bench, &["--listen", "127.0.0.1:0"]);
    let url = served.url.clone();

    sign_in(&browser, &url, &ops).await;
    let card = "li[data-job=customers]";
    assert!(browser.text(card).await.contains("idle"));
    assert!(browser.text(card).await.contains("No runs yet"));

    // Preview: what a first sync would do, written nowhere.
    browser.click(&format!("{card} a.job")).await;
    browser.click("button[data-action=preview]").await;
    let tally = browser
        .wait_text(".tally", "the preview's tally", |t| {
            t.contains("would create")
        })
        .await;
    assert!(tally.contains("would create"), "{tally}");
    browser.screenshot("operator-preview").await;
    assert!(
        served.runs("customers", &ops).await.is_empty(),
        "a preview is no run"
    );

    // A slow run: the overview shows its progress and then its end, by
    // itself (the page is never reloaded: the marker survives).
    // Slow enough that a busy machine still sees it running (a few
    // seconds in all).
    sb.faults(FaultConfig {
        latency_ms: 600,
        ..FaultConfig::default()
    });
    browser.goto(&format!("{url}/jobs/customers")).await;
    browser.click("button[data-action=run]").await;
    // The click's form post must land before we leave, or its redirect
    // would take the browser back to the job page.
    browser
        .wait_text("body", "the queued run", |t| t.contains("queued a run"))
        .await;
    browser.goto(&format!("{url}/")).await;
    browser
        .script("window.notReloaded = true; return null;")
        .await;
    browser
        .wait_text(card, "the run in progress", |t| {
            t.contains("running") && t.contains("elapsed")
        })
        .await;
    browser.one(&format!("{card} [data-progress]")).await;
    browser.screenshot("operator-overview-running").await;
    let done = browser
        .wait_text(card, "the finished run", |t| {
            t.contains("#1") && !t.contains("elapsed")
        })
        .await;
    sb.faults(FaultConfig::default());
    assert!(
        done.contains("failing"),
        "records failed, and it says so: {done}"
    );
    assert_eq!(
        browser.script("return window.notReloaded === true;").await,
        Value::Bool(true),
        "the page updated itself"
    );
    browser.screenshot("operator-overview").await;

    // Pause and resume, as the API sees it too.
    browser.click(&format!("{card} a.job")).await;
    browser.click("button[data-action=pause]").await;
    browser.one("button[data-action=resume]").await;
    assert!(browser.text("h1").await.contains("paused"));
    let status = served.status_of("customers", &ops).await;
    assert_eq!(status["paused"], true);
    assert_eq!(status["state"], "paused");
    browser.screenshot("operator-job-paused").await;
    browser.click("button[data-action=resume]").await;
    browser.one("button[data-action=pause]").await;
    assert_eq!(served.status_of("customers", &ops).await["paused"], false);

    // The run's failed records and why.
    browser.click("table.runs a[href$='/runs/1']").await;
    // Records by name on both sides: the one created shows the name it
    // was given in Billing.
    let created = browser.text("tr[data-op=create] td:nth-child(3)").await;
    assert!(created.contains("Twin & <Co>"), "{created}");
    let reasons = browser.text(".reasons").await;
    assert!(reasons.contains("already exists"), "{reasons}");
    browser.click(".filters a[href$='filter=failed']").await;
    let first = browser.text("tr[data-op=fail] td.reason").await;
    assert!(first.contains("already exists"), "{first}");
    assert!(
        browser.all("tr[data-op=create]").await.is_empty(),
        "the failed filter shows failures only"
    );
    // Vendor text is shown as text, never as markup.
    let html = browser.script("return document.body.innerHTML;").await;
    assert!(!html.as_str().unwrap().contains("<Co>"));
    browser.screenshot("operator-run-failed").await;

    // Another sync's runs, its links, and the connections they used.
    for n in 1..=2 {
        let (status, body) = served
            .call("POST", "/v1/jobs/accounts/run", Some(&ops), None)
            .await;
        assert_eq!(status, 202, "{body}");
        served.wait_runs("accounts", &ops, n).await;
    }
    browser.goto(&format!("{url}/jobs/accounts/links")).await;
    let links = browser.text("table.links").await;
    assert!(links.contains("the sync"), "{links}");
    assert!(!browser.all("table.links button").await.is_empty());

    // One record's links, with the linked record's status asked of its
    // vendor now: a person marks the Billing customer inactive, and the
    // page says so on its next load.
    let from = browser.text("table.links tbody tr td:nth-child(2)").await;
    let to = browser.text("table.links tbody tr td:nth-child(3)").await;
    browser.goto(&format!("{url}/links?id={from}")).await;
    let status = browser.text("table.links td.status").await;
    assert_eq!(status, "active", "{}", browser.text("body").await);
    sb.app()
        .ui_finance_act(
            Product::Billing,
            BILLING.2.unwrap(),
            "customers",
            &to,
            "inactive",
        )
        .unwrap();
    browser.goto(&format!("{url}/links?id={from}")).await;
    assert_eq!(browser.text("table.links td.status").await, "inactive");

    // A sync's link removed by hand: gone from the page and the state.
    browser
        .goto(&format!("{url}/jobs/accounts/links?id={from}"))
        .await;
    browser.click("table.links button").await;
    let note = browser
        .wait_text("body", "the removal", |t| t.contains("unlinked"))
        .await;
    assert!(note.contains(&format!("unlinked {from} → {to}")), "{note}");
    let left = browser.text("table.links").await;
    assert!(!left.contains(&to), "{left}");
    let (status, body) = served
        .call(
            "GET",
            &format!("/v1/jobs/accounts/links?id={from}"),
            Some(&ops),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["links"].as_array().map(Vec::len), Some(0), "{body}");
    browser.screenshot("operator-link-removed").await;

    // Retry failed and a full run, from their buttons.
    browser.goto(&format!("{url}/jobs/customers")).await;
    browser.click("button[data-action=retry]").await;
    let note = browser
        .wait_text("p.note", "the retry", |t| {
            t.contains("retried") || t.contains("nothing")
        })
        .await;
    assert!(note.contains("retried failed records in run #"), "{note}");
    let before = served.runs("customers", &ops).await.len();
    browser.click("button[data-action=full-run]").await;
    let note = browser
        .wait_text("p.note", "the full run", |t| t.contains("queued"))
        .await;
    assert!(note.contains("queued a run of customers"), "{note}");
    served.wait_runs("customers", &ops, before + 1).await;
    browser.goto(&format!("{url}/connections")).await;
    let books = browser.text("li[data-connection=books]").await;
    assert!(books.contains("sandbox at"), "{books}");
    assert!(books.contains("10234695"), "the organisation: {books}");
    let calls: u64 = browser
        .text("li[data-connection=books] dd.calls")
        .await
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of API calls: {books}"));
    assert!(calls > 0, "{books}");
    browser.screenshot("operator-connections").await;
    browser.goto(&format!("{url}/")).await;
    browser
        .wait_text("li[data-job=accounts]", "the finished runs", |t| {
            t.contains("#2")
        })
        .await;
    browser.screenshot("overview").await;

    // A phone's width: nothing wider than the screen.
    browser.resize(390, 844).await;
    browser.goto(&format!("{url}/")).await;
    let overflow = browser
        .script("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the overview scrolls sideways on a phone by {overflow}px"
    );
    browser.screenshot("operator-overview-phone").await;
    browser.quit();
    served.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_buttons_and_a_forged_pause_is_refused() {
    let Some(browser) = Browser::start(1280, 900, shots()).await else {
        return;
    };
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, BILLING], WORKSPACE);
    let view = token(&bench, "view", "viewer");
    let ops = token(&bench, "ops", "operator");
    let served = Served::start(&bench, &["--listen", "127.0.0.1:0"]);
    let url = served.url.clone();

    // The session cookie is out of scripts' and other sites' reach; the
    // token is not in it; pages refuse to be framed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        // A token is letters, digits and `_`: nothing to encode.
        .body(format!("token={view}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("ferry_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains(&view),
        "{cookie}"
    );
    let page = http.get(format!("{url}/login")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

    // A wrong token signs nobody in.
    browser.goto(&format!("{url}/login")).await;
    browser.type_into("#token", "fry_not_a_token").await;
    browser.click("button[type=submit]").await;
    browser
        .wait_text("[role=alert]", "a refusal", |t| t.contains("unknown token"))
        .await;

    sign_in(&browser, &url, &view).await;
    browser.goto(&format!("{url}/jobs/customers")).await;
    assert!(browser.text("h1").await.contains("customers"));
    assert!(
        browser.all("button[data-action]").await.is_empty(),
        "a viewer is shown no button it cannot use"
    );
    browser.screenshot("viewer-job").await;

    // The viewer's own session forges the form a button would send: the
    // server refuses it by role, with or without the session's CSRF token.
    let forged = browser
        .script_async(
            r#"
            const csrf = document.querySelector("input[name=csrf]").value;
            const send = (body) => fetch("/jobs/customers/pause", {
                method: "POST", body: new URLSearchParams(body),
                headers: { "Content-Type": "application/x-www-form-urlencoded" },
            }).then(r => r.status);
            Promise.all([send({ csrf }), send({})]).then(done);
            "#,
        )
        .await;
    assert_eq!(forged, serde_json::json!([403, 403]), "{forged}");
    // The API says the same to the viewer's token.
    let (status, _) = served
        .call("POST", "/v1/jobs/customers/pause", Some(&view), None)
        .await;
    assert_eq!(status, 403);
    let statuses = served.get("/v1/status", &ops).await;
    assert_eq!(status_of(&statuses, "customers")["paused"], false);

    // Signing out ends the session on the server.
    browser.click("form[action='/logout'] button").await;
    browser.one("#token").await;
    browser.goto(&format!("{url}/jobs/customers")).await;
    assert!(browser.url().await.ends_with("/login"));
    browser.quit();
    served.stop();
}
