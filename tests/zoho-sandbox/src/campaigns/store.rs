//! Zoho Campaigns' data: mailing lists, contacts and their list
//! memberships, topics and contact fields. Pure (no HTTP); the handlers in
//! [`super`] turn its answers and [`CampaignsError`]s into Campaigns' JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::auth::fnv;
use crate::clock::Millis;

/// A Campaigns error: its numeric code (sent as text) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CampaignsError {
    pub code: &'static str,
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> CampaignsError {
    CampaignsError {
        code,
        message: message.into(),
    }
}

/// Most addresses `addlistsubscribersinbulk` takes in one call.
pub const BULK_MAX: usize = 10;
/// `range` when none is given.
pub const DEFAULT_RANGE: usize = 20;
/// Field types `custom/add` accepts.
pub const FIELD_TYPES: [&str; 15] = [
    "Text",
    "Integer",
    "Phone",
    "Date",
    "Picklist",
    "Email",
    "Checkbox",
    "LongInteger",
    "URL",
    "textarea",
    "RadioOption",
    "Multiselect",
    "DateTime",
    "Decimal",
    "Percent",
];

/// A contact field: written by its display name (`Contact Email`), read
/// back under its key (`contact_email`).
#[derive(Debug, Clone)]
pub struct Field {
    pub display: String,
    pub key: String,
    pub field_type: String,
    pub custom: bool,
    pub length: usize,
    /// The values a picklist takes (empty: any).
    pub values: Vec<String>,
}

/// Subscription types a contact may have (UNCONFIRMED: the Invoice sync's
/// choice, kept as a contact field).
pub const SUBSCRIPTION_TYPES: [&str; 2] = ["Marketing", "Non-marketing"];
/// Lawful bases for processing a contact's data (UNCONFIRMED: as above).
pub const LAWFUL_BASES: [&str; 6] = [
    "Consent",
    "Contract",
    "Legitimate Interest",
    "Legal Obligation",
    "Public Task",
    "Vital Interest",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Unsubscribed,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub status: Status,
    pub topics: BTreeSet<String>,
    pub added_ms: Millis,
}

#[derive(Debug, Clone)]
pub struct List {
    pub key: String,
    pub name: String,
    pub created_ms: Millis,
    /// By lower-cased address, in the order added.
    pub members: Vec<(String, Member)>,
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
    pub name: String,
    pub desc: String,
}

/// What a subscribe call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Added,
    Updated,
}

#[derive(Debug)]
pub struct Store {
    pub lists: Vec<List>,
    /// Field values by lower-cased address, keyed by field key.
    pub contacts: BTreeMap<String, BTreeMap<String, String>>,
    pub topics: Vec<Topic>,
    pub fields: Vec<Field>,
    next: u64,
}

fn standard(display: &str, key: &str, field_type: &str) -> Field {
    Field {
        display: display.into(),
        key: key.into(),
        field_type: field_type.into(),
        custom: false,
        length: 100,
        values: Vec::new(),
    }
}

fn picklist(display: &str, key: &str, values: &[&str]) -> Field {
    Field {
        values: values.iter().map(|v| v.to_string()).collect(),
        ..standard(display, key, "Picklist")
    }
}

impl Default for Store {
    /// Two lists ("Invoice customers", "Newsletter"), one topic, the
    /// standard contact fields.
    fn default() -> Store {
        let mut s = Store {
            lists: Vec::new(),
            contacts: BTreeMap::new(),
            topics: Vec::new(),
            fields: vec![
                standard("Contact Email", "contact_email", "Email"),
                standard("First Name", "firstname", "Text"),
                standard("Last Name", "lastname", "Text"),
                standard("Phone", "phone", "Phone"),
                standard("Company Name", "companyname", "Text"),
                picklist(
                    "Subscription Type",
                    "subscription_type",
                    &SUBSCRIPTION_TYPES,
                ),
                picklist("Lawful Basis", "lawful_basis", &LAWFUL_BASES),
            ],
            next: 1,
        };
        s.add_list("Invoice customers", 0);
        s.add_list("Newsletter", 0);
        let id = s.next_id();
        s.topics.push(Topic {
            id,
            name: "Product updates".into(),
            desc: "News about the product".into(),
        });
        s
    }
}

