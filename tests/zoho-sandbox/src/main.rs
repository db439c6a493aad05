//! `zoho-sandbox`: serve the Zoho emulator on one port.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use zoho_sandbox::{FaultConfig, LimitConfig, Sandbox};

/// A faithful, stateful local emulator of Zoho CRM, Books, Invoice and
/// Billing. Serves `/oauth/v2/token`, `/crm/v8/…` (and `/crm/v2/…`),
/// `/books/v3/…`, `/invoice/v3/…` and `/billing/v1/…` on one port, plus a
/// control API under `/__sandbox/`.
#[derive(Debug, Parser)]
#[command(name = "zoho-sandbox", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1", env = "ZOHO_SANDBOX_HOST")]
    host: String,
    /// Port to serve on (0 picks a free port).
    #[arg(long, default_value_t = 8900, env = "ZOHO_SANDBOX_PORT")]
    port: u16,
    /// Records to create per module (CRM modules and finance resources in every organisation) at start.
    #[arg(long, default_value_t = 0)]
    seed_records: usize,
    /// Access-token lifetime in seconds (Zoho: 3600).
    #[arg(long, default_value_t = 3600.0)]
    token_lifetime: f64,
    /// Enforce Zoho's limit of 10 access tokens per refresh token per 10 minutes.
    #[arg(long)]
    token_mint_limit: bool,
    /// Requests per minute per organisation (Books: 100). Off when absent.
    #[arg(long)]
    rate_limit_per_minute: Option<u32>,
    /// Requests per day per organisation (Books Free: 1000). Off when absent.
    #[arg(long)]
    rate_limit_per_day: Option<u32>,
    /// Concurrent in-process requests per organisation (Books Free: 5). Off when absent.
    #[arg(long)]
    concurrency_limit: Option<u32>,
    /// Seed of the fault-injection generator.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Share (0–1) of API requests answered with a 5xx error.
    #[arg(long, default_value_t = 0.0)]
    fault_5xx_rate: f64,
    /// Share (0–1) of API requests answered with the product's 429 body.
    #[arg(long, default_value_t = 0.0)]
    fault_429_rate: f64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Share (0–1) of API requests whose connection is dropped.
    #[arg(long, default_value_t = 0.0)]
    fault_drop_rate: f64,
    /// Share (0–1) of API responses cut off half-way.
    #[arg(long, default_value_t = 0.0)]
    fault_truncate_rate: f64,
    /// Load state from this file at start (if present) and save it there on shutdown (Ctrl-C / SIGTERM).
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// CRM search ignores records written less than this many milliseconds ago (Zoho's indexing delay).
    #[arg(long, default_value_t = 0)]
    search_delay_ms: u64,
    /// Start with the clock frozen at this ISO-8601 instant (move it with POST /__sandbox/clock).
    #[arg(long)]
    fixed_clock: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let a = Args::parse();
    let mut b = Sandbox::builder()
        .host(a.host)
        .port(a.port)
        .seed(a.seed_records)
        .token_lifetime(Duration::from_secs_f64(a.token_lifetime))
        .token_mint_limit(a.token_mint_limit)
        .search_delay(Duration::from_millis(a.search_delay_ms))
        .limits(LimitConfig {
            per_minute: a.rate_limit_per_minute,
            per_day: a.rate_limit_per_day,
            concurrency: a.concurrency_limit,
            window_ms: None,
        })
        .faults(FaultConfig {
            seed: a.fault_seed,
            error_rate: a.fault_5xx_rate,
            rate_limit_rate: a.fault_429_rate,
            latency_ms: a.fault_latency_ms,
            drop_rate: a.fault_drop_rate,
            truncate_rate: a.fault_truncate_rate,
            ..FaultConfig::default()
        });
    if let Some(p) = a.state_file {
        b = b.state_file(p);
    }
    if let Some(t) = a.fixed_clock {
        let ms = zoho_sandbox::clock::parse_datetime(&t)
            .ok_or_else(|| anyhow::anyhow!("--fixed-clock: not an ISO-8601 date-time: {t}"))?;
        b = b.fixed_clock(ms);
    }
    let sb = b.start().await?;
    let c = sb.client_credentials();
    tracing::info!(
        base_url = %sb.base_url(),
        client_id = %c.client_id,
        client_secret = %c.client_secret,
        refresh_token = %c.refresh_token,
        "zoho-sandbox listening"
    );
    let ap = sb.ap_client_credentials();
    tracing::info!(
        base_url = %sb.ap_base_url(),
        client_id = %ap.client_id,
        client_secret = %ap.client_secret,
        "alternative payments (ap) listening"
    );
    println!("zoho-sandbox listening on {}", sb.base_url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    sb.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
