//! Small pieces of HTML: escaping (record names come from vendors, so
//! every text goes through [`esc`]), times, durations and status badges.

use chrono::{DateTime, Utc};

use crate::serve::JobState;
use crate::store::{RunRecord, RunStatus};

/// Text made safe for HTML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value, percent-encoded.
pub(crate) fn url_part(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `2026-12-03 14:05 UTC`, in a `<time>` element.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

pub(crate) fn unix_time(secs: u64) -> String {
    time(DateTime::from_timestamp(secs as i64, 0).unwrap_or_default())
}

/// `4s`, `2m 5s`, `1h 3m`.
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// A job's state as a badge: a word and a colour (the word carries the
/// meaning; the colour helps the eye).
pub(crate) fn state_badge(state: JobState) -> String {
    let class = match state {
        JobState::Running => "run",
        JobState::Held | JobState::BackingOff | JobState::Failing => "bad",
        JobState::Paused => "warn",
        JobState::Idle => "ok",
    };
    format!(
        "<span class=\"badge {class}\" data-state=\"{}\">{}</span>",
        esc(state.word()),
        esc(state.word())
    )
}

/// A run's status as a badge.
pub(crate) fn run_badge(run: &RunRecord) -> String {
    let class = match &run.status {
        RunStatus::Running => "run",
        RunStatus::Completed | RunStatus::DryRun => "ok",
        RunStatus::Partial(_) => "warn",
        RunStatus::Failed(_) => "bad",
    };
    format!(
        "<span class=\"badge {class}\">{}</span>",
        esc(run.status.word())
    )
}

/// Why a run failed or left records behind, when it did.
pub(crate) fn run_why(run: &RunRecord) -> String {
    match &run.status {
        RunStatus::Partial(why) | RunStatus::Failed(why) => {
            format!("<span class=\"why\">{}</span>", esc(why))
        }
        _ => String::new(),
    }
}

/// What started a run, for people.
pub(crate) fn trigger_word(run: &RunRecord) -> &'static str {
    match run.trigger {
        crate::store::RunTrigger::Manual => "manual",
        crate::store::RunTrigger::Schedule => "schedule",
        crate::store::RunTrigger::Webhook => "notification",
        crate::store::RunTrigger::SingleRecord => "one record",
        crate::store::RunTrigger::Retry => "retry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_text_cannot_open_tags_or_leave_attributes() {
        assert_eq!(
            esc(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(url_part("a b/c?d&e"), "a+b%2Fc%3Fd%26e");
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m 5s");
        assert_eq!(duration(3720), "1h 2m");
    }
}
