//! What the state store holds: links, snapshots, cursors, intents, runs and
//! the per-record ledger. Plain data; the backends decide how to keep it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::mapping::Side;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Who made a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum LinkOrigin {
    /// A sync matched or created the record.
    Sync,
    /// A trigger rule created the record; such links cannot be removed by hand.
    Trigger(String),
    /// `ferry links add`.
    Manual,
}

/// One side's record linked to a record on the other side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The id on the other side.
    pub other: String,
    pub origin: LinkOrigin,
    /// When the link was made (Unix seconds).
    pub created: u64,
    /// For a link a trigger rule made: the change of the watched record
    /// whose firing made it, so rules acting on an earlier change of that
    /// record leave it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
}

/// The last state Ferry saw (or wrote) of one record on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Fingerprint of the record as it would be sent to the other side.
    /// Equal fingerprints mean "nothing to send": unchanged, or an echo of
    /// Ferry's own write.
    pub fingerprint: String,
    /// The vendor's last-modified time of that state, when known.
    #[serde(default)]
    pub modified: Option<String>,
    /// The state itself (the mapped projection, or the fields a trigger
    /// watches), for field diffs and trigger transitions.
    #[serde(default)]
    pub state: Option<Value>,
    /// Changes seen so far (trigger watches count them: a firing's key
    /// names the change it answers).
    #[serde(default)]
    pub version: u64,
    /// When Ferry stored it (Unix seconds; 0 for snapshots older than
    /// this field). An equal modified time shows a record unchanged only
    /// when the snapshot was taken in a later second: vendors whose times
    /// have one-second resolution give two edits in one second one time.
    #[serde(default)]
    pub taken: u64,
}

/// Where incremental reading of one side resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Inclusive lower bound for the next read (the vendor's own time text).
    pub since: Option<String>,
    /// Inclusive lower bound for the next read of the deleted feed.
    #[serde(default)]
    pub deleted_since: Option<String>,
    /// When the cursor was stored (Unix seconds).
    pub stored: u64,
    /// When a run last read the whole module (Unix seconds): the sync's
    /// `full_read` schedule counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_read: Option<u64>,
}

/// What an intent is about to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum IntentOp {
    /// Create a record on `side` for the source record.
    Create,
    /// Run an action on a target record.
    Act {
        action: String,
        target_id: String,
        /// How many of the step's actions (`[mark-sent, accept]`) are
        /// done: a retry goes on from the next one.
        #[serde(default)]
        done: u32,
    },
}

/// A write about to happen whose outcome must survive a crash: stored
/// durably before the call, removed in the same commit as its result.
/// A pending intent at start-up means "the call may or may not have
/// happened": the engine looks the target up before writing again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Unique per sync or trigger (`<side>:<source id>` for a sync create,
    /// `<rule>:<record>:<version>` for a trigger firing).
    pub key: String,
    /// The side written to.
    pub side: Side,
    /// The record that caused it.
    pub source_id: String,
    pub op: IntentOp,
    /// Field values that identify the written record on the target
    /// (match keys or a reference field); empty when none are known.
    pub lookup: serde_json::Map<String, Value>,
    /// The run that stored it.
    pub run: u64,
    pub created: u64,
    /// Set once the create went out in a vendor job: settling asks the
    /// job first, since a job still running may yet create the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRef>,
}

/// The vendor job a create went out in, and its input's place there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    /// The handle the connector gave for the job.
    pub handle: String,
    /// The input's index in the job.
    pub row: u32,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    Manual,
    Schedule,
    Webhook,
    SingleRecord,
    Retry,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum RunStatus {
    Running,
    Completed,
    /// Every record was dealt with, but some failed for good (the ledger
    /// says why of each); the cursor moved past them, and a retry of the
    /// run's failures sends them again.
    Partial(String),
    /// Stopped early; the cursor stayed where the last complete run left it.
    Failed(String),
    /// `--dry-run`: nothing was written.
    DryRun,
}

/// How a run that a stopped process left running is closed by the next
/// one to open the state.
pub const INTERRUPTED: &str =
    "interrupted: Ferry stopped before the run ended; the next run settles its pending writes";

impl RunStatus {
    /// A run its process left unfinished (killed, machine lost): not a
    /// failure of the job, so it is resumed at once rather than backed off.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, RunStatus::Failed(why) if why == INTERRUPTED)
    }

    /// The status for people: `running`, `completed`, `completed with
    /// failures`, `failed`, `dry-run` (JSON says `partial` for the third).
    pub fn word(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Partial(_) => "completed with failures",
            RunStatus::Failed(_) => "failed",
            RunStatus::DryRun => "dry-run",
        }
    }
}

/// Records by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub read: u64,
    pub added: u64,
    pub updated: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub failed: u64,
    pub unchanged: u64,
    pub conflicts: u64,
}

impl std::ops::AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, c: &Counts) {
        self.read += c.read;
        self.added += c.added;
        self.updated += c.updated;
        self.deleted += c.deleted;
        self.skipped += c.skipped;
        self.failed += c.failed;
        self.unchanged += c.unchanged;
        self.conflicts += c.conflicts;
    }
}

impl Counts {
    /// Add one outcome.
    pub fn count(&mut self, op: LedgerOp) {
        match op {
            LedgerOp::Create | LedgerOp::Link => self.added += 1,
            LedgerOp::Update => self.updated += 1,
            LedgerOp::Delete => self.deleted += 1,
            LedgerOp::Skip => self.skipped += 1,
            LedgerOp::Fail => self.failed += 1,
            LedgerOp::Unchanged => self.unchanged += 1,
            LedgerOp::Conflict => self.conflicts += 1,
            LedgerOp::Act => self.updated += 1,
        }
    }
}