impl Store {
    fn next_id(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        format!("{}", 3_000_000_000_000_000u64 + n)
    }

    /// Add a list; returns its key (32 hex digits).
    pub fn add_list(&mut self, name: &str, now: Millis) -> String {
        let n = self.next_id();
        let key = format!("{:016x}{:016x}", fnv(&n), fnv(name));
        self.lists.push(List {
            key: key.clone(),
            name: name.into(),
            created_ms: now,
            members: Vec::new(),
        });
        key
    }

    fn list_mut(&mut self, key: &str) -> Result<&mut List, CampaignsError> {
        if key.trim().is_empty() {
            return Err(err("2501", "Listkey is empty or invalid."));
        }
        self.lists
            .iter_mut()
            .find(|l| l.key == key)
            .ok_or_else(|| err("2501", "Listkey is empty or invalid."))
    }

    pub fn list(&self, key: &str) -> Result<&List, CampaignsError> {
        self.lists
            .iter()
            .find(|l| !key.is_empty() && l.key == key)
            .ok_or_else(|| err("2501", "Listkey is empty or invalid."))
    }

    fn field(&self, name: &str) -> Option<&Field> {
        let n = name.trim();
        self.fields
            .iter()
            .find(|f| f.display.eq_ignore_ascii_case(n) || f.key == n)
    }

