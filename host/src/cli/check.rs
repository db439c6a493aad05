//! `ferry check [<connection>]`: for each connection, try its credentials
//! (a fresh access token), its organisation, and every module the
//! workspace's syncs and trigger rules use (one first-page read each),
//! and name what fails. Nothing is written, not even the access tokens.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use serde_json::Value;

use super::connect::{mismatch, same_origin};
use super::sync::{self as cli_sync, RunArgs};
use super::{bundle, safe};
use crate::capability::grant;
use crate::capability::{HttpSettings, StoredToken, TokenStore};
use crate::config::{self, Action, LoadOptions, SecretMode, TargetRef, Workspace};
use crate::connection::{ConnectionSpec, ConnectorRegistry};
use crate::connector::{CallError, Vendor};
use crate::plugin::{Connector, Runtime, RuntimeOptions};
use url::Url;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArgs,
    /// Only this connection.
    pub connection: Option<String>,
}

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    /// Not tried: an earlier check of the connection failed.
    Skip,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check of one connection.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub connection: String,
    /// `connector`, `credentials`, `organisation`, `describe` or `module`.
    pub check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    pub status: Status,
    pub detail: String,
}

impl Check {
    fn what(&self) -> String {
        match &self.module {
            Some(m) => format!("module {m}"),
            None => self.check.to_string(),
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    cli_sync::exit(cli_sync::runtime().and_then(|rt| rt.block_on(check(args))))
}

/// The modules each connection's syncs and trigger rules read or write.
pub fn modules_used(ws: &Workspace) -> BTreeMap<String, BTreeSet<String>> {
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |m: &config::ModuleRef| {
        used.entry(m.connection.clone())
            .or_default()
            .insert(m.module.clone());
    };
    for sync in ws.syncs.values() {
        add(&sync.from);
        add(&sync.to);
        for child in &sync.children {
            add(&child.from);
        }
    }
    for rule in ws.triggers.values() {
        add(&rule.on);
        match &rule.action {
            Action::Create { module } => add(module),
            Action::Update { target } | Action::Act { target, .. } => {
                // A linked record is in a module a sync or rule names.
                if let TargetRef::Module { module, .. } = target {
                    add(module);
                }
            }
        }
    }
    used
}

async fn check(args: Args) -> anyhow::Result<ExitCode> {
    // Secrets are read per connection: one unreadable secret fails that
    // connection's check, not the others'.
    let mut ws = Workspace::load_with(
        &args.run.workspace,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .map_err(|d| safe::Rendered(safe::diagnostics(&d, std::io::stderr().is_terminal())))?;
    args.run.point_at_sandbox(&mut ws)?;
    if let Some(name) = &args.connection {
        super::sync::connection_named(&ws, name, &args.run.workspace)?;
    }
    if ws.connections.is_empty() {
        bail!(
            "{} has no connections to check",
            args.run.workspace.display()
        );
    }
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(args.run.state_dir().join("cache")),
        key: None,
    })?;
    let registry = ConnectorRegistry::load_dirs(
        runtime,
        &bundle::manifest_dirs(args.run.connectors.as_deref()),
        &bundle::plugin_dirs(args.run.plugin_dir.as_deref()),
    )?;
    let used = modules_used(&ws);
    let mut checks = Vec::new();
    for (name, connection) in &ws.connections {
        if args.connection.as_ref().is_some_and(|n| n != name) {
            continue;
        }
        let modules = used.get(name).cloned().unwrap_or_default();
        checks.extend(check_connection(&registry, connection.clone(), &modules).await);
    }
    let failed = checks.iter().filter(|c| c.status != Status::Ok).count();
    if args.run.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": failed == 0,
                "checks": checks,
            }))?
        );
    } else {
        print_table(&checks);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_table(checks: &[Check]) {
    let width = |f: &dyn Fn(&Check) -> usize| checks.iter().map(f).max().unwrap_or(0);
    let (conn_w, what_w) = (
        width(&|c| c.connection.chars().count()),
        width(&|c| c.what().chars().count()),
    );
    for c in checks {
        println!(
            "{:<4}  {:<conn_w$}  {:<what_w$}  {}",
            c.status.word(),
            safe::line(&c.connection),
            safe::line(&c.what()),
            safe::line(&c.detail),
        );
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let skipped = checks.iter().filter(|c| c.status == Status::Skip).count();
    if failed + skipped == 0 {
        println!("all {} checks passed", checks.len());
    } else {
        println!(
            "{failed} of {} checks failed{}",
            checks.len(),
            if skipped > 0 {
                format!(", {skipped} not tried")
            } else {
                String::new()
            }
        );
    }
}

/// A check's outcome so far: the ones made, and whether to go on.
struct Report {
    connection: String,
    checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, check: &'static str, module: Option<&str>, status: Status, detail: String) {
        self.checks.push(Check {
            connection: self.connection.clone(),
            check,
            module: module.map(str::to_owned),
            status,
            detail,
        });
    }

    /// `check` failed: it and everything after it on this connection.
    fn stop(
        mut self,
        check: &'static str,
        detail: String,
        modules: &BTreeSet<String>,
    ) -> Vec<Check> {
        self.push(check, None, Status::Fail, detail);
        let why = format!("not tried: the {check} check failed");
        for m in modules {
            self.push("module", Some(m), Status::Skip, why.clone());
        }
        self.checks
    }
}

async fn check_connection(
    registry: &ConnectorRegistry,
    mut connection: config::Connection,
    modules: &BTreeSet<String>,
) -> Vec<Check> {
    let name = connection.name.value.clone();
    let mut report = Report {
        connection: name.clone(),
        checks: Vec::new(),
    };
    if let (config::Endpoint::Default, Some(manifest)) = (
        &connection.endpoint,
        registry.manifest(&connection.connector.value),
    ) && !manifest.data_centers.is_empty()
    {
        let why = super::connect::no_data_centre(&name, manifest);
        return report.stop("connector", why, modules);
    }
    if let Err(why) = resolve_auth(&mut connection) {
        return report.stop("credentials", why, modules);
    }
    let Opened {
        connector,
        issued,
        api,
        place,
    } = match open(registry, &connection) {
        Ok(opened) => opened,
        Err(why) => {
            let check = if why.contains("auth") {
                "credentials"
            } else {
                "connector"
            };
            let why = if why.contains("`auth.refresh_token` is missing") {
                format!("{why}: run `ferry connect {name}`")
            } else {
                why
            };
            return report.stop(check, why, modules);
        }
    };
    match connector.authenticate().await {
        Ok(true) => {
            // The account's data centre, as the accounts server names it:
            // the most common Zoho set-up error is a connection set to
            // another one.
            let domain = issued
                .0
                .lock()
                .unwrap()
                .as_ref()
                .and_then(|t| t.api_domain.clone());
            if let (Some(domain), Some(api), Some(manifest)) = (
                &domain,
                &api,
                registry.manifest(&connection.connector.value),
            ) && !same_origin(domain, api)
            {
                let why = mismatch(&name, &place, manifest, api, "api_domain", domain, |dc| {
                    Some(&dc.api)
                });
                return report.stop("credentials", why, modules);
            }
            report.push(
                "credentials",
                None,
                Status::Ok,
                match domain {
                    Some(d) => format!("a new access token was issued, for {}", safe::line(&d)),
                    None => "a new access token was issued".into(),
                },
            )
        }
        Ok(false) => report.push(
            "credentials",
            None,
            Status::Ok,
            "the connector needs none".into(),
        ),
        Err(e) => {
            let text = e.to_string();
            let detail = match credential_hint(&text, &name) {
                Some(hint) => format!("{text}: {hint}"),
                None => text,
            };
            return report.stop("credentials", detail, modules);
        }
    }
    let manifest = registry.manifest(&connection.connector.value);
    if let Some(org) = manifest.and_then(|m| m.organization.as_ref()) {
        let wanted = connection
            .settings
            .get("organization_id")
            .map(|v| match &v.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let (status, detail) = match Vendor::list(&connector, &org.module, None, None).await {
            Ok(page) => match page.records.first() {
                Some(record) => (Status::Ok, organisation_name(record)),
                None => (
                    Status::Fail,
                    match wanted {
                        Some(id) => format!(
                            "organisation `{id}` is not one these credentials reach (check `settings.organization_id`)"
                        ),
                        None => "the vendor returned no organisation".into(),
                    },
                ),
            },
            Err(e) => (Status::Fail, call_text(&e)),
        };
        report.push("organisation", None, status, detail);
    }
    // What every run does first: a connector that cannot describe itself
    // (a configured module the organisation lacks) stops every run on it.
    match connector.describe().await {
        Ok(info) => report.push(
            "describe",
            None,
            Status::Ok,
            format!("{} modules", info.modules.len()),
        ),
        Err(e) => report.push("describe", None, Status::Fail, call_text(&e)),
    }
    for module in modules {
        let (status, detail) = match Vendor::list(&connector, module, None, None).await {
            Ok(page) => (
                Status::Ok,
                format!(
                    "readable ({} record{} on the first page)",
                    page.records.len(),
                    if page.records.len() == 1 { "" } else { "s" }
                ),
            ),
            Err(e) => (Status::Fail, call_text(&e)),
        };
        report.push("module", Some(module), status, detail);
    }
    report.checks
}

/// Read the connection's secrets now.
fn resolve_auth(connection: &mut config::Connection) -> Result<(), String> {
    for (key, entry) in connection.auth.iter_mut() {
        if !entry.value.is_resolved() {
            entry.value =
                config::Secret::resolve(entry.value.reference().clone()).map_err(|e| {
                    let hint = if key == "refresh_token" {
                        format!("; `ferry connect {}` makes one", connection.name.value)
                    } else {
                        String::new()
                    };
                    format!("cannot read `auth.{key}`: {e}{hint}")
                })?;
        }
    }
    Ok(())
}

/// A token store for one check: nothing a run kept is reused (so a
/// revoked refresh token shows), and the token issued is kept to read its
/// `api_domain`.
#[derive(Default)]
struct Issued(std::sync::Mutex<Option<StoredToken>>);

impl TokenStore for Issued {
    fn load(&self, _: &str) -> Option<StoredToken> {
        None
    }
    fn save(&self, _: &str, token: &StoredToken) -> Result<(), String> {
        *self.0.lock().unwrap() = Some(token.clone());
        Ok(())
    }
}

/// A connection opened for checking.
struct Opened {
    connector: Connector,
    issued: Arc<Issued>,
    /// Its API base URL and where that is, for the data-centre check.
    api: Option<Url>,
    place: String,
}

fn open(registry: &ConnectorRegistry, connection: &config::Connection) -> Result<Opened, String> {
    let mut spec = ConnectionSpec::from_config(connection).map_err(|e| e.to_string())?;
    // A check answers soon: few retries, short waits.
    spec.http = HttpSettings {
        max_attempts: 2,
        max_backoff: Duration::from_secs(5),
        ..HttpSettings::default()
    };
    let issued = Arc::new(Issued::default());
    let connector = registry
        .open(&spec, issued.clone())
        .map_err(|e| e.to_string())?;
    let endpoint = registry.manifest(&spec.connector).and_then(|m| {
        let target = spec.target.of(m).ok()?;
        let endpoints = m.endpoints(target).ok()?;
        Some((
            endpoints.base_url.clone(),
            super::connect::place(target, &endpoints),
        ))
    });
    let (api, place) = match endpoint {
        Some((api, place)) => (Some(api), place),
        None => (None, String::new()),
    };
    Ok(Opened {
        connector,
        issued,
        api,
        place,
    })
}

/// What to do about a refused refresh.
fn credential_hint(text: &str, connection: &str) -> Option<String> {
    if text.contains("invalid_code") {
        return Some(format!(
            "the refresh token is wrong or was revoked; get a new one with `ferry connect {connection}`"
        ));
    }
    ["invalid_client_secret", "invalid_client", "Access Denied"]
        .into_iter()
        .find(|code| text.contains(code))
        .map(|code| grant::explain(code).to_string())
}

/// A call's failure, without the plugin's name when the vendor spoke.
fn call_text(e: &CallError) -> String {
    match e {
        CallError::Connector { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// `Zylker (10234695)`, from whichever of the usual fields it has.
fn organisation_name(record: &crate::connector::Record) -> String {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| record.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
    };
    match (
        text(&["name", "company_name"]),
        text(&["organization_id", "id"]),
    ) {
        (Some(n), Some(id)) => format!("{n} ({id})"),
        (Some(n), None) => n,
        (None, Some(id)) => id,
        (None, None) => "found".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_a_sync_or_rule_names_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.yaml");
        std::fs::write(
            &path,
            r#"connections:
  crm: { connector: zoho-crm, sandbox: "http://127.0.0.1:1" }
  books: { connector: zoho-books, sandbox: "http://127.0.0.1:1", settings: { organization_id: "1" } }
syncs:
  customers:
    from: crm.Accounts
    to: books.contacts
    match: { Account_Name: contact_name }
    fields: { contact_name: Account_Name }
triggers:
  invoice-on-won:
    on: crm.Deals
    when: { stage: won }
    create: books.invoices
    fields: { cf_crm_deal_id: id }
  touch:
    on: crm.Contacts
    when: created
    update: { on: books.items, id: "record.id" }
    fields: { name: Last_Name }
"#,
        )
        .unwrap();
        let ws = Workspace::load_with(
            &path,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
        .unwrap_or_else(|d| panic!("{}", d.render_short()));
        let used = modules_used(&ws);
        let names = |c: &str| used[c].iter().cloned().collect::<Vec<_>>();
        assert_eq!(names("crm"), ["Accounts", "Contacts", "Deals"]);
        assert_eq!(names("books"), ["contacts", "invoices", "items"]);
    }

    #[test]
    fn refused_refreshes_say_what_to_do() {
        let hint = credential_hint(
            "no credentials: token refresh for connection `crm` was refused (200): invalid_code",
            "crm",
        )
        .unwrap();
        assert!(hint.contains("ferry connect crm"), "{hint}");
        assert!(
            credential_hint("… refused (200): invalid_client_secret", "crm")
                .unwrap()
                .contains("auth.client_secret")
        );
        assert_eq!(credential_hint("connection refused", "crm"), None);
    }

    #[test]
    fn organisations_are_named_by_name_and_id() {
        let rec = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            organisation_name(&rec(
                serde_json::json!({"name": "Zylker", "organization_id": "1"})
            )),
            "Zylker (1)"
        );
        assert_eq!(
            organisation_name(&rec(
                serde_json::json!({"company_name": "Sandbox CRM Org", "id": "5"})
            )),
            "Sandbox CRM Org (5)"
        );
    }
}
