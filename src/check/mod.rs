//! TODO(skeleton): patchdeck check.
