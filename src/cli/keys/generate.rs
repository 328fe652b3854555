//! `nodeherd keys generate`: keystores and deposit data from a mnemonic, offline.
//!
//! Owns: the mnemonic and password prompts and printing. May not touch: the network; never
//! writes the mnemonic (a new one is shown once on the terminal).

use std::io::IsTerminal;

use super::GenerateArgs;
use super::common::{failed, password, usage};
use crate::cli::context::Fail;
use crate::cli::{Output, exit};
use nodeherd_core::keys::Secret;

pub(super) fn generate(g: GenerateArgs, out: Output) -> Result<i32, Fail> {
    use nodeherd_core::keys::generate::{GenerateRequest, generate};
    use nodeherd_core::keys::mnemonic::Mnemonic;
    let network = g.network.parse().map_err(usage)?;
    let address = g.withdrawal_address.parse().map_err(usage)?;
    let (mnemonic, is_new) = match &g.mnemonic_file {
        Some(f) => {
            let text = Secret::new(
                std::fs::read_to_string(f)
                    .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?,
            );
            (Mnemonic::parse(text.expose().trim()).map_err(usage)?, false)
        }
        None => {
            if !std::io::stderr().is_terminal() {
                return Err(usage(
                    "--new shows the mnemonic once on the terminal: run it on a terminal (or use --mnemonic-file)",
                ));
            }
            (Mnemonic::generate().map_err(failed)?, true)
        }
    };
    let pw = password(g.password_file.as_deref(), "New keystore password: ", true)?;
    let mut req = GenerateRequest::new(mnemonic, network, address, pw, g.out.clone());
    req.count = g.count;
    req.start_index = g.start_index;
    req.compounding = g.compounding;
    let res = generate(&req).map_err(failed)?;
    if is_new {
        let phrase = req.mnemonic.phrase();
        eprintln!("\nYOUR NEW MNEMONIC (shown once, never written; write it down on paper NOW):\n");
        eprintln!("{}\n", phrase.expose());
    }
    if out.json {
        let keys: Vec<_> = res
            .keys
            .iter()
            .map(|k| serde_json::json!({"index": k.index, "pubkey": format!("0x{}", k.pubkey.to_hex().trim_start_matches("0x")), "keystore": k.keystore_file}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"keys": keys, "deposit_data": res.deposit_data_file})
            )
            .unwrap_or_default()
        );
    } else {
        for k in &res.keys {
            println!(
                "{}  0x{}  {}",
                k.index,
                k.pubkey.to_hex().trim_start_matches("0x"),
                k.keystore_file.display()
            );
        }
        println!("deposit data: {}", res.deposit_data_file.display());
    }
    Ok(exit::OK)
}
