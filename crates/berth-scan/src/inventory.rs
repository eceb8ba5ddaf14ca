//! Package inventory.
