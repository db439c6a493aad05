//! Throughput of the sandbox: seeding, listing 100 000 CRM records page by
//! page (200 per page, `page_token` after the first page), and 10 000 record
//! writes in batches of 100. Run with
//! `cargo bench -p zoho-sandbox --bench throughput` (no criterion; plain
//! timing, printed as records per second).
//!
//! Environment: `BENCH_RECORDS` (default 100000), `BENCH_WRITES` (10000).

use std::time::Instant;

use serde_json::{Value, json};
use zoho_sandbox::Sandbox;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // useful either way. Keep the run small under `cargo test`.
    let under_test = !std::env::args().any(|a| a == "--bench");
    let records = if under_test {
        2_000
    } else {
        env("BENCH_RECORDS", 100_000)
    };
    let writes = if under_test {
        500
    } else {
        env("BENCH_WRITES", 10_000)
    };

    let sb = Sandbox::builder().start().await?;
    let t = Instant::now();
    let now = sb.now_ms();
    sb.app()
        .mutate(|st, _| zoho_sandbox::seed::seed_crm(st, records, now));
    let seed_s = t.elapsed().as_secs_f64();
    println!(
        "seed: {} records in each of 5 CRM modules in {:.2} s ({:.0} records/s)",
        records,
        seed_s,
        (records * 5) as f64 / seed_s
    );

    let http = reqwest::Client::new();
    let c = sb.client_credentials();
    let tok: Value = http
        .post(format!(
            "{}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
            sb.token_url(),
            c.client_id,
            c.client_secret,
            c.refresh_token
        ))
        .send()
        .await?
        .json()
        .await?;
    let auth = format!(
        "Zoho-oauthtoken {}",
        tok["access_token"].as_str().unwrap_or("")
    );

    // List everything.
    let t = Instant::now();
    let mut seen = 0usize;
    let mut token: Option<String> = None;
    let fields = "Deal_Name,Stage,Amount,Closing_Date,Account_Name,Owner,Modified_Time";
    loop {
        let url = match &token {
            None => format!(
                "{}/crm/v8/Deals?fields={fields}&per_page=200&sort_by=Modified_Time&sort_order=asc",
                sb.base_url()
            ),
            Some(tk) => format!(
                "{}/crm/v8/Deals?fields={fields}&per_page=200&page_token={tk}",
                sb.base_url()
            ),
        };
        let v: Value = http
            .get(url)
            .header("Authorization", &auth)
            .send()
            .await?
            .json()
            .await?;
        seen += v["data"].as_array().map(|a| a.len()).unwrap_or(0);
        match v["info"]["next_page_token"].as_str() {
            Some(tk) if v["info"]["more_records"] == true => token = Some(tk.to_string()),
            _ => break,
        }
    }
    let list_s = t.elapsed().as_secs_f64();
    assert_eq!(
        seen, records,
        "listing must return every record exactly once"
    );
    println!(
        "list: {seen} Deals, 200 per page, in {:.2} s ({:.0} records/s)",
        list_s,
        seen as f64 / list_s
    );

    // Writes in batches of 100.
    let t = Instant::now();
    let mut written = 0usize;
    while written < writes {
        let n = (writes - written).min(100);
        let data: Vec<Value> = (0..n).map(|i| json!({"Last_Name": format!("Bench {}", written + i), "Email": format!("bench{}@example.com", written + i), "Company": "Bench"})).collect();
        let r = http
            .post(format!("{}/crm/v8/Leads", sb.base_url()))
            .header("Authorization", &auth)
            .json(&json!({"data": data}))
            .send()
            .await?;
        assert_eq!(r.status(), 201);
        let _ = r.bytes().await?;
        written += n;
    }
    let write_s = t.elapsed().as_secs_f64();
    println!(
        "write: {written} Leads in batches of 100 in {:.2} s ({:.0} records/s)",
        write_s,
        written as f64 / write_s
    );
    assert_eq!(sb.counts()["crm/Leads"], records + writes);
    sb.shutdown().await?;
    Ok(())
}
