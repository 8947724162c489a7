//! Tests' own corner of the local PostgreSQL server: a fresh schema (or database) per store,
//! dropped when the test is done, so that tests run side by side without seeing each other's
//! tables.
//!
//! The server is `host=127.0.0.1 port=5432 user=postgres dbname=test` unless
//! `TRAILKEEP_TEST_POSTGRES` names another (in the same `key=value` form). A server that cannot
//! be reached fails the test with a message that says so: PostgreSQL is part of every machine
//! the tests run on.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

/// The server tests use when `TRAILKEEP_TEST_POSTGRES` does not name one.
pub const DEFAULT_SERVER: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// The test server's connection string.
pub fn server() -> String {
    std::env::var("TRAILKEEP_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// A name no other test of any process uses at the same time.
fn unique_name(prefix: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

/// Runs `statements` on the test server, one at a time (`CREATE DATABASE` refuses to run in a
/// transaction); panics, naming the server, when it cannot be reached.
async fn run(statements: &[String]) {
    let client = connect().await;
    for statement in statements {
        client
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
}

/// Runs `statement` from a thread of its own (a drop may run inside or outside a runtime);
/// says so when it fails rather than failing the test that is ending.
fn run_while_dropping(statement: String) {
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to clean up the test server");
        runtime.block_on(async { connect().await.batch_execute(&statement).await })
    })
    .join();
    if !matches!(done, Ok(Ok(()))) {
        eprintln!("could not clean up the test server: {done:?}");
    }
}

async fn connect() -> tokio_postgres::Client {
    let server = server();
    let (client, connection) = tokio_postgres::connect(&server, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the tests need the PostgreSQL server at {server:?} \
                 (set TRAILKEEP_TEST_POSTGRES to use another): {e}"
            )
        });
    tokio::spawn(connection);
    client
}

/// A schema of its own on the test server, dropped with this value.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
}

impl TestSchema {
    /// Makes a new, empty schema.
    pub async fn new() -> Self {
        let name = unique_name("tk_test");
        run(&[format!("CREATE SCHEMA {name}")]).await;
        Self { name }
    }

    /// The connection string of a store in this schema.
    pub fn url(&self) -> String {
        format!("{} options='-c search_path={}'", server(), self.name)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        run_while_dropping(format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        ));
    }
}

/// A database of its own on the test server, dropped with this value (for tests of several
/// databases: shards).
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Makes a new, empty database.
    pub async fn new() -> Self {
        let name = unique_name("tk_test_db");
        run(&[
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ])
        .await;
        Self { name }
    }

    /// The connection string of this database.
    pub fn url(&self) -> String {
        let server = server();
        let without_db: Vec<&str> = server
            .split_whitespace()
            .filter(|part| !part.starts_with("dbname="))
            .collect();
        format!("{} dbname={}", without_db.join(" "), self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        run_while_dropping(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
