//! Pages of records, and a cursor helper for page-numbered APIs.

use crate::Record;

/// One page of records with the cursor of the next.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub records: Vec<Record>,
    /// Records already as JSON object text, handed over as they are
    /// (after `records`): a connector that passes the vendor's records on
    /// unchanged slices them out of the page instead of parsing each into
    /// a `Record` and writing it out again.
    pub raw: Vec<String>,
    pub next_cursor: Option<String>,
}

impl Page {
    /// A last page (no next cursor).
    pub fn from_records(records: Vec<Record>) -> Page {
        Page {
            records,
            ..Page::default()
        }
    }

    /// A last page of records as JSON object text (see [`Page::raw`]).
    pub fn from_raw(raw: Vec<String>) -> Page {
        Page {
            raw,
            ..Page::default()
        }
    }

    /// Set the next cursor when `more` is true.
    pub fn next(mut self, more: bool, cursor: impl FnOnce() -> String) -> Page {
        self.next_cursor = more.then(cursor);
        self
    }
}

/// A deleted record.
#[derive(Debug, Clone)]
pub struct DeletedRecord {
    pub id: String,
    pub deleted_at: Option<String>,
}

/// One page of the deleted feed.
#[derive(Debug, Clone, Default)]
pub struct DeletedPage {
    pub records: Vec<DeletedRecord>,
    pub next_cursor: Option<String>,
}

/// The cursor of page-numbered APIs: `"3"` is page 3; none is page 1.
pub fn page_number(cursor: Option<&str>) -> Result<u32, crate::ConnectorError> {
    match cursor {
        None => Ok(1),
        Some(c) => c.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            crate::ConnectorError::invalid("cursor", format!("`{c}` is not a page cursor"))
        }),
    }
}
