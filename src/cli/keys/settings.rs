//! `nodeherd keys set-*` / `clear-*`: one validator's fee recipient, graffiti or gas limit.
//!
//! Owns: parsing the value and printing the result. May not touch: the API's wire format.

use super::common::{connect, failed, find, pubkey_arg, usage};
use crate::cli::context::Fail;
use crate::cli::exit;
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keymanager::client::{Setting, SettingKind};

pub(super) async fn setting(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkey: &str,
    kind: SettingKind,
    value: Option<&str>,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pk = pubkey_arg(pubkey)?;
    let set = value
        .map(|v| Setting::parse(kind, v).map_err(usage))
        .transpose()?;
    let km = connect(pool, inv, r).await?;
    match set {
        Some(s) => km.set(&pk, s).await.map_err(failed)?,
        None => km.clear(&pk, kind).await.map_err(failed)?,
    }
    println!(
        "{}: {} {} for {pk}",
        km.node,
        if value.is_some() { "set" } else { "cleared" },
        kind.path()
    );
    Ok(exit::OK)
}
