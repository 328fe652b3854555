//! JSON written the way Python's `json.dump` writes it by default (`", "` and `": "` separators, one
//! line), so files match the EthStaker deposit CLI's byte for byte apart from the values.
//!
//! May not touch: anything but the values it is given (no files).

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io;

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// Serializes `value` in Python's default `json.dumps` layout. Non-ASCII text is escaped as `\uXXXX`
/// like Python's `ensure_ascii=True`.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut ser)?;
    // serde_json only writes valid UTF-8.
    let text = String::from_utf8_lossy(&out);
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    #[test]
    fn python_layout() {
        let v = serde_json::json!([{"a": 1, "b": "x\u{e9}"}, []]);
        assert_eq!(
            super::to_string(&v).unwrap(),
            r#"[{"a": 1, "b": "x\u00e9"}, []]"#
        );
    }
}
