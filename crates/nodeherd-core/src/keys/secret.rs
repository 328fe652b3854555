//! [`Secret`]: a holder for secret bytes or text that never prints and is wiped on drop.
//!
//! May not touch: files, the network, the terminal.

use std::fmt;
use zeroize::Zeroize;

/// A secret value. `Debug` prints `<redacted>`; there is no `Display`; the memory is zeroized on drop.
/// Read it with [`Secret::expose`], and only where the secret is really needed.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Never log or format it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret(self.0.clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret<String> {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s: Secret<String> = "hunter2".into();
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Secret::new([7u8; 32])), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }
}
