//! `switchboard batch <installation> --file calls.ndjson`: runs the calls
//! of an NDJSON file as JSON batches and prints one NDJSON result per call.
//!
//! Each non-empty line is one call: `{"method": "users.get_user",
//! "params": {"user_id": "..."}, "depends_on": [0]}`; `depends_on` names
//! earlier or later calls by their position among the calls (from 0).
//! Each output line is `{"call": N, "method": ..., "status": 200, "body":
//! ...}` or `{"call": N, "method": ..., "error": {"kind": ..., "status":
//! ..., "message": ...}}`, in the order of the file. The exit code is 0
//! when every call succeeded, else the code of the first failure's kind.

use std::path::Path;
use std::process::ExitCode;

use base64::Engine as _;
use serde_json::{Value, json};
use switchboard_core::engine::{BatchCall, MAX_BATCH_CALLS};
use switchboard_core::files::{self, ReadLimitedError};
use switchboard_core::{Arguments, Error, ResponseBody, Result};

use crate::cli::{BatchArgs, Global};
use crate::exit::{CliResult, code_for};
use crate::output::print_json_line;
use crate::service;

/// The largest calls file read (16 MiB).
pub const MAX_CALLS_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub async fn run(global: &Global, args: BatchArgs) -> CliResult {
    let calls = read_calls(&args.file).await?;
    let (service, inst) = service::open_installation(global, &args.installation, None).await?;
    let ctx = match service.context(inst.id).await {
        Ok(ctx) => ctx,
        Err(err) => return Err(service::refused(&service, inst.id, err).await),
    };
    let methods: Vec<String> = calls.iter().map(|c| c.method.clone()).collect();
    let results = service.engine().batch(&ctx, calls).await?;
    let mut first_failure: Option<u8> = None;
    for (index, (method, result)) in methods.iter().zip(results).enumerate() {
        let line = match result {
            Ok(response) => {
                let body = match response.body() {
                    ResponseBody::Json(value) => value.clone(),
                    ResponseBody::Bytes(bytes) => {
                        json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)})
                    }
                    _ => Value::Null,
                };
                json!({"call": index, "method": method, "status": response.status(), "body": body})
            }
            Err(error) => {
                first_failure.get_or_insert(code_for(&error));
                json!({"call": index, "method": method, "error": {
                    "kind": error.kind().as_str(),
                    "status": error.remote().and_then(|r| r.status),
                    "message": error.to_string(),
                }})
            }
        };
        print_json_line(&line)?;
    }
    Ok(first_failure.map_or(ExitCode::SUCCESS, ExitCode::from))
}

/// The calls of an NDJSON file, each line checked; errors name the line.
async fn read_calls(path: &Path) -> Result<Vec<BatchCall>> {
    let owned = path.to_path_buf();
    let text = tokio::task::spawn_blocking(move || {
        files::read_limited_string(&owned, MAX_CALLS_FILE_BYTES)
    })
    .await
    .map_err(|e| Error::invalid_argument("--file", format!("reading failed: {e}")))?
    .map_err(|e| match e {
        ReadLimitedError::TooLarge { limit } => Error::invalid_argument(
            "--file",
            format!(
                "{} holds more than {limit} bytes; split the calls into several files",
                path.display()
            ),
        ),
        e => Error::invalid_argument("--file", format!("cannot read {}: {e}", path.display())),
    })?;
    parse_calls(&text)
}

/// The calls of NDJSON text.
pub fn parse_calls(text: &str) -> Result<Vec<BatchCall>> {
    let mut calls = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        if calls.len() == MAX_BATCH_CALLS {
            return Err(Error::invalid_argument(
                "--file",
                format!("line {number}: a file holds at most {MAX_BATCH_CALLS} calls"),
            ));
        }
        let bad = |what: &str| Error::invalid_argument("--file", format!("line {number}: {what}"));
        let value: Value = serde_json::from_str(line)
            .map_err(|e| bad(&format!("not JSON ({e}); write one call per line")))?;
        let Value::Object(mut call) = value else {
            return Err(bad(
                "must be an object such as {\"method\": \"users.get_user\", \"params\": {...}}",
            ));
        };
        let method = match call.remove("method") {
            Some(Value::String(m)) => m,
            _ => return Err(bad("needs \"method\", a method id such as users.get_user")),
        };
        let mut args = Arguments::new();
        match call.remove("params") {
            None | Some(Value::Null) => {}
            Some(Value::Object(params)) => {
                for (name, value) in params {
                    args = args.set(name, value);
                }
            }
            Some(_) => return Err(bad("\"params\" must be an object of name: value")),
        }
        let mut batch_call = BatchCall::new(method, args);
        match call.remove("depends_on") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let index = item
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .ok_or_else(|| bad("\"depends_on\" holds call positions (0, 1, ...)"))?;
                    batch_call = batch_call.after(index);
                }
            }
            Some(_) => return Err(bad("\"depends_on\" must be an array of call positions")),
        }
        if let Some(unknown) = call.keys().next() {
            return Err(bad(&format!(
                "unknown field \"{}\"; a call has method, params and depends_on",
                crate::terminal_text::one_line(unknown)
            )));
        }
        calls.push(batch_call);
    }
    if calls.is_empty() {
        return Err(Error::invalid_argument("--file", "holds no calls"));
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_calls_and_bad_lines_are_named() {
        let calls = parse_calls(
            "{\"method\": \"users.get_user\", \"params\": {\"user_id\": \"a\"}}\n\n{\"method\": \"users.list_users\", \"depends_on\": [0]}\n",
        )
        .unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].depends_on, vec![0]);
        assert_eq!(calls[0].args.get("user_id"), Some(&json!("a")));
        for (text, said) in [
            ("nope", "line 1: not JSON"),
            ("[1]", "line 1: must be an object"),
            ("{}\n", "line 1: needs \"method\""),
            (
                "{\"method\": \"a.b\", \"params\": 3}",
                "\"params\" must be an object",
            ),
            (
                "{\"method\": \"a.b\", \"depends_on\": [-1]}",
                "call positions",
            ),
            (
                "{\"method\": \"a.b\", \"extra\": 1}",
                "unknown field \"extra\"",
            ),
            ("\n\n", "holds no calls"),
        ] {
            let err = parse_calls(text).unwrap_err().to_string();
            assert!(err.contains(said), "{text:?}: {err}");
        }
    }
}
