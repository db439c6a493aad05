//! Ferry connector for Zoho Billing (customers, items, invoices, quotes): the product table; the implementation is
//! the shared `zoho-finance` crate.

use zoho_finance::{OrgPlacement, Product, ProductSpec, tables};

struct Billing;

impl Product for Billing {
    const SPEC: &'static ProductSpec = &ProductSpec {
        name: "zoho-billing",
        description: "Zoho Billing (customers, items, invoices, quotes)",
        organization: OrgPlacement::Header("X-com-zoho-subscriptions-organizationid"),
        resources: tables::BILLING,
    };
}

ferry_plugin_sdk::export_connector!(zoho_finance::Finance<Billing>);
