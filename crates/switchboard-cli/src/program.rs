//! How to run this binary again from a shell, for the commands the CLI
//! prints (the sandbox's banner, the quickstart's next steps).
//!
//! `switchboard` when that name on the `PATH` is this very binary (after
//! `cargo install --path crates/switchboard-cli`); otherwise the binary's
//! full path (`cargo run` builds it under `target/`), quoted for a POSIX
//! shell when needed. Either way a printed command works as given.

use std::path::{Path, PathBuf};

/// The binary's name on the `PATH`.
pub const NAME: &str = "switchboard";

/// The words that run this binary from a shell.
pub fn invocation() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return NAME.to_string();
    };
    let exe = exe.canonicalize().unwrap_or(exe);
    if on_path().is_some_and(|found| found == exe) {
        return NAME.to_string();
    }
    shell_quote(&exe.display().to_string())
}

/// Whether `switchboard` on the `PATH` is this binary.
pub fn is_on_path() -> bool {
    invocation() == NAME
}

/// A note for stderr when the printed commands use a full path.
pub fn path_hint() -> Option<String> {
    (!is_on_path()).then(|| {
        format!(
            "note: `{NAME}` is not on your PATH, so the commands shown use {}; `cargo install --path crates/switchboard-cli` puts it there",
            invocation()
        )
    })
}

/// The first `switchboard` on the `PATH`, resolved.
fn on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(NAME))
        .find(|candidate| is_executable(candidate))
        .map(|found| found.canonicalize().unwrap_or(found))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// `text` as one word for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_a_shell_would_split_or_expand() {
        assert_eq!(
            shell_quote("/home/a/target/debug/switchboard"),
            "/home/a/target/debug/switchboard"
        );
        assert_eq!(shell_quote("/my dir/sb"), "'/my dir/sb'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a$b"), "'a$b'");
    }
}
