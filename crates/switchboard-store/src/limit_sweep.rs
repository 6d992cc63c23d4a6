//! Forgetting the limit rows no key needs any more.
//!
//! A key's own operations delete its expired rows, but keys come from
//! callers without end (a key per mailbox or drive ever called), and a key
//! not used again is never asked about again. So every store instance
//! sweeps the three tables now and then, after one of its own operations:
//! at its first operation, then once a minute, and again at the next
//! operation while a sweep finds a full batch. A sweep deletes at most
//! [`SWEEP_BATCH`] rows per table, so no operation pays for a long backlog
//! at once.
//!
//! What is dead for every key: a block taken longer ago than the longest
//! window a definition may declare ([`MAX_WINDOW_SECS`], one day), an
//! expired lease (its node stopped renewing it), a hold that has passed.
//! On PostgreSQL the sweep skips rows another transaction has locked, so it
//! never waits on (or deadlocks with) a key's own operation.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use switchboard_core::Result;
use switchboard_core::definition::limits::MAX_WINDOW_SECS;
use switchboard_core::governor::store::duration_millis;

/// The most rows a sweep deletes from each table.
pub(crate) const SWEEP_BATCH: i64 = 1_000;

/// How long after a sweep that found less than a full batch the next one
/// is due.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How old a block must be to be dead for every key, in milliseconds.
pub(crate) const DEAD_BLOCK_AGE_MS: i64 = (MAX_WINDOW_SECS * 1_000) as i64;

/// Each table and what makes its rows dead (`{now}`: the time now in
/// milliseconds; `{age}`: [`DEAD_BLOCK_AGE_MS`]).
const SWEEPS: [(&str, &str); 3] = [
    ("limit_blocks", "taken_at <= {now} - {age}"),
    ("limit_leases", "expires_at <= {now}"),
    ("limit_holds", "held_until <= {now}"),
];

/// The sweep statements of one database, blocks, leases then holds: `row`
/// names a row (`rowid`, `ctid`), `now` is the time now in milliseconds
/// (a parameter or an expression), `batch` the most rows (a parameter),
/// `lock` ends the rows' selection (PostgreSQL's `FOR UPDATE SKIP LOCKED`).
pub(crate) fn statements(row: &str, now: &str, batch: &str, lock: &str) -> [String; 3] {
    SWEEPS.map(|(table, dead)| {
        let dead = dead
            .replace("{now}", now)
            .replace("{age}", &DEAD_BLOCK_AGE_MS.to_string());
        format!(
            "DELETE FROM {table} WHERE {row} IN (SELECT {row} FROM {table} WHERE {dead} LIMIT {batch}{lock})"
        )
    })
}

/// When a store instance's next sweep is due. Shared by the instance's
/// clones; one caller at a time wins a due sweep.
#[derive(Debug)]
pub(crate) struct SweepClock {
    started: Instant,
    /// Milliseconds after `started` when the next sweep is due.
    next_ms: AtomicI64,
}

impl Default for SweepClock {
    fn default() -> Self {
        SweepClock {
            started: Instant::now(),
            next_ms: AtomicI64::new(0),
        }
    }
}

impl SweepClock {
    fn now_ms(&self) -> i64 {
        duration_millis(self.started.elapsed())
    }

    /// Whether a sweep is due; if so, the caller runs it (the next one is
    /// put off a minute before it starts, so no other caller runs one too).
    pub(crate) fn claim(&self) -> bool {
        let now = self.now_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        let later = now.saturating_add(duration_millis(SWEEP_EVERY));
        now >= next
            && self
                .next_ms
                .compare_exchange(next, later, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// How a claimed sweep ended: the rows it deleted from each table, or
    /// why it failed (logged; the next sweep is due in a minute).
    pub(crate) fn finish(&self, swept: Result<[usize; 3]>) {
        match swept {
            Ok(deleted) => self.swept(&deleted),
            Err(error) => tracing::warn!(%error, "sweeping the limit tables failed"),
        }
    }

    /// A sweep deleted `deleted` rows from each table: when one was a full
    /// batch, rows are left and the next sweep is due at once.
    fn swept(&self, deleted: &[usize]) {
        let full = usize::try_from(SWEEP_BATCH).unwrap_or(usize::MAX);
        if deleted.iter().any(|&n| n >= full) {
            self.next_ms.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_operation_sweeps_then_once_a_minute_unless_a_batch_was_full() {
        let clock = SweepClock::default();
        assert!(clock.claim(), "a new instance sweeps at once");
        assert!(!clock.claim(), "then not again within the minute");
        clock.swept(&[3, 0, 999]);
        assert!(!clock.claim(), "nothing full: the minute stands");
        clock.swept(&[1_000, 0, 0]);
        assert!(clock.claim(), "a full batch: due again at once");
        assert!(!clock.claim());
    }

    #[test]
    fn statements_select_dead_rows_in_bounded_batches() {
        let [blocks, leases, holds] = statements("rowid", "?1", "?2", "");
        assert_eq!(
            blocks,
            "DELETE FROM limit_blocks WHERE rowid IN (SELECT rowid FROM limit_blocks WHERE taken_at <= ?1 - 86400000 LIMIT ?2)"
        );
        assert!(leases.contains("FROM limit_leases WHERE expires_at <= ?1 LIMIT ?2)"));
        assert!(holds.contains("FROM limit_holds WHERE held_until <= ?1 LIMIT ?2)"));
        let [pg, ..] = statements("ctid", "$1", "$2", " FOR UPDATE SKIP LOCKED");
        assert!(pg.ends_with("LIMIT $2 FOR UPDATE SKIP LOCKED)"), "{pg}");
    }
}
