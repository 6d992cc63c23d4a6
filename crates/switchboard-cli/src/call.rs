//! Calling a method and printing what it returns: records as tables, JSON
//! or NDJSON; single objects as name/value tables; bytes to a file.
//!
//! `--param name=value` values are parsed as JSON when they parse
//! (`--param top=5`, `--param 'message={"subject":"Hi"}'`, `--param
//! flag=true`) and taken as strings otherwise (`--param user_id=ada@contoso.com`).
//! The method's declared types refine that: a string parameter keeps the
//! text as given (`--param folder_id=123` stays `"123"`), and an array
//! parameter also accepts a comma-separated list (`--param select=id,subject`).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde_json::{Map, Value};
use switchboard_core::definition::{MethodDefinition, Pagination, ParameterType, ResponseKind};
use switchboard_core::files::{self, AtomicFile, ReadLimitedError};
use switchboard_core::{Arguments, Engine, Error, ErrorKind, InstallationContext, Result};
use tokio::io::AsyncWriteExt;

use crate::cli::Output;
use crate::output::{print_json, print_json_line, println_out};
use crate::progress::Progress;
use crate::records::{object_table, record_table};

/// What to call and how to print it.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The method id (`users.list_users`).
    pub method: String,
    /// `name=value` pairs.
    pub params: Vec<String>,
    /// Read every page of a paged method.
    pub all: bool,
    /// Content for a method that uploads bytes.
    pub file: Option<PathBuf>,
    /// Where to save the bytes of a method that downloads them.
    pub out: Option<PathBuf>,
    /// Table columns (default: chosen from the records).
    pub columns: Vec<String>,
}

/// Parse `name=value` pairs: JSON when the value parses as JSON, else a string.
///
/// The same name twice is an error naming it.
pub fn parse_params(
    method: Option<&MethodDefinition>,
    params: &[String],
) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    for p in params {
        let Some((name, raw)) = p.split_once('=') else {
            return Err(Error::invalid_argument(
                "--param",
                format!("`{p}` must be written name=value"),
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid_argument(
                "--param",
                format!("`{p}` has no name before `=`"),
            ));
        }
        let value = coerce(method, name, raw);
        if map.insert(name.to_string(), value).is_some() {
            return Err(Error::invalid_argument(
                "--param",
                format!("`{name}` is given twice; give each parameter once"),
            ));
        }
    }
    Ok(map)
}

/// A raw value, read by the parameter's declared type when there is one.
fn coerce(method: Option<&MethodDefinition>, name: &str, raw: &str) -> Value {
    let parsed = serde_json::from_str::<Value>(raw).ok();
    let kind = method
        .and_then(|m| m.parameters.iter().find(|p| p.name == name))
        .map(|p| (p.kind, p.items));
    match (kind, parsed) {
        (Some((ParameterType::String | ParameterType::DateTime, _)), Some(Value::String(s))) => {
            Value::String(s)
        }
        (Some((ParameterType::String | ParameterType::DateTime, _)), _) => {
            Value::String(raw.to_string())
        }
        (Some((ParameterType::Array, _)), Some(v @ Value::Array(_))) => v,
        (Some((ParameterType::Array, items)), _) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| match items {
                    Some(ParameterType::String | ParameterType::DateTime) | None => {
                        Value::String(item.to_string())
                    }
                    Some(_) => serde_json::from_str(item)
                        .unwrap_or_else(|_| Value::String(item.to_string())),
                })
                .collect(),
        ),
        (_, Some(v)) => v,
        (_, None) => Value::String(raw.to_string()),
    }
}

/// The method's definition, for deciding how to call and print it.
pub fn method_of(engine: &Engine, ctx: &InstallationContext, id: &str) -> Result<MethodDefinition> {
    let registry = engine.registry();
    let connector = crate::registry::connector(registry, ctx.connector_id(), "connector")?;
    crate::registry::method(connector.definition(), id, "METHOD").cloned()
}

/// Records of a paged method: the first page, or every page with `all`.
/// Returns the records and whether more pages were left unread.
pub async fn read_records(
    engine: &Engine,
    ctx: &InstallationContext,
    method: &str,
    args: Arguments,
    all: bool,
    mut each: impl FnMut(&Value) -> Result<()>,
) -> Result<(Vec<Value>, bool)> {
    let progress = Progress::pages(method);
    let mut pages = engine.stream(ctx, method, args).into_pages();
    let mut records = Vec::new();
    let mut count = 0usize;
    let mut more = false;
    while let Some(page) = pages.next().await {
        let page = page?;
        let number = page.number();
        let has_next = page.continuation().is_some();
        for r in page.into_records() {
            each(&r)?;
            records.push(r);
        }
        count = records.len();
        progress.pages_read(number, count);
        if !all {
            more = has_next;
            break;
        }
    }
    progress.finish();
    tracing::debug!(method, records = count, "records read");
    Ok((records, more))
}

