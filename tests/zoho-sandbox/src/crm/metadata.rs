//! CRM module and field metadata (`settings/modules`, `settings/fields`,
//! `settings/custom_views`), and the typing rules used to validate writes.

use serde_json::{Map, Value, json};

/// Field data types, as `settings/fields` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Text,
    TextArea,
    Email,
    Phone,
    Website,
    Picklist,
    MultiSelect,
    Integer,
    BigInt,
    Double,
    Currency,
    Percent,
    Boolean,
    Date,
    DateTime,
    Lookup,
    OwnerLookup,
    AutoNumber,
}

impl DataType {
    pub fn name(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::TextArea => "textarea",
            DataType::Email => "email",
            DataType::Phone => "phone",
            DataType::Website => "website",
            DataType::Picklist => "picklist",
            DataType::MultiSelect => "multiselectpicklist",
            DataType::Integer => "integer",
            DataType::BigInt => "bigint",
            DataType::Double => "double",
            DataType::Currency => "currency",
            DataType::Percent => "percent",
            DataType::Boolean => "boolean",
            DataType::Date => "date",
            DataType::DateTime => "datetime",
            DataType::Lookup => "lookup",
            DataType::OwnerLookup => "ownerlookup",
            DataType::AutoNumber => "autonumber",
        }
    }

    pub fn json_type(self) -> &'static str {
        match self {
            DataType::Integer | DataType::BigInt => "integer",
            DataType::Double | DataType::Currency | DataType::Percent => "double",
            DataType::Boolean => "boolean",
            DataType::Lookup | DataType::OwnerLookup => "jsonobject",
            DataType::MultiSelect => "jsonarray",
            _ => "string",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            DataType::Integer
                | DataType::BigInt
                | DataType::Double
                | DataType::Currency
                | DataType::Percent
        )
    }
}

/// One field of a module.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub api_name: &'static str,
    pub label: &'static str,
    pub data_type: DataType,
    pub custom: bool,
    pub mandatory: bool,
    /// Set by the system only; ignored on write.
    pub read_only: bool,
    /// No two records may share a value.
    pub unique: bool,
    pub picklist: Vec<&'static str>,
    /// Target module of a lookup.
    pub lookup: Option<&'static str>,
}

fn f(api_name: &'static str, label: &'static str, data_type: DataType) -> FieldDef {
    FieldDef {
        api_name,
        label,
        data_type,
        custom: false,
        mandatory: false,
        read_only: false,
        unique: false,
        picklist: Vec::new(),
        lookup: None,
    }
}

impl FieldDef {
    fn mandatory(mut self) -> Self {
        self.mandatory = true;
        self
    }
    fn custom(mut self) -> Self {
        self.custom = true;
        self
    }
    fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    fn pick(mut self, values: &[&'static str]) -> Self {
        self.picklist = values.to_vec();
        self
    }
    fn lookup(mut self, module: &'static str) -> Self {
        self.lookup = Some(module);
        self
    }
}

/// A CRM module.
#[derive(Debug, Clone)]
pub struct ModuleDef {
    pub api_name: &'static str,
    pub singular: &'static str,
    pub id: u64,
    /// The field shown as a lookup's `name` and in `display_name`.
    pub display_field: &'static str,
    /// Fields checked by upsert when `duplicate_check_fields` is absent.
    pub duplicate_check: &'static [&'static str],
    pub fields: Vec<FieldDef>,
}

impl ModuleDef {
    pub fn field(&self, api_name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.api_name == api_name)
    }
}

/// Deal stages with their default probability and forecast type.
pub const DEAL_STAGES: &[(&str, i64, &str)] = &[
    ("Qualification", 10, "Open"),
    ("Needs Analysis", 20, "Open"),
    ("Value Proposition", 40, "Open"),
    ("Id. Decision Makers", 60, "Open"),
    ("Proposal/Price Quote", 75, "Open"),
    ("Negotiation/Review", 90, "Open"),
    ("Closed Won", 100, "Closed Won"),
    ("Closed Lost", 0, "Closed Lost"),
    ("Closed Lost to Competition", 0, "Closed Lost"),
];

