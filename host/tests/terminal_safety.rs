//! Text a plugin or a vendor wrote never reaches the operator's terminal
//! raw: the hostile plugin puts escape sequences (clear the screen, set the
//! window title, a colour, a carriage return that forges a line) in record
//! ids, names, an error message and its `describe` output, and every human
//! output of `ferry` shows them escaped. JSON output stays exact.

mod support;

use std::process::{Output, Stdio};

use support::bench::Bench;
use zoho_sandbox::Sandbox;

/// What the hostile plugin writes (see `tests/plugins/hostile`).
const ESCAPES: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}[31mred\rFORGED";
/// The same, as `ferry` shows it.
const SHOWN: &str = "\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mred\\rFORGED";

fn workspace(sb: &Sandbox) -> Bench {
    let base = sb.base_url();
    let yaml = format!(
        r#"version: 1
connections:
  hostile:
    connector: hostile
    sandbox: {base}
    rate_limit: off
  well:
    connector: well-behaved
    sandbox: {base}
    rate_limit: off
syncs:
  escapes:
    from: hostile.escapes
    to: well.items
    fields:
      name: name
  escapes_error:
    from: hostile.escapes-error
    to: well.items
    fields:
      name: name
"#
    );
    Bench::custom(
        &yaml,
        support::repo_root().join("host/tests/fixtures/connectors"),
    )
}

/// Both streams, for messages.
fn both(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No byte that starts or ends a terminal control sequence or moves the
/// cursor back, on either stream; and no C1 control or bidi override.
#[track_caller]
fn assert_safe(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        for (byte, name) in [(0x1b, "ESC"), (0x07, "BEL"), (0x0d, "CR"), (0x08, "BS")] {
            assert!(
                !bytes.contains(&byte),
                "{what}: raw {name} on {stream}\n{}",
                both(out)
            );
        }
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text
                .chars()
                .any(|c| ('\u{80}'..='\u{9f}').contains(&c)
                    || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{what}: raw C1 or bidi control on {stream}\n{}",
            both(out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_text_is_escaped_in_human_output_and_exact_in_json() {
    let sb = Sandbox::builder().start().await.unwrap();
    let bench = workspace(&sb);
    // NO_COLOR: the log's own colours would be escape sequences too; with
    // them off, any escape sequence left came from the plugin.
    let run = |args: &[&str]| {
        bench
            .ferry(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    // A sync whose record id and name are hostile: it succeeds, and a dry
    // run lists the rows with the id escaped.
    let preview = run(&["sync", "run", "escapes", "--dry-run"]);
    assert!(preview.status.success(), "{}", both(&preview));
    assert!(
        String::from_utf8_lossy(&preview.stdout)
            .contains("escapes preview (nothing written): would add 1"),
        "{}",
        both(&preview)
    );
    assert_safe("sync run --dry-run", &preview);
    assert!(
        String::from_utf8_lossy(&preview.stdout).contains(&format!("r1{SHOWN}")),
        "{}",
        both(&preview)
    );
    let synced = run(&["sync", "run", "escapes"]);
    assert!(synced.status.success(), "{}", both(&synced));
    assert_safe("sync run", &synced);

    // A sync whose source fails with a hostile, two-line message: the run
    // fails, and the message is shown escaped with its line break kept.
    let failed = run(&["sync", "run", "escapes_error"]);
    assert!(!failed.status.success(), "{}", both(&failed));
    assert_safe("sync run (failing)", &failed);
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains(&format!("bad {SHOWN}")), "{}", both(&failed));
    assert!(err.contains("second line"), "{}", both(&failed));

    // History: the runs, a failed run's reason, a run's ledger.
    let runs = run(&["history", "escapes"]);
    assert!(runs.status.success(), "{}", both(&runs));
    assert_safe("history", &runs);
    let runs_failed = run(&["history", "escapes_error"]);
    assert!(runs_failed.status.success(), "{}", both(&runs_failed));
    assert_safe("history (failed run)", &runs_failed);
    assert!(
        String::from_utf8_lossy(&runs_failed.stdout).contains(&format!("bad {SHOWN}")),
        "{}",
        both(&runs_failed)
    );
    // The dry run took no run number: the real one is #1.
    let ledger = run(&["history", "escapes", "--run", "1"]);
    assert!(ledger.status.success(), "{}", both(&ledger));
    assert_safe("history --run", &ledger);
    // The records' names (their `name` fields) beside their ids on both
    // sides, all escaped.
    assert!(
        String::from_utf8_lossy(&ledger.stdout)
            .contains(&format!("name {SHOWN} [r1{SHOWN}] → name {SHOWN} [new-1]")),
        "{}",
        both(&ledger)
    );

    // JSON keeps the exact text: it decodes to the id the plugin wrote.
    let json = run(&["history", "escapes", "--run", "1", "--format", "json"]);
    assert!(json.status.success(), "{}", both(&json));
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["source_id"] == format!("r1{ESCAPES}").as_str()),
        "{rows:#}"
    );
    // CSV too, through its own quoting.
    let csv = run(&["history", "escapes", "--run", "1", "--format", "csv"]);
    assert!(csv.status.success(), "{}", both(&csv));
    assert!(
        String::from_utf8_lossy(&csv.stdout).contains(&format!("r1{ESCAPES}")),
        "{}",
        both(&csv)
    );

    // The link table and the status of every sync.
    let links = run(&["links", "list", "escapes"]);
    assert!(links.status.success(), "{}", both(&links));
    assert_safe("links list", &links);
    assert!(
        String::from_utf8_lossy(&links.stdout).contains(&format!("r1{SHOWN} → new-1")),
        "{}",
        both(&links)
    );
    let status = run(&["sync", "status"]);
    assert!(status.status.success(), "{}", both(&status));
    assert_safe("sync status", &status);

    // The whole workspace at once: the failing sync fails the command.
    let all = run(&["run"]);
    assert!(!all.status.success(), "{}", both(&all));
    assert_safe("run", &all);
    assert!(
        String::from_utf8_lossy(&all.stderr).contains(&format!("bad {SHOWN}")),
        "{}",
        both(&all)
    );
}

#[test]
fn inspect_escapes_what_describe_says() {
    let wasm = support::plugin("hostile");
    let inspect = |json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(["plugins", "inspect"]);
        if json {
            cmd.arg("--json");
        }
        cmd.arg(&wasm)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let table = inspect(false);
    assert!(table.status.success(), "{}", both(&table));
    assert_safe("plugins inspect", &table);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(&format!("Misbehaves on purpose {SHOWN}")),
        "{}",
        both(&table)
    );

    let json = inspect(true);
    assert!(json.status.success(), "{}", both(&json));
    let info: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        info["description"],
        format!("Misbehaves on purpose {ESCAPES}").as_str()
    );
}
