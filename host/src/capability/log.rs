//! The `log` capability: plugin log lines go to `tracing`, tagged with the
//! plugin and connection, rate limited so a plugin cannot flood the log.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota};

/// Longest message kept; the rest is cut.
const MAX_MESSAGE_BYTES: usize = 2048;

/// Severity of a plugin log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One connection's plugin logger.
pub struct PluginLog {
    plugin: String,
    connection: String,
    quota: DefaultDirectRateLimiter,
    dropped: AtomicU64,
}

impl PluginLog {
    /// The logger every plugin call gets: 50 lines a second, bursts of
    /// 200. `connection` is empty when only inspecting a component.
    pub fn for_connection(plugin: &str, connection: &str) -> PluginLog {
        PluginLog::new(plugin, connection, 50, 200)
    }

    /// `per_second` lines a second on average, bursts of `burst`.
    pub fn new(plugin: &str, connection: &str, per_second: u32, burst: u32) -> PluginLog {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        PluginLog {
            plugin: plugin.to_string(),
            connection: connection.to_string(),
            quota: DefaultDirectRateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Write one line, unless over the rate; returns whether it was written.
    pub fn write(&self, level: Level, message: &str) -> bool {
        if self.quota.check().is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(plugin = %self.plugin, connection = %self.connection, dropped, "plugin log lines dropped by rate limit");
        }
        let message = clean(message);
        let (plugin, connection) = (&self.plugin, &self.connection);
        match level {
            Level::Trace => {
                tracing::trace!(target: "ferry::plugin", plugin, connection, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "ferry::plugin", plugin, connection, "{message}")
            }
            Level::Info => tracing::info!(target: "ferry::plugin", plugin, connection, "{message}"),
            Level::Warn => tracing::warn!(target: "ferry::plugin", plugin, connection, "{message}"),
            Level::Error => {
                tracing::error!(target: "ferry::plugin", plugin, connection, "{message}")
            }
        }
        true
    }

    /// Lines refused since the last written one.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Cut to the size limit and drop control characters (no forged log lines).
fn clean(message: &str) -> String {
    let mut end = message.len().min(MAX_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = message[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < message.len() {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_are_cut() {
        let log = PluginLog::new("p", "c", 1, 5);
        let written = (0..100).filter(|_| log.write(Level::Info, "hello")).count();
        assert_eq!(written, 5);
        assert_eq!(log.dropped(), 95);
    }

    #[test]
    fn messages_are_cleaned() {
        assert_eq!(clean("a\nb\u{1b}[31m"), "a b [31m");
        let long = "é".repeat(5000);
        let cut = clean(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES + 4 && cut.ends_with('…'));
    }
}
