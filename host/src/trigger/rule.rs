//! A trigger rule compiled for a run: its plan, where its action lands,
//! and its run record. Built by the watch of its module, used by firing.

use crate::config::{FieldPath, FirstRun};
use crate::engine::Endpoint;
use crate::mapping::{Side, TriggerPlan};
use crate::store::RunRecord;

/// A rule, compiled, with where its action lands.
pub(super) struct Rule {
    pub name: String,
    pub plan: TriggerPlan,
    pub first_run: FirstRun,
    /// Target fields identifying a created record (empty: reference
    /// fields, found per firing).
    pub match_fields: Vec<FieldPath>,
    /// The module the action writes to.
    pub target: Endpoint,
    /// Where the target's links live: the creating rule's or the sync's
    /// name; and which side the watched record is on there.
    pub link_ns: String,
    pub link_side: Side,
    /// `only_if`-style Zoho rule: leave a target alone once this field was
    /// changed by someone other than Ferry.
    pub guard_field: Option<FieldPath>,
    /// Its targets are linked by a rule on the same module: a link made for
    /// a later change of the watched record is not this change's to act on.
    pub links_by_change: bool,
    /// Rules on the same module acting on the records this rule creates:
    /// when it makes one for an earlier change than theirs (it was behind),
    /// they judge the changes since again.
    pub acted_on_by: Vec<String>,
    pub run: RunRecord,
    /// The name of the watched record being judged, for its ledger rows.
    pub title: Option<String>,
    /// This rule's changes left for the next run (a passing failure of
    /// its own; another rule's does not fail this rule's run).
    pub retries: u64,
}