/// Call the method and print the result.
pub async fn call(
    engine: &Engine,
    ctx: &InstallationContext,
    opts: &CallOptions,
    output: Output,
) -> Result<()> {
    let method = method_of(engine, ctx, &opts.method)?;
    let mut args = Arguments::from_map(parse_params(Some(&method), &opts.params)?);
    if let Some(path) = &opts.file {
        args = args.with_content(read_content(&method, path).await?);
    }
    if method.response == ResponseKind::Bytes {
        if opts.all {
            return Err(all_not_paged(&method));
        }
        return download(engine, ctx, &method, args, opts.out.as_deref(), output).await;
    }
    if opts.out.is_some() {
        return Err(Error::invalid_argument(
            "--out",
            format!(
                "`{}` returns JSON, not file content; print it with --output json",
                method.id
            ),
        ));
    }
    if method.pagination == Pagination::None {
        if opts.all {
            return Err(all_not_paged(&method));
        }
        let response = engine.call(ctx, &method.id, args).await?;
        let status = response.status();
        return match response.json() {
            Some(body) => print_single(body, output, &opts.columns),
            None => match output {
                Output::Table => println_out(&format!("done: HTTP {status}, no content")),
                Output::Json | Output::Ndjson => {
                    print_json_line(&serde_json::json!({ "status": status }))
                }
            },
        };
    }
    let stream_lines = output == Output::Ndjson;
    let (records, more) = read_records(engine, ctx, &method.id, args, opts.all, |r| {
        if stream_lines {
            print_json_line(r)?;
        }
        Ok(())
    })
    .await?;
    match output {
        Output::Ndjson => {}
        Output::Json => print_json(&records)?,
        Output::Table => {
            println_out(&record_table(&records, Some(&opts.columns)).to_string())?;
            eprintln!("{} record(s)", records.len());
        }
    }
    if more {
        eprintln!("more records are available: add --all to read every page");
    }
    Ok(())
}

/// The most of a `--file` read for a method that declares no limit.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A `--file`'s bytes, never more than the method takes: its content
/// parameter's `maximum` ([`MethodDefinition::content_limit`]), else
/// [`DEFAULT_MAX_FILE_BYTES`]. At most one byte past the limit is read,
/// so `/dev/zero` or a sparse file of terabytes is refused quickly.
async fn read_content(method: &MethodDefinition, path: &Path) -> Result<Vec<u8>> {
    let Some(param) = method.content_parameter() else {
        return Err(Error::invalid_argument(
            "--file",
            format!("`{}` takes no file content; leave --file out", method.id),
        ));
    };
    let limit = method.content_limit().unwrap_or(DEFAULT_MAX_FILE_BYTES);
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || files::read_limited(&owned, limit))
        .await
        .map_err(|e| Error::new(ErrorKind::Transport, format!("reading --file failed: {e}")))?;
    read.map_err(|e| match e {
        ReadLimitedError::TooLarge { limit } => {
            let mut message = format!(
                "{} holds more than {limit} bytes, the most `{}` takes; nothing was sent",
                path.display(),
                method.id
            );
            if let Some(description) = &param.description {
                message.push_str(". ");
                message.push_str(description);
            }
            Error::invalid_argument("--file", message)
        }
        e => Error::invalid_argument("--file", format!("cannot read {}: {e}", path.display())),
    })
}

fn all_not_paged(method: &MethodDefinition) -> Error {
    Error::invalid_argument(
        "--all",
        format!(
            "`{}` returns one response, not pages; leave --all out",
            method.id
        ),
    )
}

/// A single JSON response: a `value` list as records, else the object.
fn print_single(body: &Value, output: Output, columns: &[String]) -> Result<()> {
    match output {
        Output::Json => print_json(body),
        Output::Ndjson => match body.get("value") {
            Some(Value::Array(items)) => {
                for item in items {
                    print_json_line(item)?;
                }
                Ok(())
            }
            _ => print_json_line(body),
        },
        Output::Table => match body.get("value") {
            Some(Value::Array(items)) => {
                println_out(&record_table(items, Some(columns)).to_string())
            }
            _ => println_out(&object_table(body).to_string()),
        },
    }
}

