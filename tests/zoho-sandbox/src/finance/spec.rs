//! Product differences as data: paths, JSON keys, id and time fields,
//! messages, sort columns and custom fields of every finance resource.

use crate::error::Product;

/// Finance resource kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Contacts,
    Items,
    Invoices,
    Estimates,
    Payments,
    CreditNotes,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Contacts,
        Kind::Items,
        Kind::Invoices,
        Kind::Estimates,
        Kind::Payments,
        Kind::CreditNotes,
    ];

    /// Whether the document has line items and totals.
    pub fn has_lines(self) -> bool {
        matches!(self, Kind::Invoices | Kind::Estimates | Kind::CreditNotes)
    }
}

/// A custom field definition.
#[derive(Debug, Clone, Copy)]
pub struct CustomField {
    pub customfield_id: &'static str,
    pub api_name: &'static str,
    pub label: &'static str,
    pub index: u32,
    pub data_type: &'static str,
    pub unique: bool,
}

/// How one product exposes one resource.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub product: Product,
    pub kind: Kind,
    /// Storage key (also in `/__sandbox/counts`).
    pub table: &'static str,
    /// URL segment.
    pub path: &'static str,
    /// JSON key of one record.
    pub singular: &'static str,
    /// JSON key of a list.
    pub plural: &'static str,
    pub id_field: &'static str,
    /// Used in "<Entity> does not exist."
    pub entity: &'static str,
    pub name_field: Option<&'static str>,
    pub number_field: Option<&'static str>,
    pub number_prefix: &'static str,
    pub date_field: Option<&'static str>,
    pub lines_field: Option<&'static str>,
    pub price_field: &'static str,
    /// `last_modified_time` or `updated_time`.
    pub updated_field: &'static str,
    /// Entity name of webhooks.
    pub webhook_entity: &'static str,
    pub msg_created: &'static str,
    pub msg_updated: &'static str,
    pub msg_deleted: &'static str,
    pub sort_columns: &'static [&'static str],
    /// Whether `last_modified_time` is a list filter.
    pub modified_filter: bool,
    pub custom_fields: &'static [CustomField],
    /// `report_name` of `page_context`.
    pub report_name: &'static str,
}

const CF_CONTACT: &[CustomField] = &[
    CustomField {
        customfield_id: "460000000639001",
        api_name: "cf_crm_account_id",
        label: "CRM Account ID",
        index: 1,
        data_type: "string",
        unique: true,
    },
    CustomField {
        customfield_id: "460000000639002",
        api_name: "cf_segment",
        label: "Segment",
        index: 2,
        data_type: "dropdown",
        unique: false,
    },
];
const CF_ITEM: &[CustomField] = &[CustomField {
    customfield_id: "460000000639011",
    api_name: "cf_crm_product_id",
    label: "CRM Product ID",
    index: 1,
    data_type: "string",
    unique: true,
}];
const CF_INVOICE: &[CustomField] = &[
    // Not unique: a deal won, lost and won again has two invoices.
    CustomField {
        customfield_id: "460000000639021",
        api_name: "cf_crm_deal_id",
        label: "CRM Deal ID",
        index: 1,
        data_type: "string",
        unique: false,
    },
    CustomField {
        customfield_id: "460000000639022",
        api_name: "cf_po_number",
        label: "PO Number",
        index: 2,
        data_type: "string",
        unique: false,
    },
    CustomField {
        customfield_id: "460000000639023",
        api_name: "cf_external_id",
        label: "External ID",
        index: 3,
        data_type: "string",
        unique: true,
    },
];
const CF_ESTIMATE: &[CustomField] = &[CustomField {
    customfield_id: "460000000639031",
    api_name: "cf_crm_deal_id",
    label: "CRM Deal ID",
    index: 1,
    data_type: "string",
    unique: false,
}];
const CF_NONE: &[CustomField] = &[];

