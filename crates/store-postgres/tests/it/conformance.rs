//! The storage contract's conformance suite, run against the PostgreSQL engine, each test in a
//! schema of its own.

use std::any::Any;
use std::sync::Arc;

use trailkeep_ledger::NoteSigner;
use trailkeep_store::Store;
use trailkeep_store_postgres::testing::TestSchema;
use trailkeep_store_postgres::{Options, PostgresStore};

/// What a test's store lives in: its schema and the key every node of it signs with.
struct Database {
    schema: TestSchema,
    signer: NoteSigner,
}

async fn open(database: &Database) -> Arc<dyn Store> {
    let store = PostgresStore::connect(
        &database.schema.url(),
        Options::new(database.signer.clone()),
    )
    .await
    .expect("connect the store");
    Arc::new(store)
}

trailkeep_store::conformance_suite!(
    || async {
        let database = Database {
            schema: TestSchema::new().await,
            signer: NoteSigner::generate("trailkeep-test").expect("a signing key"),
        };
        let store = open(&database).await;
        (store, Box::new(database) as Box<dyn Any + Send>)
    },
    |store: Arc<dyn Store>, guard: &(dyn Any + Send)| {
        let database = guard
            .downcast_ref::<Database>()
            .expect("the factory's database");
        let url = database.schema.url();
        let signer = database.signer.clone();
        async move {
            drop(store);
            let store = PostgresStore::connect(&url, Options::new(signer))
                .await
                .expect("reconnect the store");
            Arc::new(store) as Arc<dyn Store>
        }
    }
);