/// Probability for a stage, if the stage is known.
pub fn stage_probability(stage: &str) -> Option<i64> {
    DEAL_STAGES.iter().find(|s| s.0 == stage).map(|s| s.1)
}

const LEAD_SOURCES: &[&str] = &[
    "-None-",
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Sales Email Alias",
    "Seminar Partner",
    "Internal Seminar",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
];
const INDUSTRIES: &[&str] = &[
    "-None-",
    "ASP (Application Service Provider)",
    "Data/Telecom OEM",
    "ERP (Enterprise Resource Planning)",
    "Government/Military",
    "Large Enterprise",
    "ManagementISV",
    "MSP (Management Service Provider)",
    "Network Equipment Enterprise",
    "Non-management ISV",
    "Optical Networking",
    "Service Provider",
    "Small/Medium Enterprise",
    "Storage Equipment",
    "Storage Service Provider",
    "Systems Integrator",
    "Wireless Industry",
];

fn system_fields(v: &mut Vec<FieldDef>) {
    use DataType::*;
    v.push(f("Owner", "Owner", OwnerLookup));
    v.push(f("Created_By", "Created By", OwnerLookup).ro());
    v.push(f("Modified_By", "Modified By", OwnerLookup).ro());
    v.push(f("Created_Time", "Created Time", DateTime).ro());
    v.push(f("Modified_Time", "Modified Time", DateTime).ro());
    v.push(f("Last_Activity_Time", "Last Activity Time", DateTime).ro());
    v.push(f("Description", "Description", TextArea));
    v.push(f("Currency", "Currency", Picklist).pick(&["USD", "EUR", "GBP", "INR"]));
    v.push(f("Exchange_Rate", "Exchange Rate", Double));
}

fn address(v: &mut Vec<FieldDef>, prefix: &'static [&'static str; 5]) {
    for name in prefix {
        v.push(f(name, name, DataType::Text));
    }
}

