//! The PostgreSQL server the `postgres_*` tests use.
//!
//! Every test that needs PostgreSQL has a name (or module) starting with
//! `postgres_`. `scripts/test.sh` runs them as their own stage when
//! `SWITCHBOARD_TEST_DATABASE_URL` is set and reports that stage as skipped
//! when it is not; run on their own without the URL they fail, saying so,
//! rather than pass without having run.

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
