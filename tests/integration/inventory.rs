//! Integration tests: inventory.
