//! `switchboard validate <dir>`

use std::path::Path;
use std::process::ExitCode;

use switchboard_core::Result;
use switchboard_core::load::load_dir;

use crate::exit;

pub fn run(dir: &Path) -> Result<ExitCode> {
    match load_dir(dir) {
        Ok(def) => {
            println!(
                "{}: {} {} is valid ({} methods)",
                dir.display(),
                def.id,
                def.version,
                def.methods.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for problem in problems.iter() {
                println!("{problem}");
            }
            eprintln!("{} problem(s) found", problems.len());
            Ok(ExitCode::from(exit::BAD_INPUT))
        }
    }
}
