"""CustomerSuccessBox (CSB): accounts with custom attributes, and invoices.

CSB's HTTP server API takes HTTP Basic with the secret key as user name;
the host adds it (manifest `auth: { kind: basic }`), so no request here
carries credentials. Both modules are write-only upserts keyed by the
caller's id: CSB identifies an account by `account_id` and an invoice by
`invoice_id`, and posting a known id updates it. Paths and payload shapes
the public documentation leaves open are listed in
connectors/customersuccessbox.yaml (UNCONFIRMED).
"""

import ferry_sdk as ferry
from ferry_sdk import ConnectorError, FieldInfo, FieldKind, Operation

#: The HTTP server API's version prefix (UNCONFIRMED, see the manifest).
API = "/api_server/v1_1"

#: Account fields sent at the top level; every other field is a custom
#: attribute (`custom_traits`).
ACCOUNT_TRAITS = ("name", "domain")

#: Invoice fields CSB takes, in the order they are sent.
INVOICE_FIELDS = ("account_id", "invoice_number", "status", "total", "amount_paid", "amount_due", "paid_on", "currency")

#: Invoice statuses CSB knows (UNCONFIRMED); others are sent as given.
INVOICE_STATUSES = ["draft", "sent", "overdue", "paid", "partially_paid", "void"]


def _text(record, field):
    value = record.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConnectorError.invalid(field, f"`{field}` is required")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ConnectorError.invalid(field, f"`{field}` must be text")
    return value


def _number(record, field):
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConnectorError.invalid(field, f"`{field}` must be a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            pass
    raise ConnectorError.invalid(field, f"`{field}` must be a number, not {value!r}")


def _vendor_error(resp):
    """CSB's error answer: JSON `{"error": ...}` or `{"message": ...}`
    (UNCONFIRMED), else the body text, mapped by status."""
    message = resp.text()
    try:
        body = resp.json()
    except ConnectorError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "errors"):
            if body.get(key):
                message = str(body[key])
                break
    return ConnectorError.from_status(resp.status, message)


def _post(path, payload):
    resp = ferry.Request.post(API + path).json(payload).idempotent(True).send()
    if not resp.is_success():
        raise _vendor_error(resp)
    return resp


def account_payload(record):
    """The account as CSB takes it: id and traits at the top level, every
    other non-empty field under `custom_traits`."""
    payload = {"account_id": _text(record, "account_id")}
    custom = {}
    for field, value in record.items():
        if field == "account_id" or value is None:
            continue
        if field in ACCOUNT_TRAITS:
            payload[field] = value
        elif field == "custom_traits" and isinstance(value, dict):
            custom.update(value)
        else:
            custom[field] = value
    if custom:
        payload["custom_traits"] = custom
    return payload


def invoice_payload(record):
    """The invoice as CSB takes it: `invoice_id`, its account and figures;
    amounts as numbers, `paid_on` as `yyyy-mm-dd`."""
    payload = {"invoice_id": _text(record, "invoice_id"), "account_id": _text(record, "account_id")}
    for field in INVOICE_FIELDS[1:]:
        if field in ("total", "amount_paid", "amount_due"):
            value = _number(record, field)
        else:
            value = record.get(field)
        if value is not None and value != "":
            payload[field] = value
    if "total" not in payload:
        raise ConnectorError.invalid("total", "`total` is required")
    return payload


class CustomerSuccessBox(ferry.Connector):
    def describe(self, settings):
        writes = [Operation.CREATE, Operation.UPDATE, Operation.UPSERT]
        return ferry.ConnectorInfo(
            "customersuccessbox",
            "0.1.0",
            "CustomerSuccessBox: accounts (with custom attributes) and invoices",
            [
                ferry.ModuleInfo(
                    "accounts",
                    "account_id",
                    label="Accounts",
                    fields=[
                        FieldInfo.text("account_id", label="Account ID", required=True),
                        FieldInfo.text("name", label="Name"),
                        FieldInfo("domain", FieldKind.URL, label="Domain"),
                        FieldInfo("overdue_amount", FieldKind.CURRENCY, label="Overdue amount", custom=True),
                        FieldInfo("overdue_invoice_count", FieldKind.INTEGER, label="Overdue invoices", custom=True),
                        FieldInfo("overdue_since", FieldKind.DATE, label="Overdue since", custom=True),
                        FieldInfo("custom_traits", FieldKind.OBJECT, label="Other custom attributes"),
                    ],
                    operations=writes,
                    max_batch=50,
                ),
                ferry.ModuleInfo(
                    "invoices",
                    "invoice_id",
                    label="Invoices",
                    fields=[
                        FieldInfo.text("invoice_id", label="Invoice ID", required=True),
                        FieldInfo("account_id", FieldKind.LOOKUP, label="Account", required=True, lookup_module="accounts"),
                        FieldInfo.text("invoice_number", label="Invoice number"),
                        FieldInfo("status", FieldKind.PICKLIST, label="Status", picklist=INVOICE_STATUSES),
                        FieldInfo("total", FieldKind.CURRENCY, label="Total", required=True),
                        FieldInfo("amount_paid", FieldKind.CURRENCY, label="Paid amount"),
                        FieldInfo("amount_due", FieldKind.CURRENCY, label="Amount due"),
                        FieldInfo("paid_on", FieldKind.DATE, label="Paid on"),
                        FieldInfo.text("currency", label="Currency"),
                    ],
                    operations=writes,
                    max_batch=50,
                ),
            ],
        )

    def create(self, module, records):
        if module == "accounts":
            return ferry.each(records, self._upsert_account)
        if module == "invoices":
            return ferry.each(records, self._upsert_invoice)
        raise ConnectorError.unsupported(f"module `{module}`")

    # CSB upserts by id: an update is the same call.
    update = create

    def _upsert_account(self, record):
        payload = account_payload(record)
        _post("/account", payload)
        return payload

    def _upsert_invoice(self, record):
        payload = invoice_payload(record)
        _post("/invoice", payload)
        return payload


Connector = ferry.export(CustomerSuccessBox)
