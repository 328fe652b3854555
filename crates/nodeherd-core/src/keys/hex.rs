//! Lower-case hex without `0x` (the deposit data and keystore encoding), and a tolerant decoder.
//!
//! May not touch: anything but the bytes and text it is given.

use crate::keys::KeyError;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex, no `0x` prefix.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex with or without a `0x` prefix. `what` names the field for the error message.
pub fn decode(s: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = s.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(KeyError::Hex {
            field: what.to_owned(),
            reason: format!("odd number of hex digits ({})", bytes.len()),
        });
    }
    bytes
        .chunks(2)
        .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(KeyError::Hex {
                field: what.to_owned(),
                reason: "contains a character that is not a hex digit".to_owned(),
            }),
        })
        .collect()
}

/// Decodes exactly `N` bytes of hex.
pub fn decode_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], KeyError> {
    let v = decode(s, what)?;
    let len = v.len();
    v.try_into().map_err(|_| KeyError::Hex {
        field: what.to_owned(),
        reason: format!("expected {N} bytes, got {len}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode("0x00ABff", "x").unwrap(), vec![0x00, 0xab, 0xff]);
        assert!(decode("abc", "x").is_err());
        assert!(decode("zz", "x").is_err());
        assert!(decode_array::<2>("001122", "x").is_err());
        assert_eq!(decode_array::<2>("0011", "x").unwrap(), [0x00, 0x11]);
    }
}
