//! What a CometBFT failover asks the chain, through a node's own RPC (`rpc_port`, over the SSH
//! session): the node's `/status` (chain id, its own validator address and power, its head), the
//! validator set (`/validators`), a block's commit signatures (`/commit?height=H`), and waiting
//! for the head to pass a height.
//!
//! Owns: those requests and the waits. May not touch: parsing (`nodeherd_core::cosmos::signing`),
//! the failover's decisions and state (that is [`super::cometbft_failover`]).

use std::time::{Duration, Instant};

use nodeherd_core::cosmos::signing::{self, Commit, NodeSelf};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Pool, Session};

/// How often the head is asked for while waiting.
const POLL: Duration = Duration::from_millis(500);

/// One node's CometBFT RPC.
#[derive(Clone)]
pub(super) struct Rpc {
    pub(super) session: Session,
    port: u16,
    /// `host/node`.
    pub(super) label: String,
}

impl Rpc {
    /// The RPC of `r` (its host must answer SSH, the node must have `rpc_port`).
    pub(super) async fn of(inv: &Inventory, pool: &Pool, r: NodeRef) -> Result<Rpc, String> {
        let (host, node) = inv.node(r);
        let label = super::label(inv, r);
        let port = node.rpc_port.ok_or_else(|| {
            format!("{label}: no rpc_port in the inventory (the CometBFT RPC, usually 26657)")
        })?;
        let session = pool
            .session(&host.target)
            .await
            .map_err(|e| format!("{label}: host {} cannot be reached: {e}", host.name))?;
        Ok(Rpc {
            session,
            port,
            label,
        })
    }

    async fn get(&self, path: &str) -> Result<String, String> {
        crate::cosmos::get(&self.session, self.port, path)
            .await
            .map_err(|e| format!("{}: {e}", self.label))
    }

    pub(super) async fn status(&self) -> Result<NodeSelf, String> {
        let body = self.get("/status").await?;
        signing::parse_node_self(&body).map_err(|e| format!("{}: /status: {e}", self.label))
    }

    pub(super) async fn commit(&self, height: u64) -> Result<Commit, String> {
        let path = format!("/commit?height={height}");
        let body = self.get(&path).await?;
        let c = signing::parse_commit(&body).map_err(|e| format!("{}: {path}: {e}", self.label))?;
        if c.height != height {
            return Err(format!(
                "{}: {path} answered the commit of height {}",
                self.label, c.height
            ));
        }
        Ok(c)
    }

    /// The voting power of `address` in the current validator set (0: not in it).
    pub(super) async fn power_of(&self, address: &str) -> Result<u64, String> {
        let mut seen = 0;
        for page in 1..=20 {
            let path = format!("/validators?page={page}&per_page=100");
            let body = self.get(&path).await?;
            let vals = signing::parse_validators(&body)
                .map_err(|e| format!("{}: {path}: {e}", self.label))?;
            if let Some((_, p)) = vals.iter().find(|(a, _)| a.eq_ignore_ascii_case(address)) {
                return Ok(*p);
            }
            seen += vals.len();
            if vals.len() < 100 || seen >= 2000 {
                break;
            }
        }
        Ok(0)
    }

    /// Wait until the head is at least `height`; an error when it does not move for `stall`.
    pub(super) async fn wait_head(&self, height: u64, stall: Duration) -> Result<u64, String> {
        let mut last = (0, Instant::now());
        loop {
            let h = self.status().await?.height;
            if h >= height {
                return Ok(h);
            }
            if h != last.0 {
                last = (h, Instant::now());
            } else if last.1.elapsed() > stall {
                return Err(format!(
                    "{}: the chain did not advance past height {h} for {}s",
                    self.label,
                    stall.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Wait (up to `limit`) until the node answers `/status` with `address` as its own key.
    pub(super) async fn wait_address(
        &self,
        address: &str,
        limit: Duration,
    ) -> Result<NodeSelf, String> {
        let t = Instant::now();
        loop {
            let last = match self.status().await {
                Ok(s) if s.address.eq_ignore_ascii_case(address) => return Ok(s),
                Ok(s) => format!("it answers with validator address {}", s.address),
                Err(e) => e,
            };
            if t.elapsed() > limit {
                return Err(format!(
                    "{}: not signing as {address} within {}s: {last}",
                    self.label,
                    limit.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
