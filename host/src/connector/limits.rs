//! Per-call limits: memory, wall time, bytes into one host call, tables,
//! pages of one listing. Configurable per connection (`limits:` in the
//! workspace); a breach fails that call only and names the limit. How a
//! runtime enforces them is its own business (`plugin::limits`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// Limits for every call into one connection's plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Linear memory a call may use in all (`64MiB`).
    #[serde(deserialize_with = "de_bytes")]
    pub memory: u64,
    /// Wall time for one call, host calls included (`30s`).
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Bytes a plugin may pass into one host call (`4MiB`): requests and
    /// log lines.
    #[serde(deserialize_with = "de_bytes")]
    pub hostcall_data: u64,
    /// Elements in all tables of one instance.
    pub table_elements: u32,
    /// Instances, tables and memories a component may create.
    pub instances: u32,
    pub tables: u32,
    pub memories: u32,
    /// Pages one listing may take before the run stops it (a cursor that
    /// never ends).
    pub pages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 64 * MIB,
            timeout: Duration::from_secs(30),
            hostcall_data: 4 * MIB,
            table_elements: 20_000,
            instances: 32,
            tables: 32,
            memories: 8,
            pages: 100_000,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// Which limit a call breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Memory, with the cap in bytes.
    Memory(u64),
    /// Wall time, with the cap.
    Timeout(Duration),
    /// Bytes into one host call, with the cap.
    HostcallData(u64),
    /// Table elements, with the cap.
    TableElements(u32),
    /// The wasm stack (deep recursion).
    Stack,
}

impl Limit {
    /// Short name, for metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            Limit::Memory(_) => "memory",
            Limit::Timeout(_) => "timeout",
            Limit::HostcallData(_) => "hostcall_data",
            Limit::TableElements(_) => "table_elements",
            Limit::Stack => "stack",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Memory(cap) => write!(f, "memory limit of {} exceeded", human_bytes(*cap)),
            Limit::Timeout(cap) => write!(
                f,
                "time limit of {} exceeded",
                humantime::format_duration(*cap)
            ),
            Limit::HostcallData(cap) => {
                write!(
                    f,
                    "limit of {} passed into one host call exceeded",
                    human_bytes(*cap)
                )
            }
            Limit::TableElements(cap) => write!(f, "table limit of {cap} elements exceeded"),
            Limit::Stack => f.write_str("stack limit exceeded (recursion too deep)"),
        }
    }
}

/// `64 MiB`, `512 KiB`, `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Parse `64MiB`, `64 MB`, `512k`, `1048576`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `64MiB`"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}` (use KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
    }
}

mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("`{text}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 * MIB));
        assert_eq!(parse_bytes("64 mb"), Ok(64 * MIB));
        assert_eq!(parse_bytes("512k"), Ok(512 * 1024));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("lots").is_err());
        assert!(
            parse_bytes("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert_eq!(human_bytes(64 * MIB), "64 MiB");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }

    #[test]
    fn limits_read_from_yaml() {
        let l: Limits =
            serde_yaml::from_str("{memory: 128MiB, timeout: 2m, hostcall_data: 1MiB}").unwrap();
        assert_eq!(l.memory, 128 * MIB);
        assert_eq!(l.timeout, Duration::from_secs(120));
        assert_eq!(l.hostcall_data, MIB);
        assert_eq!(l.table_elements, Limits::default().table_elements);
        assert!(serde_yaml::from_str::<Limits>("{memroy: 1}").is_err());
    }
}
