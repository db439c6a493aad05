//! Links: which record on one side is which on the other, who made each
//! link, and the linked record's status as Ferry last saw it. Links made
//! by hand or by a sync can be removed; a rule's cannot, and says why.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::html::{esc, unix_time, url_part};
use super::{Nav, Shared, Viewer, done_note, fail_page, layout};
use crate::serve::Service;
use crate::serve::access::{Fail, known};
use crate::serve::actions::Action;
use crate::store::{Link, LinkOrigin, Side};

/// Links shown on one page.
const SHOWN: usize = 500;

/// `/jobs/{name}/links`: the links of one sync or rule (`?id=` for one record).
pub(super) async fn job(
    State(s): State<Shared>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let result = (|| {
        known(&s, &name)?;
        let links = s
            .env
            .store
            .links_listed(&name, q.get("id").map(String::as_str))?;
        let mut body = format!(
            "<p class=\"crumbs\"><a href=\"/\">Overview</a> › <a href=\"/jobs/{}\">{}</a> ›</p><h1>Links of {}</h1>",
            url_part(&name),
            esc(&name),
            esc(&name)
        );
        body.push_str(&done_note(&q));
        body.push_str(&search_form(
            &format!("/jobs/{}/links", url_part(&name)),
            &q,
        ));
        let rows: Vec<(String, String, String, Link)> = links
            .into_iter()
            .map(|(from, to, link)| (name.clone(), from, to, link))
            .collect();
        table(&s, &viewer, &mut body, &rows);
        Ok::<_, Fail>(layout(&viewer, "Links", Nav::Other, None, &body))
    })();
    result.unwrap_or_else(|fail| fail_page(Some(&viewer), fail))
}

/// `/links?id=`: everything one record (a deal, an account) is linked to,
/// by every sync and rule.
pub(super) async fn record(
    State(s): State<Shared>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let result = (|| {
        let mut body = String::from(
            "<p class=\"crumbs\"><a href=\"/\">Overview</a> ›</p><h1>Links of a record</h1>",
        );
        body.push_str(&search_form("/links", &q));
        if let Some(id) = q.get("id").filter(|id| !id.is_empty()) {
            let mut rows = Vec::new();
            for job in &s.jobs {
                for name in job.names() {
                    for (from, to, link) in s.env.store.links_listed(&name, Some(id))? {
                        rows.push((name.clone(), from, to, link));
                    }
                }
            }
            table(&s, &viewer, &mut body, &rows);
        }
        Ok::<_, Fail>(layout(&viewer, "Links", Nav::Other, None, &body))
    })();
    result.unwrap_or_else(|fail| fail_page(Some(&viewer), fail))
}

fn search_form(action: &str, q: &HashMap<String, String>) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\" class=\"search\"><label for=\"id\">Record id (the <em>from</em> side, e.g. a deal)</label> <input id=\"id\" name=\"id\" value=\"{}\"> <button type=\"submit\">Show links</button></form>",
        esc(q.get("id").map(String::as_str).unwrap_or_default())
    )
}

/// The linked record's status as Ferry last saw it, when it keeps one.
fn last_status(s: &Service, name: &str, to: &str) -> Option<String> {
    let snap = s.env.store.snapshot(name, Side::To, to).ok()??;
    let state = snap.state?;
    let status = state.get("status").or_else(|| state.get("Stage"))?;
    Some(status.as_str().map_or(status.to_string(), str::to_string))
}

fn table(s: &Service, viewer: &Viewer, body: &mut String, rows: &[(String, String, String, Link)]) {
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No links.</p>");
        return;
    }
    body.push_str("<div class=\"scroll\"><table class=\"links\"><thead><tr><th scope=\"col\">Sync or rule</th><th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">Made by</th><th scope=\"col\">Made</th><th scope=\"col\">Last seen status</th><th scope=\"col\"></th></tr></thead><tbody>");
    for (name, from, to, link) in rows.iter().take(SHOWN) {
        let made_by = match &link.origin {
            LinkOrigin::Sync => "the sync".to_string(),
            LinkOrigin::Trigger(rule) => format!("rule <code>{}</code>", esc(rule)),
            LinkOrigin::Manual => "hand".to_string(),
        };
        let remove = match &link.origin {
            LinkOrigin::Trigger(rule) => format!(
                "<span class=\"muted\">Cannot be removed: rule <code>{}</code> finds its records by it</span>",
                esc(rule)
            ),
            _ if viewer.may(Action::Unlink) => format!(
                "<form method=\"post\" action=\"/jobs/{}/unlink\" class=\"inline\">{}<input type=\"hidden\" name=\"from\" value=\"{}\"><input type=\"hidden\" name=\"to\" value=\"{}\"><button type=\"submit\" class=\"danger\">Remove</button></form>",
                url_part(name),
                viewer.csrf_field(),
                esc(from),
                esc(to)
            ),
            _ => String::new(),
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"/jobs/{}\">{}</a></td><td><code>{}</code></td><td><code>{}</code></td><td>{made_by}</td><td>{}</td><td>{}</td><td>{remove}</td></tr>",
            url_part(name),
            esc(name),
            esc(from),
            esc(to),
            unix_time(link.created),
            esc(&last_status(s, name, to).unwrap_or_else(|| "–".into())),
        );
    }
    body.push_str("</tbody></table></div>");
    if rows.len() > SHOWN {
        let _ = write!(
            body,
            "<p class=\"muted\">The first {SHOWN} of {} links; give a record id to see its own.</p>",
            rows.len()
        );
    }
}
