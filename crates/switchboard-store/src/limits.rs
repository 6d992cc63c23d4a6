//! The request governor's shares of each limit ([`LimitStore`]) in SQLite
//! and PostgreSQL: leases on concurrency slots, blocks of window budgets
//! and holds, in the tables of migration 4.
//!
//! Each operation is one transaction that first locks the key (SQLite:
//! `BEGIN IMMEDIATE`, the whole file; PostgreSQL: a transaction advisory
//! lock on the key's hash), so two nodes never grant the same slot. Times
//! are the database's own on PostgreSQL (machines' clocks differ) and the
//! machine's on SQLite (every process is on one machine); times handed
//! back are turned into waits from now, so a node's clock does not matter.
//!
//! Leases are soft state: a node renews each busy key's lease every tick,
//! and a lease lost in a crash is what an expired lease is. So on SQLite a
//! lease commits without waiting for the disk (`synchronous=NORMAL` for
//! that transaction; WAL keeps the file consistent, and the next `FULL`
//! commit makes it durable), where everything else the store writes waits
//! for it (`FULL`). Measured with 20 busy keys on a loaded machine, an
//! fsync per lease made two processes 17 times slower than on tmpfs
//! (docs/benchmarks.md). Blocks of budgets and holds, written once per
//! hundred requests or per 429, stay `FULL`.
//!
//! Rows of keys no longer used are swept now and then by each store
//! instance (the `limit_sweep` module): a block older than the longest
//! window, an expired lease, a past hold. So the tables hold what the keys
//! in use need, not a row for every mailbox ever called.
//!
//! ```
//! use std::time::Duration;
//! use switchboard_core::governor::store::{LeaseRequest, LimitStore};
//! use switchboard_store::{KeyRing, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let spec = format!("sqlite:{}", dir.path().join("store.db").display());
//! let store = Store::open(&spec, KeyRing::generate("k1").unwrap()).await.unwrap();
//! let lease = |node: &str| LeaseRequest {
//!     key: "app/mailbox/adele".into(), node: node.into(), want: 4, cap: 4,
//!     ttl: Duration::from_secs(10),
//! };
//! assert_eq!(store.lease(&lease("a")).await.unwrap().slots, 4);
//! assert_eq!(store.lease(&lease("b")).await.unwrap().slots, 0);
//! # });
//! ```

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use switchboard_core::Result;
use switchboard_core::governor::store::{
    LeaseGrant, LeaseRequest, LimitStore, TakeGrant, TakeRequest, duration_millis, grant_slots,
    to_millis,
};

use crate::limit_sweep as sweep;
use crate::{PostgresStore, SqliteStore, Store};

/// A time `ms` after `now` (both in the store's clock) as a wall-clock time
/// on this machine.
fn from_now(now: i64, at: i64) -> SystemTime {
    let ahead = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
    switchboard_core::bounds::later(SystemTime::now(), Duration::from_millis(ahead))
}

