//! Module fields: the standard ones known without network (for `plugins
//! inspect`), and the organisation's real ones, custom fields and picklists
//! included, read from `settings/fields`.

use ferry_plugin_sdk::prelude::*;

use crate::error::response_error;

/// Modules every connection offers; settings can add more (`modules`).
pub const STANDARD_MODULES: &[&str] = &["Accounts", "Contacts", "Deals", "Products"];

/// Standard fields of the standard modules, as `(api name, settings/fields
/// data type)`. Fields every module has come from [`COMMON`].
const ACCOUNTS: &[(&str, &str)] = &[
    ("Account_Name", "text!"),
    ("Account_Number", "text"),
    ("Account_Site", "text"),
    ("Account_Type", "picklist"),
    ("Parent_Account", "lookup:Accounts"),
    ("Industry", "picklist"),
    ("Annual_Revenue", "currency"),
    ("Employees", "integer"),
    ("Ownership", "picklist"),
    ("Rating", "picklist"),
    ("SIC_Code", "integer"),
    ("Ticker_Symbol", "text"),
    ("Phone", "phone"),
    ("Fax", "phone"),
    ("Website", "website"),
    ("Billing_Street", "text"),
    ("Billing_City", "text"),
    ("Billing_State", "text"),
    ("Billing_Code", "text"),
    ("Billing_Country", "text"),
    ("Shipping_Street", "text"),
    ("Shipping_City", "text"),
    ("Shipping_State", "text"),
    ("Shipping_Code", "text"),
    ("Shipping_Country", "text"),
];
const CONTACTS: &[(&str, &str)] = &[
    ("Salutation", "picklist"),
    ("First_Name", "text"),
    ("Last_Name", "text!"),
    ("Full_Name", "text-"),
    ("Account_Name", "lookup:Accounts"),
    ("Email", "email"),
    ("Secondary_Email", "email"),
    ("Phone", "phone"),
    ("Mobile", "phone"),
    ("Title", "text"),
    ("Department", "text"),
    ("Lead_Source", "picklist"),
    ("Date_of_Birth", "date"),
    ("Email_Opt_Out", "boolean"),
    ("Reporting_To", "lookup:Contacts"),
    ("Mailing_Street", "text"),
    ("Mailing_City", "text"),
    ("Mailing_State", "text"),
    ("Mailing_Zip", "text"),
    ("Mailing_Country", "text"),
];
const DEALS: &[(&str, &str)] = &[
    ("Deal_Name", "text!"),
    ("Account_Name", "lookup:Accounts"),
    ("Contact_Name", "lookup:Contacts"),
    ("Amount", "currency"),
    ("Stage", "picklist!"),
    ("Probability", "integer"),
    ("Expected_Revenue", "currency-"),
    ("Closing_Date", "date!"),
    ("Pipeline", "picklist"),
    ("Type", "picklist"),
    ("Lead_Source", "picklist"),
    ("Next_Step", "text"),
];
const PRODUCTS: &[(&str, &str)] = &[
    ("Product_Name", "text!"),
    ("Product_Code", "text"),
    ("Product_Category", "picklist"),
    ("Product_Active", "boolean"),
    ("Manufacturer", "picklist"),
    ("Unit_Price", "currency"),
    ("Commission_Rate", "currency"),
    ("Taxable", "boolean"),
    ("Usage_Unit", "picklist"),
    ("Qty_in_Stock", "double"),
    ("Sales_Start_Date", "date"),
    ("Sales_End_Date", "date"),
];
const COMMON: &[(&str, &str)] = &[
    ("Owner", "ownerlookup"),
    ("Description", "textarea"),
    ("Currency", "picklist"),
    ("Exchange_Rate", "double"),
    ("Created_By", "ownerlookup-"),
    ("Modified_By", "ownerlookup-"),
    ("Created_Time", "datetime-"),
    ("Modified_Time", "datetime-"),
];

/// Field kind of a `settings/fields` data type.
pub fn kind(data_type: &str) -> FieldKind {
    match data_type {
        "text" | "autonumber" => FieldKind::Text,
        "textarea" => FieldKind::LongText,
        "email" => FieldKind::Email,
        "phone" => FieldKind::Phone,
        "website" => FieldKind::Url,
        "picklist" => FieldKind::Picklist,
        "multiselectpicklist" => FieldKind::MultiPicklist,
        "integer" | "bigint" => FieldKind::Integer,
        "double" => FieldKind::Decimal,
        "currency" => FieldKind::Currency,
        "percent" => FieldKind::Percent,
        "boolean" => FieldKind::Boolean,
        "date" => FieldKind::Date,
        "datetime" => FieldKind::Datetime,
        "lookup" | "ownerlookup" | "userlookup" => FieldKind::Lookup,
        "subform" => FieldKind::List,
        _ => FieldKind::Other,
    }
}