/// All modules the sandbox serves, in `settings/modules` order.
pub fn modules() -> Vec<ModuleDef> {
    use DataType::*;
    let mut out = Vec::new();

    let mut leads = vec![
        f("Salutation", "Salutation", Picklist)
            .pick(&["-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof."]),
        f("First_Name", "First Name", Text),
        f("Last_Name", "Last Name", Text).mandatory(),
        f("Full_Name", "Lead Name", Text).ro(),
        f("Company", "Company", Text),
        f("Designation", "Title", Text),
        f("Email", "Email", Email),
        f("Phone", "Phone", Phone),
        f("Mobile", "Mobile", Phone),
        f("Website", "Website", Website),
        f("Lead_Source", "Lead Source", Picklist).pick(LEAD_SOURCES),
        f("Lead_Status", "Lead Status", Picklist).pick(&[
            "-None-",
            "Attempted to Contact",
            "Contact in Future",
            "Contacted",
            "Junk Lead",
            "Lost Lead",
            "Not Contacted",
            "Pre-Qualified",
            "Not Qualified",
        ]),
        f("Industry", "Industry", Picklist).pick(INDUSTRIES),
        f("No_of_Employees", "No. of Employees", Integer),
        f("Annual_Revenue", "Annual Revenue", Currency),
        f("Rating", "Rating", Picklist).pick(&[
            "-None-",
            "Acquired",
            "Active",
            "Market Failed",
            "Project Cancelled",
            "Shut Down",
        ]),
        f("Email_Opt_Out", "Email Opt Out", Boolean),
    ];
    address(
        &mut leads,
        &["Street", "City", "State", "Zip_Code", "Country"],
    );
    system_fields(&mut leads);
    out.push(ModuleDef {
        api_name: "Leads",
        singular: "Lead",
        id: 5_725_767_000_000_002_175,
        display_field: "Full_Name",
        duplicate_check: &["Email"],
        fields: leads,
    });

    let mut accounts = vec![
        f("Account_Name", "Account Name", Text).mandatory().unique(),
        f("Account_Number", "Account Number", Text),
        f("Account_Site", "Account Site", Text),
        f("Account_Type", "Account Type", Picklist).pick(&[
            "-None-",
            "Analyst",
            "Competitor",
            "Customer",
            "Distributor",
            "Integrator",
            "Investor",
            "Other",
            "Partner",
            "Press",
            "Prospect",
            "Reseller",
            "Supplier",
            "Vendor",
        ]),
        f("Parent_Account", "Parent Account", Lookup).lookup("Accounts"),
        f("Industry", "Industry", Picklist).pick(INDUSTRIES),
        f("Annual_Revenue", "Annual Revenue", Currency),
        f("Employees", "Employees", Integer),
        f("Ownership", "Ownership", Picklist).pick(&[
            "-None-",
            "Other",
            "Private",
            "Public",
            "Subsidiary",
            "Partnership",
            "Government",
            "Privately Held",
            "Public Company",
        ]),
        f("Rating", "Rating", Picklist).pick(&[
            "-None-",
            "Acquired",
            "Active",
            "Market Failed",
            "Project Cancelled",
            "Shut Down",
        ]),
        f("SIC_Code", "SIC Code", Integer),
        f("Ticker_Symbol", "Ticker Symbol", Text),
        f("Phone", "Phone", Phone),
        f("Fax", "Fax", Phone),
        f("Website", "Website", Website),
        f("Zoho_Billing", "Zoho Billing", Boolean).custom(),
        f("Customer_Segment", "Customer Segment", Picklist)
            .custom()
            .pick(&["-None-", "Enterprise", "Mid-Market", "SMB"]),
        f("Billing_Customer_ID", "Billing Customer ID", Text)
            .custom()
            .unique(),
        // The receivables summary Zoho's Invoice integration shows on an
        // Account (what Ferry's `invoice-receivables` example writes).
        f("Total_Receivables", "Total Receivables", Currency).custom(),
        f("Overdue_Amount", "Overdue Amount", Currency).custom(),
        f("Overdue_Count", "Overdue Invoices", Integer).custom(),
        f("Overdue_Since", "Overdue Since", Date).custom(),
        f("Last_Payment_Date", "Last Payment Date", Date).custom(),
    ];
    address(
        &mut accounts,
        &[
            "Billing_Street",
            "Billing_City",
            "Billing_State",
            "Billing_Code",
            "Billing_Country",
        ],
    );
    address(
        &mut accounts,
        &[
            "Shipping_Street",
            "Shipping_City",
            "Shipping_State",
            "Shipping_Code",
            "Shipping_Country",
        ],
    );
    system_fields(&mut accounts);
    out.push(ModuleDef {
        api_name: "Accounts",
        singular: "Account",
        id: 5_725_767_000_000_002_177,
        display_field: "Account_Name",
        duplicate_check: &["Account_Name"],
        fields: accounts,
    });

    let mut contacts = vec![
        f("Salutation", "Salutation", Picklist)
            .pick(&["-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof."]),
        f("First_Name", "First Name", Text),
        f("Last_Name", "Last Name", Text).mandatory(),
        f("Full_Name", "Contact Name", Text).ro(),
        f("Account_Name", "Account Name", Lookup).lookup("Accounts"),
        f("Email", "Email", Email),
        f("Secondary_Email", "Secondary Email", Email),
        f("Phone", "Phone", Phone),
        f("Mobile", "Mobile", Phone),
        f("Title", "Title", Text),
        f("Department", "Department", Text),
        f("Lead_Source", "Lead Source", Picklist).pick(LEAD_SOURCES),
        f("Date_of_Birth", "Date of Birth", Date),
        f("Email_Opt_Out", "Email Opt Out", Boolean),
        f("Reporting_To", "Reporting To", Lookup).lookup("Contacts"),
        f("Billing_Contact_ID", "Billing Contact ID", Text).custom(),
    ];
    address(
        &mut contacts,
        &[
            "Mailing_Street",
            "Mailing_City",
            "Mailing_State",
            "Mailing_Zip",
            "Mailing_Country",
        ],
    );
    system_fields(&mut contacts);
    out.push(ModuleDef {
        api_name: "Contacts",
        singular: "Contact",
        id: 5_725_767_000_000_002_179,
        display_field: "Full_Name",
        duplicate_check: &["Email"],
        fields: contacts,
    });

    let stages: Vec<&'static str> = DEAL_STAGES.iter().map(|s| s.0).collect();
    let mut deals = vec![
        f("Deal_Name", "Deal Name", Text).mandatory(),
        f("Account_Name", "Account Name", Lookup).lookup("Accounts"),
        f("Contact_Name", "Contact Name", Lookup).lookup("Contacts"),
        f("Amount", "Amount", Currency),
        f("Stage", "Stage", Picklist).mandatory().pick(&stages),
        f("Probability", "Probability (%)", Integer),
        f("Expected_Revenue", "Expected Revenue", Currency).ro(),
        f("Closing_Date", "Closing Date", Date).mandatory(),
        f("Pipeline", "Pipeline", Picklist).pick(&["Standard (Standard)"]),
        f("Type", "Type", Picklist).pick(&["-None-", "Existing Business", "New Business"]),
        f("Lead_Source", "Lead Source", Picklist).pick(LEAD_SOURCES),
        f("Next_Step", "Next Step", Text),
        f("Reason_For_Loss__s", "Reason For Loss", Picklist).pick(&[
            "-None-",
            "Price",
            "Competition",
            "Lost to Competitor",
            "No Budget",
            "Other",
        ]),
        f("Billing_Invoice_ID", "Billing Invoice ID", Text).custom(),
        f("Billing_Frequency", "Billing Frequency", Picklist)
            .custom()
            .pick(&["-None-", "One-off", "Monthly", "Yearly"]),
    ];
    system_fields(&mut deals);
    out.push(ModuleDef {
        api_name: "Deals",
        singular: "Deal",
        id: 5_725_767_000_000_002_181,
        display_field: "Deal_Name",
        duplicate_check: &["Deal_Name"],
        fields: deals,
    });

    let mut products = vec![
        f("Product_Name", "Product Name", Text).mandatory(),
        f("Product_Code", "Product Code", Text),
        f("Product_Category", "Product Category", Picklist).pick(&[
            "-None-",
            "Hardware",
            "Software",
            "CRM Applications",
        ]),
        f("Product_Active", "Product Active", Boolean),
        f("Manufacturer", "Manufacturer", Picklist).pick(&[
            "-None-",
            "AltvetPet Inc.",
            "LexPon Inc.",
            "MetBeat Corp.",
        ]),
        f("Unit_Price", "Unit Price", Currency),
        f("Commission_Rate", "Commission Rate", Currency),
        f("Taxable", "Taxable", Boolean),
        f("Usage_Unit", "Usage Unit", Picklist).pick(&[
            "-None-",
            "Box",
            "Carton",
            "Dozen",
            "Each",
            "Hours",
            "Impressions",
            "Lb",
            "M",
            "Pack",
            "Pages",
            "Pieces",
            "Quantity",
            "Reams",
            "Sheet",
            "Spiral Binder",
            "Square Feet",
        ]),
        f("Qty_in_Stock", "Qty in Stock", Double),
        f("Sales_Start_Date", "Sales Start Date", Date),
        f("Sales_End_Date", "Sales End Date", Date),
        f("Billing_Item_ID", "Billing Item ID", Text).custom(),
    ];
    system_fields(&mut products);
    out.push(ModuleDef {
        api_name: "Products",
        singular: "Product",
        id: 5_725_767_000_000_002_183,
        display_field: "Product_Name",
        duplicate_check: &["Product_Name"],
        fields: products,
    });
    out
}

