//! A small pool of read-only SQLite connections, so readers of the embedded
//! store do not wait for each other (nor for a writer: the file is in WAL
//! mode, where a reader sees the last committed snapshot while a write is
//! under way).
//!
//! The pool holds at most `size` connections, opened when first needed and
//! kept. A caller first waits (asynchronously, holding no thread) for one of
//! `size` permits, then takes an idle connection or opens one, runs its
//! query on a blocking thread and hands the connection back. Each connection
//! is opened `SQLITE_OPEN_READ_ONLY` with `query_only=ON`: a bug that sent a
//! write here fails instead of writing outside the writer's transactions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// Read-only connections to one SQLite file, at most `size` of them.
pub(crate) struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// A pool of at most `size` (at least 1) read-only connections to `path`.
    pub(crate) fn new(path: &Path, size: usize, busy_timeout: Duration) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        ReadPool {
            path: path.to_path_buf(),
            busy_timeout,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "query_only", "ON")?;
        Ok(conn)
    }

    /// Run `f` on a read-only connection on a blocking thread. `Err(message)`
    /// when no connection could be opened or the blocking task failed.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let conn = match taken {
                Some(conn) => conn,
                None => pool.open().map_err(|e| e.to_string())?,
            };
            let out = f(&conn);
            pool.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn store_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('a');",
            )
            .unwrap();
        (dir, path)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_readers_run_at_the_same_time() {
        let (_dir, path) = store_file();
        let pool = Arc::new(ReadPool::new(&path, 2, Duration::from_secs(5)));
        let (to_b, from_a) = mpsc::channel::<()>();
        let (to_a, from_b) = mpsc::channel::<()>();
        // each reader waits inside its query for the other to have started:
        // a pool that ran one reader at a time would never let them meet
        let meet = |tx: mpsc::Sender<()>, rx: mpsc::Receiver<()>| {
            move |conn: &Connection| {
                let v: String = conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
                tx.send(()).unwrap();
                let met = rx.recv_timeout(Duration::from_secs(30)).is_ok();
                (v, met)
            }
        };
        let (a, b) = tokio::join!(pool.run(meet(to_b, from_b)), pool.run(meet(to_a, from_a)));
        assert_eq!(a.unwrap(), ("a".to_string(), true));
        assert_eq!(b.unwrap(), ("a".to_string(), true));
        // both connections were kept for the next readers
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_pool_connection_refuses_to_write() {
        let (_dir, path) = store_file();
        let pool = Arc::new(ReadPool::new(&path, 1, Duration::from_secs(5)));
        let err = pool
            .run(|conn| {
                conn.execute("UPDATE t SET v = 'b'", [])
                    .unwrap_err()
                    .to_string()
            })
            .await
            .unwrap();
        assert!(
            err.contains("readonly") || err.contains("read-only") || err.contains("query_only"),
            "{err}"
        );
        let v = pool
            .run(|conn| {
                conn.query_row("SELECT v FROM t", [], |r| r.get::<_, String>(0))
                    .unwrap()
            })
            .await
            .unwrap();
        assert_eq!(v, "a");
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_not_a_new_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.db");
        let pool = Arc::new(ReadPool::new(&path, 1, Duration::from_secs(5)));
        let err = pool.run(|_| ()).await.unwrap_err();
        assert!(err.contains("unable to open"), "{err}");
        assert!(!path.exists());
    }
}
