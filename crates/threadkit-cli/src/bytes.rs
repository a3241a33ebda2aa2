//! Bytes in JSON: how an input, a command line or job output that is not UTF-8 is written to
//! `--results` and into the journal's keys without losing a byte (docs/cli.md, "Bytes").
//!
//! Valid UTF-8 is a JSON string, as always (so keys of existing journals do not change). Other
//! bytes are an object `{"hex": "7265706f7274e9", "lossy": "report\ufffd"}`: `hex` holds every
//! byte as two lowercase hex digits (the exact value), `lossy` the text with each invalid
//! sequence replaced by U+FFFD, for reading only.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::values::ValueList;

/// A byte string as JSON (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let mut hex = String::with_capacity(self.0.len() * 2);
                for b in self.0 {
                    hex.push_str(&format!("{b:02x}"));
                }
                let mut o = s.serialize_struct("Bytes", 2)?;
                o.serialize_field("hex", &hex)?;
                o.serialize_field("lossy", &String::from_utf8_lossy(self.0))?;
                o.end()
            }
        }
    }
}

/// Several byte strings as a JSON array of [`Bytes`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct List<'a, V: ValueList + ?Sized>(pub(crate) &'a V);

impl<V: ValueList + ?Sized> Serialize for List<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.each().map(Bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &[u8]) -> String {
        serde_json::to_string(&Bytes(b)).unwrap()
    }

    #[test]
    fn utf8_is_a_string_and_other_bytes_are_hex_plus_lossy_text() {
        assert_eq!(json(b"a \"b\"\n"), r#""a \"b\"\n""#);
        assert_eq!(json("é\u{FFFD}".as_bytes()), "\"é\u{FFFD}\"");
        assert_eq!(
            json(b"report\xe9.txt"),
            "{\"hex\":\"7265706f7274e92e747874\",\"lossy\":\"report\u{FFFD}.txt\"}"
        );
        let list = vec![b"a".to_vec(), b"\xff".to_vec()];
        assert_eq!(
            serde_json::to_string(&List(&list)).unwrap(),
            "[\"a\",{\"hex\":\"ff\",\"lossy\":\"\u{FFFD}\"}]"
        );
    }

    #[test]
    fn two_byte_strings_with_the_same_lossy_text_stay_apart() {
        let latin1 = json(b"report\xe9.txt");
        let utf8 = json("report\u{FFFD}.txt".as_bytes());
        assert_ne!(latin1, utf8);
    }
}