/// Stream a download to `out` (or to stdout when it is not a terminal).
///
/// A regular file (new or existing) is written through an [`AtomicFile`]:
/// it is replaced only when every byte arrived, and a cut download leaves
/// it as it was. Other paths (`/dev/null`, a FIFO) are written directly.
async fn download(
    engine: &Engine,
    ctx: &InstallationContext,
    method: &MethodDefinition,
    args: Arguments,
    out: Option<&Path>,
    output: Output,
) -> Result<()> {
    use std::io::IsTerminal;
    if out.is_none() && std::io::stdout().is_terminal() {
        return Err(Error::invalid_argument(
            "--out",
            format!(
                "`{}` returns file content: save it with --out FILE (or pipe stdout)",
                method.id
            ),
        ));
    }
    // the target is prepared before anything is sent: a bad --out costs no request
    let target = match out {
        Some(path) => Some(OutFile::open(path).await?),
        None => None,
    };
    let mut body = engine.call_stream(ctx, &method.id, args).await?;
    let total = body.content_length();
    let progress = Progress::bytes("download", total);
    let write_error = |e: std::io::Error| {
        Error::new(ErrorKind::Transport, "could not write the content").with_source(e)
    };
    let mut written: u64 = 0;
    let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &target {
        Some(file) => Box::new(file.writer().map_err(write_error)?),
        None => Box::new(tokio::io::stdout()),
    };
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                progress.finish();
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                let kept = match out {
                    Some(path) => format!("; {} was left as it was", path.display()),
                    None => String::new(),
                };
                return Err(Error::new(
                    err.kind(),
                    format!("the download stopped after {written}{of} bytes: {err}{kept}"),
                ));
            }
        };
        sink.write_all(&chunk).await.map_err(write_error)?;
        written += chunk.len() as u64;
        progress.add_bytes(chunk.len() as u64);
    }
    sink.flush().await.map_err(write_error)?;
    drop(sink);
    if let Some(file) = target {
        file.commit().await.map_err(write_error)?;
    }
    progress.finish();
    if let Some(path) = out {
        let summary =
            serde_json::json!({ "bytes": written, "saved_to": path.display().to_string() });
        match output {
            Output::Table => println_out(&format!("saved {written} bytes to {}", path.display()))?,
            Output::Json => print_json(&summary)?,
            Output::Ndjson => print_json_line(&summary)?,
        }
    }
    Ok(())
}

/// Where `--out` bytes go: a regular file replaced atomically, or a
/// device or pipe written in place.
enum OutFile {
    Replace(AtomicFile),
    InPlace(std::fs::File),
}

impl OutFile {
    async fn open(path: &Path) -> Result<Self> {
        let owned = path.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || match std::fs::metadata(&owned) {
            Ok(meta) if !meta.is_file() && !meta.is_dir() => std::fs::OpenOptions::new()
                .write(true)
                .open(&owned)
                .map(OutFile::InPlace),
            _ => AtomicFile::create(&owned).map(OutFile::Replace),
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Transport, format!("opening --out failed: {e}")))?;
        opened.map_err(|e| {
            Error::invalid_argument("--out", format!("cannot write {}: {e}", path.display()))
        })
    }

    /// An asynchronous writer onto the file.
    fn writer(&self) -> std::io::Result<tokio::fs::File> {
        let file = match self {
            OutFile::Replace(atomic) => atomic.as_file(),
            OutFile::InPlace(file) => file,
        };
        Ok(tokio::fs::File::from_std(file.try_clone()?))
    }

    /// Make the new content the file's (a no-op in place).
    async fn commit(self) -> std::io::Result<()> {
        match self {
            OutFile::Replace(atomic) => tokio::task::spawn_blocking(move || atomic.commit())
                .await
                .map_err(std::io::Error::other)?,
            OutFile::InPlace(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_when_they_parse_else_strings() {
        let params: Vec<String> = [
            "top=5",
            "flag=true",
            "user_id=ada@contoso.com",
            r#"message={"subject":"Hi"}"#,
            "empty=",
            "quoted=\"5\"",
            "eq=a=b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let map = parse_params(None, &params).unwrap();
        assert_eq!(map["top"], serde_json::json!(5));
        assert_eq!(map["flag"], serde_json::json!(true));
        assert_eq!(map["user_id"], serde_json::json!("ada@contoso.com"));
        assert_eq!(map["message"]["subject"], "Hi");
        assert_eq!(map["empty"], serde_json::json!(""));
        assert_eq!(map["quoted"], serde_json::json!("5"));
        assert_eq!(map["eq"], serde_json::json!("a=b"));
    }

    #[test]
    fn declared_types_refine_the_reading() {
        let registry = crate::registry::builtin().unwrap();
        let def = registry.get("microsoft365").unwrap().definition();
        let list = def.method("mail.list_folder_messages").unwrap();
        let params: Vec<String> = ["folder_id=123", "select=id, subject", "top=5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let map = parse_params(Some(list), &params).unwrap();
        assert_eq!(map["folder_id"], serde_json::json!("123"));
        assert_eq!(map["select"], serde_json::json!(["id", "subject"]));
        assert_eq!(map["top"], serde_json::json!(5));
        let map = parse_params(Some(list), &[r#"select=["a","b"]"#.to_string()]).unwrap();
        assert_eq!(map["select"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn malformed_and_repeated_params_name_the_problem() {
        let err = parse_params(None, &["nothing".to_string()]).unwrap_err();
        assert_eq!(err.field(), Some("--param"));
        assert!(err.to_string().contains("name=value"));
        let err = parse_params(None, &["a=1".to_string(), "a=2".to_string()]).unwrap_err();
        assert!(err.to_string().contains("`a` is given twice"));
    }
}
