//! Tests' own corner of the local PostgreSQL server: a fresh schema per store, dropped when the
//! test is done, so that tests run side by side without seeing each other's tables.
//!
//! The server is `host=127.0.0.1 port=5432 user=postgres dbname=test` unless
//! `TRAILKEEP_TEST_POSTGRES` names another. A server that cannot be reached fails the test
//! with a message that says so: PostgreSQL is part of every machine the tests run on.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

/// The server tests use when `TRAILKEEP_TEST_POSTGRES` does not name one.
pub const DEFAULT_SERVER: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// The test server's connection string.
pub fn server() -> String {
    std::env::var("TRAILKEEP_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// A schema of its own on the test server, dropped with this value.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
}

impl TestSchema {
    /// Makes a new, empty schema; panics, naming the server, when it cannot be reached.
    pub async fn new() -> Self {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tk_test_{}_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let client = connect().await;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| panic!("create schema {name}: {e:?}"));
        Self { name }
    }

    /// The connection string of a store in this schema.
    pub fn url(&self) -> String {
        format!("{} options='-c search_path={}'", server(), self.name)
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
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

impl Drop for TestSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside or outside a runtime: a thread of its own has its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async {
                let client = connect().await;
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// A database of its own on the test server, dropped with this value (for tests of several
/// databases: shards).
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Makes a new, empty database; panics, naming the server, when it cannot be reached.
    pub async fn new() -> Self {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tk_test_db_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let client = connect().await;
        // One statement at a time: a database is never made inside a transaction.
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client
                .batch_execute(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        }
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
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let client = connect().await;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
