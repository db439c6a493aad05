//! Whole reads of big modules through CRM's Bulk Read API.
//!
//! CRM's record listing stops at 100 000 records a module and costs a call
//! per 200. A read from the start (the first run, `--full`, a due
//! `full_read`) of a module with more than `bulk_read_above` records
//! (default [`DEFAULT_ABOVE`]) runs export jobs instead: create a job,
//! poll it until it is `COMPLETED`, then read its zipped CSV (up to
//! 200 000 records) a page at a time through the host's `download`
//! capability, which keeps the file on disk; `next_page_token` leads to
//! the next job. The listing cursor carries where it is, so every call
//! stays short and stateless, as the contract asks.
//!
//! A record read this way has the listing's shape: numbers, booleans and
//! multi-select picklists typed by the module's fields, lookups as
//! `{id, name}` (the name through the dot operator where the target
//! module's name field is known: Accounts, Contacts, Deals, …; `Owner`
//! and other user lookups carry only `id`), empty cells as `null`.

use ferry_plugin_sdk::bulk;
use ferry_plugin_sdk::prelude::*;

use crate::error::response_error;

/// Records a module must have before a whole read uses Bulk Read, unless
/// the connection's `bulk_read_above` says otherwise.
pub const DEFAULT_ABOVE: u64 = 10_000;
/// Rows handed over per page.
const ROWS_PER_PAGE: u32 = 2_000;
/// Pauses between status polls within one call (they add to ~8 s, well
/// inside a call's time limit); then the cursor comes back to poll on.
const POLL_WAITS_MS: &[u32] = &[250, 500, 1_000, 2_000, 4_000];

/// The field a lookup's `name` comes from, by target module.
const NAME_FIELDS: &[(&str, &str)] = &[
    ("Accounts", "Account_Name"),
    ("Contacts", "Full_Name"),
    ("Leads", "Full_Name"),
    ("Deals", "Deal_Name"),
    ("Products", "Product_Name"),
    ("Vendors", "Vendor_Name"),
    ("Campaigns", "Campaign_Name"),
    ("Price_Books", "Price_Book_Name"),
];

/// Where a bulk listing is, carried in its cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "bulk", rename_all = "snake_case")]
pub enum Cursor {
    /// Create the job for the page at `token` (none: the first).
    Start { token: Option<String>, page: u32 },
    /// Poll job `job` (`polls` made so far, for a fresh cursor each call).
    Poll { job: String, page: u32, polls: u32 },
    /// Read the job's file from `row`; `token` is the next job's, if any.
    Read {
        url: String,
        row: u64,
        token: Option<String>,
        page: u32,
    },
}

impl Cursor {
    /// A bulk listing's cursor, if `text` is one.
    pub fn parse(text: &str) -> Option<Cursor> {
        text.starts_with("{\"bulk\"")
            .then(|| serde_json::from_str(text).ok())
            .flatten()
    }

    fn text(&self) -> String {
        serde_json::to_string(self).expect("a cursor serialises")
    }
}

/// Whether a read of `module` from the start should be a bulk export:
/// it has more records than the connection's threshold.
pub fn wanted(
    settings: &Settings,
    module: &str,
    cvid: Option<&str>,
) -> Result<bool, ConnectorError> {
    let above = match settings.value("bulk_read_above") {
        None | Some(Value::Null) => DEFAULT_ABOVE,
        Some(Value::Bool(false)) => return Ok(false),
        Some(v) => v.as_u64().ok_or_else(|| {
            ConnectorError::invalid(
                "bulk_read_above",
                format!("`{v}` is not a number of records (or `false` to never use Bulk Read)"),
            )
        })?,
    };
    let resp = Request::get(format!("/{module}/actions/count"))
        .query_opt("cvid", cvid)
        .send()?;
    let count = match resp.status {
        200 => resp.json::<Value>()?["count"].as_u64().unwrap_or(0),
        204 => 0,
        _ => return Err(response_error(&resp)),
    };
    Ok(count > above)
}

/// One page of a bulk listing of `module`.
pub fn list(
    settings: &Settings,
    module: &str,
    cvid: Option<&str>,
    cursor: Cursor,
) -> Result<Page, ConnectorError> {
    let api = BulkApi::of(settings)?;
    let fields = crate::fields::discover(module)?;
    match cursor {
        Cursor::Start { token, page } => {
            let job = api.create(module, cvid, &fields, token.as_deref(), page)?;
            poll(&api, &fields, job, page, 0)
        }
        Cursor::Poll { job, page, polls } => poll(&api, &fields, job, page, polls),
        Cursor::Read {
            url,
            row,
            token,
            page,
        } => read(&api, &fields, url, row, token, page),
    }
}

