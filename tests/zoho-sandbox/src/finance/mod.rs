//! Zoho Books, Invoice and Billing ("Zoho Finance"). One implementation;
//! product differences (paths, field names, messages, org selection) are data
//! in [`spec`].

pub mod ops;
pub mod routes;
pub mod seed;
pub mod spec;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::error::Product;

/// A finance organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    pub product: Product,
    pub organization_id: String,
    pub name: String,
    pub currency_code: String,
    pub currency_id: String,
    pub currency_symbol: String,
}

impl Org {
    pub fn new(product: Product, id: &str, name: &str, currency: &str) -> Org {
        let symbol = match currency {
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "INR" => "₹",
            "JPY" => "¥",
            _ => currency,
        };
        Org {
            product,
            organization_id: id.to_string(),
            name: name.to_string(),
            currency_code: currency.to_string(),
            currency_id: format!("{id}000097"),
            currency_symbol: symbol.to_string(),
        }
    }

    /// The default organisations: two per product with different currencies.
    pub fn defaults() -> Vec<Org> {
        vec![
            Org::new(Product::Books, "10234695", "Sandbox Books Inc", "USD"),
            Org::new(Product::Books, "10234696", "Sandbox Books GmbH", "EUR"),
            Org::new(Product::Invoice, "20234695", "Sandbox Invoice Inc", "USD"),
            Org::new(Product::Invoice, "20234696", "Sandbox Invoice Ltd", "GBP"),
            Org::new(Product::Billing, "30234695", "Sandbox Billing Inc", "USD"),
            Org::new(
                Product::Billing,
                "30234696",
                "Sandbox Billing Pvt Ltd",
                "INR",
            ),
        ]
    }
}

/// One stored finance record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub created_ms: Millis,
    pub modified_ms: Millis,
    pub data: Map<String, Value>,
}

/// Records of one kind in one organisation.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Table {
    pub rows: BTreeMap<u64, Row>,
    /// Next document number (`INV-000001`).
    pub next_number: u64,
    /// Names in use per field (folded to lower case, with their counts),
    /// for the duplicate check every create and update makes: built on
    /// first use, then kept by [`Table::put`] and [`Table::remove`].
    #[serde(skip)]
    names: HashMap<&'static str, HashMap<String, usize>>,
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

fn name_of<'a>(row: &'a Row, field: &str) -> &'a str {
    row.data.get(field).and_then(Value::as_str).unwrap_or("")
}

impl Table {
    /// Store a row (new or changed).
    pub fn put(&mut self, id: u64, row: Row) {
        for (field, index) in &mut self.names {
            if let Some(old) = self.rows.get(&id) {
                forget(index, name_of(old, field));
            }
            *index.entry(fold(name_of(&row, field))).or_default() += 1;
        }
        self.rows.insert(id, row);
    }

    /// Drop a row.
    pub fn remove(&mut self, id: u64) -> Option<Row> {
        let row = self.rows.remove(&id)?;
        for (field, index) in &mut self.names {
            forget(index, name_of(&row, field));
        }
        Some(row)
    }

    /// Whether a row other than `id` has `name` in `field`, in any case.
    pub fn name_taken(&mut self, field: &'static str, name: &str, id: u64) -> bool {
        let rows = &self.rows;
        let index = self.names.entry(field).or_insert_with(|| {
            let mut index: HashMap<String, usize> = HashMap::new();
            for row in rows.values() {
                *index.entry(fold(name_of(row, field))).or_default() += 1;
            }
            index
        });
        let key = fold(name);
        let own = rows
            .get(&id)
            .is_some_and(|r| fold(name_of(r, field)) == key);
        index.get(&key).copied().unwrap_or(0) > usize::from(own)
    }
}

fn forget(index: &mut HashMap<String, usize>, name: &str) {
    let key = fold(name);
    if let Some(n) = index.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            index.remove(&key);
        }
    }
}

/// All data of one organisation, by resource kind name.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct OrgData {
    pub tables: BTreeMap<String, Table>,
}

/// All finance data.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FinanceState {
    pub orgs: Vec<Org>,
    /// Keyed by `"<product>/<organization_id>"`.
    pub data: BTreeMap<String, OrgData>,
}

/// Key of an organisation's data.
pub fn org_key(product: Product, org: &str) -> String {
    format!("{}/{}", product.name(), org)
}

impl FinanceState {
    pub fn new(orgs: Vec<Org>) -> Self {
        let mut s = FinanceState {
            orgs,
            data: BTreeMap::new(),
        };
        for o in s.orgs.clone() {
            s.data
                .insert(org_key(o.product, &o.organization_id), OrgData::default());
        }
        s
    }

    pub fn rebuild(&mut self) {}

    pub fn org(&self, product: Product, id: &str) -> Option<&Org> {
        self.orgs
            .iter()
            .find(|o| o.product == product && o.organization_id == id)
    }

    pub fn orgs_of(&self, product: Product) -> impl Iterator<Item = &Org> {
        self.orgs.iter().filter(move |o| o.product == product)
    }
}
