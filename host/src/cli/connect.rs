//! `ferry connect <connection>`: get a connection's refresh token from
//! Zoho — a grant code pasted from the API console's self client, or the
//! browser flow with a one-shot listener on 127.0.0.1 — exchange it at the
//! data centre's accounts server, make sure the account lives in the data
//! centre the connection names, and keep the token in a `file:` secret.
//!
//! The token itself is never printed: only where it is, and the line that
//! makes the workspace read it.

use std::collections::BTreeSet;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use url::Url;

use super::loopback::Listener;
use super::secret_file::{self, Choice};
use super::sync::{self as cli_sync, RunArgs};
use super::{bundle, safe};
use crate::capability::grant::{self, CodeExchange};
use crate::capability::policy::is_loopback_host;
use crate::capability::{AllowedHosts, HostPattern, HttpCapability, HttpConfig, HttpSettings};
use crate::config::{self, LoadOptions, SecretMode, SecretRef, Workspace};
use crate::connection::TargetSpec;
use crate::connector::{AuthScheme, Manifest, Target};
use crate::secret::Secret;

/// Parameters of the authorisation page beyond the standard ones: a
/// refresh token is issued only for offline access, and a consent page
/// each time makes Zoho issue a new one. Zoho's reference does not confirm
/// these (see "Connecting" in docs/config.md).
const AUTHORIZE_PARAMS: &[(&str, &str)] = &[("access_type", "offline"), ("prompt", "consent")];

/// How scopes are joined in the authorisation address (Zoho: commas).
const SCOPE_SEPARATOR: &str = ",";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArgs,
    /// The connection (a name under `connections:`).
    pub connection: String,
    /// A grant code from Zoho's API console (Self Client → Generate Code);
    /// `-` reads it from standard input.
    #[arg(long, conflicts_with = "browser")]
    pub code: Option<String>,
    /// Sign in with a browser: Ferry prints the address to open and waits
    /// on 127.0.0.1 for Zoho to send the browser back.
    #[arg(long)]
    pub browser: bool,
    /// Port of the browser flow's listener (0: a free one). Zoho compares
    /// redirect URIs exactly: register `http://127.0.0.1:<port>/callback`
    /// for the client and give that port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// How long the browser flow waits for the sign-in.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Write the refresh token here (default: the file the connection's
    /// `auth.refresh_token` names, else `<state>/secrets/<connection>.refresh-token`).
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Replace the secret file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Scopes to ask for instead of the connector's (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub scope: Vec<String>,
}

pub fn run(args: Args) -> ExitCode {
    cli_sync::exit(cli_sync::runtime().and_then(|rt| rt.block_on(connect(args))))
}

/// Everything decided before a grant code is spent.
struct Plan {
    connection: String,
    connector: String,
    /// `data centre `eu`` or `sandbox `http://…``, for messages.
    place: String,
    accounts: Url,
    token_url: Url,
    authorize_url: Option<Url>,
    /// The API origin the account must be served from.
    api: Url,
    scopes: Vec<String>,
    client_id: Secret,
    client_secret: Secret,
    allowed_hosts: AllowedHosts,
    secret: Choice,
    /// `--sandbox` over a data-centre connection: its own `auth` is left
    /// behind, as by every command.
    own_auth: bool,
}

