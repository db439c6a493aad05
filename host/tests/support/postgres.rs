//! A PostgreSQL server of a test's own: `initdb` into a temporary
//! directory and `postgres` on a free loopback port, from the
//! distribution's `postgresql` package (`.ci/run` installs it). As root the
//! server runs as `nobody` (PostgreSQL refuses root). Without the package
//! the test fails and says so: CI never skips these.
//!
//! Only std and tempfile, so the library's unit tests include it too.
#![allow(dead_code)] // each includer uses a part

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; stopped (and its directory removed) on drop.
pub struct PgServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// The directory of PostgreSQL's server binaries.
fn bindir() -> PathBuf {
    let has = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Ok(dir) = std::env::var("FERRY_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has(&dir) {
            return dir;
        }
    }
    // Debian keeps them per major version, off the PATH.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_string_lossy().parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, dir)| has(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return dir;
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has(&dir) {
            return dir;
        }
    }
    panic!(
        "PostgreSQL is not installed: the PostgreSQL store's tests start their own server and \
         need its binaries (initdb, postgres, pg_isready). Install the distribution's \
         `postgresql` package (`.ci/run` does), or set FERRY_PG_BINDIR."
    );
}

/// `(uid, gid)` to run the server as: ours, or `nobody`'s when we are root.
fn server_user() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if me != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}

/// `program` as the server's user (`setpriv` execs it: the child is the
/// program itself, so stopping the child stops the server).
fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// Start a fresh server (about a second).
    pub fn start() -> PgServer {
        let bin = bindir();
        let user = server_user();
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let out = command(&bin.join("initdb"), user)
            .current_dir(dir.path())
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "ferry",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
            if let Some((uid, gid)) = user {
                std::os::unix::fs::chown(dir.path().join("server.log"), Some(uid), Some(gid))
                    .unwrap();
            }
            let child = command(&bin.join("postgres"), user)
                .current_dir(dir.path())
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(dir.path())
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-c", "fsync=off", "-c", "max_connections=200"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start postgres");
            let mut child = child;
            if wait_ready(&mut child, &bin, port, dir.path()) {
                return PgServer { child, port, dir };
            }
            // Most likely the port was taken meanwhile: another one.
            stop(&mut child);
        }
        panic!("postgres did not start; see its log above");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        log_of(self.dir.path())
    }

    /// A URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://ferry@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// Whether the server on `port` accepts connections within 30 s.
fn wait_ready(child: &mut Child, bin: &Path, port: u16, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            eprintln!("{}", log_of(dir));
            return false;
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{}", log_of(dir));
    false
}

fn stop(child: &mut Child) {
    // SIGINT: fast shutdown (clients cut off, no waiting).
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
