//! # zoho-sandbox
//!
//! A faithful, stateful local emulator of Zoho CRM, Books, Invoice and
//! Billing, all on one port under the real path prefixes (`/oauth/v2/token`,
//! `/crm/v8/…`, `/books/v3/…`, `/invoice/v3/…`, `/billing/v1/…`), and of
//! Alternative Payments under `/ap/…` (see [`ap`]), Zoho Campaigns under
//! `/campaigns/api/v1.1/…` (see [`campaigns`]) and CustomerSuccessBox under
//! `/csb/…` (see [`csb`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! let sb = zoho_sandbox::Sandbox::builder()
//!     .token_lifetime(Duration::from_secs(2))
//!     .seed(1000)
//!     .start()
//!     .await?;
//! let creds = sb.client_credentials();
//! println!("{} {}", sb.base_url(), creds.client_id);
//! let counts = sb.counts();
//! assert_eq!(counts["crm/Deals"], 1000);
//! sb.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Everything the handle does is also reachable over HTTP under
//! `/__sandbox/` (see the README), so other processes can drive it too.

pub mod ap;
pub mod app;
pub mod auth;
pub mod campaigns;
pub mod clock;
pub mod control;
pub mod crm;
pub mod csb;
pub mod error;
pub mod faults;
pub mod finance;
pub mod limits;
pub mod notify;
pub mod seed;
pub mod server;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use ap::ApClient;
pub use auth::ClientCredentials;
pub use control::{CodeRequest, Counts};
pub use error::{ApiError, Product, SandboxError};
pub use faults::{Fault, FaultConfig};
pub use finance::Org;
pub use limits::{LimitConfig, OrgUsage};

use app::{App, AppRef, Config};
use auth::Auth;
use clock::Clock;
use finance::FinanceState;
use state::State;

/// Configures and starts a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    host: String,
    port: u16,
    token_lifetime: Duration,
    mint_limit: bool,
    seed: usize,
    limits: LimitConfig,
    faults: FaultConfig,
    fixed_clock_ms: Option<i64>,
    state_file: Option<PathBuf>,
    orgs: Vec<Org>,
    clients: Vec<ClientCredentials>,
    search_delay: Duration,
    ap_clients: Vec<ApClient>,
    ap_token_lifetime: Duration,
    ap_rate_limit: Option<u32>,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        SandboxBuilder {
            host: "127.0.0.1".into(),
            port: 0,
            token_lifetime: Duration::from_secs(3600),
            mint_limit: false,
            seed: 0,
            limits: LimitConfig::default(),
            faults: FaultConfig::default(),
            fixed_clock_ms: None,
            state_file: None,
            orgs: Org::defaults(),
            clients: vec![ClientCredentials::default_client()],
            search_delay: Duration::ZERO,
            ap_clients: Vec::new(),
            ap_token_lifetime: Duration::from_millis(ap::auth::TOKEN_LIFETIME_MS as u64),
            ap_rate_limit: Some(ap::auth::RATE_PER_SECOND),
        }
    }
}

impl SandboxBuilder {
    /// Address to bind (default `127.0.0.1`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }
    /// Port to bind (default 0: an ephemeral port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Lifetime of access tokens (Zoho: 1 hour).
    pub fn token_lifetime(mut self, d: Duration) -> Self {
        self.token_lifetime = d;
        self
    }
    /// Enforce "10 access tokens per refresh token per 10 minutes".
    pub fn token_mint_limit(mut self, on: bool) -> Self {
        self.mint_limit = on;
        self
    }
    /// Records to create per module at start.
    pub fn seed(mut self, n: usize) -> Self {
        self.seed = n;
        self
    }
    /// Per-organisation limits (all off by default).
    pub fn limits(mut self, l: LimitConfig) -> Self {
        self.limits = l;
        self
    }
    /// Fault injection (off by default).
    pub fn faults(mut self, f: FaultConfig) -> Self {
        self.faults = f;
        self
    }
    /// Start with the clock frozen at this instant (ms since the epoch).
    pub fn fixed_clock(mut self, ms: i64) -> Self {
        self.fixed_clock_ms = Some(ms);
        self
    }
    /// Load state from this file at start (if it exists) and save it there
    /// on [`Sandbox::shutdown`].
    pub fn state_file(mut self, p: impl Into<PathBuf>) -> Self {
        self.state_file = Some(p.into());
        self
    }
    /// Replace the finance organisations.
    pub fn organizations(mut self, orgs: Vec<Org>) -> Self {
        self.orgs = orgs;
        self
    }
    /// Add an OAuth client.
    pub fn client(mut self, c: ClientCredentials) -> Self {
        self.clients.push(c);
        self
    }
    /// CRM search does not find records written less than `d` ago.
    pub fn search_delay(mut self, d: Duration) -> Self {
        self.search_delay = d;
        self
    }