    /// `listsubscribe`: add the contact to the list, or update it.
    pub fn subscribe(
        &mut self,
        listkey: &str,
        info: &Map<String, Value>,
        topic: Option<&str>,
        now: Millis,
    ) -> Result<Outcome, CampaignsError> {
        self.list_mut(listkey)?;
        let mut values = BTreeMap::new();
        for (name, v) in info {
            let Some(f) = self.field(name) else {
                return Err(err("910", format!("No fields found: {name}")));
            };
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if !text.is_empty() && !f.values.is_empty() && !f.values.contains(&text) {
                return Err(err(
                    "2010",
                    format!("Invalid value for {}: {text}", f.display),
                ));
            }
            values.insert(f.key.clone(), text);
        }
        let email = values
            .get("contact_email")
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| err("903", "Mandatory fields are missing."))?;
        if !valid_email(&email) {
            return Err(err("2004", format!("Invalid email address: {email}")));
        }
        if let Some(t) = topic.filter(|t| !t.is_empty())
            && !self.topics.iter().any(|x| x.id == t)
        {
            return Err(err("4019", format!("Topic not found: {t}")));
        }
        values.insert("contact_email".into(), email.clone());
        let stored = self.contacts.entry(email.clone()).or_default();
        for (k, v) in values {
            if v.is_empty() {
                stored.remove(&k);
            } else {
                stored.insert(k, v);
            }
        }
        let list = self.list_mut(listkey)?;
        let outcome = match list.members.iter_mut().find(|(e, _)| *e == email) {
            Some((_, m)) => {
                m.status = Status::Active;
                Outcome::Updated
            }
            None => {
                list.members.push((
                    email.clone(),
                    Member {
                        status: Status::Active,
                        topics: BTreeSet::new(),
                        added_ms: now,
                    },
                ));
                Outcome::Added
            }
        };
        if let Some(t) = topic.filter(|t| !t.is_empty())
            && let Some((_, m)) = list.members.iter_mut().find(|(e, _)| *e == email)
        {
            m.topics.insert(t.to_string());
        }
        Ok(outcome)
    }

    /// `addlistsubscribersinbulk`: up to [`BULK_MAX`] addresses.
    pub fn add_bulk(
        &mut self,
        listkey: &str,
        emails: &str,
        now: Millis,
    ) -> Result<usize, CampaignsError> {
        self.list_mut(listkey)?;
        let all: Vec<&str> = emails
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if all.is_empty() {
            return Err(err("903", "Mandatory fields are missing."));
        }
        if all.len() > BULK_MAX {
            return Err(err(
                "2303",
                format!("At most {BULK_MAX} email addresses in one call."),
            ));
        }
        let mut added = 0;
        for e in all {
            let mut info = Map::new();
            info.insert("Contact Email".into(), json!(e));
            if self.subscribe(listkey, &info, None, now)? == Outcome::Added {
                added += 1;
            }
        }
        Ok(added)
    }

    /// `listunsubscribe`.
    pub fn unsubscribe(&mut self, listkey: &str, email: &str) -> Result<(), CampaignsError> {
        let email = email.trim().to_ascii_lowercase();
        if email.is_empty() {
            return Err(err("903", "Mandatory fields are missing."));
        }
        let list = self.list_mut(listkey)?;
        match list.members.iter_mut().find(|(e, _)| *e == email) {
            Some((_, m)) => {
                m.status = Status::Unsubscribed;
                Ok(())
            }
            None => Err(err("2103", format!("Contact {email} is not in this list."))),
        }
    }

    /// One subscriber as `getlistsubscribers` shows it.
    pub fn subscriber_json(&self, list: &List, email: &str, m: &Member) -> Value {
        let mut o = Map::new();
        for f in &self.fields {
            let v = self
                .contacts
                .get(email)
                .and_then(|c| c.get(&f.key))
                .cloned()
                .unwrap_or_default();
            o.insert(f.key.clone(), json!(v));
        }
        o.insert(
            "zuid".into(),
            json!(format!("{}", fnv(email) % 1_000_000_000)),
        );
        o.insert("added_time".into(), json!(m.added_ms.to_string()));
        o.insert(
            "status".into(),
            json!(match m.status {
                Status::Active => "active",
                Status::Unsubscribed => "unsub",
            }),
        );
        o.insert(
            "topics".into(),
            json!(m.topics.iter().cloned().collect::<Vec<_>>()),
        );
        o.insert("listkey".into(), json!(list.key));
        Value::Object(o)
    }

    /// `custom/add`.
    pub fn add_field(
        &mut self,
        name: &str,
        field_type: &str,
        length: Option<usize>,
    ) -> Result<Field, CampaignsError> {
        let name = name.trim();
        if name.is_empty() || field_type.trim().is_empty() {
            return Err(err("903", "Mandatory fields are missing."));
        }
        let Some(ft) = FIELD_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(field_type.trim()))
        else {
            return Err(err("903", format!("Unknown field type {field_type}.")));
        };
        if self.field(name).is_some() {
            return Err(err("916", "Duplicate custom field found."));
        }
        let f = Field {
            display: name.into(),
            key: field_key(name),
            field_type: ft.to_string(),
            custom: true,
            length: length.unwrap_or(20),
            values: Vec::new(),
        };
        self.fields.push(f.clone());
        Ok(f)
    }

    /// `topics` (create).
    pub fn add_topic(&mut self, name: &str, desc: &str) -> Result<String, CampaignsError> {
        let (name, desc) = (name.trim(), desc.trim());
        if name.is_empty() {
            return Err(err("4017", "Topic name cannot be empty"));
        }
        if desc.is_empty() {
            return Err(err("4018", "Topic description cannot be empty"));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || " _-".contains(c))
        {
            return Err(err("4011", "Topic name cannot contain special characters"));
        }
        if self
            .topics
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(name))
        {
            return Err(err("4013", "Topic name already exists"));
        }
        let id = self.next_id();
        self.topics.push(Topic {
            id: id.clone(),
            name: name.into(),
            desc: desc.into(),
        });
        Ok(id)
    }
}

/// The read key of a custom field: lower case, spaces as `_`.
pub fn field_key(display: &str) -> String {
    display.trim().to_ascii_lowercase().replace(' ', "_")
}

