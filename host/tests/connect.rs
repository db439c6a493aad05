//! `ferry connect` and `ferry check` as a user meets them: the binary
//! against the sandbox, with a grant code pasted from a "self client" and
//! with the browser flow on loopback, driven here by an HTTP client.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::bench::Bench;
use zoho_sandbox::Sandbox;

/// The line the workspace's `auth:` block is missing until `ferry connect`.
const TOKEN_LINE: &str = "      #refresh_token#\n";

/// A workspace against `sb`: `crm` has its client but no refresh token
/// yet; `books` is complete (the sandbox's own refresh token).
fn workspace(sb: &Sandbox, crm_settings: &str, syncs: &str) -> Bench {
    let base = sb.base_url();
    let yaml = format!(
        r#"version: 1
connections:
  crm:
    connector: zoho-crm
    sandbox: {base}
    rate_limit: off
    settings: {{ {crm_settings} }}
    auth:
      client_id: file:secrets/id
      client_secret: file:secrets/secret
{TOKEN_LINE}  books:
    connector: zoho-books
    sandbox: {base}
    rate_limit: off
    settings: {{ organization_id: "10234695" }}
    auth: {{ client_id: file:secrets/id, client_secret: file:secrets/secret, refresh_token: file:secrets/refresh }}
{syncs}"#
    );
    let bench = Bench::custom(&yaml, support::repo_root().join("connectors"));
    let creds = sb.client_credentials();
    std::fs::create_dir_all(bench.dir().join("secrets")).unwrap();
    for (name, value) in [
        ("id", &creds.client_id),
        ("secret", &creds.client_secret),
        ("refresh", &creds.refresh_token),
    ] {
        std::fs::write(bench.dir().join("secrets").join(name), value).unwrap();
    }
    bench
}

const CUSTOMERS: &str = r#"syncs:
  customers:
    from: crm.Accounts
    to: books.contacts
    match: { Account_Name: contact_name }
    fields: { contact_name: Account_Name }
"#;

