//! `/jobs/{name}`: a sync's or rule's runs, a chart of records and API
//! calls, and the buttons its viewer's role may use.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::html::{
    duration, esc, run_badge, run_why, state_badge, time, trigger_word, unix_time, url_part,
};
use super::overview::progress_text;
use super::{Nav, Shared, Viewer, charts, done_note, fail_page, layout};
use crate::serve::access::known;
use crate::serve::actions::Action;
use crate::serve::{JobKind, Service};
use crate::store::{LedgerOp, LedgerRow, RunRecord};

/// Runs on the page (and in the chart).
const RUNS: usize = 50;

pub(super) async fn page(
    State(s): State<Shared>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match render(&s, &viewer, &name, &q) {
        Ok(r) => r,
        Err(fail) => fail_page(Some(&viewer), fail),
    }
}

fn render(
    s: &Service,
    viewer: &Viewer,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, crate::serve::access::Fail> {
    let i = known(s, name)?;
    let is_sync = matches!(s.jobs[i].kind, JobKind::Sync(_));
    let st = s
        .status()?
        .into_iter()
        .find(|st| st.name == name)
        .expect("a known job has a status");
    let runs = s.env.store.runs(name, RUNS)?;
    let calls: Vec<Option<u64>> = runs.iter().map(|r| s.run_calls(name, r.id)).collect();
    let href = url_part(name);
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/\">Overview</a> ›</p><h1>{} <span class=\"kind\">{}</span> {}</h1>",
        esc(name),
        st.kind,
        state_badge(st.state)
    );
    body.push_str(&done_note(q));
    if let Some(live) = &st.progress {
        let _ = write!(
            body,
            "<p class=\"progress\" data-progress role=\"status\">Running: {} · {} elapsed</p>",
            progress_text(&live.counts),
            duration(crate::store::unix_now().saturating_sub(live.started))
        );
    }
    if let Some(why) = &st.held {
        let _ = write!(body, "<p class=\"why\">{}</p>", esc(why));
    }
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>Schedule</dt><dd>{}</dd><dt>Next run</dt><dd>{}</dd><dt>Failing records</dt><dd>{}</dd></dl>",
        esc(&st.schedule),
        match (st.paused, st.next_run) {
            (true, _) => "paused".into(),
            (false, Some(t)) => time(t),
            (false, None) => "on demand".into(),
        },
        st.failing
    );
    // Buttons: only those this viewer's role may use.
    let mut buttons = String::new();
    let mut button = |action: Action, path: &str, label: &str, class: &str| {
        if viewer.may(action) {
            let _ = write!(
                buttons,
                "<form method=\"post\" action=\"/jobs/{href}/{path}\" class=\"inline\">{}<button type=\"submit\" class=\"{class}\" data-action=\"{path}\">{label}</button></form>",
                viewer.csrf_field()
            );
        }
    };
    button(Action::Run, "run", "Run now", "primary");
    button(Action::FullRun, "full-run", "Full run", "");
    if st.paused {
        button(Action::Resume, "resume", "Resume", "");
    } else {
        button(Action::Pause, "pause", "Pause", "");
    }
    if is_sync {
        button(Action::Retry, "retry", "Retry failed", "");
        button(Action::Preview, "preview", "Preview first sync", "");
    }
    if !buttons.is_empty() {
        let _ = write!(body, "<div class=\"actions\">{buttons}</div>");
    }
    let _ = write!(
        body,
        "<p><a href=\"/jobs/{href}/links\">Links of {}</a></p>",
        esc(name)
    );
    body.push_str("<h2>Records and API calls</h2>");
    if runs.is_empty() {
        body.push_str("<p class=\"muted\">No runs yet.</p>");
    } else {
        body.push_str(&charts::timeline(&runs, &calls));
    }
    body.push_str("<h2>Runs</h2>");
    if !runs.is_empty() {
        body.push_str(
            "<div class=\"scroll\"><table class=\"runs\"><thead><tr><th scope=\"col\">Run</th><th scope=\"col\">Started</th><th scope=\"col\">Duration</th><th scope=\"col\">Trigger</th><th scope=\"col\">Status</th><th scope=\"col\">Added</th><th scope=\"col\">Updated</th><th scope=\"col\">Skipped</th><th scope=\"col\">Failed</th><th scope=\"col\">API calls</th></tr></thead><tbody>",
        );
        for (r, c) in runs.iter().zip(&calls) {
            let _ = write!(
                body,
                "<tr><td><a href=\"/jobs/{href}/runs/{id}\">#{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                unix_time(r.started),
                r.duration().map_or("running".into(), duration),
                trigger_word(r),
                run_badge(r),
                run_why(r),
                r.counts.added,
                r.counts.updated,
                r.counts.skipped,
                r.counts.failed,
                c.map_or("–".into(), |c| c.to_string()),
                id = r.id,
            );
        }
        body.push_str("</tbody></table></div>");
    }
    Ok(layout(viewer, name, Nav::Other, Some(st.running), &body))
}

/// What a preview found a row would do.
fn would(op: LedgerOp) -> &'static str {
    match op {
        LedgerOp::Create => "would create",
        LedgerOp::Update | LedgerOp::Act => "would update",
        LedgerOp::Link => "would match",
        LedgerOp::Skip | LedgerOp::Unchanged => "would skip",
        LedgerOp::Fail => "would fail",
        LedgerOp::Delete => "would delete",
        LedgerOp::Conflict => "conflict",
    }
}

/// The answer to "Preview first sync": the dry run's counts and rows.
pub(super) fn preview_page(
    viewer: &Viewer,
    name: &str,
    run: &RunRecord,
    rows: &[LedgerRow],
) -> Response {
    let mut tally: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        let w = would(r.op);
        match tally.iter_mut().find(|(k, _)| *k == w) {
            Some((_, n)) => *n += 1,
            None => tally.push((w, 1)),
        }
    }
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/\">Overview</a> › <a href=\"/jobs/{}\">{}</a> ›</p><h1>Preview of a first sync</h1><p>A dry run: nothing was written. {}</p>",
        url_part(name),
        esc(name),
        run_badge(run)
    );
    body.push_str("<ul class=\"tally\">");
    for (w, n) in &tally {
        let _ = write!(
            body,
            "<li data-would=\"{}\"><strong>{n}</strong> {}</li>",
            esc(w),
            esc(w)
        );
    }
    body.push_str("</ul>");
    if rows.is_empty() {
        body.push_str("<p>Nothing to do.</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table class=\"ledger\"><thead><tr><th scope=\"col\">Record</th><th scope=\"col\">Would</th><th scope=\"col\">Other side</th><th scope=\"col\">Reason</th></tr></thead><tbody>");
        for r in rows {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                super::run::record_cell(r),
                would(r.op),
                esc(r.target_id.as_deref().unwrap_or("–")),
                esc(r.reason.as_deref().unwrap_or(""))
            );
        }
        body.push_str("</tbody></table></div>");
    }
    layout(viewer, "Preview", Nav::Other, None, &body)
}