/// Stable id of a field (used in `settings/fields` and picklist values).
pub fn field_id(module: &ModuleDef, idx: usize) -> String {
    (module.id + 10_000 + idx as u64).to_string()
}

/// The `settings/modules` entry for a module.
pub fn module_json(m: &ModuleDef, detailed: bool) -> Value {
    let mut v = json!({
        "api_name": m.api_name,
        "module_name": m.api_name,
        "singular_label": m.singular,
        "plural_label": m.api_name,
        "id": m.id.to_string(),
        "api_supported": true,
        "generated_type": "default",
        "creatable": true,
        "editable": true,
        "deletable": true,
        "viewable": true,
        "convertable": m.api_name == "Leads",
        "visible": true,
        "status": "visible",
        "sequence_number": 1,
        "presence_sub_menu": true,
        "show_as_tab": true,
        "modified_time": null,
        "modified_by": null,
        "profiles": [{"name": "Administrator", "id": "5725767000000026011"}],
        "business_card_field_limit": 5,
        "description": null,
        "web_link": null,
        "quick_create": true,
        "global_search_supported": true,
        "isBlueprintSupported": true,
        "feeds_required": false,
        "scoring_supported": true,
        "triggers_supported": true,
        "filter_supported": true,
        "kanban_view_supported": true,
        "emailTemplate_support": true,
        "email_parser_supported": false,
        "has_more_profiles": false,
        "arguments": [],
        "parent_module": {},
        "lookupable": true
    });
    if detailed {
        v["display_field"] = json!({"api_name": m.display_field});
        v["related_lists"] = json!([]);
        v["custom_view"] = custom_views(m).into_iter().next().unwrap_or(Value::Null);
    }
    v
}

