//! `/jobs/{name}/runs/{id}`: one run's ledger — each record with its names
//! and ids on both sides, operation, reason and field diff — with filters,
//! failures grouped by reason, and exports.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::html::{duration, esc, run_badge, run_why, trigger_word, unix_time, url_part};
use super::{Nav, Shared, Viewer, fail_page, layout};
use crate::serve::Service;
use crate::serve::access::{Fail, known};
use crate::store::{LedgerFilter, LedgerRow, Side};

/// Rows on one page of the ledger.
const PAGE: usize = 200;

/// Failed rows read to group their reasons.
const GROUPED: usize = 10_000;

/// The filters offered, by their label.
const FILTERS: [(LedgerFilter, &str); 4] = [
    (LedgerFilter::All, "All"),
    (LedgerFilter::Skipped, "Skipped"),
    (LedgerFilter::Failed, "Failed"),
    (LedgerFilter::Conflicts, "Conflicts"),
];

fn filter_of(q: &HashMap<String, String>) -> Result<LedgerFilter, Fail> {
    match q.get("filter") {
        None => Ok(LedgerFilter::All),
        Some(f) => LedgerFilter::parse(f)
            .ok_or_else(|| Fail(StatusCode::BAD_REQUEST, format!("no filter `{f}`"))),
    }
}

pub(super) async fn page(
    State(s): State<Shared>,
    viewer: Viewer,
    Path((name, id)): Path<(String, u64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&s, &viewer, &name, id, &q).unwrap_or_else(|fail| fail_page(Some(&viewer), fail))
}

/// The record's name (when known) and id on the side it was read from.
pub(super) fn record_cell(r: &LedgerRow) -> String {
    let side = match r.from_side {
        Side::From => "from",
        Side::To => "to",
    };
    format!(
        "{} <span class=\"side\">({side})</span>",
        named(r.title.as_deref(), &r.source_id)
    )
}

/// The partner's name (when known) and id on the other side.
fn other_cell(r: &LedgerRow) -> String {
    match &r.target_id {
        Some(id) => named(r.target_title.as_deref(), id),
        None => "–".into(),
    }
}

fn named(title: Option<&str>, id: &str) -> String {
    match title {
        Some(t) => format!(
            "<span class=\"title\">{}</span> <code class=\"id\">{}</code>",
            esc(t),
            esc(id)
        ),
        None => format!("<code class=\"id\">{}</code>", esc(id)),
    }
}

