//! The shared application object: state, clock, auth, limits, faults and the
//! notifier. HTTP handlers and the library API both go through it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::error::{ApiError, Product};
use crate::faults::Faults;
use crate::limits::{Limits, Permit};
use crate::notify::{self, Event, Notifier};
use crate::state::State;

/// Settings fixed at start-up.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where state is saved on shutdown and loaded from on start.
    pub state_file: Option<PathBuf>,
    /// Records written less than this long ago are not yet found by CRM
    /// search (Zoho's indexing delay). 0 = found at once.
    pub search_delay_ms: i64,
}

/// Shared by every request.
#[derive(Debug)]
pub struct App {
    pub state: Mutex<State>,
    pub clock: Clock,
    pub auth: Mutex<Auth>,
    pub limits: Limits,
    pub faults: Faults,
    pub notifier: Notifier,
    pub config: Mutex<Config>,
    /// Alternative Payments' tokens and rate limit.
    pub ap: crate::ap::ApRuntime,
    /// Zoho Campaigns' lists, contacts, topics and fields.
    pub campaigns: crate::campaigns::Campaigns,
    /// CustomerSuccessBox's accounts and invoices.
    pub csb: crate::csb::Csb,
    /// API requests served, by `METHOD /path` with numeric ids as `{id}`.
    pub requests: Mutex<std::collections::BTreeMap<String, u64>>,
    /// CRM Bulk Read jobs (and the settings of both bulk APIs).
    pub bulk: crate::crm::bulk::BulkReads,
    /// CRM Bulk Write files and jobs.
    pub bulk_write: crate::crm::bulk_write::BulkWrites,
    base_url: OnceLock<String>,
}

pub type AppRef = Arc<App>;

/// Name of the organisation header of Invoice.
pub const INVOICE_ORG_HEADER: &str = "x-com-zoho-invoice-organizationid";
/// Name of the organisation header of Billing.
pub const BILLING_ORG_HEADER: &str = "x-com-zoho-subscriptions-organizationid";

impl App {
    pub fn new(state: State, clock: Clock, auth: Auth, config: Config) -> App {
        App {
            state: Mutex::new(state),
            clock,
            auth: Mutex::new(auth),
            limits: Limits::default(),
            faults: Faults::default(),
            notifier: Notifier::start(),
            config: Mutex::new(config),
            ap: crate::ap::ApRuntime::default(),
            campaigns: crate::campaigns::Campaigns::default(),
            csb: crate::csb::Csb::default(),
            requests: Mutex::default(),
            bulk: crate::crm::bulk::BulkReads::default(),
            bulk_write: crate::crm::bulk_write::BulkWrites::default(),
            base_url: OnceLock::new(),
        }
    }

    pub fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// `http://127.0.0.1:PORT`, the sandbox's own address.
    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Run `f` on the state; notifications for the events it records are
    /// queued after the lock is released.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut State, &mut Vec<Event>) -> R) -> R {
        let mut events = Vec::new();
        let (r, outgoing) = {
            let mut st = self.state.lock().unwrap();
            let r = f(&mut st, &mut events);
            let now = self.now();
            let out: Vec<_> = events
                .iter()
                .flat_map(|e| {
                    notify::deliveries(e, &st.watches, &st.webhooks, now, self.base_url())
                })
                .collect();
            (r, out)
        };
        for o in outgoing {
            self.notifier.send(o);
        }
        r
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock().unwrap())
    }

    /// Authenticate a CRM request and admit it under the limits.
    pub fn crm_guard(&self, headers: &HeaderMap) -> Result<Permit, ApiError> {
        let now = self.now();
        self.auth
            .lock()
            .unwrap()
            .check(Product::Crm, headers, now)?;
        self.limits.admit(Product::Crm, "crm", now)
    }

    /// Authenticate a finance request, select its organisation the way the
    /// product does, and admit it under that organisation's limits.
    pub fn finance_guard(
        &self,
        product: Product,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Result<(Permit, String), ApiError> {
        let now = self.now();
        self.auth.lock().unwrap().check(product, headers, now)?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let given = match product {
            Product::Books => query.get("organization_id").cloned(),
            Product::Invoice => {
                header(INVOICE_ORG_HEADER).or_else(|| query.get("organization_id").cloned())
            }
            Product::Billing => header(BILLING_ORG_HEADER),
            Product::Crm => None,
        }
        .filter(|s| !s.is_empty());
        let org = self.read(|st| {
            let orgs: Vec<String> = st.finance.orgs_of(product).map(|o| o.organization_id.clone()).collect();
            match given {
                Some(id) if orgs.contains(&id) => Ok(id),
                Some(id) => Err(ApiError::finance(
                    400,
                    6041,
                    format!("This user is not associated with the CompanyID/CompanyName:{id}."),
                )),
                None if orgs.len() == 1 => Ok(orgs[0].clone()),
                None => Err(ApiError::finance(
                    400,
                    6042,
                    "This user belongs to multiple organizations, hence the parameter CompanyID/CompanyName is required for associating this user to a specific organization.",
                )),
            }
        })?;
        let permit = self.limits.admit(product, &org, now)?;
        Ok((permit, org))
    }
}

/// A JSON response with the permit's rate-limit headers.
pub fn reply(status: u16, body: Value, permit: &Permit) -> Response {
    let mut err = ApiError::raw(status, body);
    for (k, v) in &permit.headers {
        err = err.with_header(k, v.clone());
    }
    err.into_response()
}