/// The `settings/fields` entry for a field.
pub fn field_json(m: &ModuleDef, idx: usize, fd: &FieldDef) -> Value {
    let fid = field_id(m, idx);
    let picklist: Vec<Value> = fd
        .picklist
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut pv = json!({
                "display_value": p,
                "actual_value": p,
                "reference_value": p,
                "sequence_number": i + 1,
                "type": "used",
                "id": format!("{fid}{i:02}"),
                "colour_code": null,
            });
            if m.api_name == "Deals" && fd.api_name == "Stage" {
                let (_, prob, ftype) = DEAL_STAGES[i];
                let cat = match ftype {
                    "Open" => "Pipeline",
                    "Closed Won" => "Closed",
                    _ => "Omitted",
                };
                pv["probability"] = json!(prob);
                pv["forecast_type"] = json!(ftype);
                pv["forecast_category"] =
                    json!({"name": cat, "id": format!("57257670000000{:05}", 3000 + i)});
                pv["delete"] = json!({});
            }
            pv
        })
        .collect();
    let length = match fd.data_type {
        DataType::TextArea => 32000,
        DataType::Email | DataType::Phone => 100,
        DataType::Integer => 9,
        DataType::BigInt => 18,
        DataType::Double | DataType::Currency => 16,
        _ => 255,
    };
    let mut v = json!({
        "api_name": fd.api_name,
        "field_label": fd.label,
        "display_label": fd.label,
        "column_name": fd.api_name.to_uppercase(),
        "data_type": fd.data_type.name(),
        "json_type": fd.data_type.json_type(),
        "custom_field": fd.custom,
        "system_mandatory": fd.mandatory,
        "read_only": fd.read_only,
        "field_read_only": fd.read_only,
        "visible": true,
        "id": fid,
        "length": length,
        "sequence_number": idx + 1,
        "pick_list_values": picklist,
        "unique": if fd.unique { json!({"casesensitive": "false"}) } else { json!({}) },
        "history_tracking": null,
        "created_source": if fd.custom { "crm" } else { "default" },
        "mass_update": !fd.read_only,
        "webhook": true,
        "quick_sequence_number": null,
        "enable_colour_code": false,
        "type": "used",
        "operation_type": {"web_update": !fd.read_only, "api_create": !fd.read_only, "web_create": !fd.read_only, "api_update": !fd.read_only},
        "lookup": {},
        "currency": {},
        "formula": {},
        "decimal_place": if fd.data_type.is_numeric() && fd.data_type != DataType::Integer { json!(2) } else { Value::Null },
        "searchable": true,
        "sortable": true,
        "filterable": true,
    });
    if let Some(target) = fd.lookup {
        v["lookup"] = json!({
            "display_label": fd.label,
            "api_name": fd.api_name,
            "module": {"api_name": target, "id": modules().iter().find(|m| m.api_name == target).map(|m| m.id.to_string())},
            "id": fid,
        });
    }
    v
}

