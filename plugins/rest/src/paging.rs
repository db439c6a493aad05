//! The page loop of a declarative list: which request fetches the page a
//! cursor names, and which cursor names the next.

use ferry_plugin_sdk::prelude::*;
use ferry_rest_spec::{List, Pagination, Spec, Vars, at};

use crate::answer::records_at;
use crate::request::{Call, send};

/// At most this many pages for a `find` (which has no cursor of its own).
const FIND_PAGES: usize = 20;

/// The page `cursor` names (the first without one).
pub fn page(
    spec: &Spec,
    list: &List,
    vars: Vars<'_>,
    since: Option<(&str, &str)>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let pagination = list.pagination.as_ref().unwrap_or(&spec.pagination);
    let mut call = Call::new(&list.request, "GET", vars);
    if let Some((param, value)) = since {
        call = call.query(param, value);
    }
    let size = match pagination {
        Pagination::None => None,
        Pagination::Cursor { size, .. } | Pagination::Link { size } => size.as_ref(),
        Pagination::Page { size, .. } | Pagination::Offset { size, .. } => Some(size),
    };
    if let Some(size) = size {
        call = call.query(&size.param, size.value);
    }
    let number = |start: u64| -> Result<u64, ConnectorError> {
        cursor.map_or(Ok(start), |c| {
            c.parse()
                .map_err(|_| ConnectorError::invalid("cursor", format!("bad cursor `{c}`")))
        })
    };
    call = match (pagination, cursor) {
        (Pagination::Cursor { param, .. }, Some(c)) => call.query(param, c),
        (Pagination::Page { param, start, .. }, _) => call.query(param, number(*start)?),
        (Pagination::Offset { param, start, .. }, _) => call.query(param, number(*start)?),
        (Pagination::Link { .. }, Some(url)) => call.at_url(url.to_string()),
        _ => call,
    };
    let answer = send(spec, &call)?;
    let records = records_at(&answer.body, &list.records)?;
    let count = records.len() as u64;
    let page = Page::from_records(records);
    let flag = |path: &Option<String>| {
        path.as_ref().map(|p| {
            at(&answer.body, p)
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
    };
    Ok(match pagination {
        Pagination::None => page,
        Pagination::Cursor { next, has_more, .. } => {
            let next = at(&answer.body, next)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            let more = flag(has_more).unwrap_or(next.is_some()) && next.is_some();
            page.next(more, || next.unwrap_or_default())
        }
        Pagination::Page {
            start,
            has_more,
            size,
            ..
        } => {
            let current = number(*start)?;
            let more = flag(has_more).unwrap_or(count >= size.value) && count > 0;
            page.next(more, || (current + 1).to_string())
        }
        Pagination::Offset { start, size, .. } => {
            let current = number(*start)?;
            page.next(count >= size.value && count > 0, || {
                (current + count).to_string()
            })
        }
        Pagination::Link { .. } => {
            let next = answer.header("link").and_then(next_link);
            page.next(next.is_some(), || next.unwrap_or_default())
        }
    })
}

/// Every record a list (or find) gives, page after page.
pub fn all(spec: &Spec, list: &List, vars: Vars<'_>) -> Result<Vec<Record>, ConnectorError> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..FIND_PAGES {
        let page = page(spec, list, vars, None, cursor.as_deref())?;
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(records),
        }
    }
    Ok(records)
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn link_headers_name_the_next_page() {
        let h =
            r#"<https://api.x/items?page=2>; rel="next", <https://api.x/items?page=9>; rel="last""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.x/items?page=2"));
        assert_eq!(
            next_link(r#"<https://api.x/items?page=1>; rel="prev""#),
            None
        );
    }
}
