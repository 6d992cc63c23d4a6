//! The pipeline's *admit* stage: a request waits for the [`Governor`]'s
//! permits on every limit key it falls under before it is sent, and a 429
//! with `Retry-After` holds those keys.
//!
//! Which limits govern a method is worked out once, when the engine is
//! built ([`PreparedLimit`]); a method no limit governs passes this stage
//! without a lock or an allocation.
//!
//! A key names the connector, the limit, the app and what the limit is
//! kept per: `microsoft365/outlook_mailbox/APP/mailbox/adele@contoso.com`.
//! The app is the installation context's [`InstallationContext::limit_app`]
//! (the connector id unless the platform names its app registration); a
//! mailbox or drive is the value of the limit's `resource_parameter`
//! argument, lower-cased, or the installation itself when the call does not
//! give it (a delegated call on `/me`).

use std::sync::Arc;
use std::time::Duration;

use crate::arguments::Arguments;
use crate::definition::ConnectorDefinition;
use crate::definition::limits::{LimitDefinition, LimitScope};
use crate::error::Result;
use crate::governor::{Demand, Governor, Permit, Rules};

use super::context::InstallationContext;
use super::limit_key::{CallKeys, GovernedKey, InstallationKey, LimitKey};

/// A limit that governs a method: its index in the definition and rules.
#[derive(Debug, Clone)]
pub(crate) struct PreparedLimit {
    index: usize,
    rules: Rules,
}

/// The limits of `def` that govern method `method`.
pub(crate) fn prepare_limits(
    def: &ConnectorDefinition,
    method: &crate::definition::MethodDefinition,
) -> Box<[PreparedLimit]> {
    def.limits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.keeps_anything() && l.governs(&method.category, &method.limits))
        .map(|(index, l)| PreparedLimit {
            index,
            rules: Rules::from_definition(l),
        })
        .collect()
}

/// The keys of a call: `None` when no limit governs the method.
///
/// Keys of limits kept per app or tenant come from the installation
/// context, built on its first call ([`InstallationKeys`]); a mailbox or
/// drive key is built here. One key is kept without allocating; several
/// are sorted by name, one order for every call, so two calls never wait
/// on each other's keys.
pub(crate) fn keys_of(
    def: &ConnectorDefinition,
    limits: &[PreparedLimit],
    ctx: &InstallationContext,
    args: &Arguments,
) -> Option<CallKeys> {
    let key = |prepared: &PreparedLimit| -> Option<GovernedKey> {
        let limit = def.limits.get(prepared.index)?;
        if installation_wide(limit.scope) {
            let shared = ctx.limit_keys().get_or_init(|| installation_keys(def, ctx));
            if let Some(Some(kept)) = shared.get(prepared.index)
                && kept.limit_id == limit.id
                && kept.key.rules == prepared.rules
            {
                return Some(Arc::clone(&kept.key));
            }
        }
        Some(LimitKey::new(
            key_for(def, limit, ctx, args),
            prepared.rules,
            limit.scope,
        ))
    };
    match limits {
        [] => None,
        [one] => key(one).map(CallKeys::One),
        many => {
            let mut keys: Vec<GovernedKey> = many.iter().filter_map(key).collect();
            keys.sort_by(|a, b| a.key.cmp(&b.key));
            keys.dedup_by(|a, b| a.key == b.key);
            Some(CallKeys::Many(keys.into()))
        }
    }
}

/// Whether a limit's key depends on the installation alone.
fn installation_wide(scope: LimitScope) -> bool {
    matches!(scope, LimitScope::App | LimitScope::Tenant)
}

/// The keys of `ctx` for the limits of `def` kept per app or tenant, by
/// the limit's index.
fn installation_keys(
    def: &ConnectorDefinition,
    ctx: &InstallationContext,
) -> Box<[Option<InstallationKey>]> {
    let no_args = Arguments::new();
    def.limits
        .iter()
        .map(|limit| {
            installation_wide(limit.scope).then(|| InstallationKey {
                limit_id: limit.id.clone(),
                key: LimitKey::new(
                    key_for(def, limit, ctx, &no_args),
                    Rules::from_definition(limit),
                    limit.scope,
                ),
            })
        })
        .collect()
}

