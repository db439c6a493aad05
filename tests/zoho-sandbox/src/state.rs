//! The whole in-memory state, and saving/loading it to a JSON file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ap::ApData;
use crate::crm::CrmState;
use crate::error::SandboxError;
use crate::finance::FinanceState;
use crate::notify::{Watch, Webhook};

/// First CRM id (19 digits, like Zoho's).
pub const CRM_ID_BASE: u64 = 5_725_767_000_001_000_000;
/// First finance id (15 digits, like Books').
pub const FINANCE_ID_BASE: u64 = 460_000_000_100_000;

/// Everything the sandbox stores. Indexes are rebuilt after loading.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub crm: CrmState,
    pub finance: FinanceState,
    pub next_crm_id: u64,
    pub next_finance_id: u64,
    pub watches: Vec<Watch>,
    pub webhooks: Vec<Webhook>,
    /// Alternative Payments' records.
    #[serde(default)]
    pub ap: ApData,
}

impl State {
    pub fn new(finance: FinanceState) -> Self {
        State {
            crm: CrmState::new(),
            finance,
            next_crm_id: CRM_ID_BASE,
            next_finance_id: FINANCE_ID_BASE,
            watches: Vec::new(),
            webhooks: Vec::new(),
            ap: ApData::default(),
        }
    }

    /// A new CRM record id.
    pub fn crm_id(&mut self) -> u64 {
        self.next_crm_id += 1;
        self.next_crm_id
    }

    /// A new finance id.
    pub fn finance_id(&mut self) -> u64 {
        self.next_finance_id += 1;
        self.next_finance_id
    }

    /// Write the state to `path` (atomically: temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), SandboxError> {
        let io = |source| SandboxError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut w, self).map_err(|source| SandboxError::StateFormat {
            path: path.display().to_string(),
            source,
        })?;
        std::io::Write::flush(&mut w).map_err(io)?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Read a state written by [`State::save`].
    pub fn load(path: &Path) -> Result<State, SandboxError> {
        let file = std::fs::File::open(path).map_err(|source| SandboxError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut st: State =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(|source| {
                SandboxError::StateFormat {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        st.crm.rebuild();
        st.finance.rebuild();
        Ok(st)
    }
}
