//! Strict base64url (RFC 4648 §5) as JOSE requires: URL-safe alphabet, no padding, and
//! canonical encodings only (unused trailing bits must be zero), so that every byte string
//! has exactly one accepted text form.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict base64url; `None` for padding, `+`/`/`, whitespace, non-canonical trailing
/// bits or an impossible length.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    // URL_SAFE_NO_PAD refuses every byte outside the URL-safe alphabet (padding included:
    // `RequireNone`) and non-zero trailing bits; the tests below pin that contract.
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&bytes)).as_deref(), Some(&bytes[..]));
        }
    }

    #[test]
    fn refuses_padding_standard_alphabet_and_whitespace() {
        assert_eq!(decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(decode("YQ=="), None);
        assert_eq!(decode("YQ="), None);
        assert_eq!(decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode("+/8"), None);
        assert_eq!(decode(" YQ"), None);
        assert_eq!(decode("YQ\n"), None);
    }

    #[test]
    fn refuses_non_canonical_trailing_bits_and_bad_lengths() {
        // "YR" decodes to 'a' only if the two unused bits are ignored.
        assert_eq!(decode("YR"), None);
        assert_eq!(decode("Y"), None);
        assert_eq!(decode("YWJjZ"), None);
    }

    #[test]
    fn refuses_a_stray_byte_anywhere_in_a_long_input() {
        // Long enough for the engine's unrolled and 4-byte loops, not only its tail.
        let text = encode(&[0x5a; 96]);
        for at in [0, 7, 31, 64, text.len() - 1] {
            for stray in ["=", "+", "/", " ", "é", "\0"] {
                let mut bad = text.clone();
                bad.replace_range(at..at + 1, stray);
                assert_eq!(decode(&bad), None, "{stray:?} at {at}");
            }
        }
    }
}
