//! Any text as a CEL expression: compiling (and evaluating what compiles)
//! must never panic.
#![no_main]

use ferry::mapping::{Bindings, Expr, VARIABLES, expr::parse_datetime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(e) = Expr::compile(text, VARIABLES) {
        let record = serde_json::json!({"a": 1, "b": "x", "c": [1, 2], "d": {"e": null}});
        let now = parse_datetime("2024-01-01T00:00:00+00:00").expect("valid");
        let _ = e.eval(&Bindings::new(&record, now).with_previous(Some(&record)));
    }
});