fn op_word(r: &LedgerRow) -> String {
    serde_json::to_value(r.op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn render(
    s: &Service,
    viewer: &Viewer,
    name: &str,
    id: u64,
    q: &HashMap<String, String>,
) -> Result<Response, Fail> {
    known(s, name)?;
    let run = s
        .env
        .store
        .run(name, id)?
        .ok_or_else(|| Fail(StatusCode::NOT_FOUND, format!("{name} has no run #{id}")))?;
    let filter = filter_of(q)?;
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let rows = s.env.store.ledger(name, id, filter, offset, PAGE + 1)?;
    let more = rows.len() > PAGE;
    let href = url_part(name);
    let c = &run.counts;
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/\">Overview</a> › <a href=\"/jobs/{href}\">{}</a> ›</p><h1>Run #{id} {}</h1><p>{}</p>",
        esc(name),
        run_badge(&run),
        run_why(&run)
    );
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>Started</dt><dd>{}</dd><dt>Duration</dt><dd>{}</dd><dt>Trigger</dt><dd>{}</dd><dt>Records</dt><dd>read {} · added {} · updated {} · deleted {} · skipped {} · failed {} · unchanged {} · conflicts {}</dd></dl>",
        unix_time(run.started),
        run.duration().map_or("running".into(), duration),
        trigger_word(&run),
        c.read,
        c.added,
        c.updated,
        c.deleted,
        c.skipped,
        c.failed,
        c.unchanged,
        c.conflicts
    );
    // Failures by reason, most frequent first.
    let failed = s
        .env
        .store
        .ledger(name, id, LedgerFilter::Failed, 0, GROUPED)?;
    if !failed.is_empty() {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &failed {
            *by.entry(r.reason.as_deref().unwrap_or("no reason given"))
                .or_default() += 1;
        }
        let mut by: Vec<_> = by.into_iter().collect();
        by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        body.push_str("<h2>Failures by reason</h2><ul class=\"reasons\">");
        for (why, n) in by {
            let _ = write!(
                body,
                "<li><strong>{n}</strong> <span class=\"why\">{}</span></li>",
                esc(why)
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Ledger</h2><nav class=\"filters\" aria-label=\"Filter the ledger\">");
    for (f, label) in FILTERS {
        let current = if f == filter {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            body,
            "<a href=\"/jobs/{href}/runs/{id}?filter={}\"{current}>{label}</a>",
            f.name()
        );
    }
    let _ = write!(
        body,
        "</nav><p class=\"exports\">Export: <a href=\"/jobs/{href}/runs/{id}/export?format=csv&amp;filter={f}\" download>CSV</a> · <a href=\"/jobs/{href}/runs/{id}/export?format=json&amp;filter={f}\" download>JSON</a></p>",
        f = filter.name()
    );
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No records here.</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table class=\"ledger\"><thead><tr><th scope=\"col\">Record</th><th scope=\"col\">Operation</th><th scope=\"col\">Other side</th><th scope=\"col\">Reason</th><th scope=\"col\">Changes</th></tr></thead><tbody>");
        for r in rows.iter().take(PAGE) {
            let op = op_word(r);
            let mut diff = String::new();
            for ch in &r.diff {
                let _ = write!(
                    diff,
                    "<li><code>{}</code>: <del>{}</del> → <ins>{}</ins></li>",
                    esc(&ch.field),
                    esc(&ch.before.to_string()),
                    esc(&ch.after.to_string())
                );
            }
            if !diff.is_empty() {
                diff = format!("<ul class=\"diff\">{diff}</ul>");
            }
            let _ = write!(
                body,
                "<tr class=\"op-{op}\" data-op=\"{op}\"><td>{}</td><td>{}{}</td><td>{}</td><td class=\"reason\">{}</td><td>{diff}</td></tr>",
                record_cell(r),
                esc(&op),
                r.rule.as_deref().map_or(String::new(), |rule| format!(
                    " <span class=\"muted\">by {}</span>",
                    esc(rule)
                )),
                other_cell(r),
                esc(r.reason.as_deref().unwrap_or("")),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    if offset > 0 || more {
        body.push_str("<p class=\"pager\">");
        if offset > 0 {
            let _ = write!(
                body,
                "<a href=\"/jobs/{href}/runs/{id}?filter={}&amp;offset={}\">Previous</a> ",
                filter.name(),
                offset.saturating_sub(PAGE)
            );
        }
        if more {
            let _ = write!(
                body,
                "<a href=\"/jobs/{href}/runs/{id}?filter={}&amp;offset={}\">Next</a>",
                filter.name(),
                offset + PAGE
            );
        }
        body.push_str("</p>");
    }
    let running = run.ended.is_none();
    Ok(layout(
        viewer,
        &format!("{name} run #{id}"),
        Nav::Other,
        running.then_some(true),
        &body,
    ))
}

/// The run's ledger as a file (`?format=csv|json`, `?filter=`), as the
/// API's export.
pub(super) async fn export(
    State(s): State<Shared>,
    viewer: Viewer,
    Path((name, id)): Path<(String, u64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let result = (|| {
        known(&s, &name)?;
        let filter = filter_of(&q)?;
        let rows = s.env.store.ledger(&name, id, filter, 0, usize::MAX)?;
        let file = format!("{name}-run-{id}-{}", filter.name());
        // The file name is ours, but `name` is the workspace's: keep it
        // to characters a header quotes safely.
        let file: String = file
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok::<_, Fail>(match q.get("format").map(String::as_str) {
            Some("csv") => (
                [
                    (header::CONTENT_TYPE, "text/csv".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.csv\""),
                    ),
                ],
                crate::store::ledger_csv(&rows)?,
            )
                .into_response(),
            None | Some("json") => (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.json\""),
                    ),
                ],
                serde_json::to_vec_pretty(&rows)?,
            )
                .into_response(),
            Some(other) => {
                return Err(Fail(
                    StatusCode::BAD_REQUEST,
                    format!("`format={other}`: use csv or json"),
                ));
            }
        })
    })();
    result.unwrap_or_else(|fail| fail_page(Some(&viewer), fail))
}
