//! The governor's keys by name, forgetting the idle ones as the map grows.
//!
//! Calls name keys without end: a platform's calls reach a mailbox key for
//! every mailbox they ever touch, so a map that kept every key it had seen
//! would grow for as long as the process lives. When the map has doubled
//! since it was last swept (and holds at least [`SWEEP_FROM`] keys), the
//! keys that no caller holds and that carry nothing to remember are
//! dropped; what "nothing to remember" means is the owner's to say. The
//! sweep is paid for by the insertions that doubled the map, so a lookup
//! stays constant time on average, and the map holds at most about twice
//! the keys in use (and never fewer than [`SWEEP_FROM`] before a sweep).

use std::collections::HashMap;
use std::sync::Arc;

/// The fewest entries a map holds before it is swept.
pub(super) const SWEEP_FROM: usize = 1024;

/// When a growing map is next swept: at twice its size after the last
/// sweep, and never below [`SWEEP_FROM`].
#[derive(Debug)]
pub(super) struct SweepMark(usize);

impl Default for SweepMark {
    fn default() -> Self {
        SweepMark(SWEEP_FROM)
    }
}

impl SweepMark {
    /// Whether a map of `len` entries is due for a sweep.
    pub(super) fn due(&self, len: usize) -> bool {
        len >= self.0
    }

    /// A sweep left `len` entries.
    pub(super) fn swept(&mut self, len: usize) {
        self.0 = len.saturating_mul(2).max(SWEEP_FROM);
    }
}

/// Shared cells by key.
pub(super) struct Cells<V> {
    map: HashMap<Arc<str>, Arc<V>>,
    mark: SweepMark,
}

impl<V> Default for Cells<V> {
    fn default() -> Self {
        Cells {
            map: HashMap::new(),
            mark: SweepMark::default(),
        }
    }
}

impl<V> Cells<V> {
    pub(super) fn get(&self, key: &str) -> Option<&Arc<V>> {
        self.map.get(key)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Arc<V>> {
        self.map.values()
    }

    /// Put `cell` under `key` (replacing any), first sweeping when the map
    /// is due: a cell that only the map holds goes when `forget` says so.
    pub(super) fn insert(&mut self, key: Arc<str>, cell: Arc<V>, forget: impl Fn(&V) -> bool) {
        if self.mark.due(self.map.len()) {
            self.map
                .retain(|_, cell| Arc::strong_count(cell) > 1 || !forget(cell));
            self.mark.swept(self.map.len());
        }
        self.map.insert(key, cell);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_drops_what_nobody_holds_and_forget_allows_and_comes_again_at_double() {
        let mut cells: Cells<u32> = Cells::default();
        let held: Vec<Arc<u32>> = (0..10).map(Arc::new).collect();
        for (i, cell) in held.iter().enumerate() {
            cells.insert(Arc::from(format!("held{i}")), Arc::clone(cell), |_| true);
        }
        // unheld cells: even numbers may be forgotten, odd ones not
        for i in 0..(SWEEP_FROM as u32 - 10) {
            cells.insert(Arc::from(format!("k{i}")), Arc::new(i), |v| v % 2 == 0);
        }
        assert_eq!(cells.map.len(), SWEEP_FROM);
        // this insertion sweeps first: 10 held + 507 odd stay
        cells.insert(Arc::from("new"), Arc::new(1), |v| v % 2 == 0);
        let odd = (0..(SWEEP_FROM as u32 - 10)).filter(|v| v % 2 == 1).count();
        assert_eq!(cells.map.len(), 10 + odd + 1);
        assert!((0..10).all(|i| cells.get(&format!("held{i}")).is_some()));
        assert!(cells.get("k0").is_none() && cells.get("k1").is_some());
        // the next sweep waits until the map has doubled from what was left
        assert!(!cells.mark.due(cells.map.len()));
        assert!(cells.mark.due((10 + odd) * 2));
    }

    #[test]
    fn the_mark_never_falls_below_its_floor() {
        let mut mark = SweepMark::default();
        mark.swept(3);
        assert!(!mark.due(SWEEP_FROM - 1));
        assert!(mark.due(SWEEP_FROM));
        mark.swept(usize::MAX);
        assert!(!mark.due(usize::MAX - 1));
    }
}
