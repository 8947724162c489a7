//! The storage contract's conformance suite, run against the embedded engine.

use std::any::Any;
use std::sync::Arc;

use trailkeep_store::Store;
use trailkeep_store_embedded::{EmbeddedStore, Options};

trailkeep_store::conformance_suite!(
    || async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path(), Options::default()).expect("open store");
        (
            Arc::new(store) as Arc<dyn Store>,
            Box::new(dir) as Box<dyn Any + Send>,
        )
    },
    |store: Arc<dyn Store>, guard: &(dyn Any + Send)| {
        let dir = guard
            .downcast_ref::<tempfile::TempDir>()
            .expect("the factory's temp dir")
            .path()
            .to_owned();
        async move {
            // The last reference: dropping it shuts the store down and releases its lock.
            drop(store);
            let store = EmbeddedStore::open(&dir, Options::default()).expect("reopen store");
            Arc::new(store) as Arc<dyn Store>
        }
    }
);
