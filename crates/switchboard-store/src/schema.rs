//! The database schema, as numbered migrations shared by SQLite and
//! PostgreSQL (the SQL below is valid in both).
//!
//! Each store applies the migrations it has not applied yet, in order, in
//! one transaction that first takes a database-wide lock (SQLite:
//! `BEGIN IMMEDIATE`; PostgreSQL: `pg_advisory_xact_lock`) and records them
//! in `schema_migrations`. Two processes starting together therefore apply
//! each migration exactly once: the second waits for the lock, then sees the
//! migrations recorded. Each version is looked up on its own, so versions
//! may have gaps and a version added later with a smaller number (a
//! branch merged after another) is still applied.
//!
//! ```
//! assert_eq!(switchboard_store::schema::MIGRATIONS[0].version, 1);
//! ```

/// One schema change.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Migration {
    /// Increasing number; recorded in `schema_migrations.version`.
    pub version: i64,
    /// A short name for people.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

/// Creates the migrations table; run before reading it.
pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "installations and refresh locks",
        sql: "
CREATE TABLE installations (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    connector_version TEXT NOT NULL,
    variant TEXT NOT NULL,
    cloud TEXT NOT NULL,
    tenant_id TEXT,
    tenant_key TEXT NOT NULL,
    settings TEXT NOT NULL,
    client TEXT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    client_secret TEXT,
    access_token TEXT,
    access_token_expires_at BIGINT,
    refresh_token TEXT,
    token_tenant_id TEXT,
    granted_scopes TEXT NOT NULL DEFAULT '[]',
    continuations TEXT NOT NULL DEFAULT '{}',
    secrets_version BIGINT NOT NULL,
    secrets_updated_at BIGINT
);
CREATE UNIQUE INDEX installations_live_key
    ON installations (account, connector_id, variant, tenant_key)
    WHERE status <> 'uninstalled';
CREATE INDEX installations_by_account ON installations (account, created_at);
CREATE TABLE refresh_locks (
    installation_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
",
    },
    Migration {
        version: 2,
        name: "master key registry",
        sql: "
CREATE TABLE master_keys (
    key_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
",
    },
    Migration {
        version: 3,
        name: "sync leases",
        sql: "
CREATE TABLE sync_leases (
    installation_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (installation_id, resource)
);
",
    },
    Migration {
        version: 4,
        name: "request governor leases, budget blocks and holds",
        sql: "
CREATE TABLE limit_leases (
    limit_key TEXT NOT NULL,
    node TEXT NOT NULL,
    slots BIGINT NOT NULL,
    wanted BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (limit_key, node)
);
CREATE TABLE limit_blocks (
    limit_key TEXT NOT NULL,
    node TEXT NOT NULL,
    taken_at BIGINT NOT NULL,
    amount BIGINT NOT NULL
);
CREATE INDEX limit_blocks_by_key ON limit_blocks (limit_key, taken_at);
CREATE TABLE limit_holds (
    limit_key TEXT PRIMARY KEY,
    held_until BIGINT NOT NULL
);
",
    },
    // 5 is left to work in parallel; the runner applies each missing
    // version on its own, so a gap is fine.
    Migration {
        version: 6,
        name: "change-notification subscriptions",
        sql: "
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL,
    target TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at);
CREATE INDEX subscriptions_by_installation ON subscriptions (installation_id, expires_at);
",
    },
    Migration {
        version: 7,
        name: "limit rows found by age, for the sweep of keys no longer used",
        sql: "
CREATE INDEX limit_blocks_by_age ON limit_blocks (taken_at);
CREATE INDEX limit_leases_by_expiry ON limit_leases (expires_at);
CREATE INDEX limit_holds_by_expiry ON limit_holds (held_until);
",
    },
];

/// The record columns, in [`crate::row::RecordRow`] order.
pub(crate) const RECORD_COLUMNS: &str = "id, account, connector_id, connector_version, variant, cloud, tenant_id, tenant_key, settings, client, status, last_error, created_at, updated_at, version";

/// The secret columns, in [`crate::row::SecretRow`] order, then the version.
pub(crate) const SECRET_COLUMNS: &str = "client_secret, access_token, access_token_expires_at, refresh_token, token_tenant_id, granted_scopes, continuations, secrets_updated_at, secrets_version";

/// Rows holding at least one encrypted value (SQL valid in both databases).
pub(crate) const HOLDS_ENCRYPTED: &str = "(client_secret IS NOT NULL OR access_token IS NOT NULL OR refresh_token IS NOT NULL OR continuations <> '{}')";

/// The columns [`crate::row::for_each_secret`] reads, in its order.
pub(crate) const ENCRYPTED_COLUMNS: &str =
    "id, client_secret, access_token, refresh_token, continuations";

#[cfg(test)]
mod tests {
    use super::*;

    /// The runners apply each version not yet recorded, whatever came
    /// before: a version merged in later (3, for instance, after 4 ran)
    /// is applied on the next open. They need the versions unique and in
    /// order.
    #[test]
    fn versions_increase_and_names_are_set() {
        for pair in MIGRATIONS.windows(2) {
            assert!(
                pair[0].version < pair[1].version,
                "{} then {}",
                pair[0].version,
                pair[1].version
            );
        }
        assert!(
            MIGRATIONS
                .iter()
                .all(|m| !m.name.is_empty() && !m.sql.trim().is_empty())
        );
    }
}
