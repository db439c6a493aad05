//! Zoho Books, Invoice and Billing ("Zoho Finance"). One implementation;
//! product differences (paths, field names, messages, org selection) are data
//! in [`spec`].

pub mod ops;
pub mod routes;
pub mod seed;
pub mod spec;

use std::collections::BTreeMap;

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