/// The spec of `kind` in `product`.
pub fn spec(product: Product, kind: Kind) -> Spec {
    let billing = product == Product::Billing;
    let base = Spec {
        product,
        kind,
        table: "",
        path: "",
        singular: "",
        plural: "",
        id_field: "",
        entity: "",
        name_field: None,
        number_field: None,
        number_prefix: "",
        date_field: None,
        lines_field: None,
        price_field: "rate",
        updated_field: "last_modified_time",
        webhook_entity: "",
        msg_created: "",
        msg_updated: "",
        msg_deleted: "",
        sort_columns: &[],
        modified_filter: false,
        custom_fields: CF_NONE,
        report_name: "",
    };
    match kind {
        Kind::Contacts if billing => Spec {
            table: "customers",
            path: "customers",
            singular: "customer",
            plural: "customers",
            id_field: "customer_id",
            entity: "Customer",
            name_field: Some("display_name"),
            updated_field: "updated_time",
            webhook_entity: "customer",
            msg_created: "The customer has been created",
            msg_updated: "The customer details have been updated.",
            msg_deleted: "The customer has been deleted.",
            sort_columns: &[
                "display_name",
                "first_name",
                "last_name",
                "email",
                "outstanding",
                "created_time",
                "updated_time",
            ],
            custom_fields: CF_CONTACT,
            report_name: "Customers",
            ..base
        },
        Kind::Contacts => Spec {
            table: "contacts",
            path: "contacts",
            singular: "contact",
            plural: "contacts",
            id_field: "contact_id",
            entity: "Contact",
            name_field: Some("contact_name"),
            webhook_entity: "contact",
            msg_created: "The contact has been created",
            msg_updated: "Contact has been updated successfully",
            msg_deleted: "The contact has been deleted.",
            sort_columns: &[
                "contact_name",
                "first_name",
                "last_name",
                "email",
                "outstanding_receivable_amount",
                "created_time",
                "last_modified_time",
            ],
            custom_fields: CF_CONTACT,
            report_name: "Contacts",
            ..base
        },
        Kind::Items => Spec {
            table: "items",
            path: "items",
            singular: "item",
            plural: "items",
            id_field: "item_id",
            entity: "Item",
            name_field: Some("name"),
            updated_field: if billing {
                "updated_time"
            } else {
                "last_modified_time"
            },
            webhook_entity: "item",
            msg_created: "The item has been added.",
            msg_updated: "Item details have been saved.",
            msg_deleted: "The item has been deleted.",
            sort_columns: &["name", "rate", "tax_name"],
            custom_fields: CF_ITEM,
            report_name: "Items",
            ..base
        },
        Kind::Invoices => Spec {
            table: "invoices",
            path: "invoices",
            singular: "invoice",
            plural: "invoices",
            id_field: "invoice_id",
            entity: "Invoice",
            number_field: Some(if billing { "number" } else { "invoice_number" }),
            number_prefix: "INV-",
            date_field: Some(if billing { "invoice_date" } else { "date" }),
            lines_field: Some(if billing {
                "invoice_items"
            } else {
                "line_items"
            }),
            price_field: if billing { "price" } else { "rate" },
            updated_field: if billing {
                "updated_time"
            } else {
                "last_modified_time"
            },
            webhook_entity: "invoice",
            msg_created: "The invoice has been created.",
            msg_updated: "Invoice information has been updated.",
            msg_deleted: "The invoice has been deleted.",
            sort_columns: &[
                "customer_name",
                "invoice_number",
                "number",
                "date",
                "invoice_date",
                "due_date",
                "total",
                "balance",
                "created_time",
                "last_modified_time",
                "updated_time",
            ],
            modified_filter: true,
            custom_fields: CF_INVOICE,
            report_name: "Invoices",
            ..base
        },
        Kind::Estimates => Spec {
            table: "estimates",
            path: "estimates",
            singular: "estimate",
            plural: "estimates",
            id_field: "estimate_id",
            entity: "Estimate",
            number_field: Some("estimate_number"),
            number_prefix: if billing { "QT-" } else { "EST-" },
            date_field: Some("date"),
            lines_field: Some("line_items"),
            updated_field: if billing {
                "updated_time"
            } else {
                "last_modified_time"
            },
            webhook_entity: "estimate",
            msg_created: "The estimate has been created",
            msg_updated: "Estimate information has been updated.",
            msg_deleted: "The estimate has been deleted.",
            sort_columns: &[
                "customer_name",
                "estimate_number",
                "date",
                "total",
                "created_time",
                "last_modified_time",
            ],
            modified_filter: true,
            custom_fields: CF_ESTIMATE,
            report_name: "Estimates",
            ..base
        },
        Kind::Payments => Spec {
            table: "customerpayments",
            path: if billing {
                "payments"
            } else {
                "customerpayments"
            },
            singular: "payment",
            plural: if billing {
                "payments"
            } else {
                "customerpayments"
            },
            id_field: "payment_id",
            entity: "Payment",
            number_field: Some("payment_number"),
            number_prefix: "",
            date_field: Some("date"),
            updated_field: if billing {
                "updated_time"
            } else {
                "last_modified_time"
            },
            webhook_entity: "payment",
            msg_created: "The payment has been created.",
            msg_updated: "The payment details have been updated.",
            msg_deleted: "The payment has been deleted.",
            sort_columns: &[
                "customer_name",
                "payment_number",
                "payment_mode",
                "date",
                "amount",
                "created_time",
                "last_modified_time",
            ],
            modified_filter: true,
            report_name: "Customer Payments",
            ..base
        },
        Kind::CreditNotes => Spec {
            table: "creditnotes",
            path: "creditnotes",
            singular: "creditnote",
            plural: "creditnotes",
            id_field: "creditnote_id",
            entity: "Credit Note",
            number_field: Some("creditnote_number"),
            number_prefix: "CN-",
            date_field: Some("date"),
            lines_field: Some(if billing {
                "invoice_items"
            } else {
                "line_items"
            }),
            price_field: if billing { "price" } else { "rate" },
            updated_field: "updated_time",
            webhook_entity: "creditnote",
            msg_created: if billing {
                "Credit Note created successfully."
            } else {
                "The credit note has been created."
            },
            msg_updated: "The credit note has been updated.",
            msg_deleted: "The credit note has been deleted.",
            sort_columns: &[
                "customer_name",
                "creditnote_number",
                "date",
                "total",
                "balance",
                "created_time",
                "updated_time",
            ],
            modified_filter: true,
            report_name: "Credit Notes",
            ..base
        },
    }
}

