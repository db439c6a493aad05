//! `schedule:` of syncs and triggers: `every …`, `hourly`, `daily at …`,
//! `cron …`, `webhook` or `manual`.

use super::Loader;
use crate::config::diag::did_you_mean;
use crate::config::model::*;
use crate::config::yaml::{Node, Span};

impl Loader {
    pub(super) fn schedule(&mut self, node: &Node) -> Option<Spanned<Schedule>> {
        let hint = || {
            Some(
                "write `every 2h`, `hourly`, `daily at 00:00 UTC`, `cron 0 */2 * * *`, `webhook` or `manual`"
                    .to_owned(),
            )
        };
        if let Some(c) = node.get("cron") {
            self.keys(node, &["cron", "every"], "`schedule`", false);
            let s = self.string(c, "`cron`")?;
            return self.cron(&s).map(|c| Spanned::new(c, s.span));
        }
        if let Some(e) = node.get("every") {
            let s = self.string(e, "`every`")?;
            return self
                .every(&s.value, &s.span)
                .map(|d| Spanned::new(d, s.span));
        }
        let s = self.string(node, "`schedule`")?;
        let v = s.value.trim();
        let sched = if v == "manual" {
            Schedule::Manual
        } else if v == "webhook" {
            Schedule::Webhook
        } else if v == "hourly" {
            Schedule::Cron("0 * * * *".into())
        } else if v == "daily" {
            Schedule::Cron("0 0 * * *".into())
        } else if let Some(at) = v.strip_prefix("daily at ") {
            let at = at.trim().trim_end_matches("UTC").trim();
            let hm = at
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(h, m)| *h < 24 && *m < 60);
            match hm {
                Some((h, m)) => Schedule::Cron(format!("{m} {h} * * *")),
                None => {
                    self.err_hint(
                        &s.span,
                        format!("`{at}` is not a time of day"),
                        Some("for example `daily at 00:00 UTC` (times are UTC)".into()),
                    );
                    return None;
                }
            }
        } else if let Some(rest) = v.strip_prefix("every ") {
            return self.every(rest, &s.span).map(|d| Spanned::new(d, s.span));
        } else if let Some(rest) = v.strip_prefix("cron ") {
            return self
                .cron(&Spanned::new(rest.to_owned(), s.span.clone()))
                .map(|c| Spanned::new(c, s.span));
        } else {
            let h = did_you_mean(v, ["manual", "webhook", "hourly", "daily"]).or_else(hint);
            self.err_hint(&s.span, format!("`{v}` is not a schedule"), h);
            return None;
        };
        Some(Spanned::new(sched, s.span))
    }

    /// A sync's `full_read`: a schedule that fires on its own (`webhook`
    /// and `manual` do not).
    pub(super) fn full_read(&mut self, node: &Node) -> Option<Spanned<Schedule>> {
        let sched = self.schedule(node)?;
        if matches!(sched.value, Schedule::Webhook | Schedule::Manual) {
            self.err_hint(
                &sched.span,
                "`full_read` needs a schedule of its own",
                Some("write `hourly`, `daily`, `every 6h` or `cron …`; leave it out to read in full only with `--full`".into()),
            );
            return None;
        }
        Some(sched)
    }

    fn every(&mut self, text: &str, span: &Span) -> Option<Schedule> {
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.as_secs() >= 60 => Some(Schedule::Every(d)),
            Ok(_) => {
                self.err_hint(
                    span,
                    "schedules run at most once a minute",
                    Some("use `every 1m` or more, or `webhook` for near-real-time".into()),
                );
                None
            }
            Err(e) => {
                self.err_hint(
                    span,
                    format!("`{}` is not a duration: {e}", text.trim()),
                    Some("for example `every 15m` or `every 2h`".into()),
                );
                None
            }
        }
    }

    fn cron(&mut self, s: &Spanned<String>) -> Option<Schedule> {
        let fields: Vec<&str> = s.value.split_whitespace().collect();
        let ok_field = |f: &str| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '/' | '-'))
        };
        if fields.len() != 5
            || !fields.iter().all(|f| ok_field(f))
            || croner::Cron::new(&fields.join(" ")).parse().is_err()
        {
            self.err_hint(
                &s.span,
                format!("`{}` is not a five-field cron expression", s.value),
                Some("minute hour day-of-month month day-of-week, e.g. `0 */2 * * *`".into()),
            );
            return None;
        }
        Some(Schedule::Cron(fields.join(" ")))
    }
}
