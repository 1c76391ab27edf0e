//! TODO(skeleton): filled by the runbook work.
