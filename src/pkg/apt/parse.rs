//! TODO(skeleton): filled by the apt work.