/// The standard fields of `module`, known without network. A module added
/// by settings is known only by its id and modification time then.
pub fn standard(module: &str) -> Vec<FieldInfo> {
    let own: &[(&str, &str)] = match module {
        "Accounts" => ACCOUNTS,
        "Contacts" => CONTACTS,
        "Deals" => DEALS,
        "Products" => PRODUCTS,
        _ => &[],
    };
    let mut out = vec![FieldInfo::text("id").label("Record Id").read_only()];
    let common: &[(&str, &str)] = if own.is_empty() {
        &[("Modified_Time", "datetime-")]
    } else {
        COMMON
    };
    for (name, spec) in own.iter().chain(common) {
        // `type!` = required, `type-` = read-only, `lookup:Module`.
        let (spec, required) = spec.strip_suffix('!').map_or((*spec, false), |s| (s, true));
        let (spec, read_only) = spec.strip_suffix('-').map_or((spec, false), |s| (s, true));
        let (data_type, target) = spec.split_once(':').unwrap_or((spec, ""));
        let mut f = FieldInfo::new(name, kind(data_type)).label(&name.replace('_', " "));
        if required {
            f = f.required();
        }
        if read_only {
            f = f.read_only();
        }
        if !target.is_empty() {
            f = f.lookup(target);
        } else if data_type == "ownerlookup" {
            f = f.lookup("users");
        }
        out.push(f);
    }
    out
}

/// One `settings/fields` entry as a field of the contract.
pub fn from_settings(v: &Value) -> Option<FieldInfo> {
    let name = v["api_name"].as_str()?;
    let data_type = v["data_type"].as_str().unwrap_or_default();
    let label = v["field_label"]
        .as_str()
        .or(v["display_label"].as_str())
        .unwrap_or(name);
    let mut f = FieldInfo::new(name, kind(data_type)).label(label);
    f.required = v["system_mandatory"].as_bool() == Some(true);
    f.read_only =
        v["read_only"].as_bool() == Some(true) || v["field_read_only"].as_bool() == Some(true);
    f.custom = v["custom_field"].as_bool() == Some(true);
    f.picklist = v["pick_list_values"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|p| p["actual_value"].as_str().or(p["display_value"].as_str()))
                .filter(|p| *p != "-None-")
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    f.lookup_module = match data_type {
        "ownerlookup" | "userlookup" => Some("users".into()),
        _ => v["lookup"]["module"]["api_name"].as_str().map(String::from),
    };
    Some(f)
}

/// The module's fields as the organisation has them (`settings/fields`).
pub fn discover(module: &str) -> Result<Vec<FieldInfo>, ConnectorError> {
    let resp = Request::get("/settings/fields")
        .query("module", module)
        .send()?;
    if resp.status != 200 {
        return Err(response_error(&resp));
    }
    let body: Value = resp.json()?;
    let mut out = vec![FieldInfo::text("id").label("Record Id").read_only()];
    out.extend(
        body["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(from_settings)
            .filter(|f| f.name != "id"),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fields_entries_become_fields() {
        let f = from_settings(&json!({
            "api_name": "Customer_Segment", "field_label": "Customer Segment", "data_type": "picklist",
            "custom_field": true, "system_mandatory": false, "read_only": false,
            "pick_list_values": [{"actual_value": "-None-"}, {"actual_value": "Enterprise"}, {"actual_value": "SMB"}]
        }))
        .unwrap();
        assert_eq!(f.label, "Customer Segment");
        assert!(f.custom && !f.required);
        assert!(matches!(f.kind, FieldKind::Picklist));
        assert_eq!(f.picklist, ["Enterprise", "SMB"]);
        let lookup = from_settings(&json!({"api_name": "Account_Name", "data_type": "lookup", "lookup": {"module": {"api_name": "Accounts"}}})).unwrap();
        assert_eq!(lookup.lookup_module.as_deref(), Some("Accounts"));
    }

    #[test]
    fn standard_modules_know_their_fields_offline() {
        let deals = standard("Deals");
        let stage = deals.iter().find(|f| f.name == "Stage").unwrap();
        assert!(stage.required && matches!(stage.kind, FieldKind::Picklist));
        let er = deals.iter().find(|f| f.name == "Expected_Revenue").unwrap();
        assert!(er.read_only && !er.required);
        let owner = deals.iter().find(|f| f.name == "Owner").unwrap();
        assert_eq!(owner.lookup_module.as_deref(), Some("users"));
        let extra = standard("Leads");
        assert_eq!(extra.len(), 2);
    }
}
