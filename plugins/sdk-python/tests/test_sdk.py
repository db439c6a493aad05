"""The SDK's own tests, run natively with CPython (scripts/test):
python3 -m unittest discover -s plugins/sdk-python/tests"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ferry_sdk as ferry  # noqa: E402
from ferry_sdk import ConnectorError, Request  # noqa: E402
from ferry_sdk.log import HostStream  # noqa: E402
from ferry_sdk.testing import FakeHost  # noqa: E402


class Errors(unittest.TestCase):
    def test_statuses_map_like_the_rust_sdk(self):
        cases = {401: "unauthorized", 403: "unauthorized", 404: "not-found", 409: "conflict",
                 429: "rate-limited", 500: "transient", 503: "transient", 400: "vendor", 422: "vendor"}
        for status, kind in cases.items():
            self.assertEqual(ConnectorError.from_status(status, "m").kind, kind, status)
        e = ConnectorError.from_status(422, "bad")
        self.assertEqual((e.code, e.http_status), ("422", 422))

    def test_host_failures_map_like_the_rust_sdk(self):
        self.assertEqual(ConnectorError.from_http("timeout", "t").kind, "transient")
        self.assertEqual(ConnectorError.from_http("connection", "c").kind, "transient")
        denied = ConnectorError.from_http("denied", "`x` is not among the allowed hosts")
        self.assertEqual((denied.kind, denied.code), ("vendor", "denied"))
        self.assertIn("request denied by the host", denied.message)
        self.assertEqual(ConnectorError.from_http("too-large", 10).message, "response larger than 10 bytes")

    def test_constructors_carry_their_details(self):
        self.assertEqual(ConnectorError.invalid("name", "required").field, "name")
        self.assertEqual(ConnectorError.rate_limited(1500, "slow").retry_after_ms, 1500)
        with self.assertRaises(ValueError):
            ConnectorError("nope", "unknown kind")


class Http(unittest.TestCase):
    def test_query_is_encoded_and_idempotency_follows_the_method(self):
        r = Request.get("/crm/v8/Accounts/search").query("criteria", "(Account_Name:equals:A\\,B & C)").query("page", 2)
        self.assertEqual(r.full_url(), "/crm/v8/Accounts/search?criteria=%28Account_Name%3Aequals%3AA%5C%2CB%20%26%20C%29&page=2")
        self.assertEqual(Request.get("/x?a=1").query("b", True).query("c", None).full_url(), "/x?a=1&b=true")
        self.assertFalse(Request.post("/x").is_idempotent)
        self.assertTrue(Request.put("/x").is_idempotent)

    def test_requests_go_through_the_host(self):
        host = FakeHost().reply("POST", "/items", {"id": "1"}, status=201)
        with host:
            resp = Request.post("/items").json({"name": "é"}).send()
        self.assertEqual(resp.status, 201)
        self.assertEqual(resp.json(), {"id": "1"})
        self.assertEqual(host.requests[0].json(), {"name": "é"})
        self.assertIn(("Content-Type", "application/json"), host.requests[0].headers)

    def test_credentials_headers_are_refused(self):
        with FakeHost().reply("GET", "/items", {}):
            with self.assertRaises(ConnectorError) as caught:
                Request.get("/items").header("Authorization", "Bearer x").send()
        self.assertEqual(caught.exception.code, "denied")

    def test_without_a_host_requests_are_denied(self):
        with self.assertRaises(ConnectorError) as caught:
            Request.get("/items").send()
        self.assertIn("no host", caught.exception.message)

    def test_malformed_bodies_are_transient(self):
        with FakeHost().reply("GET", "/items", b'{"items": ['):
            resp = Request.get("/items").send()
        with self.assertRaises(ConnectorError) as caught:
            resp.json()
        self.assertEqual(caught.exception.kind, "transient")
        with self.assertRaises(ConnectorError) as caught:
            ferry.Response(404, [], b"gone").raise_for_status()
        self.assertEqual(caught.exception.kind, "not-found")


class Records(unittest.TestCase):
    def test_pages(self):
        self.assertEqual(ferry.page_number(None), 1)
        self.assertEqual(ferry.page_number("3"), 3)
        for bad in ("0", "x", "-1", "2.5"):
            with self.assertRaises(ConnectorError):
                ferry.page_number(bad)
        self.assertEqual(ferry.Page([{}]).next(True, lambda: "2").next_cursor, "2")
        self.assertIsNone(ferry.Page([]).next(False, "2").next_cursor)
        self.assertEqual(ferry.next_page("4", True), "5")

    def test_json_helpers(self):
        self.assertEqual(ferry.records_at({"items": [{"a": 1}]}, "items"), [{"a": 1}])
        self.assertEqual(ferry.records_at({"items": None}, "items"), [])
        with self.assertRaises(ConnectorError):
            ferry.records_at({"items": [1]}, "items")
        self.assertEqual(ferry.str_field({"n": 1.5, "b": True, "s": "x", "o": {}}, "n"), "1.5")
        self.assertEqual(ferry.str_field({"b": True}, "b"), "true")
        self.assertIsNone(ferry.str_field({"o": {}}, "o"))
        with self.assertRaises(ConnectorError) as caught:
            ferry.parse_object("[1]")
        self.assertEqual(caught.exception.kind, "invalid")

    def test_settings(self):
        s = ferry.Settings.parse('{"org": "10", "n": 3, "data_center": "eu"}')
        self.assertEqual(s.require("org"), "10")
        self.assertIsNone(s.get("n"))
        self.assertEqual(s.value("n"), 3)
        self.assertEqual(s.data_center, "eu")
        with self.assertRaises(ConnectorError) as caught:
            s.require("missing")
        self.assertEqual(caught.exception.field, "missing")
        self.assertEqual(ferry.Settings.parse("").as_dict(), {})


class Connectors(unittest.TestCase):
    def test_operations_are_unsupported_until_overridden(self):
        class Nothing(ferry.Connector):
            pass

        c = Nothing.configured({"base_url": "https://x.test"})
        self.assertEqual(c.settings.get("base_url"), "https://x.test")
        for call in (lambda: c.list("m", None, None), lambda: c.get("m", "1"), lambda: c.create("m", [])):
            with self.assertRaises(ConnectorError) as caught:
                call()
            self.assertEqual(caught.exception.kind, "unsupported")
        self.assertIs(ferry.export(Nothing), Nothing)
        with self.assertRaises(TypeError):
            ferry.export(object)

    def test_each_keeps_one_result_per_input(self):
        def write(record):
            if "name" not in record:
                raise ConnectorError.invalid("name", "required")
            return dict(record, id="1")

        results = ferry.each([{"name": "a"}, {}], write)
        self.assertEqual(results[0], {"name": "a", "id": "1"})
        self.assertEqual(results[1], ConnectorError.invalid("name", "required"))

    def test_log_lines_reach_the_host(self):
        host = FakeHost()
        with host:
            ferry.log.warn("careful")
            stream = HostStream("info")
            stream.write("one\ntw")
            stream.write("o\n")
            stream.write("three")
            stream.flush()
        self.assertEqual(host.logs, [("warn", "careful"), ("info", "one"), ("info", "two"), ("info", "three")])


if __name__ == "__main__":
    unittest.main()
