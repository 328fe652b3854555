//! The Ethereum Keymanager API's wire types ([`types`]), the EIP-3076 slashing-protection
//! interchange ([`interchange`]), what the beacon chain says of a key ([`onchain`]) and whether it went quiet ([`liveness`], or from the blocks
//! themselves: [`inclusion`]).
//!
//! Owns: the typed requests and answers and their decoding. May not touch: the network (the
//! client that speaks it through an SSH forward lives in the engine).

pub mod inclusion;
pub mod interchange;
pub mod liveness;
pub mod onchain;
pub mod types;

pub use interchange::{Interchange, InterchangeError};
