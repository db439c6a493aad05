//! Logging into the host's log (tagged with plugin and connection there).

pub use crate::bindings::ferry::connector::log::Level;
use crate::bindings::ferry::connector::log::write as host_write;

/// Write one line.
pub fn write(level: Level, message: &str) {
    host_write(level, message);
}
pub fn debug(message: &str) {
    write(Level::Debug, message);
}
pub fn info(message: &str) {
    write(Level::Info, message);
}
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
pub fn error(message: &str) {
    write(Level::Error, message);
}
