//! The resource tables: Books and Invoice share one (Zoho Invoice serves
//! Books' paths and shapes), Billing has its own shapes.
//!
//! Incremental listing per resource, from Zoho's API reference:
//!
//! | resource | strategy | why |
//! |---|---|---|
//! | Books/Invoice contacts | newest first by `last_modified_time`, stop at the watermark | no modified filter, but `sort_column=last_modified_time` is documented |
//! | Books/Invoice items, Billing items | full scan, keep changed rows | items sort only by `name`, `rate`, `tax_name` and have no filter |
//! | Books/Invoice invoices, estimates | `last_modified_time` filter | documented list parameter |
//! | Books/Invoice customer payments, credit notes | `last_modified_time` filter | accepted by the API family; rows are re-checked on the client |
//! | Billing customers | full scan, keep changed rows by `updated_time` | Billing documents neither a filter nor a sort column |
//! | Billing invoices, quotes | `last_modified_time` filter, rows re-checked by `updated_time` | filter of the family; a server that ignores it only costs requests |

use ferry_plugin_sdk::FieldKind as K;

use crate::product::{ActionRoute, Field, Incremental, Resource};

const fn f(name: &'static str, label: &'static str, kind: K) -> Field {
    Field::new(name, label, kind)
}
const fn text(name: &'static str, label: &'static str) -> Field {
    Field::new(name, label, K::Text)
}
const fn time(name: &'static str, label: &'static str) -> Field {
    Field::new(name, label, K::Datetime).read_only()
}
const fn money(name: &'static str, label: &'static str) -> Field {
    Field::new(name, label, K::Currency).read_only()
}

const CREATED: Field = time("created_time", "Created time");
const MODIFIED: Field = time("last_modified_time", "Last modified time");
const UPDATED: Field = time("updated_time", "Updated time");

const fn action(
    name: &'static str,
    suffix: &'static str,
    description: &'static str,
) -> ActionRoute {
    ActionRoute {
        name,
        suffix,
        description,
    }
}

const ACTIVATE: ActionRoute = action("activate", "active", "Mark the record active");
const DEACTIVATE: ActionRoute = action("deactivate", "inactive", "Mark the record inactive");
const ESTIMATE_ACTIONS: &[ActionRoute] = &[
    action("mark-sent", "status/sent", "Mark the estimate as sent"),
    action("accept", "status/accepted", "Mark the estimate as accepted"),
    action(
        "decline",
        "status/declined",
        "Mark the estimate as declined",
    ),
];

