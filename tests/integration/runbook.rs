//! Integration tests: runbook.
