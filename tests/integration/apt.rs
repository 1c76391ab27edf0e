//! Integration tests: apt.