    /// Add an Alternative Payments API key (the default one stays).
    pub fn ap_client(mut self, c: ApClient) -> Self {
        self.ap_clients.push(c);
        self
    }
    /// Lifetime of Alternative Payments access tokens (AP: 1 hour).
    pub fn ap_token_lifetime(mut self, d: Duration) -> Self {
        self.ap_token_lifetime = d;
        self
    }
    /// Alternative Payments requests per second per client (AP: 5;
    /// `None`: no limit).
    pub fn ap_rate_limit(mut self, per_second: Option<u32>) -> Self {
        self.ap_rate_limit = per_second;
        self
    }

    /// Build the shared application without serving it.
    pub fn build_app(&self) -> Result<AppRef, SandboxError> {
        if self.orgs.is_empty() {
            return Err(SandboxError::Config(
                "at least one organisation is needed".into(),
            ));
        }
        let clock = match self.fixed_clock_ms {
            Some(ms) => Clock::fixed(ms),
            None => Clock::real(),
        };
        let state = match &self.state_file {
            Some(p) if p.exists() => State::load(p)?,
            _ => State::new(FinanceState::new(self.orgs.clone())),
        };
        let mut auth = Auth::new(self.token_lifetime.as_millis() as i64);
        auth.clients = self.clients.clone();
        auth.mint_limit = self.mint_limit;
        let config = Config {
            state_file: self.state_file.clone(),
            search_delay_ms: self.search_delay.as_millis() as i64,
        };
        let app = Arc::new(App::new(state, clock, auth, config));
        app.limits.set(self.limits.clone());
        app.faults.set(self.faults.clone());
        for c in &self.ap_clients {
            app.ap.add_client(c.clone());
        }
        app.ap
            .set_token_lifetime(self.ap_token_lifetime.as_millis() as i64);
        app.ap.set_rate_limit(self.ap_rate_limit);
        if self.seed > 0 {
            app.seed(self.seed);
        }
        Ok(app)
    }

    /// Bind, seed and serve in the background.
    pub async fn start(self) -> Result<Sandbox, SandboxError> {
        install_crypto_provider();
        let addr = format!("{}:{}", self.host, self.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let app = self.build_app()?;
        app.set_base_url(format!("http://{local}"));
        let router = server::router(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Sandbox {
            app,
            addr: local,
            stop: Some(tx),
            task: Some(task),
        })
    }
}

/// A running sandbox. Dropping it stops the server (without saving).
#[derive(Debug)]
pub struct Sandbox {
    app: AppRef,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/v2/token", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A valid client id / secret / refresh token triple.
    pub fn client_credentials(&self) -> ClientCredentials {
        self.app.auth.lock().unwrap().clients[0].clone()
    }

    /// Alternative Payments' base URL: `http://127.0.0.1:PORT/ap`.
    pub fn ap_base_url(&self) -> String {
        format!("{}{}", self.base_url(), ap::PREFIX)
    }

    /// Alternative Payments' token endpoint.
    pub fn ap_token_url(&self) -> String {
        format!("{}/oauth/token", self.ap_base_url())
    }

