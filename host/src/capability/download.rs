//! The `download` capability (`ferry:bulk/download`): a vendor's export
//! file (Zoho CRM's Bulk Read result, a zipped CSV of up to 200 000
//! records) fetched once per connection, kept on disk, and handed to the
//! plugin a slice of rows at a time. The download runs in the background,
//! so a file that takes minutes to arrive costs the plugin calls that ask
//! for it nothing but their patience.
//!
//! Memory stays flat whatever the file's size: the body streams to a
//! temporary file, a zipped CSV is unpacked to another one, and a slice
//! is read from an open CSV reader that goes on where the last call
//! stopped. A file is deleted when its last row has been handed out, or
//! with the connection.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Seek};
use std::sync::Arc;

use std::time::Duration;

use tokio::sync::Mutex;

use super::Capabilities;
use super::http::{HttpCapability, HttpError};

/// Longest one `wait` pauses a call.
pub const MAX_WAIT_MS: u32 = 5_000;
/// Most rows one call hands out.
pub const MAX_ROWS: u32 = 10_000;
/// Longest error body quoted back to the plugin.
const ERROR_BODY_CHARS: usize = 2_000;

/// A slice of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub more: bool,
}

/// Why no rows came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    #[error("download refused: {0}")]
    Denied(String),
    #[error("the vendor answered {0} instead of the file: {1}")]
    Status(u16, String),
    #[error("download failed: {0}")]
    Failed(String),
}

/// One connection's downloaded files, by URL.
#[derive(Default)]
pub struct Downloads {
    files: Mutex<HashMap<String, Arc<Mutex<Option<Slot>>>>>,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloads").finish_non_exhaustive()
    }
}

/// A file on its way or on disk.
enum Slot {
    /// Downloading in the background, outside any call's time limit.
    Fetching(Fetch),
    Open(Box<CsvFile>),
}

/// A download task, stopped if the connection goes before it is done.
struct Fetch(tokio::task::JoinHandle<Result<CsvFile, DownloadError>>);

impl Drop for Fetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A downloaded CSV file being read.
struct CsvFile {
    /// Holds the files; deleting it deletes them.
    _dir: tempfile::TempDir,
    csv: std::path::PathBuf,
    reader: csv::Reader<BufReader<File>>,
    header: Vec<String>,
    /// The row the reader is at (0: the first after the header).
    next: u64,
    /// A row read ahead to learn whether there are more.
    ahead: Option<csv::StringRecord>,
}

/// Rows `from .. from + max` of the CSV file a GET of `url` returns
/// (inside a ZIP archive when `zipped`), through `caps`' connection.
///
/// The first call starts the download in the background; a call that
/// finds it still running waits at most `patience`, then answers with no
/// rows and `more` set, so the plugin asks again in a later call. A big
/// file thus never runs a call past its time limit.
pub async fn rows(
    caps: &Arc<Capabilities>,
    url: &str,
    zipped: bool,
    from: u64,
    max: u32,
    patience: Duration,
) -> Result<Rows, DownloadError> {
    let downloads = &caps.downloads;
    let key = format!("{}|{url}", if zipped { "zip" } else { "csv" });
    let entry = Arc::clone(downloads.files.lock().await.entry(key.clone()).or_default());
    let mut slot = entry.lock().await;
    let forget = async || {
        downloads.files.lock().await.remove(&key);
    };
    if slot.is_none() {
        let caps = Arc::clone(caps);
        let url = url.to_string();
        *slot = Some(Slot::Fetching(Fetch(tokio::spawn(async move {
            fetch(&caps.http, &url, zipped).await
        }))));
    }
    let mut csv = match slot.take().expect("filled above") {
        Slot::Open(csv) => *csv,
        Slot::Fetching(mut fetch) => match tokio::time::timeout(patience, &mut fetch.0).await {
            Err(_) => {
                *slot = Some(Slot::Fetching(fetch));
                return Ok(Rows {
                    header: Vec::new(),
                    rows: Vec::new(),
                    more: true,
                });
            }
            Ok(Ok(Ok(csv))) => csv,
            Ok(Ok(Err(e))) => {
                forget().await;
                return Err(e);
            }
            Ok(Err(e)) => {
                forget().await;
                return Err(DownloadError::Failed(format!("the download stopped: {e}")));
            }
        },
    };
    let max = max.clamp(1, MAX_ROWS);
    let (csv, rows) = blocking(move || {
        let rows = csv.read(from, max);
        (csv, rows)
    })
    .await?;
    *slot = Some(Slot::Open(Box::new(csv)));
    let rows = rows?;
    if !rows.more {
        // Handed out whole: the copy on disk goes.
        *slot = None;
        forget().await;
    }
    Ok(rows)
}

