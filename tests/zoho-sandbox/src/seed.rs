//! Deterministic seed data: N records per CRM module and per finance
//! resource in every organisation.

use serde_json::{Map, Value, json};

use crate::clock::{self, Millis};
use crate::crm::metadata::{self, API_USER_ID, DEAL_STAGES};
use crate::crm::{self, CrmRecord};
use crate::state::State;

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Ritchie",
];
const CITIES: &[&str] = &[
    "Austin",
    "Berlin",
    "Chennai",
    "Dublin",
    "Edinburgh",
    "Fresno",
    "Geneva",
];

fn owner() -> Value {
    metadata::users()
        .into_iter()
        .next()
        .map(Value::Object)
        .unwrap_or(Value::Null)
}

/// Add `n` records to every CRM module. Timestamps are spread one second
/// apart, ending at `now`, so incremental listings have distinct times.
pub fn seed_crm(st: &mut State, n: usize, now: Millis) {
    seed_crm_modules(
        st,
        n,
        now,
        &["Accounts", "Contacts", "Leads", "Deals", "Products"],
    );
}

/// [`seed_crm`] for some modules only (benchmarks that need one large
/// module). Contacts and Deals point at Accounts seeded in the same call.
pub fn seed_crm_modules(st: &mut State, n: usize, now: Millis, modules: &[&str]) {
    if n == 0 {
        return;
    }
    let user = crm::user_json(API_USER_ID);
    let owner = owner();
    let start = now - (n as i64) * 1000;
    let mut account_ids = Vec::with_capacity(n);
    let mut contact_ids = Vec::with_capacity(n);
    let order = ["Accounts", "Contacts", "Leads", "Deals", "Products"];
    let base_serial = st.crm.module(crm::def("Accounts").unwrap()).records.len()
        + st.crm.module(crm::def("Accounts").unwrap()).deleted.len();
    for module in order.into_iter().filter(|m| modules.contains(m)) {
        let def = crm::def(module).expect("module");
        for i in 0..n {
            let id = st.crm_id();
            let serial = base_serial + i + 1;
            let t = start + (i as i64) * 1000;
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len()) % LAST.len()];
            let mut d = Map::new();
            match module {
                "Accounts" => {
                    d.insert("Account_Name".into(), json!(format!("Account {serial:06}")));
                    d.insert("Phone".into(), json!(format!("+1 555 {:07}", serial)));
                    d.insert(
                        "Website".into(),
                        json!(format!("https://account{serial}.example.com")),
                    );
                    d.insert("Billing_City".into(), json!(CITIES[i % CITIES.len()]));
                    d.insert(
                        "Billing_Street".into(),
                        json!(format!("{} Main Street", serial)),
                    );
                    d.insert("Billing_Country".into(), json!("USA"));
                    d.insert("Industry".into(), json!("Large Enterprise"));
                    d.insert("Annual_Revenue".into(), json!((serial * 1000) as f64));
                    d.insert("Zoho_Billing".into(), json!(i % 2 == 0));
                    d.insert(
                        "Customer_Segment".into(),
                        json!(["Enterprise", "Mid-Market", "SMB"][i % 3]),
                    );
                    account_ids.push(id);
                }
                "Contacts" => {
                    d.insert("First_Name".into(), json!(first));
                    d.insert("Last_Name".into(), json!(format!("{last} {serial}")));
                    d.insert(
                        "Full_Name".into(),
                        json!(format!("{first} {last} {serial}")),
                    );
                    d.insert(
                        "Email".into(),
                        json!(format!("contact{serial}@example.com")),
                    );
                    d.insert("Phone".into(), json!(format!("+1 555 {:07}", serial)));
                    if let Some(acc) = account_ids.get(i) {
                        d.insert(
                            "Account_Name".into(),
                            json!({"name": format!("Account {serial:06}"), "id": acc.to_string()}),
                        );
                    }
                    d.insert("Mailing_City".into(), json!(CITIES[i % CITIES.len()]));
                    contact_ids.push(id);
                }
                "Leads" => {
                    d.insert("First_Name".into(), json!(first));
                    d.insert("Last_Name".into(), json!(format!("{last} {serial}")));
                    d.insert(
                        "Full_Name".into(),
                        json!(format!("{first} {last} {serial}")),
                    );
                    d.insert("Company".into(), json!(format!("Lead Company {serial}")));
                    d.insert("Email".into(), json!(format!("lead{serial}@example.com")));
                    d.insert("Lead_Source".into(), json!("Web Download"));
                    d.insert("Lead_Status".into(), json!("Not Contacted"));
                }
                "Deals" => {
                    let (stage, prob, _) = DEAL_STAGES[i % DEAL_STAGES.len()];
                    let amount = ((serial % 97) * 250 + 1000) as f64;
                    d.insert("Deal_Name".into(), json!(format!("Deal {serial:06}")));
                    d.insert("Stage".into(), json!(stage));
                    d.insert("Probability".into(), json!(prob));
                    d.insert("Amount".into(), json!(amount));
                    d.insert(
                        "Expected_Revenue".into(),
                        json!(amount * prob as f64 / 100.0),
                    );
                    d.insert(
                        "Closing_Date".into(),
                        json!(clock::fmt_date(t + 30 * 86_400_000)),
                    );
                    d.insert("Pipeline".into(), json!("Standard (Standard)"));
                    if let Some(acc) = account_ids.get(i) {
                        d.insert(
                            "Account_Name".into(),
                            json!({"name": format!("Account {serial:06}"), "id": acc.to_string()}),
                        );
                    }
                    if let Some(contact) = contact_ids.get(i) {
                        d.insert(
                            "Contact_Name".into(),
                            json!({"name": null, "id": contact.to_string()}),
                        );
                    }
                }
                _ => {
                    d.insert("Product_Name".into(), json!(format!("Product {serial:06}")));
                    d.insert("Product_Code".into(), json!(format!("SKU-{serial:06}")));
                    d.insert("Unit_Price".into(), json!(((serial % 50) * 10 + 5) as f64));
                    d.insert("Product_Active".into(), json!(true));
                    d.insert("Taxable".into(), json!(false));
                }
            }
            let ts = json!(clock::fmt_crm(t));
            d.insert("id".into(), json!(id.to_string()));
            d.insert("Owner".into(), owner.clone());
            d.insert("Created_By".into(), user.clone());
            d.insert("Modified_By".into(), user.clone());
            d.insert("Created_Time".into(), ts.clone());
            d.insert("Modified_Time".into(), ts);
            let rec = CrmRecord {
                id,
                created_ms: t,
                modified_ms: t,
                data: d,
            };
            st.crm.module_mut(def).insert(def, rec);
        }
    }
}

/// Seed every module of every product.
pub fn seed_all(st: &mut State, n: usize, now: Millis) {
    seed_crm(st, n, now);
    crate::finance::seed::seed_finance(st, n, now);
}
