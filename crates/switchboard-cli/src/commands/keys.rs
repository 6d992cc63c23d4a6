//! `switchboard keys rotate` and `switchboard keys generate`.
//!
//! With a key file, `rotate` appends a new key (the newest; new writes use
//! it) and rewrites every installation's secrets under it. With
//! `SWITCHBOARD_MASTER_KEYS`, add a key at the end of the variable
//! (`switchboard keys generate --id k2` prints one) and run `rotate`: it
//! re-encrypts under the newest key of the variable.

use std::process::ExitCode;

use serde::Serialize;
use switchboard_core::{Error, Result};
use switchboard_store::KeyRing;

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
}

#[derive(Serialize)]
struct FailedRow {
    installation: String,
    error: String,
}

pub async fn rotate(location: &StoreLocation, output: Output) -> Result<ExitCode> {
    let (ring, added, source) = match &location.keys {
        KeySource::Env => (
            location.key_ring()?,
            None,
            "SWITCHBOARD_MASTER_KEYS".to_string(),
        ),
        KeySource::File(path) if !path.exists() => {
            // first use: the new file's key is the newest already
            (location.key_ring()?, None, path.display().to_string())
        }
        KeySource::File(path) => {
            let (ring, id) = KeyRing::add_key_to_file(path)?;
            eprintln!("added master key `{id}` to {}", path.display());
            (ring, Some(id), path.display().to_string())
        }
    };
    let newest = ring.newest_key_id().to_string();
    let store = location.open_with(ring).await?;
    let report = store.reencrypt_all().await?;
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
    };
    emit_one(output, &out, |o| {
        let mut rows = vec![
            vec!["store".into(), o.store.clone()],
            vec!["keys".into(), o.key_source.clone()],
            vec!["newest key".into(), o.newest_key.clone()],
            vec!["re-encrypted".into(), o.rewritten.to_string()],
            vec!["already current".into(), o.already_current.to_string()],
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