/// Download `url` into a fresh directory and open its CSV.
async fn fetch(http: &HttpCapability, url: &str, zipped: bool) -> Result<CsvFile, DownloadError> {
    let failed =
        |what: &str, e: &dyn std::fmt::Display| DownloadError::Failed(format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("ferry-download-")
        .tempdir()
        .map_err(|e| failed("cannot make a directory for the download", &e))?;
    let body_path = dir.path().join("body");
    let body = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&body_path)
        .map_err(|e| failed("cannot create the download file", &e))?;
    let response = http.download(url, &body).await.map_err(|e| match e {
        HttpError::Denied(m) | HttpError::InvalidRequest(m) => DownloadError::Denied(m),
        other => DownloadError::Failed(other.to_string()),
    })?;
    if !(200..300).contains(&response.status) {
        let text: String = String::from_utf8_lossy(&response.body)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        return Err(DownloadError::Status(response.status, text));
    }
    blocking(move || {
        let csv = if zipped {
            let csv_path = dir.path().join("file.csv");
            unzip_first_csv(body, &csv_path)?;
            std::fs::remove_file(&body_path)
                .map_err(|e| failed("cannot remove the archive", &e))?;
            csv_path
        } else {
            body_path
        };
        CsvFile::open(dir, csv)
    })
    .await?
}

/// Run file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DownloadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DownloadError::Failed(format!("reading the download stopped: {e}")))
}

/// Unpack the archive's first `.csv` entry to `to`, streaming.
fn unzip_first_csv(archive: File, to: &std::path::Path) -> Result<(), DownloadError> {
    let failed = |e: &dyn std::fmt::Display| {
        DownloadError::Failed(format!("the download is not a readable ZIP archive: {e}"))
    };
    let mut archive = zip::ZipArchive::new(BufReader::new(archive)).map_err(|e| failed(&e))?;
    let index = (0..archive.len())
        .find(|&i| {
            archive
                .name_for_index(i)
                .is_some_and(|n| n.is_ok_and(|n| n.to_ascii_lowercase().ends_with(".csv")))
        })
        .ok_or_else(|| DownloadError::Failed("the downloaded archive holds no .csv file".into()))?;
    let mut entry = archive.by_index(index).map_err(|e| failed(&e))?;
    let mut out = std::io::BufWriter::new(
        File::create(to).map_err(|e| DownloadError::Failed(format!("cannot unpack: {e}")))?,
    );
    std::io::copy(&mut entry, &mut out).map_err(|e| failed(&e))?;
    Ok(())
}

impl CsvFile {
    fn open(dir: tempfile::TempDir, csv: std::path::PathBuf) -> Result<CsvFile, DownloadError> {
        let (reader, header) = open_reader(&csv)?;
        Ok(CsvFile {
            _dir: dir,
            csv,
            reader,
            header,
            next: 0,
            ahead: None,
        })
    }

    /// Rows `from .. from + max`.
    fn read(&mut self, from: u64, max: u32) -> Result<Rows, DownloadError> {
        if from < self.next {
            // Asked again for rows already handed out (a call retried):
            // read the file from its start.
            let (reader, _) = open_reader(&self.csv)?;
            self.reader = reader;
            self.next = 0;
            self.ahead = None;
        }
        while self.next < from {
            if self.take()?.is_none() {
                break;
            }
        }
        let mut rows = Vec::with_capacity(max as usize);
        while rows.len() < max as usize {
            match self.take()? {
                Some(row) => rows.push(row.iter().map(str::to_string).collect()),
                None => break,
            }
        }
        let more = match &self.ahead {
            Some(_) => true,
            None => {
                let mut record = csv::StringRecord::new();
                let more = self.reader.read_record(&mut record).map_err(bad_row)?;
                if more {
                    self.ahead = Some(record);
                }
                more
            }
        };
        Ok(Rows {
            header: self.header.clone(),
            rows,
            more,
        })
    }