/// Custom views ("list views") of a module: `All <Module>` plus a few filtered
/// views. The criteria use the same grammar as `/search`.
pub fn custom_views(m: &ModuleDef) -> Vec<Value> {
    let mut out = vec![json!({
        "id": (m.id + 500).to_string(),
        "name": format!("All {}", m.api_name),
        "display_value": format!("All {}", m.api_name),
        "system_name": format!("ALLVIEWS{}", m.api_name.to_uppercase()),
        "system_defined": true,
        "default": true,
        "category": "public_views",
        "favorite": null,
        "criteria": null,
        "modified_time": null,
        "last_accessed_time": null,
        "modified_by": null,
        "created_by": null,
        "sort_by": null,
        "sort_order": null,
    })];
    let extra: &[(&str, &str)] = match m.api_name {
        "Deals" => &[
            (
                "Open Deals",
                "((Stage:not_equal:Closed Won) and (Stage:not_equal:Closed Lost) and (Stage:not_equal:Closed Lost to Competition))",
            ),
            ("Closed Won Deals", "(Stage:equals:Closed Won)"),
        ],
        "Accounts" => &[("Billing Accounts", "(Zoho_Billing:equals:true)")],
        "Leads" => &[("Open Leads", "(Lead_Status:not_equal:Junk Lead)")],
        _ => &[],
    };
    for (i, (name, crit)) in extra.iter().enumerate() {
        out.push(json!({
            "id": (m.id + 501 + i as u64).to_string(),
            "name": name,
            "display_value": name,
            "system_name": name.to_uppercase().replace(' ', ""),
            "system_defined": true,
            "default": false,
            "category": "public_views",
            "favorite": null,
            "criteria_text": crit,
            "criteria": null,
            "modified_time": null,
            "last_accessed_time": null,
            "modified_by": null,
            "created_by": null,
            "sort_by": null,
            "sort_order": null,
        }));
    }
    out
}

/// Look up a custom view's criteria text (`None` criteria = all records).
pub fn view_criteria(m: &ModuleDef, cvid: &str) -> Option<Option<String>> {
    custom_views(m)
        .into_iter()
        .find(|v| v["id"] == cvid)
        .map(|v| {
            v.get("criteria_text")
                .and_then(Value::as_str)
                .map(String::from)
        })
}

/// The users of the sandbox CRM organisation.
pub fn users() -> Vec<Map<String, Value>> {
    let mk = |id: &str, name: &str, email: &str| {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        m.insert("id".into(), json!(id));
        m.insert("email".into(), json!(email));
        m
    };
    vec![
        mk(API_USER_ID, "Sandbox API User", "api.user@sandbox.invalid"),
        mk(UI_USER_ID, "Sandbox Web User", "web.user@sandbox.invalid"),
    ]
}

/// The user every API call acts as.
pub const API_USER_ID: &str = "5725767000000411001";
/// The user the "web UI" control endpoints act as.
pub const UI_USER_ID: &str = "5725767000000411002";
