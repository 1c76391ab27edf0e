//! TODO(skeleton): simulated fleet.