/// One run of a sync or trigger rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// 1, 2, 3, … per sync.
    pub id: u64,
    pub sync: String,
    pub trigger: RunTrigger,
    pub started: u64,
    #[serde(default)]
    pub ended: Option<u64>,
    pub status: RunStatus,
    pub counts: Counts,
}

impl RunRecord {
    /// The run as shown outside Ferry (JSON, CSV, the admin API): times in
    /// RFC 3339 and its duration.
    pub fn report(&self) -> RunReport<'_> {
        RunReport {
            id: self.id,
            sync: &self.sync,
            trigger: self.trigger,
            started: rfc3339(self.started),
            ended: self.ended.map(rfc3339),
            duration_seconds: self.duration(),
            status: &self.status,
            counts: self.counts,
        }
    }

    /// A run as [`RunRecord::report`] showed it (the admin API's answer).
    pub fn from_report(report: &Value) -> Option<RunRecord> {
        let time = |v: &Value| {
            chrono::DateTime::parse_from_rfc3339(v.as_str()?)
                .ok()
                .map(|t| t.timestamp().max(0) as u64)
        };
        Some(RunRecord {
            id: report.get("id")?.as_u64()?,
            sync: report.get("sync")?.as_str()?.to_string(),
            trigger: serde_json::from_value(report.get("trigger")?.clone()).ok()?,
            started: time(report.get("started")?)?,
            ended: report.get("ended").and_then(time),
            status: serde_json::from_value(report.get("status")?.clone()).ok()?,
            counts: serde_json::from_value(report.get("counts")?.clone()).ok()?,
        })
    }

    /// Seconds from start to end; `None` while running.
    pub fn duration(&self) -> Option<u64> {
        self.ended.map(|e| e.saturating_sub(self.started))
    }
}

/// A [`RunRecord`] for readers: see [`RunRecord::report`].
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    pub id: u64,
    pub sync: &'a str,
    pub trigger: RunTrigger,
    pub started: String,
    pub ended: Option<String>,
    pub duration_seconds: Option<u64>,
    pub status: &'a RunStatus,
    pub counts: Counts,
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: u64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A record still failing: where it is, and the run and reason of its
/// latest failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failing {
    pub side: Side,
    pub id: String,
    pub run: u64,
    pub reason: Option<String>,
}

/// What happened to one record in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerOp {
    Create,
    Update,
    Delete,
    /// Matched an existing record and linked it (`on_duplicate: overwrite`
    /// links and updates; a settled intent links).
    Link,
    Skip,
    Fail,
    Unchanged,
    Conflict,
    /// A trigger's action on a target record.
    Act,
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// One row of the per-record ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub run: u64,
    /// The side the record was read from.
    pub from_side: Side,
    pub source_id: String,
    #[serde(default)]
    pub target_id: Option<String>,
    pub op: LedgerOp,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub diff: Vec<FieldChange>,
    /// The rule or step that wrote it, for trigger rows.
    #[serde(default)]
    pub rule: Option<String>,
    /// The source record's name or number for people (`Acme Ltd`,
    /// `INV-000042`), when its module has such a field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The target record's name for people, as Ferry wrote or found it
    /// (rows written before this was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_title: Option<String>,
}

/// Everything written for one record, committed atomically.
#[derive(Debug, Clone, Default)]
pub struct RecordCommit {
    /// `(side, id, link)`; the reverse link is written too.
    pub links: Vec<(Side, String, Link)>,
    /// `(side, id, other)` links to remove, both ways.
    pub unlinks: Vec<(Side, String, String)>,
    /// `(side, id, snapshot)`.
    pub snapshots: Vec<(Side, String, Snapshot)>,
    /// Intents settled by this commit.
    pub intents_done: Vec<String>,
    /// Trigger firings done (their keys), so a replay never acts twice.
    pub fired: Vec<String>,
    /// Snapshots kept under another namespace (what a trigger's target
    /// looked like after Ferry wrote it), committed in the same batch.
    pub foreign_snapshots: Vec<(String, Side, String, Snapshot)>,
    /// Snapshots to remove, `(namespace, side, id)`, in the same batch.
    pub forget: Vec<(String, Side, String)>,
    pub ledger: Option<LedgerRow>,
}

/// Ledger rows as CSV (`run,side,source_id,target_id,operation,reason,diff,source_title,target_title`),
/// for exports.
pub fn ledger_csv(rows: &[LedgerRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "run",
        "side",
        "source_id",
        "target_id",
        "operation",
        "reason",
        "diff",
        "source_title",
        "target_title",
    ])?;
    for r in rows {
        let op = serde_json::to_value(r.op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let diff = if r.diff.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&r.diff).unwrap_or_default()
        };
        w.write_record([
            r.run.to_string(),
            match r.from_side {
                Side::From => "from".to_string(),
                Side::To => "to".to_string(),
            },
            r.source_id.clone(),
            r.target_id.clone().unwrap_or_default(),
            op,
            r.reason.clone().unwrap_or_default(),
            diff,
            r.title.clone().unwrap_or_default(),
            r.target_title.clone().unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reads_back_from_its_report() {
        for status in [
            RunStatus::Completed,
            RunStatus::Partial("2 records failed".into()),
            RunStatus::Failed("no network".into()),
        ] {
            let run = RunRecord {
                id: 7,
                sync: "customers".into(),
                trigger: RunTrigger::Schedule,
                started: 1_700_000_000,
                ended: Some(1_700_000_042),
                status,
                counts: Counts {
                    read: 5,
                    added: 2,
                    failed: 1,
                    ..Default::default()
                },
            };
            let report = serde_json::to_value(run.report()).unwrap();
            assert_eq!(RunRecord::from_report(&report), Some(run));
        }
        assert_eq!(RunRecord::from_report(&serde_json::json!({"id": 1})), None);
    }
}
