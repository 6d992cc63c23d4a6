//! The waiting line of one key: fair across installations.
//!
//! Calls wait in one line per installation; the lines take turns, so an
//! installation with a thousand calls waiting does not keep another's
//! single call behind all of them. Within an installation calls go in the
//! order they came.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::Notify;

/// One waiting call: its ticket and how to wake it.
pub(super) struct Waiter {
    pub(super) ticket: u64,
    pub(super) wake: Arc<Notify>,
}

/// The waiting calls of a key, by installation, lines taking turns.
#[derive(Default)]
pub(super) struct FairQueue {
    /// Installations with waiting calls, in turn order; the front's first
    /// call is next.
    lines: VecDeque<(Arc<str>, VecDeque<Waiter>)>,
    len: usize,
}

impl FairQueue {
    /// How many calls wait.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Add a call at the end of its installation's line.
    pub(super) fn push(&mut self, installation: &Arc<str>, waiter: Waiter) {
        self.len += 1;
        if let Some((_, line)) = self
            .lines
            .iter_mut()
            .find(|(id, _)| id.as_ref() == installation.as_ref())
        {
            line.push_back(waiter);
        } else {
            self.lines
                .push_back((Arc::clone(installation), VecDeque::from([waiter])));
        }
    }

    /// The ticket whose turn it is.
    pub(super) fn head(&self) -> Option<u64> {
        self.lines
            .front()
            .and_then(|(_, line)| line.front())
            .map(|w| w.ticket)
    }

    /// Take the head (its turn is used): its installation goes to the back
    /// of the turn order if it has more calls waiting. Wakes the next head.
    pub(super) fn pop_head(&mut self) {
        if let Some((id, mut line)) = self.lines.pop_front() {
            if line.pop_front().is_some() {
                self.len -= 1;
            }
            if !line.is_empty() {
                self.lines.push_back((id, line));
            }
        }
        self.wake_head();
    }

    /// Remove a call that stopped waiting (cancelled); wakes the head in
    /// case it changed.
    pub(super) fn remove(&mut self, ticket: u64) {
        let mut emptied = None;
        for (index, (_, line)) in self.lines.iter_mut().enumerate() {
            if let Some(at) = line.iter().position(|w| w.ticket == ticket) {
                line.remove(at);
                self.len -= 1;
                if line.is_empty() {
                    emptied = Some(index);
                }
                break;
            }
        }
        if let Some(index) = emptied {
            self.lines.remove(index);
        }
        self.wake_head();
    }

    /// Tell the head to look again (capacity may have come back).
    pub(super) fn wake_head(&self) {
        if let Some(w) = self.lines.front().and_then(|(_, line)| line.front()) {
            w.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(ticket: u64) -> Waiter {
        Waiter {
            ticket,
            wake: Arc::new(Notify::new()),
        }
    }

    #[test]
    fn installations_take_turns_and_keep_their_own_order() {
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let mut q = FairQueue::default();
        for t in 1..=3 {
            q.push(&a, waiter(t));
        }
        q.push(&b, waiter(10));
        let mut order = Vec::new();
        while let Some(t) = q.head() {
            order.push(t);
            q.pop_head();
        }
        assert_eq!(order, vec![1, 10, 2, 3]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_cancelled_call_leaves_the_line() {
        let a: Arc<str> = Arc::from("a");
        let mut q = FairQueue::default();
        q.push(&a, waiter(1));
        q.push(&a, waiter(2));
        q.remove(1);
        assert_eq!((q.head(), q.len()), (Some(2), 1));
        q.remove(2);
        assert_eq!((q.head(), q.len()), (None, 0));
    }
}
