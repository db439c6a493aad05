//! COQL: `POST /crm/{v}/coql`.
