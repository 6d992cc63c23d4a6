//! Progress bars on stderr, only when stderr is a terminal: stdout stays
//! clean for tables, JSON and pipes, and logs and CI output stay quiet.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// A byte counter for a download or upload (a bar when the size is known).
    pub fn bytes(what: &str, total: Option<u64>) -> Self {
        if !visible() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{spinner} {prefix} {bytes} {bytes_per_sec}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(what.to_string());
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
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