/// Clamp a count the store read back into a `u32`.
fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Amounts are kept as BIGINT: at most `i64::MAX`.
fn amount(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl LimitStore for SqliteStore {
    async fn lease(&self, request: &LeaseRequest) -> Result<LeaseGrant> {
        let path = self.path().to_path_buf();
        let request = request.clone();
        let leased = self
            .with_conn(move |conn, _| {
                let err = |e: rusqlite::Error| crate::sqlite::storage(&path, e);
                conn.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(err)?;
                let leased = sqlite_lease(conn, &request, &err);
                // back to FULL for every other write, whatever the lease did
                conn.pragma_update(None, "synchronous", "FULL")
                    .map_err(err)?;
                leased
            })
            .await;
        self.sweep_limits().await;
        leased
    }

    async fn take(&self, request: &TakeRequest) -> Result<TakeGrant> {
        let path = self.path().to_path_buf();
        let request = request.clone();
        let taken = self.with_conn(move |conn, _| {
            let err = |e: rusqlite::Error| crate::sqlite::storage(&path, e);
            let now = to_millis(SystemTime::now());
            let window = duration_millis(request.window);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            tx.execute(
                "DELETE FROM limit_blocks WHERE limit_key = ?1 AND taken_at <= ?2",
                params![request.key, now.saturating_sub(window)],
            )
            .map_err(err)?;
            let (used, oldest): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT COALESCE(SUM(amount), 0), MIN(taken_at) FROM limit_blocks WHERE limit_key = ?1",
                    params![request.key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err)?;
            let room = amount(request.limit).saturating_sub(used).max(0);
            let granted = amount(request.amount).min(room);
            if granted > 0 {
                tx.execute(
                    "INSERT INTO limit_blocks (limit_key, node, taken_at, amount) VALUES (?1, ?2, ?3, ?4)",
                    params![request.key, request.node, now, granted],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
            Ok(take_grant(now, window, granted, request.amount, oldest))
        })
        .await;
        self.sweep_limits().await;
        taken
    }

    async fn hold(&self, key: &str, until: SystemTime) -> Result<()> {
        let path = self.path().to_path_buf();
        let key = key.to_string();
        let held = self
            .with_conn(move |conn, _| {
                conn.execute(HOLD_SQL_SQLITE, params![key, to_millis(until)])
                    .map_err(|e| crate::sqlite::storage(&path, e))?;
                Ok(())
            })
            .await;
        self.sweep_limits().await;
        held
    }
}

impl SqliteStore {
    /// Sweep the limit tables when a sweep is due (see the `limit_sweep`
    /// module). A failed sweep is logged; the next one tries again.
    async fn sweep_limits(&self) {
        if !self.sweep.claim() {
            return;
        }
        let path = self.path().to_path_buf();
        let swept = self
            .with_conn(move |conn, _| {
                let err = |e: rusqlite::Error| crate::sqlite::storage(&path, e);
                let now = to_millis(SystemTime::now());
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(err)?;
                let mut deleted = [0; 3];
                for (n, sql) in deleted
                    .iter_mut()
                    .zip(sweep::statements("rowid", "?1", "?2", ""))
                {
                    *n = tx
                        .execute(&sql, params![now, sweep::SWEEP_BATCH])
                        .map_err(err)?;
                }
                tx.commit().map_err(err)?;
                Ok(deleted)
            })
            .await;
        self.sweep.finish(swept);
    }
}

/// One lease on SQLite: the grant rule in one `BEGIN IMMEDIATE` transaction.
fn sqlite_lease(
    conn: &mut rusqlite::Connection,
    request: &LeaseRequest,
    err: &dyn Fn(rusqlite::Error) -> switchboard_core::Error,
) -> Result<LeaseGrant> {
    let now = to_millis(SystemTime::now());
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute(
        "DELETE FROM limit_leases WHERE limit_key = ?1 AND expires_at <= ?2",
        params![request.key, now],
    )
    .map_err(err)?;
    let others: Vec<(u32, u32)> = {
        let mut stmt = tx
            .prepare("SELECT slots, wanted FROM limit_leases WHERE limit_key = ?1 AND node <> ?2")
            .map_err(err)?;
        stmt.query_map(params![request.key, request.node], |r| {
            Ok((count(r.get(0)?), count(r.get(1)?)))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(err)?
    };
    let mut grant = grant_slots(request.want, request.cap, &others);
    if request.want == 0 {
        tx.execute(
            "DELETE FROM limit_leases WHERE limit_key = ?1 AND node = ?2",
            params![request.key, request.node],
        )
        .map_err(err)?;
    } else {
        tx.execute(
            "INSERT INTO limit_leases (limit_key, node, slots, wanted, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (limit_key, node) DO UPDATE SET slots = excluded.slots, wanted = excluded.wanted, expires_at = excluded.expires_at",
            params![
                request.key,
                request.node,
                grant.slots,
                request.want,
                now.saturating_add(duration_millis(request.ttl))
            ],
        )
        .map_err(err)?;
    }
    let held: Option<i64> = tx
        .query_row(
            "SELECT held_until FROM limit_holds WHERE limit_key = ?1 AND held_until > ?2",
            params![request.key, now],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    tx.commit().map_err(err)?;
    grant.held_until = held.map(|at| from_now(now, at));
    Ok(grant)
}

/// Keep the later of two holds (valid in SQLite; PostgreSQL's is below).
const HOLD_SQL_SQLITE: &str = "INSERT INTO limit_holds (limit_key, held_until) VALUES (?1, ?2)
     ON CONFLICT (limit_key) DO UPDATE SET held_until = CASE WHEN excluded.held_until > limit_holds.held_until THEN excluded.held_until ELSE limit_holds.held_until END";

fn take_grant(now: i64, window: i64, granted: i64, asked: u64, oldest: Option<i64>) -> TakeGrant {
    let granted = u64::try_from(granted).unwrap_or(0);
    let retry_at = (granted < asked).then(|| {
        // the oldest block leaves the window first (a block taken now, if none)
        from_now(now, oldest.unwrap_or(now).saturating_add(window))
    });
    TakeGrant { granted, retry_at }
}

/// The advisory lock of a key: its hash, in the `swbd` lock space.
const KEY_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 17))";

/// Lock `key` for the rest of the transaction; the database's time now.
async fn lock_key(tx: &deadpool_postgres::Transaction<'_>, key: &str) -> Result<i64> {
    use crate::postgres::storage;
    tx.execute(KEY_LOCK_SQL, &[&key]).await.map_err(storage)?;
    Ok(tx
        .query_one(&format!("SELECT {}", crate::postgres::DB_NOW_MS), &[])
        .await
        .map_err(storage)?
        .get(0))
}

#[async_trait]
impl LimitStore for PostgresStore {
    async fn lease(&self, request: &LeaseRequest) -> Result<LeaseGrant> {
        let leased = self.lease_slots(request).await;
        self.sweep_limits().await;
        leased
    }

    async fn take(&self, request: &TakeRequest) -> Result<TakeGrant> {
        let taken = self.take_block(request).await;
        self.sweep_limits().await;
        taken
    }

    async fn hold(&self, key: &str, until: SystemTime) -> Result<()> {
        let held = self.hold_until(key, until).await;
        self.sweep_limits().await;
        held
    }
}

impl PostgresStore {
    /// [`LimitStore::lease`] before the sweep.
    async fn lease_slots(&self, request: &LeaseRequest) -> Result<LeaseGrant> {
        use crate::postgres::storage;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        let now = lock_key(&tx, &request.key).await?;
        tx.execute(
            "DELETE FROM limit_leases WHERE limit_key = $1 AND expires_at <= $2",
            &[&request.key, &now],
        )
        .await
        .map_err(storage)?;
        let others: Vec<(u32, u32)> = tx
            .query(
                "SELECT slots, wanted FROM limit_leases WHERE limit_key = $1 AND node <> $2",
                &[&request.key, &request.node],
            )
            .await
            .map_err(storage)?
            .iter()
            .map(|r| (count(r.get(0)), count(r.get(1))))
            .collect();
        let mut grant = grant_slots(request.want, request.cap, &others);
        if request.want == 0 {
            tx.execute(
                "DELETE FROM limit_leases WHERE limit_key = $1 AND node = $2",
                &[&request.key, &request.node],
            )
            .await
            .map_err(storage)?;
        } else {
            tx.execute(
                "INSERT INTO limit_leases (limit_key, node, slots, wanted, expires_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (limit_key, node) DO UPDATE SET slots = EXCLUDED.slots, wanted = EXCLUDED.wanted, expires_at = EXCLUDED.expires_at",
                &[
                    &request.key,
                    &request.node,
                    &i64::from(grant.slots),
                    &i64::from(request.want),
                    &now.saturating_add(duration_millis(request.ttl)),
                ],
            )
            .await
            .map_err(storage)?;
        }
        let held: Option<i64> = tx
            .query_opt(
                "SELECT held_until FROM limit_holds WHERE limit_key = $1 AND held_until > $2",
                &[&request.key, &now],
            )
            .await
            .map_err(storage)?
            .map(|r| r.get(0));
        tx.commit().await.map_err(storage)?;
        grant.held_until = held.map(|at| from_now(now, at));
        Ok(grant)
    }

    /// [`LimitStore::take`] before the sweep.
    async fn take_block(&self, request: &TakeRequest) -> Result<TakeGrant> {
        use crate::postgres::storage;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        let now = lock_key(&tx, &request.key).await?;
        let window = duration_millis(request.window);
        tx.execute(
            "DELETE FROM limit_blocks WHERE limit_key = $1 AND taken_at <= $2",
            &[&request.key, &now.saturating_sub(window)],
        )
        .await
        .map_err(storage)?;
        let row = tx
            .query_one(
                "SELECT COALESCE(SUM(amount), 0)::BIGINT, MIN(taken_at) FROM limit_blocks WHERE limit_key = $1",
                &[&request.key],
            )
            .await
            .map_err(storage)?;
        let (used, oldest): (i64, Option<i64>) = (row.get(0), row.get(1));
        let room = amount(request.limit).saturating_sub(used).max(0);
        let granted = amount(request.amount).min(room);
        if granted > 0 {
            tx.execute(
                "INSERT INTO limit_blocks (limit_key, node, taken_at, amount) VALUES ($1, $2, $3, $4)",
                &[&request.key, &request.node, &now, &granted],
            )
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(take_grant(now, window, granted, request.amount, oldest))
    }

    /// [`LimitStore::hold`] before the sweep.
    async fn hold_until(&self, key: &str, until: SystemTime) -> Result<()> {
        use crate::postgres::storage;
        // the wait from now, in the database's clock
        let wait = duration_millis(until.duration_since(SystemTime::now()).unwrap_or_default());
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO limit_holds (limit_key, held_until) VALUES ($1, {now} + $2)
                     ON CONFLICT (limit_key) DO UPDATE SET held_until = GREATEST(limit_holds.held_until, EXCLUDED.held_until)",
                    now = crate::postgres::DB_NOW_MS
                ),
                &[&key, &wait],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// Sweep the limit tables when a sweep is due (see the `limit_sweep` module),
    /// skipping rows a key's own transaction holds. A failed sweep is
    /// logged; the next one tries again.
    async fn sweep_limits(&self) {
        if !self.sweep.claim() {
            return;
        }
        let swept = async {
            use crate::postgres::storage;
            let client = self.client().await?;
            let mut deleted = [0; 3];
            let statements = sweep::statements(
                "ctid",
                crate::postgres::DB_NOW_MS,
                "$1",
                " FOR UPDATE SKIP LOCKED",
            );
            for (n, sql) in deleted.iter_mut().zip(statements) {
                let rows = client
                    .execute(&sql, &[&sweep::SWEEP_BATCH])
                    .await
                    .map_err(storage)?;
                *n = usize::try_from(rows).unwrap_or(usize::MAX);
            }
            Ok(deleted)
        }
        .await;
        self.sweep.finish(swept);
    }
}

#[async_trait]
impl LimitStore for Store {
    async fn lease(&self, request: &LeaseRequest) -> Result<LeaseGrant> {
        match self {
            Store::Sqlite(s) => s.lease(request).await,
            Store::Postgres(s) => s.lease(request).await,
        }
    }

    async fn take(&self, request: &TakeRequest) -> Result<TakeGrant> {
        match self {
            Store::Sqlite(s) => s.take(request).await,
            Store::Postgres(s) => s.take(request).await,
        }
    }

    async fn hold(&self, key: &str, until: SystemTime) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.hold(key, until).await,
            Store::Postgres(s) => s.hold(key, until).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_leaves_the_writer_waiting_for_the_disk_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            dir.path().join("s.db"),
            crate::KeyRing::generate("k1").unwrap(),
        )
        .await
        .unwrap();
        let synchronous = || {
            store.with_conn(|conn, _| {
                Ok(conn
                    .pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))
                    .unwrap())
            })
        };
        assert_eq!(synchronous().await.unwrap(), 2, "FULL");
        let request = LeaseRequest {
            key: "k".into(),
            node: "a".into(),
            want: 2,
            cap: 4,
            ttl: Duration::from_secs(10),
        };
        assert_eq!(store.lease(&request).await.unwrap().slots, 2);
        assert_eq!(
            synchronous().await.unwrap(),
            2,
            "FULL again after the lease"
        );
    }
}
