//! The keymanager bearer token: read over SSH from the node's token file, kept in memory only.
//!
//! Owns: reading and checking the token file's content. The token is wrapped in [`ApiToken`],
//! whose `Debug` is `<redacted>`, which has no `Display`, and which is zeroized on drop.

use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::{Command, Session};

use crate::keymanager::error::KeymanagerError;

/// A bearer token. Never printed, logged or written by nodeherd.
#[derive(Clone, Debug)]
pub struct ApiToken(Secret<String>);

impl ApiToken {
    /// Checks a token file's content (pure): one line, printable ASCII, no spaces, at least 16
    /// characters. Prysm's `auth-token` has the URL first and the token on the last line.
    pub fn parse(content: &str) -> Result<ApiToken, &'static str> {
        let line = content
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .ok_or("the token file is empty")?;
        if line.len() < 16 {
            return Err("the token file holds fewer than 16 characters");
        }
        if !line.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token file holds characters a bearer token cannot have");
        }
        Ok(ApiToken(Secret::new(line.to_string())))
    }

    /// The `Authorization` header value. Only for the request being sent.
    pub(crate) fn header_value(&self) -> Secret<String> {
        Secret::new(format!("Bearer {}", self.0.expose()))
    }

    /// For tests that grep output for the token: the raw value.
    #[doc(hidden)]
    pub fn expose_for_tests(&self) -> &str {
        self.0.expose()
    }

    /// `cat FILE` on the host (with `become` when the target says so).
    pub async fn read(
        session: &Session,
        node: &str,
        file: &std::path::Path,
    ) -> Result<ApiToken, KeymanagerError> {
        let path = file.to_string_lossy().into_owned();
        let out = session
            .exec(&Command::new("cat").arg("--").arg(&path))
            .await
            .map_err(|e| KeymanagerError::Ssh {
                node: node.to_string(),
                source: Box::new(e),
            })?;
        if !out.success() {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(KeymanagerError::TokenFile {
                node: node.to_string(),
                file: path,
                reason: format!(
                    "cannot read it ({}); check the path and that the SSH user (or `become`) may read it",
                    err.chars().take(200).collect::<String>()
                ),
            });
        }
        let text = Secret::new(String::from_utf8_lossy(&out.stdout).into_owned());
        ApiToken::parse(text.expose()).map_err(|reason| KeymanagerError::TokenFile {
            node: node.to_string(),
            file: path,
            reason: reason.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_never_shows() {
        let t = ApiToken::parse("api-token-0x0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
        assert_eq!(
            t.header_value().expose(),
            "Bearer api-token-0x0123456789abcdef0123456789abcdef"
        );
        let prysm =
            ApiToken::parse("http://localhost:7500/initialize?token=x\n0123456789abcdef0123\n")
                .unwrap();
        assert_eq!(prysm.expose_for_tests(), "0123456789abcdef0123");
        assert!(ApiToken::parse("").is_err());
        assert!(ApiToken::parse("short").is_err());
        assert!(ApiToken::parse("has a space in the middle!!").is_err());
    }
}
