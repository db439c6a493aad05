//! A hostile test connector. It implements the raw generated interface (not
//! the SDK's `Connector`) so it can break the contract too. `list(module)`
//! misbehaves in the way the module names; `list("ok")` behaves, so tests
//! can check the host still serves after each failure.
//!
//! `describe` offers the cases as readable modules, so a workspace can sync
//! from them and the tests can run each one through the `ferry` binary.
//! The `target` setting names a URL the network cases aim at (another
//! loopback port, an echo server, `ferry serve`'s admin API).

use std::cell::RefCell;
use std::hint::black_box;

use ferry_plugin_sdk::bindings::exports::ferry::connector::connector::{
    DeletedPage, Guest, Json, Page, WriteResult,
};
use ferry_plugin_sdk::prelude::*;

struct Hostile;

/// Recursion whose frames live on the wasm stack (no address-taken
/// locals), so it is the engine's stack limit that stops it.
fn recurse(n: u64, a: u64, b: u64) -> u64 {
    // An indirect call keeps the optimiser from turning this into a loop.
    let next: fn(u64, u64, u64) -> u64 = black_box(recurse);
    if n == u64::MAX {
        a ^ b
    } else {
        next(n + 1, b.wrapping_mul(31), a.rotate_left(7)).wrapping_add(n)
    }
}

fn no<T>() -> Result<T, ConnectorError> {
    Err(ConnectorError::unsupported("hostile plugin"))
}

fn sent(r: Result<Response, ConnectorError>) -> Result<Page, ConnectorError> {
    r.map(|_| Page {
        records: vec![],
        next_cursor: None,
    })
}

/// Terminal control sequences: clear the screen, set the window title, a
/// colour, and a forged line after a carriage return.
const ESCAPES: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}[31mred\rFORGED";

/// Modules `describe` offers, each a case of `list`.
const CASES: &[&str] = &[
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
];

thread_local! {
    /// Settings of the current call (each call has a fresh instance).
    static SETTINGS: RefCell<Value> = const { RefCell::new(Value::Null) };
}

fn setting(key: &str) -> Option<String> {
    SETTINGS.with(|s| {
        s.borrow()
            .get(key)
            .and_then(Value::as_str)
            .map(String::from)
    })
}

/// Send a request to the `target` setting and return what came back as a
/// record, so the test can read what the far side saw.
fn reach(method: Method) -> Result<Page, ConnectorError> {
    let target = setting("target").unwrap_or_else(|| "/".into());
    let request = Request::new(method, &target).header("Content-Type", "application/json");
    let request = if matches!(method, Method::Get) {
        request
    } else {
        request.body(b"{\"name\":\"plugin\",\"role\":\"admin\"}".to_vec())
    };
    let resp = request.send()?;
    Ok(Page {
        records: vec![
            json!({"id": "reached", "name": "reached", "status": resp.status, "body": resp.text()})
                .to_string(),
        ],
        next_cursor: None,
    })
}

impl Guest for Hostile {
    fn describe(_settings: Json) -> Result<ConnectorInfo, ConnectorError> {
        ferry_plugin_sdk::log::info(&format!("describing {ESCAPES}"));
        let mut info = ConnectorInfo::new(
            "hostile",
            "0.0.0",
            &format!("Misbehaves on purpose {ESCAPES}"),
        );
        for case in CASES {
            info = info.module(
                ModuleInfo::new(case, "id")
                    .field(FieldInfo::text("id"))
                    .field(FieldInfo::text("name"))
                    .field(FieldInfo::text("body"))
                    .operations(&[Operation::Read]),
            );
        }
        Ok(info)
    }

    fn configure(settings: Json) -> Result<(), ConnectorError> {
        let value: Value = serde_json::from_str(&settings)
            .map_err(|e| ConnectorError::invalid("settings", e.to_string()))?;
        SETTINGS.with(|s| *s.borrow_mut() = value);
        Ok(())
    }

    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }

    fn list(
        module: String,
        _since: Option<String>,
        cursor: Option<String>,
    ) -> Result<Page, ConnectorError> {
        match module.as_str() {
            "ok" => Ok(Page {
                records: vec![r#"{"id":"1","name":"one"}"#.into()],
                next_cursor: None,
            }),
            // A cursor that never ends: the same record and the same next
            // cursor on every page, or a new cursor each time (`fresh`).
            "endless" => {
                let n: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
                let next = if setting("cursor").as_deref() == Some("fresh") {
                    n + 1
                } else {
                    1
                };
                Ok(Page {
                    records: vec![
                        json!({"id": format!("e{}", n % 3), "name": "again"}).to_string(),
                    ],
                    next_cursor: Some(next.to_string()),
                })
            }
            "escapes" => {
                ferry_plugin_sdk::log::warn(&format!("log line {ESCAPES}"));
                Ok(Page {
                    records: vec![
                        json!({"id": format!("r1{ESCAPES}"), "name": format!("name {ESCAPES}")})
                            .to_string(),
                    ],
                    next_cursor: None,
                })
            }
            "escapes-error" => Err(ConnectorError::invalid(
                "name",
                format!("bad {ESCAPES}\nsecond line"),
            )),
            "reach" => reach(Method::Get),
            "reach-post" => reach(Method::Post),
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "recursion" => Ok(Page {
                records: vec![json!({"n": recurse(black_box(0), 1, 2)}).to_string()],
                next_cursor: None,
            }),
            "huge-hostcall" => {
                ferry_plugin_sdk::log::info(&"x".repeat(8 << 20));
                Ok(Page {
                    records: vec![],
                    next_cursor: None,
                })
            }
            "forbidden-host" => sent(Request::get("https://evil.example.com/steal").send()),
            "rebinding" => sent(Request::get("https://rebind.allowed.test/").send()),
            "own-auth" => sent(
                Request::get("/items")
                    .header("Authorization", "Bearer stolen")
                    .send(),
            ),
            "cookie" => sent(Request::get("/items").header("Cookie", "session=1").send()),
            "malformed" => Ok(Page {
                records: vec!["{\"id\": 1,".into()],
                next_cursor: None,
            }),
            "not-object" => Ok(Page {
                records: vec!["[1,2,3]".into()],
                next_cursor: None,
            }),
            "panic" => panic!("the plugin gave up"),
            other => Err(ConnectorError::NotFound(other.to_string())),
        }
    }

    fn get(_module: String, _id: String) -> Result<Json, ConnectorError> {
        no()
    }
    fn find(_module: String, _criteria: Json) -> Result<Vec<Json>, ConnectorError> {
        no()
    }
    fn deleted(
        _module: String,
        _since: Option<String>,
        _cursor: Option<String>,
    ) -> Result<DeletedPage, ConnectorError> {
        no()
    }
    fn create(_module: String, records: Vec<Json>) -> Result<Vec<WriteResult>, ConnectorError> {
        // Breaks "one result per input": always one result too few.
        Ok(records.into_iter().skip(1).map(Ok).collect())
    }
    fn update(_module: String, _records: Vec<Json>) -> Result<Vec<WriteResult>, ConnectorError> {
        no()
    }
    fn delete(_module: String, _ids: Vec<String>) -> Result<Vec<WriteResult>, ConnectorError> {
        no()
    }
    fn act(
        _module: String,
        _id: String,
        _action: String,
        _args: Json,
    ) -> Result<Json, ConnectorError> {
        no()
    }
}

ferry_plugin_sdk::bindings::export_raw!(Hostile with_types_in ferry_plugin_sdk::bindings);
