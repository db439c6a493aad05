//! Where the next incremental read starts: the latest modified time a
//! listing returned, unless a record changed while it was being read.

use chrono::{DateTime, Duration, FixedOffset};

use crate::mapping::expr::parse_datetime;

/// Records modified this close to the start of a read may have moved
/// between its pages.
const SHIFT_WINDOW: Duration = Duration::minutes(2);

/// What one listing saw of its records' modified times.
pub struct Watermark {
    started: DateTime<FixedOffset>,
    /// Latest modified time read, as the vendor wrote it.
    latest: Option<(DateTime<FixedOffset>, String)>,
    /// Records read that were modified close to (or after) the start of
    /// the read, not counting Ferry's own earlier writes: pages may have
    /// shifted under the listing.
    recent: u64,
}

impl Watermark {
    pub fn new(started: DateTime<FixedOffset>) -> Watermark {
        Watermark {
            started,
            latest: None,
            recent: 0,
        }
    }

    /// Note one record's modified time, as the vendor wrote it.
    pub fn note(&mut self, modified: Option<&str>) {
        let Some((text, at)) = modified.and_then(|t| Some((t, parse_datetime(t)?))) else {
            return;
        };
        if self.latest.as_ref().is_none_or(|(max, _)| at > *max) {
            self.latest = Some((at, text.to_string()));
        }
        if at >= self.started - SHIFT_WINDOW {
            self.recent += 1;
        }
    }

    /// A record noted last was the echo of Ferry's own write, made before
    /// this read began (by the other pass of a two-way sync): it moved no
    /// page under this read. Without this, a two-way sync's own writes
    /// would keep its cursor from ever advancing.
    pub fn own_write(&mut self, modified: Option<&str>) {
        if let Some(at) = modified.and_then(parse_datetime)
            && at >= self.started - SHIFT_WINDOW
        {
            self.recent = self.recent.saturating_sub(1);
        }
    }

    /// The inclusive lower bound of the next read, given this read's:
    /// the latest time seen, or this read's own bound again when pages may
    /// have shifted (re-reading is free of writes: fingerprints match).
    pub fn next(&self, since: Option<String>) -> Option<String> {
        match (&self.latest, self.recent) {
            (Some((_, text)), 0) => Some(text.clone()),
            _ => since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_read_starts_at_the_latest_change_unless_pages_may_have_shifted() {
        let started = parse_datetime("2024-05-01T12:00:00+00:00").unwrap();
        let mut w = Watermark::new(started);
        assert_eq!(w.next(Some("old".into())).as_deref(), Some("old"));
        w.note(Some("2024-05-01T10:00:00+02:00"));
        w.note(Some("2024-04-30T09:00:00+00:00"));
        w.note(Some("not a time"));
        w.note(None);
        assert_eq!(
            w.next(Some("old".into())).as_deref(),
            Some("2024-05-01T10:00:00+02:00")
        );
        w.note(Some("2024-05-01T11:59:00+00:00"));
        assert_eq!(w.next(Some("old".into())).as_deref(), Some("old"));
        assert_eq!(w.next(None), None);
        // That recent record was Ferry's own write: the cursor moves on.
        w.own_write(Some("2024-05-01T11:59:00+00:00"));
        assert_eq!(
            w.next(Some("old".into())).as_deref(),
            Some("2024-05-01T11:59:00+00:00")
        );
    }
}
