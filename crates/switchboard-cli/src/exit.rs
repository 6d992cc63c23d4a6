//! Exit codes, documented in docs/cli.md: 0 success, 1 bad input (an
//! unknown installation id too), 2 remote, transport or storage error,
//! 3 a person must (re-)consent, 4 the installation is switched off.
//!
//! When a command is refused because of the installation's state, the code
//! says the state, whichever the command:
//!
//! | state | code |
//! |---|---|
//! | `pending_consent`, `needs_reauth` | 3 |
//! | `disabled`, `uninstalled` | 4 |
//! | `active` (the command does not apply, e.g. `enable`) | 1 |
//! | no such installation | 1 |

use std::fmt;
use std::process::ExitCode;

use switchboard_core::{Error, ErrorKind};
use switchboard_installations::install::InstallationStatus;

/// Bad input: arguments, settings, definitions, configuration, or an
/// installation id the store does not hold.
pub const BAD_INPUT: u8 = 1;
/// The remote service, the network or the store failed.
pub const REMOTE: u8 = 2;
/// A person must consent (again): the installation waits for consent or
/// needs re-authentication.
pub const REAUTH: u8 = 3;
/// The installation is disabled or uninstalled.
pub const SWITCHED_OFF: u8 = 4;

/// The exit code for an error.
pub fn code_for(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::InvalidArgument | ErrorKind::InvalidDefinition | ErrorKind::Configuration => {
            BAD_INPUT
        }
        ErrorKind::NeedsReauth | ErrorKind::Unauthorized => REAUTH,
        _ => REMOTE,
    }
}

/// The exit code when an installation's state refuses a command.
pub fn code_for_status(status: InstallationStatus) -> u8 {
    match status {
        InstallationStatus::PendingConsent | InstallationStatus::NeedsReauth => REAUTH,
        InstallationStatus::Disabled | InstallationStatus::Uninstalled => SWITCHED_OFF,
        _ => BAD_INPUT,
    }
}

/// A failed command: the error to print and the code to exit with.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong (printed as `error: ...`).
    pub error: Error,
    /// The exit code.
    pub code: u8,
}

impl Failure {
    /// An error that exits with `code` rather than its kind's.
    pub fn with_code(error: Error, code: u8) -> Self {
        Failure { error, code }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = code_for(&error);
        Failure { error, code }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// A command's result.
pub type CliResult<T = ExitCode> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_what_a_person_must_do() {
        use InstallationStatus::*;
        assert_eq!(code_for_status(PendingConsent), REAUTH);
        assert_eq!(code_for_status(NeedsReauth), REAUTH);
        assert_eq!(code_for_status(Disabled), SWITCHED_OFF);
        assert_eq!(code_for_status(Uninstalled), SWITCHED_OFF);
        assert_eq!(code_for_status(Active), BAD_INPUT);
    }
}
