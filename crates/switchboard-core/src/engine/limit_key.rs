//! The limit keys a call is governed under, and the ones an installation
//! keeps so it does not build them on every call.
//!
//! A key of a limit kept per app or per tenant depends only on the
//! installation (its app and tenant), so [`InstallationKeys`] builds it
//! once, on the installation context's first governed call, and every
//! later call shares it: no `format!`, no allocation, and the governor's
//! cell found once ([`KeyHandle`]) instead of by name on every admission.
//! Keys of a mailbox or drive depend on the call's arguments and are
//! built per call.

use std::sync::{Arc, OnceLock};

use crate::definition::limits::LimitScope;
use crate::error::Result;
use crate::governor::{Demand, Governor, KeyHandle, Permit, Rules};

use super::once_per_copy::OncePerCopy;

/// One key a call falls under: its name, rules and scope, and its cell in
/// the governor once looked up.
#[derive(Debug)]
pub(crate) struct LimitKey {
    pub(crate) key: String,
    pub(crate) rules: Rules,
    /// What the limit is kept per: a 429 holds the narrowest keys only.
    pub(crate) scope: LimitScope,
    /// The key's cell in the first governor it was admitted by.
    handle: OnceLock<KeyHandle>,
}

/// A shared [`LimitKey`] (cloning is a reference count).
pub(crate) type GovernedKey = Arc<LimitKey>;

impl LimitKey {
    pub(crate) fn new(key: String, rules: Rules, scope: LimitScope) -> GovernedKey {
        Arc::new(LimitKey {
            key,
            rules,
            scope,
            handle: OnceLock::new(),
        })
    }

    /// The governor's permit on this key at once, when nobody waits and
    /// there is room ([`Governor::admit_now`]), its cell found once and
    /// kept.
    pub(crate) fn admit_now(&self, governor: &Governor, demand: Demand) -> Option<Permit> {
        governor.admit_now(self.handle(governor), demand)
    }

    /// Wait for the governor's permit on this key ([`Governor::admit_handle`]),
    /// its cell found once and kept.
    pub(crate) async fn admit(
        &self,
        governor: &Governor,
        installation: &Arc<str>,
        demand: Demand,
    ) -> Result<Permit> {
        governor
            .admit_handle(self.handle(governor), installation, demand)
            .await
    }

    /// The key's cell, looked up in the first governor that admits on it
    /// and kept (another governor looks it up by name itself).
    fn handle(&self, governor: &Governor) -> &KeyHandle {
        self.handle
            .get_or_init(|| governor.handle(&self.key, &self.rules))
    }
}

/// The keys of one call, in the definition's order of its limits (one
/// order for every call of a connector, so two calls never wait on each
/// other's keys). One key, the common case, needs no allocation.
#[derive(Debug, Clone)]
pub(crate) enum CallKeys {
    One(GovernedKey),
    Many(Arc<[GovernedKey]>),
}

impl CallKeys {
    /// The keys.
    pub(crate) fn as_slice(&self) -> &[GovernedKey] {
        match self {
            CallKeys::One(key) => std::slice::from_ref(key),
            CallKeys::Many(keys) => keys,
        }
    }
}

/// The keys an installation's calls share (limits kept per app or per
/// tenant), by the limit's index in the connector definition; built on
/// first use. A context changed after its first call (other settings,
/// another app) starts again empty, so it never keeps keys built from the
/// old settings.
pub(crate) type InstallationKeys = OncePerCopy<Box<[Option<InstallationKey>]>>;

/// A key of the installation and the limit it was built for.
#[derive(Debug)]
pub(crate) struct InstallationKey {
    /// The limit's id, checked on use: a context used with another
    /// version of the definition never takes a key of another limit.
    pub(crate) limit_id: String,
    pub(crate) key: GovernedKey,
}
