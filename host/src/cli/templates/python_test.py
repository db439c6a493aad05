"""Unit tests of the {{name}} connector, run natively: `./test.sh`."""

import unittest

from ferry_sdk import ConnectorError, Operation, Settings
from ferry_sdk.testing import FakeHost

from connector import {{Class}}


class {{Class}}Test(unittest.TestCase):
    def test_describe_offers_records(self):
        info = {{Class}}.configured().describe(Settings())
        records = info.module("records")
        self.assertTrue(records.supports(Operation.INCREMENTAL))

    def test_list_reads_a_page_and_its_cursor(self):
        host = FakeHost().reply("GET", "/records", {"records": [{"id": "1", "name": "One"}], "has_more": True})
        with host:
            page = {{Class}}.configured().list("records", "2026-01-01T00:00:00Z", None)
        self.assertEqual(page.records, [{"id": "1", "name": "One"}])
        self.assertEqual(page.next_cursor, "2")
        self.assertEqual(host.requests[0].url, "/records?page=1&updated_since=2026-01-01T00%3A00%3A00Z")

    def test_create_reports_each_failure(self):
        host = FakeHost().route(
            "POST",
            "/records",
            lambda request: (201, dict(request.json(), id="r1")) if request.json().get("name") else (400, "name missing"),
        )
        with host:
            results = {{Class}}.configured().create("records", [{"name": "A"}, {}])
        self.assertEqual(results[0], {"name": "A", "id": "r1"})
        self.assertIsInstance(results[1], ConnectorError)
        self.assertEqual(results[1].kind, "vendor")


if __name__ == "__main__":
    unittest.main()
