//! A CometBFT validator key made from a fixed seed by russh's ssh-key (not nodeherd's code), for
//! the lab suites that put consensus keys on hosts (`lab.rs`, `cometbft_failover_lab.rs`): the
//! key file as CometBFT writes it and every form its secret could leak in.
#![allow(dead_code)]

/// A CometBFT Ed25519 key from a fixed seed, through russh's ssh-key (not nodeherd's code):
/// (priv_key value = base64(seed || pub), pub base64, address, seed).
pub struct CometKey {
    pub priv_b64: String,
    pub pub_b64: String,
    pub address: String,
    pub seed: [u8; 32],
}

pub fn comet_key(seed: [u8; 32]) -> CometKey {
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let kp = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed);
    let public = kp.public.0;
    let mut both = seed.to_vec();
    both.extend_from_slice(&public);
    CometKey {
        priv_b64: b64.encode(&both),
        pub_b64: b64.encode(public),
        address: sha2::Sha256::digest(public)[..20]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect(),
        seed,
    }
}

impl CometKey {
    /// The file exactly as CometBFT writes it (`MarshalIndent`, two spaces, no final newline).
    pub fn file(&self) -> String {
        format!(
            "{{\n  \"address\": \"{}\",\n  \"pub_key\": {{\n    \"type\": \"tendermint/PubKeyEd25519\",\n    \"value\": \"{}\"\n  }},\n  \"priv_key\": {{\n    \"type\": \"tendermint/PrivKeyEd25519\",\n    \"value\": \"{}\"\n  }}\n}}",
            self.address, self.pub_b64, self.priv_b64
        )
    }

    /// Every form in which a piece of the private key could leak into output.
    pub fn secret_forms(&self) -> Vec<String> {
        use base64::Engine as _;
        let hex: String = self.seed.iter().map(|b| format!("{b:02x}")).collect();
        vec![
            self.priv_b64.clone(),
            base64::engine::general_purpose::STANDARD.encode(self.seed),
            self.priv_b64[..16].to_string(),
            hex.clone(),
            hex.to_uppercase(),
        ]
    }
}
