//! Paging with guards. Every loop over a connector's pages (a sync's
//! listing, its deleted feed, a match index, a rule's watch) asks a
//! [`PageGuard`] for the next cursor, which refuses a listing that cannot
//! end: a cursor handed out twice, pages that bring nothing new, or more
//! pages than the connection's `limits.pages`. It also drops a record a
//! page lists twice, which would otherwise be written twice before either
//! write is committed.

use std::collections::{HashSet, VecDeque};

use crate::connector::{CallError, Operation, Page, Record, id_of};

use super::{Endpoint, EngineError};

/// Pages whose ids are remembered to spot a listing that goes round in
/// circles with fresh cursors; small, so memory stays flat on big reads.
const RECENT_PAGES: usize = 8;

/// Why a listing was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error(
        "the connector handed out cursor `{cursor}` a second time; its listing would never end"
    )]
    RepeatedCursor { cursor: String },
    #[error(
        "page {page} brought only records already read on the last pages; the listing goes round in circles"
    )]
    NoProgress { page: u64 },
    #[error(
        "the listing passed {limit} pages (the connection's `limits.pages`); raise it if the module is really that large"
    )]
    TooManyPages { limit: u64 },
}

/// Watches one listing, page by page.
#[derive(Debug)]
pub struct PageGuard {
    limit: u64,
    pages: u64,
    cursors: HashSet<String>,
    recent: VecDeque<HashSet<String>>,
}

impl PageGuard {
    /// A guard allowing at most `limit` pages.
    pub fn new(limit: u64) -> PageGuard {
        PageGuard {
            limit: limit.max(1),
            pages: 0,
            cursors: HashSet::new(),
            recent: VecDeque::with_capacity(RECENT_PAGES),
        }
    }

    /// Account for a page of records whose ids are in `id_field`: its
    /// records, each once (the first of a repeat stands), and the cursor
    /// of the next page (`Ok(None)`: the listing is done).
    pub fn page(
        &mut self,
        records: Vec<Record>,
        id_field: &str,
        next: Option<String>,
    ) -> (Vec<Record>, Result<Option<String>, PagingError>) {
        let mut ids = HashSet::with_capacity(records.len());
        let records: Vec<Record> = records
            .into_iter()
            .filter(|r| id_of(r, id_field).is_none_or(|id| ids.insert(id)))
            .collect();
        let next = self.next(ids, next);
        (records, next)
    }

    /// Account for a page with these record ids, and decide whether to
    /// read the page at `next` (`Ok(None)`: the listing is done).
    pub fn next<S: Into<String>>(
        &mut self,
        ids: impl IntoIterator<Item = S>,
        next: Option<String>,
    ) -> Result<Option<String>, PagingError> {
        self.pages += 1;
        let ids: HashSet<String> = ids.into_iter().map(Into::into).collect();
        let Some(cursor) = next else {
            return Ok(None);
        };
        if !ids.is_empty()
            && ids
                .iter()
                .all(|id| self.recent.iter().any(|p| p.contains(id)))
        {
            return Err(PagingError::NoProgress { page: self.pages });
        }
        if self.recent.len() == RECENT_PAGES {
            self.recent.pop_front();
        }
        self.recent.push_back(ids);
        if !self.cursors.insert(cursor.clone()) {
            return Err(PagingError::RepeatedCursor { cursor });
        }
        if self.pages >= self.limit {
            return Err(PagingError::TooManyPages { limit: self.limit });
        }
        Ok(Some(cursor))
    }
}

/// A page being fetched while the one before it is processed.
type Ahead = tokio::task::JoinHandle<Result<Page, CallError>>;

/// One listing of a module, read page by page under a [`PageGuard`]:
/// the page loop every reader uses. The next page is fetched while the
/// caller works on the one in hand (on a Tokio runtime), so a reader waits
/// for the vendor only when it outruns it.
pub struct Listing<'a> {
    end: &'a Endpoint,
    module: String,
    id_field: String,
    since: Option<String>,
    cursor: Option<String>,
    guard: PageGuard,
    /// Set once the last page was handed out, or a page's guard refused
    /// to go on (returned after that page, so its records are used).
    end_state: Option<Result<(), PagingError>>,
    /// The page at `cursor`, already asked for.
    ahead: Option<Ahead>,
}

impl Drop for Listing<'_> {
    fn drop(&mut self) {
        // A reader that stops early (an error, a service shutting down)
        // does not wait for, or use, the page asked for ahead.
        if let Some(ahead) = self.ahead.take() {
            ahead.abort();
        }
    }
}

