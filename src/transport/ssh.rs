//! TODO(skeleton): filled by the transport work.
