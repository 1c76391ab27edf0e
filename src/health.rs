//! TODO(skeleton): health checks.
