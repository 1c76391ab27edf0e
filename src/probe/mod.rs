//! TODO(skeleton): one-round-trip probe (packages + fingerprints).
