//! The first call of Zoho CRM's Bulk Write API: `POST /crm/{v}/upload`
//! (Zoho serves it on its content host; the sandbox on its one origin).
//! The form part `file` holds a ZIP archive whose first CSV is the data:
//! a header row of column names, then the rows. The rows are kept in
//! memory under a file id until a job writes them.

use std::io::{Cursor, Read};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use crate::app::{AppRef, reply};
use crate::clock::{self, Millis};
use crate::crm::bulk::bulk_error;
use crate::crm::records::{ORG_ID, ZGID, version};
use crate::error::ApiError;

/// Largest file Zoho accepts (the archive, and the CSV inside it).
const MAX_BYTES: usize = 25 * 1024 * 1024;

/// An uploaded file: its CSV, parsed.
#[derive(Debug)]
pub(super) struct Upload {
    /// The CSV's name inside the archive (without folders).
    pub(super) name: String,
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

/// `POST /crm/{v}/upload`.
pub async fn upload(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    check_headers(&headers)?;
    let now = app.now();
    let bytes = file_part(multipart, now).await?;
    let upload = read_archive(&bytes, now)?;
    let rows_max = app.bulk.config().write_rows_max;
    if upload.rows.len() > rows_max {
        return Err(bulk_error(
            400,
            "LIMIT_EXCEEDED",
            &format!("the file has more than {rows_max} records"),
            json!({"limit": rows_max, "created_time": clock::fmt_crm(now)}),
        ));
    }
    let file_id = app.bulk_write.add_file(upload);
    Ok(reply(
        200,
        json!({
            "status": "success",
            "code": "FILE_UPLOAD_SUCCESS",
            "message": "file uploaded.",
            "details": {"file_id": file_id.to_string(), "created_time": clock::fmt_crm(now)},
        }),
        &permit,
    ))
}

/// `feature: bulk-write` and the organisation's `X-CRM-ORG` (its zgid,
/// or its id). Zoho's file server answers these in its own shape, not
/// CRM's (the OpenAPI file's `x-error`).
fn check_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("")
    };
    let feature_ok = value("feature").eq_ignore_ascii_case("bulk-write");
    let org = value("x-crm-org");
    if feature_ok && (org == ZGID || org == ORG_ID) {
        return Ok(());
    }
    Err(ApiError::raw(
        400,
        json!({
            "ERROR_CODE": 400,
            "ERROR_MESSAGE": "Bad Request",
            "x-error": "check if headers [feature, X-CRM-ORG] are present and valid",
            "info": "Forbidden",
            "x-info": "Link not valid",
            "http_status": "400",
        }),
    ))
}

fn invalid_format(now: Millis) -> ApiError {
    bulk_error(
        400,
        "INVALID_FILE_FORMAT",
        "invalid file format. only zip format is supported",
        json!({"created_time": clock::fmt_crm(now)}),
    )
}

fn too_large(now: Millis) -> ApiError {
    bulk_error(
        413,
        "FILE_TOO_LARGE",
        "File size too large to process",
        json!({"limit": MAX_BYTES, "created_time": clock::fmt_crm(now)}),
    )
}

/// The bytes of the form part `file`, at most [`MAX_BYTES`].
async fn file_part(
    multipart: Result<Multipart, MultipartRejection>,
    now: Millis,
) -> Result<Vec<u8>, ApiError> {
    let mut multipart = multipart.map_err(|_| invalid_format(now))?;
    let mut data = None;
    let mut oversized = false;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|_| invalid_format(now))?
    {
        let wanted = data.is_none() && field.name() == Some("file");
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| invalid_format(now))? {
            // The rest of the body is still read (and dropped), so the
            // client gets the answer instead of a reset connection.
            if wanted && !oversized {
                if bytes.len() + chunk.len() > MAX_BYTES {
                    oversized = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(&chunk);
                }
            }
        }
        if wanted {
            data = Some(bytes);
        }
    }
    if oversized {
        return Err(too_large(now));
    }
    data.ok_or_else(|| invalid_format(now))
}