/// Poll a job a few times; read its first rows once it is done.
fn poll(
    api: &BulkApi,
    fields: &[FieldInfo],
    job: String,
    page: u32,
    polls: u32,
) -> Result<Page, ConnectorError> {
    for (n, wait) in POLL_WAITS_MS.iter().enumerate() {
        bulk::wait(*wait);
        let detail = api.status(&job)?;
        match detail["state"].as_str() {
            Some("COMPLETED") => {
                let result = &detail["result"];
                let url = result["download_url"].as_str().ok_or_else(|| {
                    ConnectorError::vendor(
                        "NO_DOWNLOAD_URL",
                        format!("bulk read job {job} completed without a download_url"),
                        200,
                    )
                })?;
                let token = (result["more_records"] == json!(true))
                    .then(|| result["next_page_token"].as_str().map(String::from))
                    .flatten();
                return read(api, fields, api.absolute(url), 0, token, page);
            }
            Some("FAILURE") => {
                return Err(ConnectorError::vendor(
                    "BULK_READ_FAILED",
                    format!("Zoho CRM could not export page {page} (bulk read job {job} failed)"),
                    200,
                ));
            }
            _ if n + 1 == POLL_WAITS_MS.len() => {}
            _ => continue,
        }
    }
    // Still being prepared: come back (the host asks again at once, and
    // this call's first pause spaces the polls).
    let next = Cursor::Poll {
        job,
        page,
        polls: polls + POLL_WAITS_MS.len() as u32,
    };
    Ok(Page::default().next(true, || next.text()))
}

/// A page of the job's file from `row`.
fn read(
    api: &BulkApi,
    fields: &[FieldInfo],
    url: String,
    row: u64,
    token: Option<String>,
    page: u32,
) -> Result<Page, ConnectorError> {
    let rows = bulk::csv_rows(&url, true, row, ROWS_PER_PAGE).map_err(|e| match e {
        bulk::DownloadError::Status((status, body)) => api.error(status, body),
        other => other.into(),
    })?;
    let records = records(fields, &rows.header, &rows.rows);
    let next = if rows.more {
        Some(Cursor::Read {
            row: row + rows.rows.len() as u64,
            url,
            token,
            page,
        })
    } else {
        token.map(|token| Cursor::Start {
            token: Some(token),
            page: page + 1,
        })
    };
    Ok(Page::from_raw(records).next(next.is_some(), || next.expect("checked").text()))
}

/// CRM's bulk endpoints, beside the connection's REST base URL.
pub(crate) struct BulkApi {
    /// `https://www.zohoapis.eu` (scheme and host of the base URL).
    origin: String,
    /// `https://www.zohoapis.eu/crm/bulk/v8`.
    pub(crate) base: String,
    /// `v8`.
    version: String,
}

impl BulkApi {
    pub(crate) fn of(settings: &Settings) -> Result<BulkApi, ConnectorError> {
        let rest = settings.require("base_url")?.trim_end_matches('/');
        let (origin, version) = rest.rsplit_once("/crm/").ok_or_else(|| {
            ConnectorError::invalid(
                "base_url",
                format!("`{rest}` is not a Zoho CRM API URL (…/crm/v8)"),
            )
        })?;
        Ok(BulkApi {
            origin: origin.to_string(),
            base: format!("{origin}/crm/bulk/{version}"),
            version: version.to_string(),
        })
    }

    /// Where Bulk Write files go: CRM's content host beside its API host
    /// (`https://content.zohoapis.eu/crm/v8/upload`); any other origin (a
    /// local sandbox) serves uploads itself.
    pub(crate) fn upload_url(&self) -> String {
        let origin = match self.origin.split_once("://www.zohoapis.") {
            Some((scheme, domain)) => format!("{scheme}://content.zohoapis.{domain}"),
            None => self.origin.clone(),
        };
        format!("{origin}/crm/{}/upload", self.version)
    }

