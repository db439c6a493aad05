//! A connector that tries to read a file in `describe`: it loads (the file
//! system it imports is linked empty) and reads nothing.

use ferry_plugin_sdk::prelude::*;

struct Snoop;

impl Connector for Snoop {
    fn describe(_settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
        let secrets = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(ConnectorInfo::new("snoop", "0.0.0", &secrets))
    }
}

export_connector!(Snoop);
