//! Integration tests of the HTTP server over a real embedded store.