    /// A URL CRM gave as a path, on the API's host.
    pub(crate) fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.origin)
        } else {
            url.to_string()
        }
    }

    /// Create the export job of one page; its id.
    fn create(
        &self,
        module: &str,
        cvid: Option<&str>,
        fields: &[FieldInfo],
        token: Option<&str>,
        page: u32,
    ) -> Result<String, ConnectorError> {
        let mut query = json!({
            "module": {"api_name": module},
            "fields": export_fields(fields),
        });
        match token {
            Some(token) => query["page_token"] = json!(token),
            None => query["page"] = json!(page),
        }
        if let Some(cvid) = cvid {
            query["cvid"] = json!(cvid);
        }
        // A job created twice (a retry after a lost answer) only exports
        // twice; repeating it is safe.
        let resp = Request::post(format!("{}/read", self.base))
            .json(&json!({"query": query, "file_type": "csv"}))
            .idempotent(true)
            .send()?;
        if resp.status != 201 && resp.status != 200 {
            return Err(response_error(&resp));
        }
        let body: Value = resp.json()?;
        body["data"][0]["details"]["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| {
                ConnectorError::vendor(
                    "NO_JOB_ID",
                    "Zoho CRM created a bulk read job but gave no id",
                    resp.status,
                )
            })
    }

    /// A job's details.
    fn status(&self, job: &str) -> Result<Value, ConnectorError> {
        let resp = Request::get(format!("{}/read/{job}", self.base)).send()?;
        if resp.status != 200 {
            return Err(response_error(&resp));
        }
        Ok(resp.json::<Value>()?["data"][0].take())
    }

    /// CRM's error answer to a download, as an error of the contract.
    fn error(&self, status: u16, body: String) -> ConnectorError {
        response_error(&Response {
            status,
            headers: Vec::new(),
            body: body.into_bytes(),
        })
    }
}

/// The columns asked for: every field, and the name of each lookup whose
/// target module's name field is known.
fn export_fields(fields: &[FieldInfo]) -> Vec<String> {
    let mut out = Vec::with_capacity(fields.len() + 4);
    for f in fields.iter().filter(|f| f.name != "id") {
        out.push(f.name.clone());
        if let Some(name) = lookup_name_field(f) {
            out.push(format!("{}.{name}", f.name));
        }
    }
    out
}

fn lookup_name_field(f: &FieldInfo) -> Option<&'static str> {
    if !matches!(f.kind, FieldKind::Lookup) {
        return None;
    }
    let target = f.lookup_module.as_deref()?;
    NAME_FIELDS
        .iter()
        .find(|(module, _)| *module == target)
        .map(|(_, name)| *name)
}

/// Rows of the export as records shaped like the listing's, written
/// straight out as JSON text (the host parses each once; building a map
/// per row only to write it out again was most of this plugin's CPU).
fn records(fields: &[FieldInfo], header: &[String], rows: &[Vec<String>]) -> Vec<String> {
    let columns = columns(fields, header);
    rows.iter()
        .map(|row| {
            let cell = |i: Option<usize>| i.and_then(|i| row.get(i)).map(String::as_str);
            let mut out = Vec::with_capacity(64 * columns.len());
            out.push(b'{');
            for (n, column) in columns.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                match column {
                    Column::Field { name, kind, at } => {
                        write_str(&mut out, name);
                        out.push(b':');
                        write_typed(&mut out, kind, cell(Some(*at)).unwrap_or(""));
                    }
                    Column::Lookup { name, id, label } => {
                        write_str(&mut out, name);
                        out.push(b':');
                        write_lookup(
                            &mut out,
                            id.map(|at| cell(Some(at)).unwrap_or("")),
                            cell(*label),
                        );
                    }
                }
            }
            out.push(b'}');
            String::from_utf8(out).expect("JSON text is UTF-8")
        })
        .collect()
}

/// A record's key, from the CSV's columns in their order: a lookup's id
/// and name columns (`Account_Name`, `Account_Name.Account_Name`) become
/// one object where the first of them stands.
enum Column {
    Field {
        name: String,
        kind: FieldKind,
        at: usize,
    },
    Lookup {
        name: String,
        /// The column of the lookup's id, if exported.
        id: Option<usize>,
        /// The column of its record's name (`Lookup.Name_Field`), if exported.
        label: Option<usize>,
    },
}

fn columns(fields: &[FieldInfo], header: &[String]) -> Vec<Column> {
    let mut columns: Vec<Column> = Vec::new();
    for (at, heading) in header.iter().enumerate() {
        let (name, is_label) = match heading.split_once('.') {
            Some((lookup, _)) => (lookup, true),
            None => (heading.as_str(), false),
        };
        let kind = fields
            .iter()
            .find(|f| f.name == name)
            .map_or(FieldKind::Text, |f| f.kind);
        if !is_label && !matches!(kind, FieldKind::Lookup) {
            columns.push(Column::Field {
                name: name.to_string(),
                kind,
                at,
            });
            continue;
        }
        let known = columns
            .iter_mut()
            .find(|c| matches!(c, Column::Lookup { name: n, .. } if n == name));
        let lookup = match known {
            Some(lookup) => lookup,
            None => {
                columns.push(Column::Lookup {
                    name: name.to_string(),
                    id: None,
                    label: None,
                });
                columns.last_mut().expect("just pushed")
            }
        };
        if let Column::Lookup { id, label, .. } = lookup {
            if is_label {
                *label = Some(at);
            } else {
                *id = Some(at);
            }
        }
    }
    columns
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string writes to memory");
}

