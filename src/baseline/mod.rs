//! TODO(skeleton): the tested baseline.