/// State-changing actions on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    MarkActive,
    MarkInactive,
    MarkSent,
    MarkVoid,
    MarkDraft,
    /// Billing `converttoopen` and credit-note `status/open`.
    MarkOpen,
    Email,
    Accept,
    Decline,
}

/// The action routes of a resource in a product: (URL suffix, action).
pub fn actions(product: Product, kind: Kind) -> Vec<(&'static str, Action)> {
    let billing = product == Product::Billing;
    match kind {
        Kind::Contacts if billing => vec![
            ("markasactive", Action::MarkActive),
            ("markasinactive", Action::MarkInactive),
        ],
        Kind::Contacts | Kind::Items => vec![
            ("active", Action::MarkActive),
            ("inactive", Action::MarkInactive),
        ],
        Kind::Invoices if billing => vec![
            ("void", Action::MarkVoid),
            ("converttoopen", Action::MarkOpen),
            ("email", Action::Email),
        ],
        Kind::Invoices => vec![
            ("status/sent", Action::MarkSent),
            ("status/void", Action::MarkVoid),
            ("status/draft", Action::MarkDraft),
            ("email", Action::Email),
        ],
        Kind::Estimates => vec![
            ("status/sent", Action::MarkSent),
            ("status/accepted", Action::Accept),
            ("status/declined", Action::Decline),
            ("email", Action::Email),
        ],
        Kind::CreditNotes if billing => vec![
            ("void", Action::MarkVoid),
            ("converttoopen", Action::MarkOpen),
            ("email", Action::Email),
        ],
        Kind::CreditNotes => vec![
            ("status/void", Action::MarkVoid),
            ("status/draft", Action::MarkDraft),
            ("status/open", Action::MarkOpen),
            ("email", Action::Email),
        ],
        Kind::Payments => vec![],
    }
}

/// Find the spec whose URL segment or table is `name`.
pub fn by_name(product: Product, name: &str) -> Option<Spec> {
    Kind::ALL
        .iter()
        .map(|k| spec(product, *k))
        .find(|s| s.path == name || s.table == name || s.singular == name)
}
