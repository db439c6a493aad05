//! Ferry keeps billing and CRM systems in step.
//!
//! Vendor connectors are WebAssembly components loaded at run time and
//! sandboxed by [`plugin`]; everything a customer changes is YAML
//! ([`config`]). Data flows one way through the modules:
//! `plugin` → `capability` (what plugins may call) → `config` → `mapping` →
//! sync and triggers → `store`, with `cli` on top.

pub mod cli;
pub mod config;
pub mod mapping;
pub mod plugin;
