//! Pure decisions about one record, apart from any I/O so they can be
//! tested as tables: has it changed since Ferry last saw it, or is it the
//! echo of Ferry's own write; has its partner changed too; and who wins a
//! two-way conflict.
//!
//! Change detection never trusts a coarse timestamp alone: the finance
//! products stamp records to the second, so a person's edit in the second
//! of Ferry's own write carries the time Ferry saw. An equal time proves a
//! record unchanged only when Ferry looked at least two seconds later;
//! otherwise the record is compared by content.

use chrono::{DateTime, FixedOffset};

use crate::config::Conflict;
use crate::mapping::Side;
use crate::store::Snapshot;

/// What a record read from one side is, against Ferry's last snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// New to Ferry, or changed since: map it and write it across.
    Changed,
    /// As Ferry last saw or wrote it: nothing to send.
    Unchanged {
        /// Exactly the record Ferry wrote (its snapshot of a write keeps
        /// the written time and no state): an incremental cursor may move
        /// past it.
        own_write: bool,
        /// Store the snapshot again: its fingerprint was of another form,
        /// or its time could not yet prove the next read unchanged.
        restamp: bool,
    },
}

/// Decide a record read in full: `fingerprint` is its mapped content,
/// `modified` the vendor's modified time.
pub fn seen(previous: Option<&Snapshot>, fingerprint: &str, modified: Option<&str>) -> Seen {
    let Some(prev) = previous else {
        return Seen::Changed;
    };
    // A snapshot with no fingerprint (a write whose answer was partial and
    // could not be read back) can only vouch by its time.
    let same = prev.fingerprint == fingerprint
        || (prev.fingerprint.is_empty()
            && modified.is_some_and(|m| equal_time_proves_unchanged(prev, m)));
    if !same {
        return Seen::Changed;
    }
    let own_write =
        prev.modified.is_some() && prev.modified.as_deref() == modified && prev.state.is_none();
    let settles = modified.is_none_or(|m| equal_time_proves_unchanged(prev, m));
    Seen::Unchanged {
        own_write,
        restamp: prev.fingerprint != fingerprint || !settles,
    }
}

/// Decide a list row that leaves out fields the mapping reads (finance
/// lists omit addresses, phones): `true` when its time alone proves it
/// unchanged, so it need not be read in full.
pub fn row_unchanged(previous: Option<&Snapshot>, modified: Option<&str>) -> bool {
    match (previous, modified) {
        (Some(prev), Some(m)) => equal_time_proves_unchanged(prev, m),
        _ => false,
    }
}

/// Whether a record whose modified time is `modified` is unchanged since
/// `snap` by its time alone: the times must be equal and the snapshot taken
/// at least two seconds later (a one-second clock gives a later edit in the
/// same second the same time; the margin absorbs clock skew).
///
/// Snapshots stored before they carried their time (`taken` 0) keep the
/// old rule, so an upgrade does not read every record of a module again.
pub fn equal_time_proves_unchanged(snap: &Snapshot, modified: &str) -> bool {
    snap.modified.as_deref() == Some(modified)
        && (snap.taken == 0
            || instant(modified).is_some_and(|m| snap.taken as i64 >= m.timestamp() + 2))
}

/// Two-way: whether the partner changed since Ferry last saw it, from its
/// current fingerprint (through the reverse mapping) and modified time.
pub fn partner_changed(
    previous: &Snapshot,
    fingerprint: Option<&str>,
    modified: Option<&str>,
) -> bool {
    let same_content = fingerprint == Some(previous.fingerprint.as_str());
    let same_time = modified.is_some_and(|m| equal_time_proves_unchanged(previous, m));
    !(same_content || same_time)
}

/// Who writes when both sides changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// This side's values are written; the reason goes in the ledger.
    Win(String),
    /// The other side wins: the pass reading it writes its values back.
    Yield(String),
    /// Nobody writes (`conflict: skip`).
    Stop(String),
}

/// Resolve a conflict for the pass reading `side`, whose record changed at
/// `ours` while its partner changed at `theirs`. Both passes of a run must
/// agree on the winner, whichever asks: a tie goes to `from`.
pub fn resolve(
    policy: Conflict,
    side: Side,
    ours: Option<&str>,
    theirs: Option<&str>,
) -> Resolution {
    let we_win = match policy {
        Conflict::Skip => {
            return Resolution::Stop(
                "changed on both sides since the last run; `conflict: skip` leaves both".into(),
            );
        }
        Conflict::From => side == Side::From,
        Conflict::To => side == Side::To,
        Conflict::Newest => match (ours.and_then(instant), theirs.and_then(instant)) {
            (Some(a), Some(b)) if side == Side::From => a >= b,
            (Some(a), Some(b)) => a > b,
            _ => side == Side::From,
        },
    };
    let policy = match policy {
        Conflict::Newest => "the newest change wins",
        Conflict::From => "the `from` side wins",
        Conflict::To => "the `to` side wins",
        Conflict::Skip => unreachable!("returned above"),
    };
    if we_win {
        Resolution::Win(format!(
            "changed on both sides; {policy}: this side's values were written"
        ))
    } else {
        Resolution::Yield(format!(
            "changed on both sides; {policy}: the other side's values are written back"
        ))
    }
}

/// A vendor's time (RFC 3339, or Zoho's `+0000` offsets).
pub fn instant(text: &str) -> Option<DateTime<FixedOffset>> {
    crate::config::expr::parse_datetime(text)
}

#[cfg(test)]
mod tests;
