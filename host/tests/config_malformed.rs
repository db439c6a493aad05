//! The malformed-config corpus: every file under
//! `fixtures/config/malformed/` must fail, and report each problem listed
//! for it in `expectations.txt` at the right line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry::config::{self, LoadOptions, SecretMode, StaticCatalog, Workspace};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// Load and validate `path` against the describe and manifest fixtures,
/// returning every diagnostic in short form.
fn problems(path: &Path) -> (Vec<String>, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let secrets = if text.contains("# mode: resolve") {
        SecretMode::Resolve
    } else {
        SecretMode::Defer
    };
    let (ws, _) = Workspace::load_partial(path, LoadOptions { secrets });
    let (mut catalog, problems) =
        StaticCatalog::from_describe_dir(&fixtures().join("describe"), &ws);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        catalog
            .load_manifests(&fixtures().join("connectors"))
            .is_empty()
    );
    let diags = config::validate(&ws, &catalog);
    // Rendering must never panic, whatever the spans.
    let _ = diags.render(false);
    (
        diags.iter().map(|d| d.short()).collect(),
        diags.error_count(),
    )
}

#[test]
fn every_malformed_config_reports_its_located_messages() {
    let dir = fixtures().join("malformed");
    let mut expected: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("expectations.txt"))
        .unwrap()
        .lines()
    {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let (file, at, msg) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        expected
            .entry(file.to_owned())
            .or_default()
            .push((at.to_owned(), msg.to_owned()));
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let Some(wanted) = expected.get(file) else {
            failures.push(format!("{file}: no entry in expectations.txt"));
            continue;
        };
        let (got, errors) = problems(&dir.join(file));
        if errors == 0 {
            failures.push(format!("{file}: loaded without errors"));
            continue;
        }
        for (at, msg) in wanted {
            let found = got.iter().any(|d| {
                let (loc, rest) = d.split_once(": ").unwrap_or((d, ""));
                loc.ends_with(&format!(":{at}")) && rest.contains(msg.as_str())
            });
            if !found {
                failures.push(format!(
                    "{file}: expected `{at}: …{msg}…`, got:\n    {}",
                    got.join("\n    ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_come_in_one_pass() {
    let (got, errors) = problems(&fixtures().join("malformed/61-many-errors.yaml"));
    assert_eq!(errors, 6, "{got:#?}");
}

#[test]
fn load_str_never_panics_on_odd_input() {
    for text in [
        "",
        "~",
        "[",
        "a: [1, {b: *x}]",
        "connections: {crm: {connector: [1]}}",
        "syncs: {s: {fields: {'a[': b}}}",
        "\u{feff}x: 1",
        "*a",
        "- - - -",
    ] {
        let _ = Workspace::load_str(
            "odd.yaml",
            text,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        );
    }
}

/// Syncs and trigger rules are one namespace: whichever of the two comes
/// second (in reading order, includes included where they stand) is the
/// error, and its hint locates the first.
#[test]
fn a_sync_and_a_trigger_rule_cannot_share_a_name() {
    const CONNECTIONS: &str = "connections:
  crm: { connector: zoho-crm, data_center: com, auth: { refresh_token: env:T } }
  billing: { connector: zoho-billing, data_center: com, settings: { organization_id: \"1\" }, auth: { refresh_token: env:T } }
";
    const SYNC: &str = "syncs:
  invoices:
    from: crm.Deals
    to: billing.invoices
    fields: { customer_id: Account_Name.id }
";
    const TRIGGER: &str = "triggers:
  invoices:
    on: crm.Deals
    when: { field: Stage, becomes: Closed Won }
    create: billing.invoices
    fields: { customer_id: Account_Name.id }
";
    let load = |text: String| {
        Workspace::load_str(
            "ws.yaml",
            &text,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
    };
    let errors = |text: String| -> Vec<String> {
        load(text)
            .expect_err("a shared name must not load")
            .iter()
            .map(|d| d.short())
            .collect()
    };

    // Sync first (key at 5:3), the rule second (key at 10:3).
    let got = errors(format!("{CONNECTIONS}{SYNC}{TRIGGER}"));
    assert_eq!(
        got,
        vec![
            "ws.yaml:10:3: error: trigger `invoices` has the same name as a sync \
             (the sync `invoices` is defined at ws.yaml:5:3; names of syncs and trigger \
             rules must differ, because they share history and state)"
                .to_owned()
        ]
    );

    // The rule first, the sync second.
    let got = errors(format!("{CONNECTIONS}{TRIGGER}{SYNC}"));
    assert_eq!(
        got,
        vec![
            "ws.yaml:11:3: error: sync `invoices` has the same name as a trigger \
             (the trigger `invoices` is defined at ws.yaml:5:3; names of syncs and trigger \
             rules must differ, because they share history and state)"
                .to_owned()
        ]
    );

    // Across files: the error is in the included file, the hint in the first.
    let (_, diags) = Workspace::load_partial(
        fixtures().join("malformed/67-trigger-sync-same-name.yaml"),
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    );
    let shared: Vec<String> = diags
        .iter()
        .map(|d| d.short())
        .filter(|d| d.contains("has the same name as"))
        .collect();
    assert_eq!(shared.len(), 1, "{shared:#?}");
    assert!(
        shared[0].contains("67-trigger-sync-same-name-b.inc:6:3: error: sync `invoices`")
            && shared[0].contains("defined at ")
            && shared[0].contains("67-trigger-sync-same-name.yaml:6:3;"),
        "{}",
        shared[0]
    );

    // Different names load.
    let renamed = TRIGGER.replace("  invoices:", "  invoice-on-won:");
    assert!(load(format!("{CONNECTIONS}{SYNC}{renamed}")).is_ok());
}

/// Every diagnostic of `text`, loaded from a file `ws.yaml` and validated
/// against the fixtures as `ferry validate` does, in short form.
fn problems_of_str(text: &str, secrets: SecretMode) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ws.yaml");
    std::fs::write(&path, text).unwrap();
    let (ws, _) = Workspace::load_partial(&path, LoadOptions { secrets });
    let (mut catalog, problems) =
        StaticCatalog::from_describe_dir(&fixtures().join("describe"), &ws);
    assert!(problems.is_empty(), "{problems:?}");
    catalog.load_manifests(&fixtures().join("connectors"));
    let prefix = format!("{}/", dir.path().display());
    config::validate(&ws, &catalog)
        .iter()
        .map(|d| d.short().replace(&prefix, ""))
        .collect()
}

/// An `auth` block whose secrets cannot be read reports each one at its
/// value, not a missing `auth`; reading them is deferred for offline
/// checks, where only their syntax counts.
#[test]
fn unreadable_auth_secrets_are_not_a_missing_auth() {
    let path = fixtures().join("malformed/68-auth-secrets-unset.yaml");
    let (got, errors) = problems(&path);
    // Two unreadable secrets, each at its value, and the one never written.
    assert_eq!(errors, 3, "{got:#?}");
    assert!(
        got.iter()
            .any(|d| d.contains("lacks `auth.client_secret`") && d.contains("7:7")),
        "{got:#?}"
    );
    assert!(got.iter().all(|d| !d.contains("has no `auth`")), "{got:#?}");

    let text = std::fs::read_to_string(&path).unwrap();
    let deferred = problems_of_str(&text, SecretMode::Defer);
    // Deferred, only the secret never written is an error.
    assert!(
        deferred
            .iter()
            .filter(|d| d.contains("error"))
            .all(|d| d.contains("lacks `auth.client_secret`")),
        "{deferred:#?}"
    );

    // Inline secrets are reported where written, not as a missing `auth`.
    let inline = problems_of_str(
        "connections:\n  crm: { connector: zoho-crm, data_center: com, auth: { refresh_token: hunter2, client_id: env:I, client_secret: env:S } }\n",
        SecretMode::Defer,
    );
    assert_eq!(inline.len(), 1, "{inline:#?}");
    assert!(
        inline[0].starts_with("ws.yaml:2:72: error: `auth.refresh_token`: secrets are written as"),
        "{inline:#?}"
    );

    // With no `auth` at all, it is missing.
    let none = problems_of_str(
        "connections:\n  crm: { connector: zoho-crm, data_center: com }\n",
        SecretMode::Resolve,
    );
    assert!(
        none.iter()
            .any(|d| d.starts_with("ws.yaml:2:3: error: connection `crm` has no `auth`")),
        "{none:#?}"
    );
}

/// A byte-order mark is not YAML: a workspace saved with one loads, and
/// columns on its first line are counted without it.
#[test]
fn a_byte_order_mark_is_ignored() {
    const VALID: &str = "\u{feff}version: 1
connections:
  crm: { connector: zoho-crm, data_center: com, auth: { client_id: env:T, client_secret: env:T, refresh_token: env:T } }
";
    let ws = Workspace::load_str(
        "ws.yaml",
        VALID,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));
    assert!(ws.connections.contains_key("crm"));
    assert!(problems_of_str(VALID, SecretMode::Defer).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ws.yaml");
    std::fs::write(&path, VALID).unwrap();
    Workspace::load_with(
        &path,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));

    let got = problems_of_str("\u{feff}conections: {}\n", SecretMode::Defer);
    assert!(
        got[0].starts_with("ws.yaml:1:1: error: unknown key `conections` in"),
        "{got:#?}"
    );
}

/// A workspace file with nothing in it is an error; an empty included
/// file only adds nothing.
#[test]
fn an_empty_workspace_is_an_error() {
    for text in [
        "",
        " \n\n",
        "# nothing yet\n",
        "\u{feff}",
        "~\n",
        "{}\n",
        "---\n",
    ] {
        let got = problems_of_str(text, SecretMode::Defer);
        assert_eq!(
            got,
            vec![
                "ws.yaml:1:1: error: the workspace is empty: expected `version:` and \
                 `connections:` (a workspace names its `connections`, then the `syncs` \
                 and `triggers` between them; see docs/config.md)"
                    .to_owned()
            ],
            "{text:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("later.yaml"), "# to do\n").unwrap();
    std::fs::write(
        dir.path().join("ws.yaml"),
        "include: later.yaml\nconnections:\n  crm: { connector: zoho-crm, data_center: com, auth: { refresh_token: env:T } }\n",
    )
    .unwrap();
    let (_, diags) = Workspace::load_partial(
        dir.path().join("ws.yaml"),
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    );
    assert!(!diags.has_errors(), "{}", diags.render(false));
    let warnings: Vec<String> = diags.iter().map(|d| d.short()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("later.yaml:1:1: warning: included file")
            && warnings[0].contains("is empty"),
        "{warnings:#?}"
    );
}
