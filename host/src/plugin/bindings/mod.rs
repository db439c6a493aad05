//! Generated bindings, one module per contract version. Each module turns
//! its version's types into the host's own (`plugin::info`,
//! `plugin::ConnectorError`), so only this folder knows versions exist.

pub mod bulk_v0_1;
pub mod jobs_v0_1;
pub mod v0_1;
