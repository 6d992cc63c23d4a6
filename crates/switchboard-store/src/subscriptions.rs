//! Change-notification subscription records (`switchboard_sync::SubscriptionStore`)
//! in the `subscriptions` table (migration 6) of both databases. Nothing
//! here is secret: each subscription's `clientState` is kept with its
//! installation's encrypted secrets.

use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::{Error, ErrorKind, InstallationId, Result};
use switchboard_sync::{SubscriptionRecord, SubscriptionStore, SubscriptionTarget};

use crate::Store;
use crate::postgres::{self, PostgresStore};
use crate::row::{from_millis, to_millis};
use crate::sqlite::{self, SqliteStore};

const COLUMNS: &str = "id, installation_id, target, expires_at";

/// A row as read: (id, installation id, target JSON, expires_at ms).
type Row = (String, String, String, i64);

fn record((id, installation, target, expires_at): Row) -> Result<SubscriptionRecord> {
    let installation: InstallationId = installation.parse().map_err(|_| corrupt(&id))?;
    let target: SubscriptionTarget = serde_json::from_str(&target).map_err(|_| corrupt(&id))?;
    Ok(SubscriptionRecord::new(
        id,
        installation,
        target,
        from_millis(expires_at),
    ))
}

fn corrupt(id: &str) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("the stored subscription `{id}` cannot be read; delete it and subscribe again"),
    )
}

fn target_json(record: &SubscriptionRecord) -> Result<String> {
    serde_json::to_string(&record.target).map_err(|e| {
        Error::new(ErrorKind::Decode, "a subscription could not be written").with_source(e)
    })
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()> {
        let path = self.path.clone();
        let (id, installation) = (record.id.clone(), record.installation.to_string());
        let (target, expires) = (target_json(record)?, to_millis(record.expires_at));
        self.with_conn(move |conn, _| {
            conn.execute(
                "INSERT INTO subscriptions (id, installation_id, target, expires_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET installation_id = excluded.installation_id,
                     target = excluded.target, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                rusqlite::params![id, installation, target, expires, to_millis(SystemTime::now())],
            )
            .map_err(|e| sqlite::storage(&path, e))?;
            Ok(())
        })
        .await
    }

    async fn get_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>> {
        let rows = self
            .sqlite_rows(
                format!("SELECT {COLUMNS} FROM subscriptions WHERE id = ?1"),
                vec![id.to_string().into()],
            )
            .await?;
        rows.into_iter().next().map(record).transpose()
    }

    async fn subscriptions_of(
        &self,
        installation: InstallationId,
    ) -> Result<Vec<SubscriptionRecord>> {
        self.sqlite_rows(
            format!("SELECT {COLUMNS} FROM subscriptions WHERE installation_id = ?1 ORDER BY expires_at, id"),
            vec![installation.to_string().into()],
        )
        .await?
        .into_iter()
        .map(record)
        .collect()
    }

    async fn subscriptions_expiring(
        &self,
        before: SystemTime,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>> {
        self.sqlite_rows(
            format!("SELECT {COLUMNS} FROM subscriptions WHERE expires_at < ?1 ORDER BY expires_at, id LIMIT ?2"),
            vec![to_millis(before).into(), limit_of(limit).into()],
        )
        .await?
        .into_iter()
        .map(record)
        .collect()
    }

    async fn delete_subscription(&self, id: &str) -> Result<()> {
        let path = self.path.clone();
        let id = id.to_string();
        self.with_conn(move |conn, _| {
            conn.execute("DELETE FROM subscriptions WHERE id = ?1", [id])
                .map_err(|e| sqlite::storage(&path, e))?;
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    async fn sqlite_rows(
        &self,
        sql: String,
        params: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<Row>> {
        let path = self.path.clone();
        self.with_conn(move |conn, _| {
            let mut statement = conn.prepare(&sql).map_err(|e| sqlite::storage(&path, e))?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(|e| sqlite::storage(&path, e))?;
            rows.collect::<std::result::Result<Vec<Row>, _>>()
                .map_err(|e| sqlite::storage(&path, e))
        })
        .await
    }
}

#[async_trait]
impl SubscriptionStore for PostgresStore {
    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO subscriptions (id, installation_id, target, expires_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET installation_id = EXCLUDED.installation_id,
                     target = EXCLUDED.target, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at",
                &[
                    &record.id,
                    &record.installation.to_string(),
                    &target_json(record)?,
                    &to_millis(record.expires_at),
                    &to_millis(SystemTime::now()),
                ],
            )
            .await
            .map_err(postgres::storage)?;
        Ok(())
    }

    async fn get_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(postgres::storage)?;
        row.map(|r| record((r.get(0), r.get(1), r.get(2), r.get(3))))
            .transpose()
    }

    async fn subscriptions_of(
        &self,
        installation: InstallationId,
    ) -> Result<Vec<SubscriptionRecord>> {
        let client = self.client().await?;
        client
            .query(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE installation_id = $1 ORDER BY expires_at, id"),
                &[&installation.to_string()],
            )
            .await
            .map_err(postgres::storage)?
            .into_iter()
            .map(|r| record((r.get(0), r.get(1), r.get(2), r.get(3))))
            .collect()
    }

    async fn subscriptions_expiring(
        &self,
        before: SystemTime,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>> {
        let client = self.client().await?;
        client
            .query(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE expires_at < $1 ORDER BY expires_at, id LIMIT $2"),
                &[&to_millis(before), &limit_of(limit)],
            )
            .await
            .map_err(postgres::storage)?
            .into_iter()
            .map(|r| record((r.get(0), r.get(1), r.get(2), r.get(3))))
            .collect()
    }

    async fn delete_subscription(&self, id: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM subscriptions WHERE id = $1", &[&id])
            .await
            .map_err(postgres::storage)?;
        Ok(())
    }
}

#[async_trait]
impl SubscriptionStore for Store {
    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.put_subscription(record).await,
            Store::Postgres(s) => s.put_subscription(record).await,
        }
    }

    async fn get_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>> {
        match self {
            Store::Sqlite(s) => s.get_subscription(id).await,
            Store::Postgres(s) => s.get_subscription(id).await,
        }
    }

    async fn subscriptions_of(
        &self,
        installation: InstallationId,
    ) -> Result<Vec<SubscriptionRecord>> {
        match self {
            Store::Sqlite(s) => s.subscriptions_of(installation).await,
            Store::Postgres(s) => s.subscriptions_of(installation).await,
        }
    }

    async fn subscriptions_expiring(
        &self,
        before: SystemTime,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>> {
        match self {
            Store::Sqlite(s) => s.subscriptions_expiring(before, limit).await,
            Store::Postgres(s) => s.subscriptions_expiring(before, limit).await,
        }
    }

    async fn delete_subscription(&self, id: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.delete_subscription(id).await,
            Store::Postgres(s) => s.delete_subscription(id).await,
        }
    }
}
