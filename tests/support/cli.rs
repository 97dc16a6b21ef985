//! Running the `spate` binary in the CLI tests (`#[path]`-included by `cli_check.rs` and
//! `cli_inspect.rs`).
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;

/// Runs `cmd`, checks its exit code and parses its stdout as JSON (a panic with stdout and
/// stderr if it is not).
pub fn json_output(cmd: &mut Command, code: i32) -> Value {
    let out = cmd.assert().code(code).get_output().clone();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
