//! Ferry connector for Zoho Books (contacts, items, invoices, estimates, payments, credit notes): the product table; the implementation is
//! the shared `zoho-finance` crate.

use zoho_finance::{OrgPlacement, Product, ProductSpec, tables};

struct Books;

impl Product for Books {
    const SPEC: &'static ProductSpec = &ProductSpec {
        name: "zoho-books",
        description: "Zoho Books (contacts, items, invoices, estimates, payments, credit notes)",
        organization: OrgPlacement::Query("organization_id"),
        resources: tables::BOOKS_FAMILY,
    };
}

ferry_plugin_sdk::export_connector!(zoho_finance::Finance<Books>);
