//! The service file: how a `ferry` command on the same machine finds the
//! running `ferry serve` that holds its state (the store admits one
//! process), and the token, made for this service alone, with which it
//! reads and acts through the admin API.
//!
//! The file lives in the state directory, readable by its owner only: who
//! can read it could read the state itself. It goes when the service
//! stops; one left by a killed service names a process that is gone, or
//! an address that no longer answers, and is ignored.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::install_key::private_file;

const FILE: &str = "serve.json";

/// What a running service tells commands beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFile {
    pub pid: u32,
    /// The admin API, on loopback.
    pub url: String,
    /// An admin token valid while this service runs, kept nowhere else.
    pub token: String,
}

/// The service file of a running service; removed when dropped.
#[derive(Debug)]
pub struct Published {
    path: PathBuf,
    file: ServiceFile,
}

impl Published {
    pub fn token(&self) -> &str {
        &self.file.token
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        // Only our own: a later service may have replaced it.
        if read(self.path.parent().unwrap_or(Path::new("."))).as_ref() == Some(&self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Write the service file for a service listening on `bound`.
pub fn publish(state_dir: &Path, bound: SocketAddr) -> std::io::Result<Published> {
    let token: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let file = ServiceFile {
        pid: std::process::id(),
        url: format!("http://{}", on_loopback(bound)),
        token: format!("fry_local_{token}"),
    };
    let path = state_dir.join(FILE);
    let partial = state_dir.join(format!("{FILE}.new"));
    {
        let mut out = std::fs::File::create(&partial)?;
        private_file(&partial)?;
        out.write_all(&serde_json::to_vec_pretty(&file).expect("plain data"))?;
    }
    std::fs::rename(&partial, &path)?;
    Ok(Published { path, file })
}

/// The service file in `state_dir`, if one is there.
pub fn read(state_dir: &Path) -> Option<ServiceFile> {
    let bytes = std::fs::read(state_dir.join(FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Where a process on this machine reaches a listener bound to `bound`.
fn on_loopback(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, bound.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, bound.port()).into(),
        _ => bound,
    }
}

/// Whether `given` is `token`, compared in constant time.
pub fn same_token(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_file_is_private_names_loopback_and_goes_with_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let published = publish(dir.path(), "0.0.0.0:8700".parse().unwrap()).unwrap();
        let file = read(dir.path()).unwrap();
        assert_eq!(file.url, "http://127.0.0.1:8700");
        assert_eq!(file.pid, std::process::id());
        assert!(same_token(&file.token, published.token()));
        assert!(!same_token("fry_local_x", published.token()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(published);
        assert_eq!(read(dir.path()), None);
    }
}
