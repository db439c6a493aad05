//! `/`: every sync and trigger rule, worst news first in each card.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Response;

use super::html::{duration, esc, run_badge, state_badge, time, unix_time, url_part};
use super::{Nav, Shared, Viewer, charts, fail_page, layout};
use crate::serve::{JobState, Status};
use crate::store::Counts;

/// Runs shown in each strip.
const STRIP: usize = 20;

pub(super) async fn page(State(s): State<Shared>, viewer: Viewer) -> Response {
    let mut statuses = match s.status() {
        Ok(st) => st,
        Err(e) => return fail_page(Some(&viewer), e.into()),
    };
    // Problems first, so they are seen before anything is read.
    statuses.sort_by_key(|st| rank(st.state));
    let mut body = String::from("<h1>Overview</h1>");
    let problems = statuses
        .iter()
        .filter(|st| {
            matches!(
                st.state,
                JobState::Held | JobState::BackingOff | JobState::Failing
            )
        })
        .count();
    let running = statuses.iter().any(|st| st.running);
    let _ = write!(
        body,
        "<p class=\"summary\">{} syncs and rules · {} running · <strong class=\"{}\">{} need attention</strong></p>",
        statuses.len(),
        statuses.iter().filter(|st| st.running).count(),
        if problems > 0 { "bad-text" } else { "ok-text" },
        problems
    );
    if statuses.is_empty() {
        body.push_str("<p>This workspace has no syncs or trigger rules.</p>");
    }
    body.push_str("<ul class=\"cards\">");
    for st in &statuses {
        let runs = s.env.store.runs(&st.name, STRIP).unwrap_or_default();
        card(&mut body, st, &runs);
    }
    body.push_str("</ul>");
    layout(&viewer, "Overview", Nav::Overview, Some(running), &body)
}

fn card(out: &mut String, st: &Status, runs: &[crate::store::RunRecord]) {
    let _ = write!(
        out,
        "<li class=\"card state-{state}\" data-job=\"{name}\"><div class=\"card-head\"><a class=\"job\" href=\"/jobs/{href}\">{name}</a> <span class=\"kind\">{kind}</span> {badge}</div>",
        state = esc(&format!("{:?}", st.state).to_lowercase()),
        name = esc(&st.name),
        href = url_part(&st.name),
        kind = st.kind,
        badge = state_badge(st.state),
    );
    if let Some(live) = &st.progress {
        let elapsed = crate::store::unix_now().saturating_sub(live.started);
        let _ = write!(
            out,
            "<p class=\"progress\" data-progress>{} · {} elapsed</p>",
            progress_text(&live.counts),
            duration(elapsed)
        );
    }
    if let Some(why) = &st.held {
        let _ = write!(out, "<p class=\"why\">{}</p>", esc(why));
    }
    out.push_str("<dl class=\"facts\">");
    match &st.last_run {
        Some(r) => {
            let _ = write!(
                out,
                "<dt>Last run</dt><dd><a href=\"/jobs/{}/runs/{}\">#{}</a> {} · {} · {}</dd>",
                url_part(&st.name),
                r.id,
                r.id,
                unix_time(r.started),
                r.duration().map_or("running".into(), duration),
                run_badge(r)
            );
        }
        None => out.push_str("<dt>Last run</dt><dd>never</dd>"),
    }
    let next = match (st.paused, st.next_run) {
        (true, _) => "paused".to_string(),
        (false, Some(t)) => time(t),
        (false, None) => format!("on demand ({})", esc(&st.schedule)),
    };
    let _ = write!(out, "<dt>Next run</dt><dd>{next}</dd>");
    if st.failing > 0 {
        let _ = write!(
            out,
            "<dt>Failing records</dt><dd class=\"bad-text\">{}</dd>",
            st.failing
        );
    }
    out.push_str("</dl>");
    out.push_str(&charts::strip(runs));
    out.push_str("</li>");
}

fn rank(state: JobState) -> u8 {
    match state {
        JobState::Held | JobState::BackingOff | JobState::Failing => 0,
        JobState::Running => 1,
        JobState::Paused => 2,
        JobState::Idle => 3,
    }
}

/// `read 120 · added 4 · updated 2 · skipped 0 · failed 1`.
pub(super) fn progress_text(c: &Counts) -> String {
    format!(
        "read {} · added {} · updated {} · skipped {} · failed {}",
        c.read, c.added, c.updated, c.skipped, c.failed
    )
}