async fn connect(args: Args) -> anyhow::Result<ExitCode> {
    let ws = Workspace::load_with(
        &args.run.workspace,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .map_err(|d| safe::Rendered(safe::diagnostics(&d, std::io::stderr().is_terminal())))?;
    let connection = super::sync::connection_named(&ws, &args.connection, &args.run.workspace)?;
    let manifest = manifest_named(args.run.connectors.as_deref(), &connection.connector.value)?;
    let plan = plan(&args, connection, &manifest)?;
    secret_file::ensure_free(plan.secret.path(), args.force)?;

    let (code, redirect_uri) = obtain_code(&args, &plan, &manifest).await?;
    let http = HttpCapability::new(
        HttpConfig {
            base_url: plan.accounts.clone(),
            allowed_hosts: plan.allowed_hosts.clone(),
            requests_per_minute: None,
            requests_per_second: None,
            concurrency: 1,
            settings: HttpSettings::default(),
            dns_overrides: Default::default(),
        },
        None,
    )?;
    let granted = grant::exchange(
        &http,
        &CodeExchange {
            connection: plan.connection.clone(),
            token_url: plan.token_url.clone(),
            client_id: plan.client_id.clone(),
            client_secret: plan.client_secret.clone(),
            code,
            redirect_uri,
        },
    )
    .await?;
    match &granted.api_domain {
        Some(domain) if !same_origin(domain, &plan.api) => {
            bail!(
                "{}; nothing was written",
                mismatch(
                    &plan.connection,
                    &plan.place,
                    &manifest,
                    &plan.api,
                    "api_domain",
                    domain,
                    |dc| Some(&dc.api)
                )
            )
        }
        Some(_) => {}
        None => eprintln!(
            "warning: {} named no api_domain; the data centre could not be checked",
            plan.accounts
        ),
    }
    let path = plan.secret.path();
    let replaced = secret_file::write(path, granted.refresh_token.expose(), args.force)?;
    report(&args, &ws, connection, &plan, replaced)?;
    Ok(ExitCode::SUCCESS)
}

/// The manifest `name` among the carried and `--connectors` ones.
fn manifest_named(user: Option<&Path>, name: &str) -> anyhow::Result<Manifest> {
    if let Some(why) = bundle::missing(user) {
        bail!("{why}");
    }
    let mut known = BTreeSet::new();
    let mut found = None;
    for dir in bundle::manifest_dirs(user) {
        for m in Manifest::load_dir(&dir)? {
            known.insert(m.name.clone());
            if m.name == name {
                found = Some(m);
            }
        }
    }
    found.ok_or_else(|| {
        anyhow!(
            "no connector manifest named `{name}`; known: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

fn plan(args: &Args, connection: &config::Connection, manifest: &Manifest) -> anyhow::Result<Plan> {
    let name = &connection.name.value;
    let Some(AuthScheme::Oauth2RefreshToken {
        token_path,
        authorize_path,
        scopes,
        ..
    }) = &manifest.auth
    else {
        bail!(
            "connection `{name}` ({}) takes no OAuth credentials: there is nothing to connect",
            manifest.name
        );
    };
    if let Some(url) = &args.run.sandbox {
        Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .with_context(|| format!("`--sandbox {url}` is not an http(s) URL"))?;
    }
    let to_sandbox = matches!(connection.endpoint, config::Endpoint::Sandbox(_));
    let spec = match (&args.run.sandbox, &connection.endpoint) {
        (Some(url), _) => TargetSpec::Sandbox(Some(url.clone())),
        (None, config::Endpoint::DataCenter(dc)) => TargetSpec::DataCenter(dc.value.clone()),
        (None, config::Endpoint::Sandbox(url)) => TargetSpec::Sandbox(Some(url.value.clone())),
        (None, config::Endpoint::Default) => bail!("{}", no_data_centre(name, manifest)),
    };
    let target = spec
        .of(manifest)
        .map_err(|e| anyhow!("connection `{name}`: {e}"))?;
    let endpoints = manifest
        .endpoints(target)
        .map_err(|e| anyhow!("connection `{name}`: {e}"))?;
    let place = place(target, &endpoints);
    let accounts = endpoints
        .accounts
        .clone()
        .with_context(|| format!("connection `{name}`: its {place} has no accounts server"))?;
    let join = |path: &str| {
        accounts
            .join(path)
            .with_context(|| format!("connector `{}`: path `{path}`", manifest.name))
    };
    // `--sandbox` leaves a data-centre connection's own credentials behind
    // (they never go to a sandbox), as every other command does.
    let own_auth = args.run.sandbox.is_none() || to_sandbox;
    let (client_id, client_secret) = client(connection, manifest, own_auth, &place)?;
    let secret = secret_file::choose(
        args.secret_file.as_deref(),
        own_auth
            .then(|| connection.auth.get("refresh_token"))
            .flatten()
            .map(|s| s.value.reference()),
        &args.run.state_dir(),
        name,
    );
    let workspace_hosts = connection
        .allowed_hosts
        .as_ref()
        .map(|hosts| hosts.iter().map(|h| HostPattern::new(h)).collect());
    Ok(Plan {
        connection: name.clone(),
        connector: manifest.name.clone(),
        place,
        token_url: join(token_path)?,
        authorize_url: authorize_path.as_deref().map(join).transpose()?,
        api: endpoints.base_url.clone(),
        accounts,
        scopes: if args.scope.is_empty() {
            scopes.clone()
        } else {
            args.scope.clone()
        },
        client_id,
        client_secret,
        allowed_hosts: AllowedHosts::new(
            endpoints
                .allowed_hosts
                .iter()
                .map(|h| HostPattern::new(h))
                .collect(),
            workspace_hosts,
        ),
        secret,
        own_auth,
    })
}

/// A connection that names no data centre is not guessed at: the account
/// lives in one, and a code is good only at its accounts server.
pub(super) fn no_data_centre(connection: &str, manifest: &Manifest) -> String {
    format!(
        "connection `{connection}` names no data centre: add `data_center:` ({}), the one the Zoho account is in, or `sandbox: <url>`",
        manifest
            .data_centers
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The OAuth client: the connection's `auth.client_id` and
/// `auth.client_secret`, or a sandbox's own test client.
fn client(
    connection: &config::Connection,
    manifest: &Manifest,
    own_auth: bool,
    place: &str,
) -> anyhow::Result<(Secret, Secret)> {
    let name = &connection.name.value;
    let written = |key: &str| own_auth.then(|| connection.auth.get(key)).flatten();
    if written("client_id").is_some() || written("client_secret").is_some() {
        let read = |key: &str| -> anyhow::Result<Secret> {
            let entry = written(key).with_context(|| {
                format!("connection `{name}` has no `auth.{key}`; add it (from Zoho's API console)")
            })?;
            let secret = config::Secret::resolve(entry.value.reference().clone())
                .map_err(|e| anyhow!("connection `{name}`: `auth.{key}`: {e}"))?;
            Ok(Secret::new(secret.expose().unwrap_or_default()))
        };
        return Ok((read("client_id")?, read("client_secret")?));
    }
    if place.starts_with("sandbox")
        && let Some(c) = manifest.sandbox.as_ref().and_then(|s| s.client.as_ref())
        && let (Some(id), Some(secret)) = (c.get("client_id"), c.get("client_secret"))
    {
        return Ok((Secret::new(id), Secret::new(secret)));
    }
    bail!(
        "connection `{name}` has no `auth.client_id` and `auth.client_secret`: make a client in Zoho's API console (a Self Client, or a Server-based application for `--browser`) and add `auth: {{ client_id: env:ZOHO_CLIENT_ID, client_secret: env:ZOHO_CLIENT_SECRET }}` to the connection"
    )
}

/// The grant code, pasted or from the browser flow, and the redirect URI
/// it was made for (none for a pasted one).
async fn obtain_code(
    args: &Args,
    plan: &Plan,
    manifest: &Manifest,
) -> anyhow::Result<(Secret, Option<String>)> {
    let interactive = std::io::stdin().is_terminal();
    let code = match (&args.code, args.browser) {
        (Some(code), _) if code == "-" => Some(read_code(plan, interactive)?),
        (Some(code), _) => Some(code.trim().to_string()),
        (None, true) => None,
        (None, false) if interactive => {
            let pasted = read_code(plan, true)?;
            (!pasted.is_empty()).then_some(pasted)
        }
        (None, false) => bail!(
            "give `--code <grant code>` (Zoho's API console → Self Client → Generate Code), `--code -` to read it from standard input, or `--browser`"
        ),
    };
    match code {
        Some(code) if code.is_empty() => bail!("the grant code is empty"),
        Some(code) => Ok((Secret::new(code), None)),
        None => browser_flow(args, plan, manifest).await,
    }
}

/// One line from standard input; on a terminal, with instructions.
fn read_code(plan: &Plan, prompt: bool) -> anyhow::Result<String> {
    if prompt {
        let mut err = std::io::stderr();
        writeln!(
            err,
            "Connect `{}` ({}, {}).",
            plan.connection, plan.connector, plan.place
        )?;
        if let Some(console) = console_url(&plan.accounts) {
            writeln!(
                err,
                "In Zoho's API console ({console}): Self Client → Generate Code"
            )?;
        } else {
            writeln!(err, "Make a grant code for the client")?;
        }
        writeln!(err, "with the scopes {}", plan.scopes.join(SCOPE_SEPARATOR))?;
        writeln!(
            err,
            "and paste it here (Enter alone signs in with a browser instead)."
        )?;
        write!(err, "Grant code: ")?;
        err.flush()?;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Zoho's API console of the data centre whose accounts server this is
/// (`accounts.zoho.eu` → `api-console.zoho.eu`).
fn console_url(accounts: &Url) -> Option<String> {
    let host = accounts.host_str()?.strip_prefix("accounts.")?;
    Some(format!("https://api-console.{host}"))
}

async fn browser_flow(
    args: &Args,
    plan: &Plan,
    manifest: &Manifest,
) -> anyhow::Result<(Secret, Option<String>)> {
    let Some(authorize) = &plan.authorize_url else {
        bail!(
            "connector `{}` offers no browser sign-in; paste a grant code with `--code`",
            plan.connector
        );
    };
    let listener = Listener::bind(args.port).await?;
    let redirect = listener.redirect_uri();
    let state = hex::encode(rand::random::<[u8; 16]>());
    let mut url = authorize.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", plan.client_id.expose())
            .append_pair("scope", &plan.scopes.join(SCOPE_SEPARATOR))
            .append_pair("redirect_uri", &redirect);
        for (key, value) in AUTHORIZE_PARAMS {
            query.append_pair(key, value);
        }
        query.append_pair("state", &state);
    }
    println!(
        "Open this address in a browser and allow access for `{}` ({}):\n\n  {url}\n\nZoho sends the browser back only to a redirect URI registered for the client: {redirect} must be one (`--port` picks the port).\nWaiting for the browser to come back (up to {}) …",
        plan.connection,
        plan.place,
        humantime::format_duration(args.timeout)
    );
    std::io::stdout().flush()?;
    let callback = listener.wait(&state, args.timeout).await.map_err(|e| {
        anyhow!(
            "connection `{}`: {e}; run `ferry connect {} --browser` again, or paste a grant code with `--code`",
            plan.connection,
            plan.connection
        )
    })?;
    // Zoho sends the browser back from the accounts server of the data
    // centre the account lives in.
    if let Some(server) = &callback.accounts_server
        && !same_origin(server, &plan.accounts)
    {
        bail!(
            "{}; nothing was written",
            mismatch(
                &plan.connection,
                &plan.place,
                manifest,
                &plan.accounts,
                "accounts-server",
                server,
                |dc| { dc.accounts.as_ref() }
            )
        );
    }
    Ok((Secret::new(callback.code), Some(redirect)))
}

/// Where a connection points, for messages: "data centre `eu`" or
/// "sandbox `http://127.0.0.1:8900`".
pub(super) fn place(target: Target<'_>, endpoints: &crate::connector::Endpoints) -> String {
    match target {
        Target::DataCenter(dc) => format!("data centre `{dc}`"),
        Target::Sandbox(_) => format!(
            "sandbox `{}`",
            endpoints.base_url.origin().ascii_serialization()
        ),
    }
}

/// Whether `text` names the same origin as `expected` (loopback names
/// count as one host).
pub(super) fn same_origin(text: &str, expected: &Url) -> bool {
    let Ok(url) = Url::parse(text.trim()) else {
        return false;
    };
    let host = |u: &Url| {
        u.host_str().map(|h| {
            if is_loopback_host(h) {
                "loopback".to_string()
            } else {
                h.to_ascii_lowercase()
            }
        })
    };
    url.scheme() == expected.scheme()
        && host(&url) == host(expected)
        && url.port_or_known_default() == expected.port_or_known_default()
}

/// "Set to X, but Zoho answered Y": both named, and the data centre of Y
/// when the manifest knows it.
pub(super) fn mismatch(
    connection: &str,
    place: &str,
    manifest: &Manifest,
    configured: &Url,
    what: &str,
    answered: &str,
    origin_of: impl Fn(&crate::connector::DataCenter) -> Option<&String>,
) -> String {
    let theirs = manifest
        .data_centers
        .iter()
        .find(|(_, dc)| {
            origin_of(dc)
                .and_then(|o| Url::parse(o).ok())
                .is_some_and(|u| same_origin(answered, &u))
        })
        .map(|(name, _)| name.clone());
    let fix = match &theirs {
        Some(dc) => format!(
            "set `data_center: {dc}` on the connection (with a client made in that data centre's API console), or use an account of the configured one"
        ),
        None => "point the connection at the account's data centre, or use an account of the configured one".into(),
    };
    let origin = configured.origin().ascii_serialization();
    let shown = if place.contains(&origin) {
        String::new()
    } else {
        format!(" (`{origin}`)")
    };
    format!(
        "connection `{connection}` is set to {place}{shown}, but Zoho answered with {what} `{}`{}: the account lives in another data centre; {fix}",
        safe::line(answered),
        theirs
            .map(|dc| format!(" (data centre `{dc}`)"))
            .unwrap_or_default(),
    )
}

/// What was done, and the line that makes the workspace read the token.
fn report(
    args: &Args,
    ws: &Workspace,
    connection: &config::Connection,
    plan: &Plan,
    replaced: bool,
) -> anyhow::Result<()> {
    let path = plan.secret.path();
    let ws_dir = args
        .run
        .workspace
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let reference = secret_file::reference(path, ws_dir)?;
    let line = secret_file::yaml_line("refresh_token", &reference);
    let already = matches!(
        connection.auth.get("refresh_token").map(|s| s.value.reference()),
        Some(SecretRef::File(p)) if std::path::absolute(p).ok() == std::path::absolute(path).ok()
    );
    println!(
        "Connected `{}` ({}, {}).",
        plan.connection, plan.connector, plan.place
    );
    println!(
        "{} the refresh token {} {} (mode 0600; keep it private).",
        if replaced { "Replaced" } else { "Wrote" },
        if replaced { "in" } else { "to" },
        path.display()
    );
    if already {
        println!("The workspace already reads it:\n\n    {line}\n");
    } else {
        println!(
            "Put this line in the `auth:` block of connection `{}` in {}:\n\n    {line}\n",
            plan.connection,
            ws.path.display()
        );
    }
    if !plan.own_auth {
        println!(
            "Note: with `--sandbox`, commands leave a data-centre connection's `auth` behind and use the sandbox's own test client; this token serves a connection written `sandbox: <url>`."
        );
    }
    let workspace = match args.run.workspace.to_str() {
        Some("workspace.yaml") | None => String::new(),
        Some(w) => format!(" -w {w}"),
    };
    println!("Then check it: ferry check {}{workspace}", plan.connection);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let com = Url::parse("https://www.zohoapis.com/crm/v8").unwrap();
        assert!(same_origin("https://www.zohoapis.com", &com));
        assert!(same_origin("https://WWW.zohoapis.com:443/", &com));
        assert!(!same_origin("https://www.zohoapis.eu", &com));
        assert!(!same_origin("http://www.zohoapis.com", &com));
        assert!(!same_origin("not a url", &com));
        let local = Url::parse("http://127.0.0.1:8900").unwrap();
        assert!(same_origin("http://localhost:8900", &local));
        assert!(!same_origin("http://127.0.0.1:8901", &local));
    }

    #[test]
    fn the_console_is_the_accounts_servers_sibling() {
        let eu = Url::parse("https://accounts.zoho.eu").unwrap();
        assert_eq!(
            console_url(&eu).as_deref(),
            Some("https://api-console.zoho.eu")
        );
        assert_eq!(
            console_url(&Url::parse("http://127.0.0.1:1").unwrap()),
            None
        );
    }
}