fn key_for(
    def: &ConnectorDefinition,
    limit: &LimitDefinition,
    ctx: &InstallationContext,
    args: &Arguments,
) -> String {
    let own = || format!("installation:{}", ctx.installation_id());
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    };
    let resource = match limit.scope {
        LimitScope::App => String::new(),
        LimitScope::Tenant => ctx
            .settings()
            .get("tenant_id")
            .map(text)
            .unwrap_or_else(own),
        _ => limit
            .resource_parameter
            .as_deref()
            .and_then(|name| args.get(name))
            .filter(|v| !v.is_null())
            .map(text)
            .unwrap_or_else(own),
    };
    format!(
        "{}/{}/{}/{}/{}",
        def.id,
        limit.id,
        ctx.limit_app().unwrap_or(&def.id),
        limit.scope.as_str(),
        resource
    )
}

/// The permits a request holds while it is in flight (none when no limit
/// governs it; one, the common case, without allocating).
#[derive(Debug, Default)]
pub(crate) struct Permits {
    _first: Option<Permit>,
    _rest: Vec<Permit>,
}

impl Permits {
    fn push(&mut self, permit: Permit) {
        if self._first.is_none() {
            self._first = Some(permit);
        } else {
            self._rest.push(permit);
        }
    }
}

/// A permit on every key, in key order: at once when every key has room
/// (the common case: no wait's state is built), else by waiting, in a
/// boxed future only a call that waits builds.
pub(crate) async fn admit(
    governor: &Governor,
    keys: Option<&CallKeys>,
    ctx: &InstallationContext,
    upload_bytes: u64,
) -> Result<Permits> {
    let mut permits = Permits::default();
    let demand = Demand::request(upload_bytes);
    let keys = keys.map_or(&[][..], CallKeys::as_slice);
    for (at, key) in keys.iter().enumerate() {
        match key.admit_now(governor, demand) {
            Some(permit) => permits.push(permit),
            None => {
                let waiting = admit_waiting(governor, key, &keys[at + 1..], ctx, demand, permits);
                return Box::pin(waiting).await;
            }
        }
    }
    Ok(permits)
}

/// The rest of [`admit`]: wait on `waiting`, the first key without room,
/// then take a permit on each of the `rest`, waiting where one has none.
async fn admit_waiting(
    governor: &Governor,
    waiting: &GovernedKey,
    rest: &[GovernedKey],
    ctx: &InstallationContext,
    demand: Demand,
    mut permits: Permits,
) -> Result<Permits> {
    let installation = ctx.installation_text();
    permits.push(waiting.admit(governor, installation, demand).await?);
    for key in rest {
        let permit = match key.admit_now(governor, demand) {
            Some(permit) => permit,
            None => key.admit(governor, installation, demand).await?,
        };
        permits.push(permit);
    }
    Ok(permits)
}

/// How narrow a scope is: a mailbox or drive, then a tenant, then the app.
fn breadth(scope: LimitScope) -> u8 {
    match scope {
        LimitScope::Tenant => 1,
        LimitScope::App => 2,
        _ => 0,
    }
}

/// The service refused the request with a wait: hold its narrowest keys.
///
/// A 429 does not say reliably which limit refused it, and holding a
/// broad key would stop every call of the app (every mailbox, every
/// tenant) for one mailbox's refusal. So only the keys of the narrowest
/// scope the request falls under are held: its mailbox's when it has one.
pub(crate) async fn hold(governor: &Governor, keys: Option<&CallKeys>, wait: Duration) {
    let keys = keys.map_or(&[][..], CallKeys::as_slice);
    let Some(narrowest) = keys.iter().map(|k| breadth(k.scope)).min() else {
        return;
    };
    for key in keys.iter().filter(|k| breadth(k.scope) == narrowest) {
        if let Err(error) = governor.hold(&key.key, wait).await {
            tracing::warn!(key = %key.key, %error, "governor could not record a hold in the store");
        }
    }
}
