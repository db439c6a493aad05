"""Unit tests of the CustomerSuccessBox connector, run natively: `./test.sh`."""

import unittest

from ferry_sdk import ConnectorError, Operation, Settings
from ferry_sdk.testing import FakeHost

from connector import CustomerSuccessBox


def connector():
    return CustomerSuccessBox.configured({"base_url": "https://api.customersuccessbox.test"})


class DescribeTest(unittest.TestCase):
    def test_modules_are_upserts_keyed_by_the_callers_id(self):
        info = CustomerSuccessBox.configured().describe(Settings())
        accounts, invoices = info.module("accounts"), info.module("invoices")
        self.assertEqual(accounts.id_field, "account_id")
        self.assertEqual(invoices.id_field, "invoice_id")
        for module in (accounts, invoices):
            self.assertTrue(module.supports(Operation.UPSERT))
            self.assertFalse(module.supports(Operation.READ))


class AccountsTest(unittest.TestCase):
    def test_attributes_other_than_traits_go_under_custom_traits(self):
        host = FakeHost().reply("POST", "/api_server/v1_1/account", {"status": "ok"})
        record = {
            "account_id": "ACME-1",
            "name": "Acme",
            "overdue_amount": 120.5,
            "overdue_invoice_count": 2,
            "overdue_since": "2026-01-10",
            "custom_traits": {"plan": "gold"},
        }
        with host:
            results = connector().create("accounts", [record])
        sent = host.requests[0].json()
        self.assertEqual(
            sent,
            {
                "account_id": "ACME-1",
                "name": "Acme",
                "custom_traits": {
                    "overdue_amount": 120.5,
                    "overdue_invoice_count": 2,
                    "overdue_since": "2026-01-10",
                    "plan": "gold",
                },
            },
        )
        self.assertEqual(results[0]["account_id"], "ACME-1")
        self.assertTrue(host.requests[0].idempotent)

    def test_update_is_the_same_upsert(self):
        host = FakeHost().reply("POST", "/api_server/v1_1/account", {})
        with host:
            connector().update("accounts", [{"account_id": "A", "overdue_amount": 0}])
        self.assertEqual(host.requests[0].json(), {"account_id": "A", "custom_traits": {"overdue_amount": 0}})

    def test_a_missing_id_fails_that_record_only(self):
        host = FakeHost().reply("POST", "/api_server/v1_1/account", {})
        with host:
            results = connector().create("accounts", [{"name": "No id"}, {"account_id": "B"}])
        self.assertIsInstance(results[0], ConnectorError)
        self.assertEqual(results[0].kind, "invalid")
        self.assertEqual(results[1], {"account_id": "B"})
        self.assertEqual(len(host.requests), 1)


class InvoicesTest(unittest.TestCase):
    def test_figures_are_sent_as_numbers(self):
        host = FakeHost().reply("POST", "/api_server/v1_1/invoice", {"status": "ok"})
        record = {
            "invoice_id": "INV-1",
            "account_id": "ACME-1",
            "status": "partially_paid",
            "total": "100.00",
            "amount_paid": 40,
            "amount_due": "60.00",
            "paid_on": None,
        }
        with host:
            results = connector().create("invoices", [record])
        self.assertEqual(
            host.requests[0].json(),
            {
                "invoice_id": "INV-1",
                "account_id": "ACME-1",
                "status": "partially_paid",
                "total": 100.0,
                "amount_paid": 40,
                "amount_due": 60.0,
            },
        )
        self.assertEqual(results[0]["invoice_id"], "INV-1")

    def test_an_invoice_needs_its_account_and_total(self):
        with FakeHost():
            results = connector().create(
                "invoices",
                [{"invoice_id": "1", "total": 5}, {"invoice_id": "2", "account_id": "A"}, {"invoice_id": "3", "account_id": "A", "total": "x"}],
            )
        self.assertEqual([r.field for r in results], ["account_id", "total", "total"])

    def test_vendor_errors_are_mapped_by_status(self):
        answers = iter([(401, {"error": "invalid secret key"}), (404, {"message": "no such account"}), (429, "slow down"), (422, {"errors": "bad status"})])
        host = FakeHost().route("POST", "/api_server/v1_1/invoice", lambda _request: next(answers))
        record = {"invoice_id": "1", "account_id": "A", "total": 1}
        with host:
            results = connector().create("invoices", [record, record, record, record])
        self.assertEqual([r.kind for r in results], ["unauthorized", "not-found", "rate-limited", "vendor"])
        self.assertEqual(results[0].message, "invalid secret key")
        self.assertEqual(results[1].message, "no such account")

    def test_unknown_modules_are_unsupported(self):
        with self.assertRaises(ConnectorError) as caught:
            connector().create("users", [{}])
        self.assertEqual(caught.exception.kind, "unsupported")


if __name__ == "__main__":
    unittest.main()
