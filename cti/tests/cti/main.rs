//! frontdoor-cti integration tests. Every test that touches the store runs
//! twice, against SQLite and against a real PostgreSQL server (see `db`), with
//! the same assertions.

mod acd;
mod db;
mod desk;
mod directory;
mod docs;
mod double;
mod history;
mod http;
mod queues;
mod reports;
mod server;
mod store;
mod transfer;
mod ws;

/// Declares `mod $name { sqlite, postgres }` running `$body(url)` on each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::db::sqlite();
                super::$body(&db.url).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::db::postgres().await;
                super::$body(&db.url).await;
            }
        }
    };
}