fn valid_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((a, d)) => !a.is_empty() && d.contains('.') && !e.contains(' '),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    #[test]
    fn subscribe_adds_then_updates_and_reads_back_under_keys() {
        let mut s = Store::default();
        let key = s.lists[0].key.clone();
        let i = info(&[("Contact Email", "A@x.com"), ("First Name", "Ann")]);
        assert_eq!(s.subscribe(&key, &i, None, 5).unwrap(), Outcome::Added);
        let i = info(&[("Contact Email", "a@x.com"), ("Last Name", "Lee")]);
        assert_eq!(s.subscribe(&key, &i, None, 6).unwrap(), Outcome::Updated);
        let c = &s.contacts["a@x.com"];
        assert_eq!(c["firstname"], "Ann");
        assert_eq!(c["lastname"], "Lee");
        assert_eq!(s.lists[0].members.len(), 1);
        // An empty value clears the field.
        let i = info(&[("Contact Email", "a@x.com"), ("First Name", "")]);
        s.subscribe(&key, &i, None, 7).unwrap();
        assert!(!s.contacts["a@x.com"].contains_key("firstname"));
    }

    #[test]
    fn errors_carry_campaigns_codes() {
        let mut s = Store::default();
        let key = s.lists[0].key.clone();
        let code = |r: Result<Outcome, CampaignsError>| r.unwrap_err().code;
        assert_eq!(code(s.subscribe("", &info(&[]), None, 0)), "2501");
        assert_eq!(code(s.subscribe("nope", &info(&[]), None, 0)), "2501");
        assert_eq!(
            code(s.subscribe(&key, &info(&[("First Name", "x")]), None, 0)),
            "903"
        );
        assert_eq!(
            code(s.subscribe(&key, &info(&[("Contact Email", "bad")]), None, 0)),
            "2004"
        );
        let unknown = info(&[("Contact Email", "a@x.com"), ("Plan", "gold")]);
        assert_eq!(code(s.subscribe(&key, &unknown, None, 0)), "910");
        let i = info(&[("Contact Email", "a@x.com")]);
        assert_eq!(code(s.subscribe(&key, &i, Some("999"), 0)), "4019");
        s.add_field("Plan", "Text", None).unwrap();
        assert_eq!(
            s.subscribe(&key, &unknown, None, 0).unwrap(),
            Outcome::Added
        );
        assert_eq!(s.contacts["a@x.com"]["plan"], "gold");
        assert_eq!(s.add_field("plan", "Text", None).unwrap_err().code, "916");
        assert_eq!(
            s.add_field("Other", "Colour", None).unwrap_err().code,
            "903"
        );
    }

    #[test]
    fn bulk_limit_unsubscribe_and_topics() {
        let mut s = Store::default();
        let key = s.lists[1].key.clone();
        let eleven: Vec<String> = (0..11).map(|i| format!("u{i}@x.com")).collect();
        assert_eq!(
            s.add_bulk(&key, &eleven.join(","), 0).unwrap_err().code,
            "2303"
        );
        assert_eq!(s.add_bulk(&key, &eleven[..10].join(","), 0).unwrap(), 10);
        assert_eq!(s.add_bulk(&key, &eleven[..2].join(","), 0).unwrap(), 0);
        s.unsubscribe(&key, "U1@x.com").unwrap();
        assert_eq!(s.lists[1].members[1].1.status, Status::Unsubscribed);
        assert_eq!(s.unsubscribe(&key, "zz@x.com").unwrap_err().code, "2103");
        let t = s.add_topic("Billing news", "Invoices").unwrap();
        assert_eq!(s.add_topic("billing news", "x").unwrap_err().code, "4013");
        assert_eq!(s.add_topic("", "x").unwrap_err().code, "4017");
        assert_eq!(s.add_topic("a$b", "x").unwrap_err().code, "4011");
        let i = info(&[("Contact Email", "u1@x.com")]);
        assert_eq!(
            s.subscribe(&key, &i, Some(&t), 0).unwrap(),
            Outcome::Updated
        );
        let m = &s.lists[1].members[1].1;
        assert_eq!(m.status, Status::Active);
        assert!(m.topics.contains(&t));
    }
}
