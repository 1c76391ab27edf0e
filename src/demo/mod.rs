//! TODO(skeleton): embedded demo.