    /// A valid Alternative Payments API key (client id and secret).
    pub fn ap_client_credentials(&self) -> ApClient {
        self.app.ap.clients()[0].clone()
    }

    /// CustomerSuccessBox's base URL: `http://127.0.0.1:PORT/csb`.
    pub fn csb_base_url(&self) -> String {
        format!("{}{}", self.base_url(), csb::PREFIX)
    }

    /// What CustomerSuccessBox holds: accounts, invoices, writes.
    pub fn csb(&self) -> csb::CsbData {
        self.app.csb.snapshot()
    }

    /// Create a CustomerSuccessBox account, as its UI would.
    pub fn csb_add_account(&self, account_id: &str, name: &str) {
        self.app.csb.add_account(account_id, name);
    }

    /// Alternative Payments' rate-limit counters.
    pub fn ap_stats(&self) -> ap::auth::ApStats {
        self.app.ap.stats()
    }

    /// The organisations of a finance product.
    pub fn organizations(&self, product: Product) -> Vec<Org> {
        self.app
            .read(|st| st.finance.orgs_of(product).cloned().collect())
    }

    /// The first organisation id of a finance product.
    pub fn organization_id(&self, product: Product) -> String {
        self.organizations(product)
            .first()
            .map(|o| o.organization_id.clone())
            .unwrap_or_default()
    }

    /// Record counts per module ("nothing lost, nothing doubled").
    pub fn counts(&self) -> Counts {
        self.app.counts()
    }

    /// Freeze the clock at `ms` since the epoch.
    pub fn set_clock(&self, ms: i64) {
        self.app.clock.set(ms);
    }

    /// Move the clock.
    pub fn advance_clock(&self, d: Duration) {
        self.app.clock.advance(d.as_millis() as i64);
    }

    /// The sandbox's current time (ms since the epoch).
    pub fn now_ms(&self) -> i64 {
        self.app.now()
    }

    /// A single-use grant code for the first client, as the API console's
    /// self client makes one, good for `lifetime`.
    pub fn grant_code(&self, lifetime: Duration) -> String {
        self.app
            .grant_code(&control::CodeRequest {
                expires_in_secs: Some(lifetime.as_secs_f64()),
                ..Default::default()
            })
            .expect("the sandbox has a client")
    }

    /// Answer token requests with this `api_domain` (an account of another
    /// data centre), or again with the sandbox's own origin (`None`).
    pub fn set_api_domain(&self, api_domain: Option<&str>) {
        self.app.auth.lock().unwrap().api_domain = api_domain.map(str::to_owned);
    }

    /// Revoke a refresh token and the access tokens it minted; whether it
    /// was live.
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        self.app
            .auth
            .lock()
            .unwrap()
            .revoke_refresh_token(refresh_token)
    }

    /// Replace the fault configuration.
    pub fn faults(&self, f: FaultConfig) {
        self.app.faults.set(f);
    }

    /// Replace the limits.
    pub fn limits(&self, l: LimitConfig) {
        self.app.limits.set(l);
    }

    /// What every Zoho organisation was sent and refused under the limits.
    pub fn org_usage(&self) -> Vec<OrgUsage> {
        self.app.limits.usage()
    }

    /// Drop all records.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// Add `n` records to every module.
    pub fn seed(&self, n: usize) {
        self.app.seed(n);
    }

    /// The shared application (state, clock, control functions).
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Wait until every queued notification has been delivered (or failed).
    pub async fn flush_notifications(&self) {
        self.app.notifier.flush().await;
    }

    /// Stop serving; save the state if a state file is configured.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let path = self.app.config.lock().unwrap().state_file.clone();
        if let Some(p) = path {
            self.app.read(|st| st.save(&p))?;
        }
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// reqwest needs a process-wide rustls provider whenever its TLS is compiled
/// in, which feature unification does in a workspace build; install ring
/// (a no-op if one is already installed).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
