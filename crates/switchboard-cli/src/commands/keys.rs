//! `switchboard keys rotate` and `switchboard keys generate`.
//!
//! With a key file, `rotate` appends a new key (the newest; new writes use
//! it) and rewrites every installation's secrets under it. With
//! `SWITCHBOARD_MASTER_KEYS`, add a key at the end of the variable
//! (`switchboard keys generate --id k2` prints one) and run `rotate`: it
//! re-encrypts under the newest key of the variable. Rotations of one
//! store run one at a time (`switchboard_store::Store::rotate_keys`).

use std::process::ExitCode;

use serde::Serialize;
use switchboard_core::{Error, Result};
use switchboard_store::{KeyRing, OpenOptions};

use crate::cli::Output;
use crate::exit;
use crate::output::{emit_one, kv_table, println_out};
use crate::store::{KeySource, StoreLocation};

#[derive(Serialize)]
struct RotateOutput {
    store: String,
    key_source: String,
    newest_key: String,
    added_key: Option<String>,
    rewritten: usize,
    already_current: usize,
    failed: Vec<FailedRow>,
    /// Keys no secret uses any more (they may be removed).
    unused_keys: Vec<String>,
}

#[derive(Serialize)]
struct FailedRow {
    installation: String,
    error: String,
}

pub async fn rotate(location: &StoreLocation, output: Output) -> Result<ExitCode> {
    let source = match &location.keys {
        KeySource::Env => "SWITCHBOARD_MASTER_KEYS".to_string(),
        KeySource::File(path) => path.display().to_string(),
    };
    let opened = location.open_reporting().await?;
    let store = opened.store;
    let (newest, added, report) = if opened.key_file_created.is_some() {
        // a new key file for a store without secrets: its key is the newest already
        let newest = store
            .key_ring()
            .newest_key_id()
            .unwrap_or_default()
            .to_string();
        (newest, None, store.reencrypt_all().await?)
    } else {
        let rotated = store
            .rotate_keys(&location.master_keys(), &OpenOptions::from_env()?)
            .await?;
        if let Some(id) = &rotated.added_key {
            eprintln!("added master key `{id}` to {source}");
        }
        for warning in &rotated.warnings {
            eprintln!("warning: {warning}");
        }
        (rotated.newest_key, rotated.added_key, rotated.reencrypted)
    };
    let out = RotateOutput {
        store: location.display(),
        key_source: source,
        newest_key: newest,
        added_key: added,
        rewritten: report.rewritten,
        already_current: report.already_current,
        failed: report
            .failed
            .iter()
            .map(|(id, e)| FailedRow {
                installation: id.to_string(),
                error: e.to_string(),
            })
            .collect(),
        unused_keys: report.forgotten.clone(),
    };
    emit_one(output, &out, |o| {
        let mut rows = vec![
            vec!["store".into(), o.store.clone()],
            vec!["keys".into(), o.key_source.clone()],
            vec!["newest key".into(), o.newest_key.clone()],
            vec!["re-encrypted".into(), o.rewritten.to_string()],
            vec!["already current".into(), o.already_current.to_string()],
            vec!["keys no longer used".into(), o.unused_keys.join(", ")],
        ];
        for f in &o.failed {
            rows.push(vec![format!("failed {}", f.installation), f.error.clone()]);
        }
        kv_table(rows).to_string()
    })?;
    if out.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} installation(s) could not be re-encrypted; keep the old keys until they are fixed",
            out.failed.len()
        );
        Ok(ExitCode::from(exit::REMOTE))
    }
}

pub fn generate(id: &str) -> Result<ExitCode> {
    let entry = KeyRing::generate_entry(id)
        .map_err(|e| Error::invalid_argument("--id", e.message().to_string()))?;
    println_out(&entry)?;
    Ok(ExitCode::SUCCESS)
}
