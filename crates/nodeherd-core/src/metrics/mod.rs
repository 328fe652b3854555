//! Metrics: what to read from each client, reading it fast, host facts, series and exposition.
//!
//! Owns: pure data and parsers only. May not touch: SSH, HTTP or any other I/O (the transport, written
//! elsewhere, fetches pages and runs [`host::host_command`], then hands the text to these functions).
//! - [`schema`]: the types of the client table (signals, metric rows, JSON-RPC reads).
//! - [`clients`]: per-client table (signal -> metric family + label matcher), Beacon API flag.
//! - [`eth_rpc`]: signals an execution client gives over JSON-RPC (head, peers, version).
//! - [`page`]: a Prometheus text page, pre-filtered to the wanted families, parsed with prometheus-parse.
//! - [`host`]: one batched shell command for /proc + df + date, and its parser.
//! - [`series`]: bounded ring buffers for rates and sparklines.
//! - [`expose`]: Prometheus text output of what was gathered.

pub mod clients;
pub mod eth_rpc;
pub mod expose;
pub mod page;
pub mod schema;
pub mod series;

pub use clients::{ClientMetrics, Signal, for_client};
pub use page::{Family, Sample, extract, families};