    /// The next row, if any.
    fn take(&mut self) -> Result<Option<csv::StringRecord>, DownloadError> {
        let row = match self.ahead.take() {
            Some(row) => Some(row),
            None => {
                let mut record = csv::StringRecord::new();
                self.reader
                    .read_record(&mut record)
                    .map_err(bad_row)?
                    .then_some(record)
            }
        };
        if row.is_some() {
            self.next += 1;
        }
        Ok(row)
    }
}

fn open_reader(
    path: &std::path::Path,
) -> Result<(csv::Reader<BufReader<File>>, Vec<String>), DownloadError> {
    let mut file = File::open(path)
        .map_err(|e| DownloadError::Failed(format!("cannot open the download: {e}")))?;
    file.rewind()
        .map_err(|e| DownloadError::Failed(format!("cannot read the download: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(BufReader::new(file));
    let header = reader
        .headers()
        .map_err(bad_row)?
        .iter()
        // Excel-made files may start with a byte-order mark.
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    Ok((reader, header))
}

fn bad_row(e: csv::Error) -> DownloadError {
    DownloadError::Failed(format!("the downloaded CSV is malformed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_file(text: &str) -> CsvFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, text).unwrap();
        CsvFile::open(dir, path).unwrap()
    }

    fn ids(rows: &Rows) -> Vec<&str> {
        rows.rows.iter().map(|r| r[0].as_str()).collect()
    }

    #[test]
    fn slices_go_on_and_may_go_back() {
        let mut f = csv_file("\u{feff}id,name\n1,a\n2,\"b, c\"\n3,d\n4,e\n5,f\n");
        let first = f.read(0, 2).unwrap();
        assert_eq!(first.header, vec!["id", "name"]);
        assert_eq!(ids(&first), vec!["1", "2"]);
        assert_eq!(first.rows[1][1], "b, c");
        assert!(first.more);
        assert_eq!(ids(&f.read(2, 2).unwrap()), vec!["3", "4"]);
        // A retried call asks for the same rows again.
        assert_eq!(ids(&f.read(2, 2).unwrap()), vec!["3", "4"]);
        // Skipping ahead.
        let last = f.read(4, 2).unwrap();
        assert_eq!(ids(&last), vec!["5"]);
        assert!(!last.more);
        // Exactly at the end: no more, with nothing after.
        let mut g = csv_file("id\n1\n2\n");
        assert!(!g.read(0, 2).unwrap().more);
        let empty = csv_file("id\n").read(0, 5).unwrap();
        assert!(empty.rows.is_empty() && !empty.more);
    }

    #[test]
    fn a_ragged_row_is_an_error_naming_the_csv() {
        let err = csv_file("id,name\n1,a\n2\n").read(0, 5).unwrap_err();
        assert!(err.to_string().contains("CSV is malformed"), "{err}");
    }

    #[test]
    fn the_first_csv_of_an_archive_is_unpacked() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("a.zip");
        let mut zip = zip::ZipWriter::new(File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("readme.txt", options).unwrap();
        zip.write_all(b"not this").unwrap();
        zip.start_file("123.csv", options).unwrap();
        zip.write_all(b"id\n7\n").unwrap();
        zip.finish().unwrap();
        let out = dir.path().join("out.csv");
        unzip_first_csv(File::open(&zip_path).unwrap(), &out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "id\n7\n");
        let err = unzip_first_csv(File::open(&out).unwrap(), &dir.path().join("x")).unwrap_err();
        assert!(err.to_string().contains("not a readable ZIP"), "{err}");
    }
}
