//! The storage contract's conformance suite, run against the embedded engine.

use std::sync::Arc;

use trailkeep_store::Store;
use trailkeep_store_embedded::{EmbeddedStore, Options};

trailkeep_store::conformance_suite!(|| async {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path(), Options::default()).expect("open store");
    (
        Arc::new(store) as Arc<dyn Store>,
        Box::new(dir) as Box<dyn std::any::Any + Send>,
    )
});
