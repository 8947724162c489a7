//! Black-box tests of the `trailkeep` binary.