/// Books and Invoice (`/books/v3`, `/invoice/v3`).
pub const BOOKS_FAMILY: &[Resource] = &[
    Resource {
        module: "contacts",
        label: "Contacts",
        path: "/contacts",
        singular: "contact",
        plural: "contacts",
        id_field: "contact_id",
        modified_field: "last_modified_time",
        incremental: Incremental::NewestFirst {
            sort_column: "last_modified_time",
        },
        list_sort: None,
        writable: true,
        actions: &[ACTIVATE, DEACTIVATE],
        fields: &[
            text("contact_id", "Contact ID").read_only(),
            text("contact_name", "Display name").required(),
            text("company_name", "Company name"),
            f("contact_type", "Contact type", K::Picklist),
            f("customer_sub_type", "Customer type", K::Picklist),
            f("email", "Email", K::Email).read_only(),
            f("phone", "Phone", K::Phone).read_only(),
            f("website", "Website", K::Url),
            f("status", "Status", K::Picklist).read_only(),
            f("payment_terms", "Payment terms (days)", K::Integer),
            f("credit_limit", "Credit limit", K::Currency),
            text("currency_code", "Currency"),
            f("billing_address", "Billing address", K::Object),
            f("shipping_address", "Shipping address", K::Object),
            f("contact_persons", "Contact persons", K::List),
            f("notes", "Notes", K::LongText),
            money("outstanding_receivable_amount", "Receivables"),
            CREATED,
            MODIFIED,
        ],
    },
    Resource {
        module: "items",
        label: "Items",
        path: "/items",
        singular: "item",
        plural: "items",
        id_field: "item_id",
        modified_field: "last_modified_time",
        incremental: Incremental::Scan,
        list_sort: None,
        writable: true,
        actions: &[ACTIVATE, DEACTIVATE],
        fields: &[
            text("item_id", "Item ID").read_only(),
            text("name", "Name").required(),
            f("rate", "Rate", K::Currency),
            f("description", "Description", K::LongText),
            text("sku", "SKU"),
            text("unit", "Unit"),
            f("product_type", "Product type", K::Picklist),
            f("status", "Status", K::Picklist).read_only(),
            CREATED,
            MODIFIED,
        ],
    },
    Resource {
        module: "invoices",
        label: "Invoices",
        path: "/invoices",
        singular: "invoice",
        plural: "invoices",
        id_field: "invoice_id",
        modified_field: "last_modified_time",
        incremental: Incremental::ModifiedFilter,
        list_sort: Some("created_time"),
        writable: true,
        actions: &[
            action("mark-sent", "status/sent", "Mark the invoice as sent"),
            action("void", "status/void", "Void the invoice"),
            action(
                "mark-draft",
                "status/draft",
                "Turn a void invoice back into a draft",
            ),
        ],
        fields: &[
            text("invoice_id", "Invoice ID").read_only(),
            text("invoice_number", "Invoice number"),
            text("customer_id", "Customer")
                .required()
                .lookup("contacts"),
            text("customer_name", "Customer name").read_only(),
            f("date", "Invoice date", K::Date),
            f("due_date", "Due date", K::Date),
            f("payment_terms", "Payment terms (days)", K::Integer),
            text("reference_number", "Reference number"),
            f("status", "Status", K::Picklist).read_only(),
            f("line_items", "Line items", K::List).required(),
            text("currency_code", "Currency"),
            text("salesperson_name", "Salesperson"),
            f("billing_address", "Billing address", K::Object),
            f("shipping_address", "Shipping address", K::Object),
            f("notes", "Notes", K::LongText),
            f("terms", "Terms", K::LongText),
            money("sub_total", "Sub total"),
            money("total", "Total"),
            money("payment_made", "Payment made"),
            f("last_payment_date", "Last payment date", K::Date).read_only(),
            money("balance", "Balance"),
            CREATED,
            MODIFIED,
        ],
    },
    Resource {
        module: "estimates",
        label: "Estimates",
        path: "/estimates",
        singular: "estimate",
        plural: "estimates",
        id_field: "estimate_id",
        modified_field: "last_modified_time",
        incremental: Incremental::ModifiedFilter,
        list_sort: Some("created_time"),
        writable: true,
        actions: ESTIMATE_ACTIONS,
        fields: &[
            text("estimate_id", "Estimate ID").read_only(),
            text("estimate_number", "Estimate number"),
            text("customer_id", "Customer")
                .required()
                .lookup("contacts"),
            text("customer_name", "Customer name").read_only(),
            f("date", "Estimate date", K::Date),
            f("expiry_date", "Expiry date", K::Date),
            text("reference_number", "Reference number"),
            f("status", "Status", K::Picklist).read_only(),
            f("line_items", "Line items", K::List).required(),
            text("currency_code", "Currency"),
            text("salesperson_name", "Salesperson"),
            f("billing_address", "Billing address", K::Object),
            f("shipping_address", "Shipping address", K::Object),
            f("notes", "Notes", K::LongText),
            f("terms", "Terms", K::LongText),
            money("total", "Total"),
            CREATED,
            MODIFIED,
        ],
    },
    Resource {
        module: "customerpayments",
        label: "Customer payments",
        path: "/customerpayments",
        singular: "payment",
        plural: "customerpayments",
        id_field: "payment_id",
        modified_field: "last_modified_time",
        incremental: Incremental::ModifiedFilter,
        list_sort: Some("created_time"),
        // Recorded by Ferry when another system took the payment (AP's
        // Books flow): POST with the invoices it pays (Books-OAS
        // customer-payments: customer_id, payment_mode, amount, date and
        // invoices are required).
        writable: true,
        actions: &[],
        fields: &[
            text("payment_id", "Payment ID").read_only(),
            text("payment_number", "Payment number").read_only(),
            text("customer_id", "Customer")
                .required()
                .lookup("contacts"),
            text("customer_name", "Customer name").read_only(),
            text("payment_mode", "Payment mode").required(),
            Field::new("amount", "Amount", K::Currency).required(),
            f("date", "Payment date", K::Date).required(),
            text("reference_number", "Reference number"),
            text("description", "Description"),
            f("invoices", "Invoices paid", K::List).required(),
            CREATED,
            MODIFIED,
        ],
    },
    Resource {
        module: "creditnotes",
        label: "Credit notes",
        path: "/creditnotes",
        singular: "creditnote",
        plural: "creditnotes",
        id_field: "creditnote_id",
        modified_field: "updated_time",
        incremental: Incremental::ModifiedFilter,
        list_sort: Some("created_time"),
        writable: false,
        actions: &[],
        fields: &[
            text("creditnote_id", "Credit note ID").read_only(),
            text("creditnote_number", "Credit note number").read_only(),
            text("customer_id", "Customer")
                .read_only()
                .lookup("contacts"),
            text("customer_name", "Customer name").read_only(),
            f("date", "Date", K::Date).read_only(),
            f("status", "Status", K::Picklist).read_only(),
            f("line_items", "Line items", K::List).read_only(),
            money("total", "Total"),
            money("balance", "Balance"),
            CREATED,
            UPDATED,
        ],
    },
];

