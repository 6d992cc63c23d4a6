//! [`SwitchboardStore`]: what a [`Switchboard`](crate::Switchboard) keeps in
//! its store, split into the parts each service uses.

use std::fmt;
use std::sync::Arc;

use switchboard_core::governor::LimitStore;
use switchboard_installations::install::{InstallationStore, MemoryInstallationStore};
use switchboard_sync::{MemorySubscriptionStore, MemorySyncLeases, SubscriptionStore, SyncLeases};

/// The store's parts: installations with their encrypted secrets, the
/// leases that keep one node per synced resource or subscription, the
/// change-notification subscription records and, when the store is shared
/// by several nodes, the request governor's shares of each limit
/// ([`StoreParts::with_limits`]).
///
/// Build one yourself to combine your own implementations:
///
/// ```
/// use std::sync::Arc;
/// use switchboard::store::StoreParts;
/// use switchboard_installations::install::MemoryInstallationStore;
/// use switchboard_sync::{MemorySubscriptionStore, MemorySyncLeases};
///
/// let installations = Arc::new(MemoryInstallationStore::new());
/// let parts = StoreParts::new(
///     installations.clone(),
///     Arc::new(MemorySyncLeases::new(installations)),
///     Arc::new(MemorySubscriptionStore::default()),
/// );
/// let sb = switchboard::Switchboard::builder()
///     .store(parts)
///     .connector(switchboard_microsoft365::connector().unwrap())
///     .build()
///     .unwrap();
/// # let _ = sb;
/// ```
#[derive(Clone)]
pub struct StoreParts {
    installations: Arc<dyn InstallationStore>,
    sync_leases: Arc<dyn SyncLeases>,
    subscriptions: Arc<dyn SubscriptionStore>,
    limits: Option<Arc<dyn LimitStore>>,
}

impl fmt::Debug for StoreParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreParts")
            .field("installations", &self.installations)
            .field("sync_leases", &self.sync_leases)
            .field("subscriptions", &self.subscriptions)
            .field("limits", &self.limits)
            .finish()
    }
}

impl StoreParts {
    /// The parts, each shared.
    pub fn new(
        installations: Arc<dyn InstallationStore>,
        sync_leases: Arc<dyn SyncLeases>,
        subscriptions: Arc<dyn SubscriptionStore>,
    ) -> StoreParts {
        StoreParts {
            installations,
            sync_leases,
            subscriptions,
            limits: None,
        }
    }

    /// Share the request governor's limits with every node using this
    /// store (a [`switchboard_store::Store`] does so by itself). Without
    /// it, each process keeps the limits alone.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchboard::store::StoreParts;
    /// use switchboard_core::governor::MemoryLimitStore;
    /// use switchboard_installations::install::MemoryInstallationStore;
    /// use switchboard_sync::{MemorySubscriptionStore, MemorySyncLeases};
    ///
    /// let installations = Arc::new(MemoryInstallationStore::new());
    /// let parts = StoreParts::new(
    ///     installations.clone(),
    ///     Arc::new(MemorySyncLeases::new(installations)),
    ///     Arc::new(MemorySubscriptionStore::default()),
    /// )
    /// .with_limits(Arc::new(MemoryLimitStore::default()));
    /// assert!(parts.limits().is_some());
    /// ```
    pub fn with_limits(mut self, limits: Arc<dyn LimitStore>) -> StoreParts {
        self.limits = Some(limits);
        self
    }

    /// Installations and their secrets.
    pub fn installations(&self) -> &Arc<dyn InstallationStore> {
        &self.installations
    }

    /// The sync leases.
    pub fn sync_leases(&self) -> &Arc<dyn SyncLeases> {
        &self.sync_leases
    }

    /// The subscription records.
    pub fn subscriptions(&self) -> &Arc<dyn SubscriptionStore> {
        &self.subscriptions
    }

    /// Where the nodes share request limits, if they do.
    pub fn limits(&self) -> Option<&Arc<dyn LimitStore>> {
        self.limits.as_ref()
    }
}

/// A store a [`Switchboard`](crate::Switchboard) can be built on:
/// `switchboard_store::Store` (SQLite or PostgreSQL, shared by every node),
/// the in-memory store for tests and single processes, or [`StoreParts`].
pub trait SwitchboardStore {
    /// The parts, shared.
    fn into_parts(self) -> StoreParts;
}

impl SwitchboardStore for StoreParts {
    fn into_parts(self) -> StoreParts {
        self
    }
}

impl SwitchboardStore for switchboard_store::Store {
    fn into_parts(self) -> StoreParts {
        let store = Arc::new(self);
        StoreParts::new(store.clone(), store.clone(), store.clone()).with_limits(store)
    }
}

/// In memory, leases hold within this process only: one process, or tests.
impl SwitchboardStore for MemoryInstallationStore {
    fn into_parts(self) -> StoreParts {
        let store: Arc<dyn InstallationStore> = Arc::new(self);
        StoreParts::new(
            store.clone(),
            Arc::new(MemorySyncLeases::new(store.clone())),
            Arc::new(MemorySubscriptionStore::default()),
        )
    }
}
