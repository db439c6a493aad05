//! Links: which record on one side is which on the other, who made each
//! link, and the linked record's status — as Ferry last saw it on a job's
//! page, asked of the vendor now on one record's page. Links made by hand
//! or by a sync can be removed; a rule's cannot, and says why.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::html::{esc, unix_time, url_part};
use super::{Nav, Shared, Viewer, done_note, fail_page, layout};
use crate::config::{Action, ModuleRef};
use crate::connector::ConnectorError;
use crate::serve::Service;
use crate::serve::access::{Fail, known};
use crate::serve::actions::Action as Permission;
use crate::store::{Link, LinkOrigin, Side};

/// Links shown on one page.
const SHOWN: usize = 500;

/// Linked records whose status one record's page asks their vendor for
/// (one API call each); any further show the status last seen.
const LIVE: usize = 20;

/// A linked record's status now, or why it could not be read.
type Now = HashMap<(String, String), Result<Option<String>, String>>;

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
        table(&s, &viewer, &mut body, &rows, None);
        Ok::<_, Fail>(layout(&viewer, "Links", Nav::Other, None, &body))
    })();
    result.unwrap_or_else(|fail| fail_page(Some(&viewer), fail))
}

/// `/links?id=`: everything one record (a deal, an account) is linked to,
/// by every sync and rule, with each linked record's status now.
pub(super) async fn record(
    State(s): State<Shared>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut body = String::from(
        "<p class=\"crumbs\"><a href=\"/\">Overview</a> ›</p><h1>Links of a record</h1>",
    );
    body.push_str(&search_form("/links", &q));
    if let Some(id) = q.get("id").filter(|id| !id.is_empty()) {
        let mut rows = Vec::new();
        for job in &s.jobs {
            for name in job.names() {
                match s.env.store.links_listed(&name, Some(id)) {
                    Ok(links) => rows.extend(
                        links
                            .into_iter()
                            .map(|(from, to, link)| (name.clone(), from, to, link)),
                    ),
                    Err(e) => return fail_page(Some(&viewer), e.into()),
                }
            }
        }
        let mut now = HashMap::new();
        for (name, _, to, _) in rows.iter().take(LIVE) {
            now.insert((name.clone(), to.clone()), status_now(&s, name, to).await);
        }
        table(&s, &viewer, &mut body, &rows, Some(&now));
    }
    layout(&viewer, "Links", Nav::Other, None, &body)
}

fn search_form(action: &str, q: &HashMap<String, String>) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\" class=\"search\"><label for=\"id\">Record id (the <em>from</em> side, e.g. a deal)</label> <input id=\"id\" name=\"id\" value=\"{}\"> <button type=\"submit\">Show links</button></form>",
        esc(q.get("id").map(String::as_str).unwrap_or_default())
    )
}

/// Where the records `name` links to live: a sync's target module, or
/// the module a rule creates in.
fn linked_module(s: &Service, name: &str) -> Option<ModuleRef> {
    let ws = &s.env.workspace;
    if let Some(sync) = ws.syncs.get(name) {
        return Some(sync.to.clone());
    }
    match &ws.triggers.get(name)?.action {
        Action::Create { module } => Some(module.clone()),
        _ => None,
    }
}

/// A record's status field, as its vendor names it.
fn status_of(record: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let status = ["status", "Status", "Stage", "Quote_Stage"]
        .iter()
        .find_map(|f| record.get(*f).filter(|v| !v.is_null()))?;
    Some(status.as_str().map_or(status.to_string(), str::to_string))
}

/// The linked record's status as Ferry last saw it, when it keeps one.
fn last_status(s: &Service, name: &str, to: &str) -> Option<String> {
    let snap = s.env.store.snapshot(name, Side::To, to).ok()??;
    let serde_json::Value::Object(state) = snap.state? else {
        return None;
    };
    status_of(&state)
}

/// The linked record's status, read from its vendor now.
async fn status_now(s: &Service, name: &str, to: &str) -> Result<Option<String>, String> {
    let module = linked_module(s, name).ok_or("not a record Ferry can read")?;
    let endpoint = s.env.endpoint(&module).map_err(|e| e.to_string())?;
    match endpoint.vendor.get(&module.module, to).await {
        Ok(record) => Ok(status_of(&record)),
        Err(e) if matches!(e.connector_error(), Some(ConnectorError::NotFound(_))) => {
            Ok(Some("deleted".into()))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn table(
    s: &Service,
    viewer: &Viewer,
    body: &mut String,
    rows: &[(String, String, String, Link)],
    now: Option<&Now>,
) {
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No links.</p>");
        return;
    }
    let _ = write!(
        body,
        "<div class=\"scroll\"><table class=\"links\"><thead><tr><th scope=\"col\">Sync or rule</th><th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">Made by</th><th scope=\"col\">Made</th><th scope=\"col\">{}</th><th scope=\"col\"></th></tr></thead><tbody>",
        if now.is_some() {
            "Status now"
        } else {
            "Last seen status"
        }
    );
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
            _ if viewer.may(Permission::Unlink) => format!(
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
            "<tr><td><a href=\"/jobs/{}\">{}</a></td><td><code>{}</code></td><td><code>{}</code></td><td>{made_by}</td><td>{}</td><td class=\"status\">{}</td><td>{remove}</td></tr>",
            url_part(name),
            esc(name),
            esc(from),
            esc(to),
            unix_time(link.created),
            status_cell(s, name, to, now),
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

/// The status column: read now where `now` has it, else as last seen.
fn status_cell(s: &Service, name: &str, to: &str, now: Option<&Now>) -> String {
    let seen = || last_status(s, name, to).unwrap_or_else(|| "–".into());
    match now.and_then(|n| n.get(&(name.to_string(), to.to_string()))) {
        None => esc(&seen()),
        Some(Ok(status)) => esc(status.as_deref().unwrap_or("–")),
        Some(Err(why)) => format!(
            "{} <span class=\"muted\">(last seen; cannot read it now: {})</span>",
            esc(&seen()),
            esc(why)
        ),
    }
}
