//! The decisions as tables: each row is a situation a user meets and what
//! Ferry must do in it.

// Rows as tuples read as tables.
#![allow(clippy::type_complexity)]

use super::*;

const T: &str = "2026-03-01T10:00:00+00:00";
const T_LATER: &str = "2026-03-01T10:00:05+00:00";
/// `T` as Unix seconds.
const T_SECS: u64 = 1_772_359_200;

/// A snapshot of content `fp`, modified at `modified`, stored at `taken`;
/// `state` marks a record read (Ferry's own writes keep none).
fn snap(fp: &str, modified: Option<&str>, taken: u64, read: bool) -> Snapshot {
    Snapshot {
        fingerprint: fp.into(),
        modified: modified.map(str::to_owned),
        state: read.then(|| serde_json::json!({})),
        version: 0,
        taken,
    }
}

#[test]
fn the_instant_constant_is_t() {
    assert_eq!(instant(T).unwrap().timestamp() as u64, T_SECS);
}

#[test]
fn a_record_is_changed_unless_its_content_or_a_proving_time_says_otherwise() {
    let changed = Seen::Changed;
    let unchanged = |own_write, restamp| Seen::Unchanged { own_write, restamp };
    #[rustfmt::skip]
    let table: &[(&str, Option<Snapshot>, &str, Option<&str>, Seen)] = &[
        ("never seen", None, "a", Some(T), changed),
        ("same content, read later", Some(snap("a", Some(T), T_SECS + 5, true)), "a", Some(T), unchanged(false, false)),
        ("other content, same time (a same-second edit)", Some(snap("a", Some(T), T_SECS, true)), "b", Some(T), changed),
        ("other content, read long after at the same time", Some(snap("a", Some(T), T_SECS + 60, true)), "b", Some(T), changed),
        ("same content, newer time (touched, not changed)", Some(snap("a", Some(T), T_SECS + 5, true)), "a", Some(T_LATER), unchanged(false, true)),
        ("Ferry's own write read back", Some(snap("a", Some(T), T_SECS, false)), "a", Some(T), unchanged(true, true)),
        ("Ferry's own write, proven by a later look", Some(snap("a", Some(T), T_SECS + 2, false)), "a", Some(T), unchanged(true, false)),
        ("own write with a partial answer, same second: compare by content next time", Some(snap("", Some(T), T_SECS, false)), "a", Some(T), changed),
        ("own write with a partial answer, proven by time", Some(snap("", Some(T), T_SECS + 3, false)), "a", Some(T), unchanged(true, true)),
        ("own write with a partial answer, edited since", Some(snap("", Some(T), T_SECS + 3, false)), "a", Some(T_LATER), changed),
        ("a vendor without modified times, same content", Some(snap("a", None, T_SECS, true)), "a", None, unchanged(false, false)),
        ("a vendor without modified times, new content", Some(snap("a", None, T_SECS, true)), "b", None, changed),
        ("forgotten when its partner was found gone", Some(snap("", None, T_SECS + 60, false)), "a", Some(T), changed),
        ("snapshot from before `taken` (upgrade), empty fingerprint", Some(snap("", Some(T), 0, false)), "a", Some(T), unchanged(true, true)),
    ];
    for (case, previous, fp, modified, want) in table {
        assert_eq!(seen(previous.as_ref(), fp, *modified), *want, "{case}");
    }
}

#[test]
fn a_row_missing_fields_is_skipped_only_when_its_time_proves_it() {
    #[rustfmt::skip]
    let table: &[(&str, Option<Snapshot>, Option<&str>, bool)] = &[
        ("never seen", None, Some(T), false),
        ("no modified time", Some(snap("a", Some(T), T_SECS + 5, true)), None, false),
        ("same time, looked later", Some(snap("a", Some(T), T_SECS + 2, true)), Some(T), true),
        ("same time, looked in the same second", Some(snap("a", Some(T), T_SECS, true)), Some(T), false),
        ("same time, looked a second later (skew)", Some(snap("a", Some(T), T_SECS + 1, true)), Some(T), false),
        ("newer time", Some(snap("a", Some(T), T_SECS + 9, true)), Some(T_LATER), false),
        ("legacy snapshot, same time", Some(snap("a", Some(T), 0, true)), Some(T), true),
    ];
    for (case, previous, modified, want) in table {
        assert_eq!(row_unchanged(previous.as_ref(), *modified), *want, "{case}");
    }
}

#[test]
fn a_partner_changed_unless_content_or_a_proving_time_says_otherwise() {
    #[rustfmt::skip]
    let table: &[(&str, Snapshot, Option<&str>, Option<&str>, bool)] = &[
        ("same content", snap("a", Some(T), T_SECS, false), Some("a"), Some(T_LATER), false),
        ("other content, same time, proven", snap("a", Some(T), T_SECS + 2, false), Some("b"), Some(T), false),
        ("other content, same second as Ferry's write", snap("a", Some(T), T_SECS, false), Some("b"), Some(T), true),
        ("other content, later time", snap("a", Some(T), T_SECS + 9, false), Some("b"), Some(T_LATER), true),
        ("no reverse mapping, same time, proven", snap("a", Some(T), T_SECS + 5, false), None, Some(T), false),
        ("no reverse mapping, no time", snap("a", Some(T), T_SECS + 5, false), None, None, true),
    ];
    for (case, previous, fp, modified, want) in table {
        assert_eq!(partner_changed(previous, *fp, *modified), *want, "{case}");
    }
}

#[test]
fn both_passes_agree_on_who_wins() {
    use Conflict::*;
    #[derive(Debug, PartialEq)]
    enum W {
        From,
        To,
        Nobody,
    }
    #[rustfmt::skip]
    let table: &[(&str, Conflict, Option<&str>, Option<&str>, W)] = &[
        // (policy, the from side's time, the to side's time) → winner
        ("from wins", From, Some(T), Some(T_LATER), W::From),
        ("to wins", To, Some(T_LATER), Some(T), W::To),
        ("newest: to is newer", Newest, Some(T), Some(T_LATER), W::To),
        ("newest: from is newer", Newest, Some(T_LATER), Some(T), W::From),
        ("newest: a tie goes to from", Newest, Some(T), Some(T), W::From),
        ("newest: unknown times go to from", Newest, None, Some(T), W::From),
        ("skip: nobody", Skip, Some(T), Some(T_LATER), W::Nobody),
    ];
    for (case, policy, from_time, to_time, want) in table {
        let from_pass = resolve(*policy, Side::From, *from_time, *to_time);
        let to_pass = resolve(*policy, Side::To, *to_time, *from_time);
        let winner = match (&from_pass, &to_pass) {
            (Resolution::Win(_), Resolution::Yield(_)) => W::From,
            (Resolution::Yield(_), Resolution::Win(_)) => W::To,
            (Resolution::Stop(_), Resolution::Stop(_)) => W::Nobody,
            other => panic!("{case}: the passes disagree: {other:?}"),
        };
        assert_eq!(winner, *want, "{case}");
    }
}
