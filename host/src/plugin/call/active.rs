//! One running call: its store and instance, and how what the guest
//! gives back (values, errors, traps) becomes the call's result.

use serde_json::Value;
use wasmtime::Store;

use crate::connector::{CallError, ConnectorError, Limit, Limits, Record, WriteResult};
use crate::plugin::bindings::{jobs_v0_1, v0_1};
use crate::plugin::host_state::HostState;
use crate::plugin::limits::Breach;

/// One running call: its store and configured instance.
pub(super) struct Active {
    pub(super) store: Store<HostState>,
    pub(super) instance: Instance,
    /// The `ferry:jobs` exports, for a jobs call.
    pub(super) jobs: Option<jobs_v0_1::Jobs>,
    pub(super) plugin: String,
    pub(super) function: &'static str,
    pub(super) limits: Limits,
}

pub(super) enum Instance {
    V0_1(v0_1::Plugin),
}

impl Active {
    /// The `ferry:jobs` exports; a protocol error if the plugin has none.
    pub(super) fn jobs(&mut self) -> Result<jobs_v0_1::Jobs, CallError> {
        self.jobs
            .take()
            .ok_or_else(|| self.protocol("the plugin does not export `ferry:jobs`".into()))
    }

    /// Turn the two-level result of a guest call into the call's result.
    pub(super) fn finish<T>(
        &mut self,
        r: wasmtime::Result<Result<T, ConnectorError>>,
    ) -> Result<T, CallError> {
        match r {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Connector {
                plugin: self.plugin.clone(),
                function: self.function,
                error,
            }),
            Err(e) => Err(self.trap(e)),
        }
    }

    pub(super) fn trap(&self, e: wasmtime::Error) -> CallError {
        describe_trap(
            &self.store,
            self.plugin.clone(),
            self.function,
            self.limits,
            e,
        )
    }

    pub(super) fn protocol(&self, message: String) -> CallError {
        CallError::Protocol {
            plugin: self.plugin.clone(),
            function: self.function,
            message,
        }
    }

    pub(super) fn record(&self, json: &str, index: usize) -> Result<Record, CallError> {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(self.protocol(format!(
                "record {index} is not a JSON object but {}",
                kind(&other)
            ))),
            Err(e) => Err(self.protocol(format!("record {index} is not valid JSON: {e}"))),
        }
    }

    pub(super) fn records(&self, json: Vec<String>) -> Result<Vec<Record>, CallError> {
        json.iter()
            .enumerate()
            .map(|(i, j)| self.record(j, i))
            .collect()
    }

    pub(super) fn write_results(
        &self,
        results: Vec<Result<String, v0_1::ferry::connector::types::ConnectorError>>,
        inputs: usize,
    ) -> Result<Vec<WriteResult>, CallError> {
        if results.len() != inputs {
            return Err(self.protocol(format!("{} results for {inputs} inputs", results.len())));
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| match r {
                Ok(json) => self.record(&json, i).map(Ok),
                Err(e) => Ok(Err(e.into())),
            })
            .collect()
    }
}

/// Describe a trap: which limit, or what the guest said.
pub(super) fn describe_trap(
    store: &Store<HostState>,
    plugin: String,
    function: &'static str,
    limits: Limits,
    e: wasmtime::Error,
) -> CallError {
    if let Some(Breach(limit)) = e.downcast_ref::<Breach>() {
        return CallError::Limit {
            plugin,
            function,
            limit: *limit,
        };
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            return CallError::Limit {
                plugin,
                function,
                limit: Limit::Timeout(limits.timeout),
            };
        }
        Some(wasmtime::Trap::StackOverflow) => {
            return CallError::Limit {
                plugin,
                function,
                limit: Limit::Stack,
            };
        }
        _ => {}
    }
    let text = format!("{e:#}");
    if text.contains("fuel allocated for hostcalls has been exhausted") {
        return CallError::Limit {
            plugin,
            function,
            limit: Limit::HostcallData(limits.hostcall_data),
        };
    }
    let stderr = store.data().stderr();
    let reason = if let Some(exception) = python_exception(&stderr) {
        exception
    } else if stderr.contains("panicked at") {
        format!("panic: {}", stderr.replace('\n', " "))
    } else if !stderr.is_empty() {
        format!(
            "{} (stderr: {})",
            first_line(&text),
            stderr.replace('\n', " ")
        )
    } else {
        first_line(&text)
    };
    CallError::Trap {
        plugin,
        function,
        reason,
    }
}

/// An uncaught Python exception, from the traceback a componentize-py
/// component prints before it traps: `Python exception: ValueError: bad
/// (File "/0/connector.py", line 9, in list)`, innermost frame last.
fn python_exception(stderr: &str) -> Option<String> {
    let start = stderr.rfind("Traceback (most recent call last):")?;
    let traceback = &stderr[start..];
    // componentize-py's own panic message follows the traceback.
    let end = traceback
        .find("thread '")
        .filter(|&i| traceback[..i].ends_with('\n'))
        .unwrap_or(traceback.len());
    let lines: Vec<&str> = traceback[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let error = lines.last().filter(|l| !l.starts_with("Traceback"))?;
    let frames: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("File "))
        .copied()
        .collect();
    Some(if frames.is_empty() {
        format!("Python exception: {error}")
    } else {
        format!("Python exception: {error} ({})", frames.join("; "))
    })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::python_exception;

    #[test]
    fn python_tracebacks_become_one_line() {
        let stderr = "Traceback (most recent call last):\n  File \"/0/connector.py\", line 156, in list\n    raise RuntimeError(\"x\")\nRuntimeError: the plugin gave up\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1293:29:\nPython function threw an unexpected exception\n";
        assert_eq!(
            python_exception(stderr).unwrap(),
            "Python exception: RuntimeError: the plugin gave up (File \"/0/connector.py\", line 156, in list)"
        );
        assert_eq!(
            python_exception("thread 'main' panicked at src/lib.rs:1:1:\nboom"),
            None
        );
    }
}
