//! A cluster of `ferry serve --workspaces` workers as processes, for the
//! cluster's tests and benchmark: a folder of workspaces, workers started
//! and killed, and waiting for every workspace to be done.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry::store::postgres::Leases;
use zoho_sandbox::Sandbox;

use super::bench::{BOOKS, Bench};

/// A workspace's sync to Billing customers, matched by the contact's id
/// (for [`workspaces`]).
pub const TO_BILLING: &str = r#"    to: billing.customers
    match: { contact_id: zcrm_account_id }
    fields:
      display_name: { expr: "'C ' + record.contact_name" }
      zcrm_account_id: contact_id"#;

/// A workspace's sync to Alternative Payments customers, matched by e-mail
/// (for [`workspaces`]).
pub const TO_AP: &str = r#"    to: ap.customers
    match: [email]
    fields:
      name: contact_name
      email: email"#;

/// A worker process and the holder name its leases carry.
pub struct Worker {
    pub child: Child,
    pub holder: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_worker(dir: &Path, url: &str, log: &Path) -> Worker {
    spawn_worker(dir, url, log, &[], "3s").0
}

/// A worker with its console on a free port, and the console's URL (its
/// first line ends `…, console on http://ADDR`).
pub fn start_worker_with_console(dir: &Path, url: &str, log: &Path) -> (Worker, String) {
    let (worker, line) = spawn_worker(dir, url, log, &["--listen", "127.0.0.1:0"], "3s");
    let console = line
        .trim()
        .rsplit_once("console on ")
        .unwrap_or_else(|| panic!("no console in {line:?}"))
        .1
        .to_string();
    (worker, console)
}

/// `ferry serve --workspaces dir` with `extra` arguments and leases living
/// `ttl`, once it says it is up; and that first line.
pub fn spawn_worker(
    dir: &Path,
    url: &str,
    log: &Path,
    extra: &[&str],
    ttl: &str,
) -> (Worker, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "--workspaces"])
        .arg(dir)
        .args(extra)
        .args(["--store", url, "--connectors"])
        .arg(super::repo_root().join("connectors"))
        .arg("--plugin-dir")
        .arg(Bench::plugin_dir())
        .env("FERRY_LEASE_TTL", ttl)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let holder = line
        .strip_prefix("ferry worker ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no worker line: {line:?} {}", logs(log)))
        .to_string();
    (Worker { child, holder }, line)
}

pub fn logs(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Workspaces held now, by holder.
pub fn held(leases: &Leases) -> BTreeMap<String, String> {
    leases
        .list()
        .unwrap()
        .into_iter()
        .filter_map(|r| Some((r.workspace, r.holder?)))
        .collect()
}

/// A folder of `n` (at most 20) workspaces over Books and `other`, the
/// connections of one bench: workspace `ws<k>` syncs the Books contacts
/// of one share of their numbers to `other` (`to:` and the rest of the
/// sync in `sync`), every hour. Up to ten workspaces, `ws<d>` has the
/// numbers ending in the digit `d`; with more, `ws<d>` has those whose
/// tens digit is even and `ws<10+d>` those whose tens digit is odd.
pub fn workspaces(sb: &Sandbox, other: (&str, &str, Option<&str>), n: usize, sync: &str) -> Bench {
    assert!(n <= 20, "at most 20 workspaces");
    let bench = Bench::new(sb, &[BOOKS, other], "");
    let connections = std::fs::read_to_string(bench.workspace()).unwrap();
    std::fs::remove_file(bench.workspace()).unwrap();
    for k in 0..n {
        let d = k % 10;
        let view = match (n > 10, k >= 10) {
            (false, _) => format!("record.contact_name.endsWith('{d}')"),
            (true, false) => format!("record.contact_name.matches('[02468]{d}$')"),
            (true, true) => format!("record.contact_name.matches('[13579]{d}$')"),
        };
        std::fs::write(
            bench.dir().join(format!("ws{k}.yaml")),
            format!(
                "{connections}syncs:\n  customers:\n    from: books.contacts\n{sync}\n    view: \"{view}\"\n    schedule: every 1h\n"
            ),
        )
        .unwrap();
    }
    bench
}

/// Wait until all `n` workspaces ran and are next due in an hour.
pub async fn all_done(leases: &Leases, n: usize, logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let rows = leases.list().unwrap();
        if rows.len() == n && rows.iter().all(|r| r.due_in > 600.0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "workspaces not all done: {rows:#?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
