//! Progress bars on stderr, only when stderr is a terminal: stdout stays
//! clean for tables, JSON and pipes, and logs and CI output stay quiet.
//!
//! While the engine waits before a retry (a 429, a 503...), the bar on
//! screen says so and for how long ([`retry_wait`]); with no bar (stderr is
//! not a terminal, or a single call) the same words go to stderr as a line.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use switchboard_core::engine::retry_wait::RetryWait;

/// The bar on screen now, if any: where retry waits are shown.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn set_active(bar: Option<&ProgressBar>) {
    let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    *active = bar.cloned();
}

/// The engine's retry observer: the wait, on the bar or as a line.
pub fn retry_wait(wait: &RetryWait) {
    let text = wait.to_string();
    let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    match active.as_ref() {
        Some(bar) if !bar.is_finished() => bar.set_message(text),
        _ => eprintln!("{text}"),
    }
}

/// A progress indicator that does nothing when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

fn visible() -> bool {
    std::io::stderr().is_terminal()
}

impl Progress {
    /// A spinner for paging: "page N, M records".
    pub fn pages(what: &str) -> Self {
        if !visible() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(what.to_string());
        bar.set_message("asking the service for the first page");
        bar.enable_steady_tick(Duration::from_millis(120));
        set_active(Some(&bar));
        Progress { bar: Some(bar) }
    }

    /// A byte counter for a download or upload (a bar when the size is known).
    pub fn bytes(what: &str, total: Option<u64>) -> Self {
        if !visible() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}"
        } else {
            "{spinner} {prefix} {bytes} {bytes_per_sec} {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(what.to_string());
        set_active(Some(&bar));
        Progress { bar: Some(bar) }
    }

    /// Pages and records read so far.
    pub fn pages_read(&self, pages: usize, records: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("page {pages}, {records} records"));
        }
    }

    /// `n` more bytes moved.
    pub fn add_bytes(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Remove the indicator.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            set_active(None);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
