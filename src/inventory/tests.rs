//! Unit tests of loading and precedence (fixtures and snapshots live in tests/inventory.rs).
