//! Builds the tokens described in `tests/vectors/expect_fail.json` (shared by test files).
#![allow(dead_code)]

use edgeauth::encoding::base64url;
use edgeauth::{KeySet, SigningKey, Validation, VerifyingKey};
use hmac::{KeyInit, Mac};
use serde_json::Value;

/// A JSON file of `tests/vectors/`.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A vector's hex string as bytes.
pub fn hex_str(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}

/// The expect-fail vector file, with its test-only keys.
pub struct ExpectFail {
    pub doc: Value,
    pub key: SigningKey,
    pub other: SigningKey,
    pub now: u64,
}

impl ExpectFail {
    pub fn load() -> Self {
        let path = format!(
            "{}/tests/vectors/expect_fail.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("expect_fail.json parses");
        let seed = |name: &str| -> SigningKey {
            let mut seed: [u8; 32] = hex::decode(doc[name].as_str().expect("seed"))
                .expect("hex")
                .try_into()
                .expect("32 bytes");
            SigningKey::from_seed(&mut seed)
        };
        let key = seed("key_seed_hex");
        let other = seed("other_key_seed_hex");
        let now = doc["now"].as_u64().expect("now");
        ExpectFail {
            doc,
            key,
            other,
            now,
        }
    }

    pub fn cases(&self) -> &[Value] {
        self.doc["cases"].as_array().expect("cases")
    }

    pub fn validation(&self) -> Validation {
        let mut rules = Validation::new(
            self.doc["issuer"].as_str().expect("issuer"),
            self.doc["audience"].as_str().expect("audience"),
        );
        rules.leeway_secs = self.doc["leeway_secs"].as_u64().expect("leeway");
        rules.max_session_age_secs = self.doc["max_session_age_secs"].as_u64().expect("age");
        rules.max_token_bytes = self.doc["max_token_bytes"].as_u64().expect("max") as usize;
        rules
    }

    /// The trusted key set: the test key only (the "other" key is the attacker's).
    pub fn key_set(&self) -> KeySet {
        let mut seed: [u8; 32] = hex::decode(self.doc["key_seed_hex"].as_str().expect("seed"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        KeySet::new(SigningKey::from_seed(&mut seed), Vec::<VerifyingKey>::new())
    }

    /// Replaces `{now±N}`, `{kid}`, `{other_kid}`, `{other_x}` and `{pad:N}` in `text`.
    pub fn fill(&self, text: &str, now: u64) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}');
            let name = close.map(|c| &after[..c]);
            let replaced = name.and_then(|name| self.placeholder(name, now));
            match (replaced, close) {
                (Some(value), Some(close)) => {
                    out.push_str(&value);
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn placeholder(&self, name: &str, now: u64) -> Option<String> {
        match name {
            "now" => Some(now.to_string()),
            "kid" => Some(self.key.kid().to_owned()),
            "other_kid" => Some(self.other.kid().to_owned()),
            "other_x" => Some(base64url::encode(self.other.verifying_key().as_bytes())),
            _ => {
                if let Some(n) = name.strip_prefix("now+") {
                    Some((now + n.parse::<u64>().ok()?).to_string())
                } else if let Some(n) = name.strip_prefix("now-") {
                    Some((now - n.parse::<u64>().ok()?).to_string())
                } else {
                    let n = name.strip_prefix("pad:")?.parse::<usize>().ok()?;
                    Some("x".repeat(n))
                }
            }
        }
    }

    /// Builds the token for `case` at time `now`.
    pub fn build(&self, case: &Value, now: u64) -> String {
        let header = self.fill(case["header"].as_str().expect("header"), now);
        let payload = match case.get("payload_hex") {
            Some(hex_text) => hex::decode(hex_text.as_str().expect("hex")).expect("hex"),
            None => self
                .fill(case["payload"].as_str().expect("payload"), now)
                .into_bytes(),
        };
        let signing_input = format!(
            "{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(&payload)
        );
        let mut signature: Vec<u8> = match case["sign"].as_str().expect("sign") {
            "key" => self.key.sign(signing_input.as_bytes()).to_vec(),
            "other_key" => self.other.sign(signing_input.as_bytes()).to_vec(),
            "none" => Vec::new(),
            "zeros" => vec![0; 64],
            "hs256_public_key" => {
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.verifying_key().as_bytes())
                        .expect("any key length");
                mac.update(signing_input.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            other => panic!("unknown signing mode {other}"),
        };
        let mutations: Vec<&str> = case
            .get("mutate")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for mutation in &mutations {
            match *mutation {
                "flip_signature_bit" => signature[0] ^= 1,
                "s_plus_l" => add_group_order(&mut signature[32..64]),
                "truncate_signature" => {
                    signature.pop();
                }
                "extend_signature" => signature.push(0),
                _ => {}
            }
        }
        let (mut header_b64, mut payload_b64) = signing_input
            .split_once('.')
            .map(|(h, p)| (h.to_owned(), p.to_owned()))
            .expect("two segments");
        let mut token_suffix = format!(".{}", base64url::encode(&signature));
        let mut prefix = String::new();
        for mutation in &mutations {
            match *mutation {
                m if m.starts_with("swap_payload:") => {
                    let swapped = self.fill(&m["swap_payload:".len()..], now);
                    payload_b64 = base64url::encode(swapped.as_bytes());
                }
                "pad_signature" => token_suffix.push_str("=="),
                "pad_header" => header_b64.push('='),
                "trailing_bits" => {
                    let last = token_suffix.pop().expect("signature text");
                    token_suffix.push(with_trailing_bits(last));
                }
                "star_in_payload" => payload_b64.replace_range(0..1, "*"),
                "drop_signature" => token_suffix.clear(),
                "append_segment" => token_suffix.push_str(".AAAA"),
                "empty_header" => header_b64.clear(),
                "empty_payload" => payload_b64.clear(),
                "leading_space" => prefix.push(' '),
                "trailing_newline" | "standard_alphabet" => {}
                "flip_signature_bit" | "s_plus_l" | "truncate_signature" | "extend_signature" => {}
                other => panic!("unknown mutation {other}"),
            }
        }
        let mut token = format!("{prefix}{header_b64}.{payload_b64}{token_suffix}");
        if mutations.contains(&"standard_alphabet") {
            let swapped = token.replace('-', "+").replace('_', "/");
            assert_ne!(swapped, token, "standard_alphabet must change the token");
            token = swapped;
        }
        if mutations.contains(&"trailing_newline") {
            token.push('\n');
        }
        token
    }
}

/// Adds L = 2^252 + 27742317777372353535851937790883648493 to a little-endian 256-bit S.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
}

/// The same character with its unused low bits set (the last of an 86-character segment
/// carries 2 data bits and 4 unused ones).
fn with_trailing_bits(c: char) -> char {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .expect("base64url char");
    ALPHABET[index | 0x0f] as char
}
