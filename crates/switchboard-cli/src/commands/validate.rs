//! `switchboard validate <dir>`: a directory of definition files, a
//! connector crate (its `definitions/`), or a directory of connectors (each
//! subdirectory that holds one, as `--connectors-dir` reads it).

use std::path::Path;
use std::process::ExitCode;

use switchboard_core::Result;
use switchboard_core::definition::load::{load_connectors_dir, load_dir};

use crate::exit;
use crate::terminal_text;

pub fn run(dir: &Path) -> Result<ExitCode> {
    let has_json = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .unwrap_or(true);
    let loaded = if has_json {
        load_dir(dir).map(|def| vec![def])
    } else {
        load_connectors_dir(dir)
    };
    match loaded {
        Ok(defs) => {
            for def in defs {
                println!(
                    "{}: {} {} is valid ({} methods)",
                    dir.display(),
                    def.id,
                    def.version,
                    def.methods.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for problem in problems.iter() {
                // a problem may quote the file's text
                println!("{}", terminal_text::one_line(&problem.to_string()));
            }
            eprintln!("{} problem(s) found", problems.len());
            Ok(ExitCode::from(exit::BAD_INPUT))
        }
    }
}