fn write_value(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(out, value).expect("a value writes to memory");
}

/// A lookup as the listing gives it: null without an id, else its id and
/// (where exported) its record's name.
fn write_lookup(out: &mut Vec<u8>, id: Option<&str>, label: Option<&str>) {
    if id == Some("") {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'{');
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\":");
        write_str(out, id);
    }
    if let Some(label) = label {
        if id.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"name\":");
        match label {
            "" => out.extend_from_slice(b"null"),
            label => write_str(out, label),
        }
    }
    out.push(b'}');
}

/// One cell as the listing would give it.
fn write_typed(out: &mut Vec<u8>, kind: &FieldKind, cell: &str) {
    if cell.is_empty() {
        out.extend_from_slice(match kind {
            FieldKind::MultiPicklist => b"[]",
            _ => b"null",
        });
        return;
    }
    match kind {
        FieldKind::Integer => match cell.parse::<i64>() {
            Ok(n) => write_value(out, &n),
            Err(_) => write_str(out, cell),
        },
        FieldKind::Decimal | FieldKind::Currency | FieldKind::Percent => {
            match cell
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Some(n) => write_value(out, &n),
                None => write_str(out, cell),
            }
        }
        FieldKind::Boolean => match cell {
            "true" | "TRUE" | "True" => out.extend_from_slice(b"true"),
            "false" | "FALSE" | "False" => out.extend_from_slice(b"false"),
            other => write_str(out, other),
        },
        FieldKind::MultiPicklist => write_value(out, &cell.split(';').collect::<Vec<_>>()),
        FieldKind::List | FieldKind::Object => match serde_json::from_str::<Value>(cell) {
            Ok(value) => write_value(out, &value),
            Err(_) => write_str(out, cell),
        },
        _ => write_str(out, cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<FieldInfo> {
        vec![
            FieldInfo::text("id"),
            FieldInfo::text("Last_Name"),
            FieldInfo::new("Account_Name", FieldKind::Lookup).lookup("Accounts"),
            FieldInfo::new("Owner", FieldKind::Lookup).lookup("users"),
            FieldInfo::new("Employees", FieldKind::Integer),
            FieldInfo::new("Annual_Revenue", FieldKind::Currency),
            FieldInfo::new("Email_Opt_Out", FieldKind::Boolean),
            FieldInfo::new("Tags", FieldKind::MultiPicklist),
        ]
    }

    #[test]
    fn the_export_asks_for_lookup_names_where_known() {
        assert_eq!(
            export_fields(&fields()),
            vec![
                "Last_Name",
                "Account_Name",
                "Account_Name.Account_Name",
                "Owner",
                "Employees",
                "Annual_Revenue",
                "Email_Opt_Out",
                "Tags"
            ]
        );
    }

    #[test]
    fn rows_become_records_shaped_like_the_listing() {
        let header: Vec<String> = [
            "id",
            "Last_Name",
            "Account_Name",
            "Account_Name.Account_Name",
            "Owner",
            "Employees",
            "Annual_Revenue",
            "Email_Opt_Out",
            "Tags",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let row = |cells: &[&str]| cells.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rows = vec![
            row(&["1", "Doe", "42", "Acme", "7", "12", "1500.5", "true", "A;B"]),
            row(&["2", "", "", "", "", "", "", "false", ""]),
        ];
        let out: Vec<Value> = records(&fields(), &header, &rows)
            .iter()
            .map(|text| serde_json::from_str(text).expect("JSON text"))
            .collect();
        assert_eq!(
            out[0],
            json!({"id": "1", "Last_Name": "Doe", "Account_Name": {"id": "42", "name": "Acme"},
                   "Owner": {"id": "7"}, "Employees": 12, "Annual_Revenue": 1500.5,
                   "Email_Opt_Out": true, "Tags": ["A", "B"]})
        );
        assert_eq!(
            out[1],
            json!({"id": "2", "Last_Name": null, "Account_Name": null, "Owner": null,
                   "Employees": null, "Annual_Revenue": null, "Email_Opt_Out": false, "Tags": []})
        );
    }

    #[test]
    fn cursors_round_trip_and_are_told_apart() {
        for c in [
            Cursor::Start {
                token: None,
                page: 1,
            },
            Cursor::Poll {
                job: "9".into(),
                page: 2,
                polls: 5,
            },
            Cursor::Read {
                url: "/x".into(),
                row: 4000,
                token: Some("t".into()),
                page: 1,
            },
        ] {
            assert_eq!(Cursor::parse(&c.text()), Some(c));
        }
        assert_eq!(
            Cursor::parse(r#"{"page":2,"token":null,"fields":"a"}"#),
            None
        );
    }
}
