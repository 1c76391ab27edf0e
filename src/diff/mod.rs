//! TODO(skeleton): diff against the baseline.
