//! A value an installation context works out on its first call and keeps
//! for its later ones, but does not pass on to a copy: a copy may be
//! changed (other settings, another app), so it works the value out again.

use std::sync::OnceLock;

/// Set once, then read; a clone starts empty.
#[derive(Debug)]
pub(crate) struct OncePerCopy<T>(OnceLock<T>);

impl<T> Default for OncePerCopy<T> {
    fn default() -> Self {
        OncePerCopy(OnceLock::new())
    }
}

impl<T> Clone for OncePerCopy<T> {
    fn clone(&self) -> Self {
        OncePerCopy::default()
    }
}

impl<T> OncePerCopy<T> {
    /// The value, if it was set.
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.get()
    }

    /// The value, set by `init` the first time.
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(init)
    }

    /// Set the value, unless it is set already.
    pub(crate) fn set(&self, value: T) {
        let _ = self.0.set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_value_and_a_clone_starts_empty() {
        let kept = OncePerCopy::default();
        assert_eq!(kept.get(), None);
        assert_eq!(*kept.get_or_init(|| 1), 1);
        kept.set(2);
        assert_eq!(*kept.get_or_init(|| 3), 1);
        let copy = kept.clone();
        assert_eq!(copy.get(), None);
        assert_eq!(kept.get(), Some(&1));
    }
}