impl<'a> Listing<'a> {
    /// Every record of `end`'s module changed since `since` (inclusive;
    /// ignored when the module cannot filter by time), or all of them.
    pub fn new(end: &'a Endpoint, since: Option<String>) -> Listing<'a> {
        let since = since.filter(|_| end.info.supports(Operation::Incremental));
        Listing::of(end, end.module(), &end.info.id_field, since)
    }

    /// Every record of another module of `end`'s connection, keyed by
    /// `id_field`.
    pub fn of(
        end: &'a Endpoint,
        module: &str,
        id_field: &str,
        since: Option<String>,
    ) -> Listing<'a> {
        Listing {
            end,
            module: module.to_string(),
            id_field: id_field.to_string(),
            since,
            cursor: None,
            guard: PageGuard::new(end.vendor.limits().pages),
            end_state: None,
            ahead: None,
        }
    }

    /// Ask for the page at `cursor` now, to be taken by the next call of
    /// [`Listing::next_page`]; outside a Tokio runtime it is asked for then.
    fn fetch_ahead(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let vendor = self.end.vendor.clone();
        let module = self.module.clone();
        let since = self.since.clone();
        let cursor = self.cursor.clone();
        self.ahead = Some(runtime.spawn(async move {
            vendor
                .list(&module, since.as_deref(), cursor.as_deref())
                .await
        }));
    }

    /// The page at `cursor`: the one asked for ahead, or asked for now.
    async fn fetch(&mut self) -> Result<Page, CallError> {
        if let Some(ahead) = self.ahead.take() {
            // Only a panic in the call fails the task (nothing else
            // aborts it): then ask again in this task, where it shows.
            if let Ok(page) = ahead.await {
                return page;
            }
        }
        self.end
            .vendor
            .list(&self.module, self.since.as_deref(), self.cursor.as_deref())
            .await
    }

    /// The next page's records, each once; `Ok(None)` when the listing
    /// is done. A listing that cannot end is an error after its last
    /// good page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Record>>, EngineError> {
        match self.end_state.take() {
            Some(Ok(())) => {
                self.end_state = Some(Ok(()));
                return Ok(None);
            }
            Some(Err(error)) => return Err(self.end.paging_error(&self.module, error)),
            None => {}
        }
        let page = self
            .fetch()
            .await
            .map_err(|e| self.end.call_error_on(&self.module, "list", e))?;
        let (records, next) = self
            .guard
            .page(page.records, &self.id_field, page.next_cursor);
        match next {
            Ok(Some(next)) => {
                self.cursor = Some(next);
                self.fetch_ahead();
            }
            Ok(None) => self.end_state = Some(Ok(())),
            Err(error) => self.end_state = Some(Err(error)),
        }
        Ok(Some(records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed pages (ids, next cursor) until the guard ends the listing.
    fn read(limit: u64, pages: &[(&[&str], Option<&str>)]) -> Result<usize, PagingError> {
        let mut guard = PageGuard::new(limit);
        for (n, (ids, next)) in pages.iter().enumerate() {
            if guard
                .next(ids.iter().copied(), next.map(str::to_owned))?
                .is_none()
            {
                return Ok(n + 1);
            }
        }
        panic!("the table ran out of pages")
    }

    #[test]
    fn listings_end_or_are_stopped() {
        // An ordinary listing.
        assert_eq!(read(10, &[(&["a", "b"], Some("2")), (&["c"], None)]), Ok(2));
        // Empty pages with distinct cursors are fine (a filtered page).
        assert_eq!(
            read(10, &[(&[], Some("2")), (&[], Some("3")), (&[], None)]),
            Ok(3)
        );
        // A record shifted onto the next page is seen twice; fine while
        // the page brings something new.
        assert_eq!(
            read(10, &[(&["a", "b"], Some("2")), (&["b", "c"], None)]),
            Ok(2)
        );
        // The same cursor again.
        assert_eq!(
            read(10, &[(&["a"], Some("1")), (&["b"], Some("1"))]),
            Err(PagingError::RepeatedCursor { cursor: "1".into() })
        );
        // Fresh cursors, the same records round and round.
        assert_eq!(
            read(
                100,
                &[
                    (&["e0"], Some("1")),
                    (&["e1"], Some("2")),
                    (&["e2"], Some("3")),
                    (&["e0"], Some("4")),
                ]
            ),
            Err(PagingError::NoProgress { page: 4 })
        );
        // A listing longer than the limit.
        assert_eq!(
            read(
                2,
                &[(&["a"], Some("1")), (&["b"], Some("2")), (&["c"], None)]
            ),
            Err(PagingError::TooManyPages { limit: 2 })
        );
        // The last page may be the limit's.
        assert_eq!(read(2, &[(&["a"], Some("1")), (&["b"], None)]), Ok(2));
    }

    #[test]
    fn a_record_listed_twice_in_a_page_comes_once() {
        let rec = |id: &str, n: u64| {
            let mut r = Record::new();
            r.insert("id".into(), id.into());
            r.insert("n".into(), n.into());
            r
        };
        let mut guard = PageGuard::new(10);
        let (records, next) = guard.page(vec![rec("a", 1), rec("b", 2), rec("a", 3)], "id", None);
        assert_eq!(records, vec![rec("a", 1), rec("b", 2)]);
        assert_eq!(next, Ok(None));
    }
}
