//! Exit codes, documented in docs/cli.md: 0 success, 1 bad input,
//! 2 remote or transport error, 3 re-authentication needed.

use std::process::ExitCode;

use switchboard_core::{Error, ErrorKind};

/// Bad input: arguments, settings or definitions.
pub const BAD_INPUT: u8 = 1;
/// The remote service or the network failed.
pub const REMOTE: u8 = 2;
/// The installation needs a person to re-authenticate it.
pub const REAUTH: u8 = 3;

/// The exit code for an error.
pub fn code_for(err: &Error) -> ExitCode {
    let code = match err.kind() {
        ErrorKind::InvalidArgument | ErrorKind::InvalidDefinition => BAD_INPUT,
        ErrorKind::NeedsReauth | ErrorKind::Unauthorized => REAUTH,
        _ => REMOTE,
    };
    ExitCode::from(code)
}
