//! Integration tests of detection.
mod labelled;
