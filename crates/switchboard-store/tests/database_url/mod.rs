//! The PostgreSQL server the `postgres_*` tests use.
//!
//! Every test that needs PostgreSQL has a name (or module) starting with
//! `postgres_`, and those that also need its TLS listener (with the test CA
//! of `scripts/postgres-ci.sh`) with `postgres_tls_`. `scripts/test.sh`
//! runs each group as its own stage when its variable is set and reports
//! the stage as skipped when it is not; run on their own without the
//! variable they fail, saying so, rather than pass without having run.

/// The variable naming the test database.
pub const URL_ENV: &str = "SWITCHBOARD_TEST_DATABASE_URL";

/// The test database's URL; panics with what to do when it is not set.
pub fn required() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_ENV} is not set: this test needs PostgreSQL \
             (eval \"$(bash scripts/postgres-ci.sh)\" starts a throwaway server and sets it); \
             scripts/test.sh leaves the postgres_ tests out without it and reports them skipped"
        ),
    }
}

/// The variable naming the test database through TLS (`localhost`,
/// `sslmode=verify-full`, the test CA).
pub const TLS_URL_ENV: &str = "SWITCHBOARD_TEST_DATABASE_TLS_URL";

/// The test database's TLS URL; panics with what to do when it is not set.
#[allow(dead_code)] // shared_refresh.rs has no TLS tests
pub fn required_tls() -> String {
    match std::env::var(TLS_URL_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{TLS_URL_ENV} is not set: this test needs PostgreSQL with TLS \
             (eval \"$(bash scripts/postgres-ci.sh)\" starts one and sets it); \
             scripts/test.sh leaves the postgres_tls_ tests out without it and reports them skipped"
        ),
    }
}