/// The first CSV of the archive, parsed.
fn read_archive(bytes: &[u8], now: Millis) -> Result<Upload, ApiError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| invalid_format(now))?;
    let index = (0..archive.len())
        .find(|&i| {
            archive
                .name_for_index(i)
                .and_then(Result::ok)
                .is_some_and(|n| !n.ends_with('/') && n.to_ascii_lowercase().ends_with(".csv"))
        })
        .ok_or_else(|| invalid_format(now))?;
    let entry = archive.by_index(index).map_err(|_| invalid_format(now))?;
    let name = entry
        .name()
        .map(|n| n.rsplit('/').next().unwrap_or(&n).to_string())
        .map_err(|_| invalid_format(now))?;
    let mut text = Vec::new();
    entry
        .take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|_| invalid_format(now))?;
    if text.len() > MAX_BYTES {
        return Err(too_large(now));
    }
    let text = String::from_utf8_lossy(text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text));
    let mut rows = parse_csv(&text).into_iter();
    let header = rows
        .next()
        .filter(|h| h.iter().any(|c| !c.trim().is_empty()))
        .ok_or_else(|| invalid_format(now))?;
    let header = header.into_iter().map(|h| h.trim().to_string()).collect();
    Ok(Upload {
        name,
        header,
        rows: rows.collect(),
    })
}

/// The delimiter the header row uses: Zoho detects comma, semicolon,
/// colon and pipe; the most frequent outside quotes wins, comma on a tie.
fn delimiter(text: &str) -> char {
    let mut counts = [0usize; 4];
    let candidates = [',', ';', '|', ':'];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\r' | '\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|d| *d == c) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for i in 1..candidates.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

/// Close a row; a blank line is no row.
fn end_row(row: &mut Vec<String>, rows: &mut Vec<Vec<String>>) {
    let line = std::mem::take(row);
    if !(line.len() == 1 && line[0].is_empty()) {
        rows.push(line);
    }
}

/// Rows of cells (RFC 4180: quoted cells may hold the delimiter, `""`
/// and line breaks). Blank lines are dropped.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let delim = delimiter(text);
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    // Whether the current cell began with a quote (so `""` is a cell).
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cell.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
        } else if c == '"' && cell.is_empty() && !was_quoted {
            quoted = true;
            was_quoted = true;
        } else if c == delim {
            row.push(std::mem::take(&mut cell));
            was_quoted = false;
        } else if c == '\r' || c == '\n' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            let quoted_empty = was_quoted && cell.is_empty();
            row.push(std::mem::take(&mut cell));
            was_quoted = false;
            if quoted_empty && row.len() == 1 {
                rows.push(std::mem::take(&mut row));
            } else {
                end_row(&mut row, &mut rows);
            }
        } else {
            cell.push(c);
        }
    }
    if !cell.is_empty() || !row.is_empty() || was_quoted {
        row.push(cell);
        end_row(&mut row, &mut rows);
    }
    rows
}

/// A cell as text, `""` past the end of a short row.
pub(super) fn cell(row: &[String], index: usize) -> &str {
    row.get(index).map(String::as_str).unwrap_or("")
}

/// Details of an upload (for the job's `file` object).
pub(super) fn file_json(upload: &Upload, status: &str, counts: [usize; 3]) -> Value {
    let [added, updated, skipped] = counts;
    json!({
        "status": status,
        "name": upload.name,
        "added_count": added,
        "skipped_count": skipped,
        "updated_count": updated,
        "total_count": upload.rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_breaks_and_delimiters() {
        let rows = parse_csv("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,\"two\nlines\",\n");
        assert_eq!(
            rows,
            vec![
                vec!["a", "b", "c"],
                vec!["1", "x, y", "say \"hi\""],
                vec!["2", "two\nlines", ""],
            ]
        );
        assert_eq!(
            parse_csv("a;b\n1;2,5"),
            vec![vec!["a", "b"], vec!["1", "2,5"]]
        );
        assert_eq!(parse_csv("a|b\n1|2"), vec![vec!["a", "b"], vec!["1", "2"]]);
        assert_eq!(parse_csv("Name\nx"), vec![vec!["Name"], vec!["x"]]);
        assert_eq!(parse_csv("a\n\"\"\n"), vec![vec!["a"], vec![""]]);
    }
}
