//! `switchboard subscribe <installation> <resource> --notification-url ..`
//! and `switchboard subscriptions <installation>`: change-notification
//! subscriptions made with the resource's maximum lifetime, kept in the
//! store (switchboard-sync's `SubscriptionManager`).

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use switchboard_core::{Error, Result};
use switchboard_installations::install::Installation;
use switchboard_installations::lifecycle::Installations;
use switchboard_microsoft365::subscription_resources::SubscriptionResources;
use switchboard_store::Store;
use switchboard_sync::{
    SubscriptionManager, SubscriptionRecord, SubscriptionStore, SubscriptionTarget, rfc3339,
};

use crate::call::parse_params;
use crate::cli::{Global, SubscribeArgs};
use crate::exit::CliResult;
use crate::output::{emit_one, emit_rows, table};
use crate::service;
use crate::store::StoreLocation;

/// The installations service, the store and a subscription manager over
/// them.
pub(crate) async fn manager(
    global: &Global,
) -> Result<(Installations, Store, SubscriptionManager)> {
    let store = StoreLocation::resolve(global.store.as_deref())?
        .open()
        .await?;
    let service = service::installations(service::engine(global)?, store.clone(), None)?;
    let manager = SubscriptionManager::new(
        service.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
    );
    Ok((service, store, manager))
}

/// A record as printed.
pub(crate) fn as_json(record: &SubscriptionRecord) -> Value {
    json!({
        "id": record.id,
        "installation": record.installation.to_string(),
        "resource": record.target.name,
        "path": record.target.resource,
        "change_types": record.target.change_types,
        "notification_url": record.target.notification_url,
        "expires": rfc3339(record.expires_at).unwrap_or_default(),
        "delta_method": record.target.delta_method,
    })
}

/// The target of `resource` for `inst`, from the connector's
/// `subscription_resources.json`.
fn target(inst: &Installation, args: &SubscribeArgs) -> Result<SubscriptionTarget> {
    let resources = SubscriptionResources::embedded()?;
    let resource = resources.get(&args.resource).ok_or_else(|| {
        Error::invalid_argument(
            "resource",
            format!(
                "must be one of: {}",
                resources
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let params = parse_params(None, &args.params)?;
    let mut values = Vec::new();
    for (name, value) in &params {
        let Some(text) = value.as_str() else {
            return Err(Error::invalid_argument(name, "must be a string"));
        };
        values.push((name.as_str(), text));
    }
    let path = resource.resource_for(&inst.variant, &values)?;
    let mut delta_args = Map::new();
    for (name, value) in params {
        if name == "user_id" && inst.variant != "application" {
            continue;
        }
        delta_args.insert(name, value);
    }
    let mut target = SubscriptionTarget::new(
        resource.id.clone(),
        path,
        resource.change_types.join(","),
        args.notification_url.clone(),
        resource.max_lifetime(),
    )
    .with_delta(resource.delta_method.clone(), delta_args);
    if let Some(url) = &args.lifecycle_url {
        target = target.with_lifecycle_url(url.clone());
    }
    Ok(target)
}

pub async fn subscribe(global: &Global, args: SubscribeArgs) -> CliResult {
    let (_, inst) = service::open_installation(global, &args.installation, None).await?;
    let (service, _, manager) = manager(global).await?;
    let target = target(&inst, &args)?;
    let ctx = match service.context(inst.id).await {
        Ok(ctx) => ctx,
        Err(err) => return Err(service::refused(&service, inst.id, err).await),
    };
    let record = manager.create(&ctx, target).await?;
    emit_one(global.output, &as_json(&record), |r| {
        format!(
            "subscribed: {} ({}), expires {}; renew it with `switchboard notifications serve`",
            r["id"].as_str().unwrap_or(""),
            r["path"].as_str().unwrap_or(""),
            r["expires"].as_str().unwrap_or("")
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

pub async fn list(global: &Global, installation: &str) -> CliResult {
    let (_, inst) = service::open_installation(global, installation, None).await?;
    let (_, store, _) = manager(global).await?;
    let rows: Vec<Value> = store
        .subscriptions_of(inst.id)
        .await?
        .iter()
        .map(as_json)
        .collect();
    emit_rows(global.output, &rows, |rows| {
        table(
            &["id", "resource", "expires", "path"],
            rows.iter()
                .map(|r| {
                    ["id", "resource", "expires", "path"]
                        .iter()
                        .map(|k| r[*k].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .collect(),
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