fn output(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether a line of `text` holds `parts` in this order.
fn has_line(text: &str, parts: &[&str]) -> bool {
    text.lines().any(|line| {
        let mut rest = line;
        parts.iter().all(|p| match rest.find(p) {
            Some(i) => {
                rest = &rest[i + p.len()..];
                true
            }
            None => false,
        })
    })
}

/// The `refresh_token: file:…` line `ferry connect` printed.
fn printed_line(said: &str) -> String {
    said.lines()
        .map(str::trim)
        .find(|l| l.starts_with("refresh_token: file:"))
        .unwrap_or_else(|| panic!("no refresh_token line in:\n{said}"))
        .to_string()
}

/// Put the printed line into the workspace.
fn adopt(bench: &Bench, line: &str) {
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap();
    assert!(yaml.contains(TOKEN_LINE));
    std::fs::write(
        bench.workspace(),
        yaml.replace(TOKEN_LINE, &format!("      {line}\n")),
    )
    .unwrap();
}

fn secret_path(bench: &Bench, line: &str) -> PathBuf {
    bench
        .dir()
        .join(line.trim_start_matches("refresh_token: file:"))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pasted_code_connects_and_the_printed_line_checks() {
    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    let bench = workspace(&sb, "", CUSTOMERS);
    let code = sb.grant_code(Duration::from_secs(180));

    let (status, said, err) = output(bench.ferry(&["connect", "crm", "--code", &code]));
    assert_eq!(status, Some(0), "{said}{err}");
    let line = printed_line(&said);
    assert_eq!(line, "refresh_token: file:state/secrets/crm.refresh-token");
    let file = secret_path(&bench, &line);
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(token.trim().starts_with("1000."), "{token}");
    assert!(
        !said.contains(token.trim()) && !err.contains(token.trim()),
        "the token was printed: {said}{err}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert!(said.contains("ferry check crm"), "{said}");

    // The printed line, put in the workspace, works.
    adopt(&bench, &line);
    let (status, said, err) = output(bench.ferry(&["check"]));
    assert_eq!(status, Some(0), "{said}{err}");
    for expected in [
        &["ok", "crm", "credentials"][..],
        &["ok", "crm", "organisation", "Sandbox CRM Org"],
        &["ok", "crm", "module Accounts", "readable"],
        &["ok", "books", "organisation", "10234695"],
        &["ok", "books", "module contacts"],
        &["ok", "crm", "describe", "modules"],
        &["all 8 checks passed"],
    ] {
        assert!(
            has_line(&said, expected),
            "{expected:?} missing from:\n{said}"
        );
    }
    // And a run uses it.
    let (status, said, err) = output(bench.ferry(&["sync", "run", "customers"]));
    assert_eq!(status, Some(0), "{said}{err}");

    // Connecting again never overwrites silently, and refuses before the
    // code is spent.
    let fresh = sb.grant_code(Duration::from_secs(180));
    let (status, said, err) = output(bench.ferry(&["connect", "crm", "--code", &fresh]));
    assert_eq!(status, Some(1), "{said}{err}");
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), token);

    // A used code is refused, clearly, and the file is left alone.
    let (status, said, err) = output(bench.ferry(&["connect", "crm", "--code", &code, "--force"]));
    assert_eq!(status, Some(1), "{said}{err}");
    assert!(
        err.contains("refused the grant code (`invalid_code`)")
            && err.contains("already used or expired"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), token);

    // With `--force` and a good code the file is replaced; the workspace
    // already reads it.
    let (status, said, err) = output(bench.ferry(&["connect", "crm", "--code", &fresh, "--force"]));
    assert_eq!(status, Some(0), "{said}{err}");
    assert!(
        said.contains("Replaced") && said.contains("already reads it"),
        "{said}"
    );
    assert_ne!(std::fs::read_to_string(&file).unwrap(), token);

    // Revoked in Zoho: `check` names the credentials and what to do.
    let current = std::fs::read_to_string(&file).unwrap();
    assert!(sb.revoke_refresh_token(current.trim()));
    let (status, said, err) = output(bench.ferry(&["check", "crm", "--json"]));
    assert_eq!(status, Some(1), "{said}{err}");
    let report: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(report["ok"], false);
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks[0]["check"], "credentials");
    assert_eq!(checks[0]["status"], "fail");
    let detail = checks[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("invalid_code") && detail.contains("ferry connect crm"),
        "{detail}"
    );
    assert!(
        checks[1..].iter().all(|c| c["status"] == "skip"),
        "{checks:?}"
    );
    // `check crm` checks crm only.
    assert!(checks.iter().all(|c| c["connection"] == "crm"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_code_or_another_data_centre_writes_nothing() {
    let sb = Sandbox::builder().start().await.unwrap();
    let bench = workspace(&sb, "", "");
    let secret = bench.state().join("secrets/crm.refresh-token");

    let (status, said, err) = output(bench.ferry(&["connect", "crm", "--code", "1000.nonsense"]));
    assert_eq!(status, Some(1), "{said}{err}");
    assert!(
        err.contains("connection `crm`") && err.contains("`invalid_code`"),
        "{err}"
    );
    assert!(!secret.exists());

    // An account in the EU data centre, a connection set elsewhere: both
    // named, and the data centre to set.
    sb.set_api_domain(Some("https://www.zohoapis.eu"));
    let code = sb.grant_code(Duration::from_secs(180));
    let (status, said, err) = output(bench.ferry(&["connect", "crm", "--code", &code]));
    assert_eq!(status, Some(1), "{said}{err}");
    assert!(
        err.contains(&format!("`{}`", sb.base_url()))
            && err.contains("api_domain `https://www.zohoapis.eu`")
            && err.contains("data_center: eu")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!secret.exists());
    // `check` finds the same mismatch with a refresh token made there.
    let (status, said, err) = output(bench.ferry(&["check", "books"]));
    assert_eq!(status, Some(1), "{said}{err}");
    assert!(
        has_line(
            &said,
            &[
                "FAIL",
                "books",
                "credentials",
                "api_domain `https://www.zohoapis.eu`",
                "data_center: eu"
            ]
        ),
        "{said}"
    );
    sb.set_api_domain(None);
    let (status, said, err) = output(bench.ferry(&["check", "books"]));
    assert_eq!(status, Some(0), "{said}{err}");

    // No code and no terminal: say how to give one.
    let (status, _, err) = output(bench.ferry(&["connect", "crm"]));
    assert_eq!(status, Some(1));
    assert!(err.contains("--code") && err.contains("--browser"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_flow_connects_through_a_loopback_redirect() {
    zoho_sandbox::install_crypto_provider();
    let sb = Sandbox::builder().seed(1).start().await.unwrap();
    let bench = workspace(&sb, "", CUSTOMERS);
    let mut child = bench
        .ferry(&["connect", "crm", "--browser", "--timeout", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ferry prints the address to open; read it as it comes.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.contains("/oauth/v2/auth?") {
                tx.send(line.trim().to_string()).unwrap();
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("ferry printed no authorisation address");
    assert!(url.starts_with(&sb.base_url()), "{url}");
    for param in [
        "response_type=code",
        "access_type=offline",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
        "scope=ZohoCRM.modules.ALL",
        "state=",
    ] {
        assert!(url.contains(param), "`{param}` missing from {url}");
    }
    // The "browser": follows the consent page's redirect to Ferry.
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.url().as_str().starts_with("http://127.0.0.1:"));
    let text = page.text().await.unwrap();
    assert!(text.contains("Ferry received the grant code"), "{text}");

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let said = reader.join().unwrap();
    assert!(status.success(), "{said}");
    let line = printed_line(&said);
    #[cfg(unix)]
    assert_eq!(mode(&secret_path(&bench, &line)), 0o600);
    adopt(&bench, &line);
    let (status, said, err) = output(bench.ferry(&["check", "crm"]));
    assert_eq!(status, Some(0), "{said}{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_a_module_the_organisation_lacks() {
    let sb = Sandbox::builder().seed(1).start().await.unwrap();
    // CRM has no Vendors module in this organisation.
    let bench = workspace(
        &sb,
        "modules: [Vendors]",
        r#"syncs:
  vendors:
    from: crm.Vendors
    to: books.contacts
    match: { Vendor_Name: contact_name }
    fields: { contact_name: Vendor_Name }
"#,
    );
    let creds = sb.client_credentials();
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap();
    std::fs::write(
        bench.workspace(),
        yaml.replace(TOKEN_LINE, "      refresh_token: file:secrets/refresh\n"),
    )
    .unwrap();
    assert!(!creds.refresh_token.is_empty());
    let (status, said, err) = output(bench.ferry(&["check"]));
    assert_eq!(status, Some(1), "{said}{err}");
    assert!(
        has_line(&said, &["FAIL", "crm", "module Vendors", "INVALID_MODULE"]),
        "{said}"
    );
    // The connector cannot describe itself either: every run would stop.
    assert!(
        has_line(&said, &["FAIL", "crm", "describe", "INVALID_MODULE"]),
        "{said}"
    );
    assert!(
        has_line(&said, &["ok", "books", "module contacts"]),
        "{said}"
    );
    assert!(said.contains("2 of 8 checks failed"), "{said}");
}
