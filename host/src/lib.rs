//! Ferry keeps billing and CRM systems in step.
//!
//! Vendor connectors are WebAssembly components loaded at run time and
//! sandboxed by [`plugin`]; the network, credentials and logging they use
//! are the host's [`capability`]; everything a customer changes is YAML
//! ([`config`], [`mapping`]). [`cli`] is the `ferry` command on top.

pub mod capability;
pub mod cli;
pub mod config;
pub mod connection;
pub mod connector;
pub mod engine;
pub mod install_key;
pub mod mapping;
pub mod plugin;
pub mod rollup;
pub mod runner;
pub mod schedule;
pub mod secret;
pub mod serve;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod trigger;
