//! Cosmos SDK chains: chain upgrade plans at a halt height and where a node stands against one.
//!
//! Owns: the parsers of the Cosmos SDK REST and CometBFT RPC answers the chain upgrade needs
//! ([`plan`]: `current_plan` and Cosmovisor's binaries `info`; [`chain`]: `/status`, `/block`,
//! the halt facts and the decision to switch; [`signing`]: who signs a block's commit, a node's
//! own validator and chain id, the validator set; [`validator`]: the validator's addresses, jailing,
//! missed blocks and governance votes; [`watch`]: what the chain upgrade alerts see). May not touch: I/O of any kind (the engine's
//! `cosmos` module sends the requests and runs the commands), the install layout (that is
//! `facts::layout`).

pub mod chain;
pub mod plan;
pub mod signing;
pub mod validator;
pub mod watch;

#[cfg(test)]
mod tests;