/// Billing (`/billing/v1`).
pub const BILLING: &[Resource] = &[
    Resource {
        module: "customers",
        label: "Customers",
        path: "/customers",
        singular: "customer",
        plural: "customers",
        id_field: "customer_id",
        modified_field: "updated_time",
        incremental: Incremental::Scan,
        list_sort: None,
        writable: true,
        actions: &[
            action("activate", "markasactive", "Mark the customer active"),
            action("deactivate", "markasinactive", "Mark the customer inactive"),
        ],
        fields: &[
            text("customer_id", "Customer ID").read_only(),
            text("display_name", "Display name").required(),
            text("first_name", "First name"),
            text("last_name", "Last name"),
            f("email", "Email", K::Email),
            text("company_name", "Company name"),
            f("phone", "Phone", K::Phone),
            f("mobile", "Mobile", K::Phone),
            f("website", "Website", K::Url),
            f("status", "Status", K::Picklist).read_only(),
            text("currency_code", "Currency"),
            f("billing_address", "Billing address", K::Object),
            f("shipping_address", "Shipping address", K::Object),
            f("notes", "Notes", K::LongText),
            text("zcrm_account_id", "CRM account ID"),
            money("outstanding", "Outstanding"),
            CREATED,
            UPDATED,
        ],
    },
    Resource {
        module: "items",
        label: "Items",
        path: "/items",
        singular: "item",
        plural: "items",
        id_field: "item_id",
        modified_field: "updated_time",
        incremental: Incremental::Scan,
        list_sort: None,
        writable: true,
        actions: &[],
        fields: &[
            text("item_id", "Item ID").read_only(),
            text("name", "Name").required(),
            f("rate", "Rate", K::Currency),
            f("description", "Description", K::LongText),
            text("unit", "Unit"),
            f("status", "Status", K::Picklist).read_only(),
            CREATED,
            UPDATED,
        ],
    },
    Resource {
        module: "invoices",
        label: "Invoices",
        path: "/invoices",
        singular: "invoice",
        plural: "invoices",
        id_field: "invoice_id",
        modified_field: "updated_time",
        incremental: Incremental::ModifiedFilter,
        list_sort: Some("created_time"),
        writable: true,
        actions: &[
            action("void", "void", "Void the invoice"),
            action(
                "convert-to-open",
                "converttoopen",
                "Turn a draft invoice into an open (sent) one",
            ),
        ],
        fields: &[
            text("invoice_id", "Invoice ID").read_only(),
            text("number", "Invoice number"),
            text("customer_id", "Customer")
                .required()
                .lookup("customers"),
            text("customer_name", "Customer name").read_only(),
            f("invoice_date", "Invoice date", K::Date),
            f("due_date", "Due date", K::Date),
            f("status", "Status", K::Picklist).read_only(),
            f("invoice_items", "Invoice items", K::List).required(),
            text("currency_code", "Currency"),
            text("reference_number", "Reference number"),
            text("salesperson_name", "Salesperson"),
            f("billing_address", "Billing address", K::Object),
            f("shipping_address", "Shipping address", K::Object),
            f("notes", "Notes", K::LongText),
            money("total", "Total"),
            money("payment_made", "Payment made"),
            money("balance", "Balance"),
            CREATED,
            UPDATED,
        ],
    },
    Resource {
        module: "quotes",
        label: "Quotes",
        path: "/estimates",
        singular: "estimate",
        plural: "estimates",
        id_field: "estimate_id",
        modified_field: "updated_time",
        incremental: Incremental::ModifiedFilter,
        list_sort: Some("created_time"),
        writable: true,
        actions: ESTIMATE_ACTIONS,
        fields: &[
            text("estimate_id", "Quote ID").read_only(),
            text("estimate_number", "Quote number"),
            text("customer_id", "Customer")
                .required()
                .lookup("customers"),
            text("customer_name", "Customer name").read_only(),
            f("date", "Quote date", K::Date),
            f("expiry_date", "Expiry date", K::Date),
            text("reference_number", "Reference number"),
            f("status", "Status", K::Picklist).read_only(),
            f("line_items", "Line items", K::List).required(),
            text("currency_code", "Currency"),
            text("salesperson_name", "Salesperson"),
            f("billing_address", "Billing address", K::Object),
            f("notes", "Notes", K::LongText),
            money("total", "Total"),
            CREATED,
            UPDATED,
        ],
    },
];
