//! Any text as a workspace: loading, validating and rendering diagnostics
//! must never panic; a workspace that loads must compile its plans.
#![no_main]

use ferry::config::{self, EmptyCatalog, LoadOptions, SecretMode, Workspace};
use ferry::mapping::{Context, NoLinks, Plan, TriggerPlan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Workspace::load_str("fuzz.yaml", text, LoadOptions { secrets: SecretMode::Defer }) {
        Err(d) => {
            let _ = d.render(false);
            let _ = d.render_short();
        }
        Ok(ws) => {
            let d = config::validate(&ws, &EmptyCatalog);
            let _ = d.render(false);
            let links = NoLinks;
            let ctx = Context::new(&links);
            let record = serde_json::json!({"id": "1", "Account_Name": "A", "Stage": "Closed Won", "Amount": 1.5});
            for name in ws.syncs.keys() {
                if let Ok(p) = Plan::compile(&ws, name, &EmptyCatalog) {
                    let _ = p.accepts(&record, &ctx);
                    let _ = p.apply(&record, &ctx);
                }
            }
            for name in ws.triggers.keys() {
                if let Ok(t) = TriggerPlan::compile(&ws, name, &EmptyCatalog) {
                    let _ = t.evaluate(&record, None, &ctx);
                }
            }
        }
    }
});
