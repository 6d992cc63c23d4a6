//! Exit codes, documented in docs/cli.md: 0 success, 1 bad input,
//! 2 remote, transport or storage error, 3 re-authentication needed.

use std::process::ExitCode;

use switchboard_core::{Error, ErrorKind};

/// Bad input: arguments, settings, definitions or configuration.
pub const BAD_INPUT: u8 = 1;
/// The remote service, the network or the store failed.
pub const REMOTE: u8 = 2;
/// The installation needs a person to re-authenticate it.
pub const REAUTH: u8 = 3;

/// The exit code for an error.
pub fn code_for(err: &Error) -> ExitCode {
    let code = match err.kind() {
        ErrorKind::InvalidArgument | ErrorKind::InvalidDefinition | ErrorKind::Configuration => {
            BAD_INPUT
        }
        ErrorKind::NeedsReauth | ErrorKind::Unauthorized => REAUTH,
        _ => REMOTE,
    };
    ExitCode::from(code)
}
