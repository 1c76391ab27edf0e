//! TODO(skeleton): filled by the inventory work.
