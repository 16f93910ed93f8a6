//! JWK and JWKS import and export for Ed25519 keys (RFC 7517, RFC 8037).
//!
//! Import is strict: `kty` `OKP`, `crv` `Ed25519`, strict base64url members of exactly 32 bytes,
//! `use` (if present) `sig`, `alg` (if present) `EdDSA`/`Ed25519`, a `kid` (if present) equal to
//! the thumbprint, a private `d` that matches `x`, no duplicate members.

use crate::encoding::base64url;
use crate::encoding::strict_json::{self, StrictJsonError};
use crate::token::error::Error;
use crate::token::keys::{KeySet, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

impl VerifyingKey {
    /// Imports a public JWK (a private one is accepted and only its public half kept).
    pub fn from_jwk(text: &str) -> Result<Self, Error> {
        public_from_member(&parse_object(text)?)
    }

    /// The public JWK, with `kid`, `use` and `alg`.
    pub fn to_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64url::encode(self.as_bytes()),
            "kid": self.kid(),
            "use": "sig",
            "alg": "EdDSA",
        })
    }
}

impl SigningKey {
    /// Imports a private JWK (must carry `d`; `x`, if present, must match it).
    pub fn from_jwk(text: &str) -> Result<Self, Error> {
        let object = parse_object(text)?;
        check_key_type(&object)?;
        let d = object
            .get("d")
            .and_then(Value::as_str)
            .ok_or(Error::InvalidKey("private JWK has no \"d\""))?;
        #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
        let mut seed = Zeroizing::new(decode_32(d, "d")?);
        let x = match object.get("x") {
            None => None,
            Some(x) => Some(decode_32(
                x.as_str()
                    .ok_or(Error::InvalidKey("\"x\" is not a string"))?,
                "x",
            )?),
        };
        #[cfg(not(target_arch = "wasm32"))]
        let key = {
            let key = SigningKey::from_seed(&mut seed);
            if x.is_some_and(|x| x != *key.verifying_key().as_bytes()) {
                return Err(Error::InvalidKey("\"x\" does not match \"d\""));
            }
            key
        };
        // The Worker has no curve arithmetic to derive `x`: the JWK must state it (`edgeauth
        // keygen` always does), and the import into WebCrypto checks that it matches `d`.
        #[cfg(target_arch = "wasm32")]
        let key = {
            let x = x.ok_or(Error::InvalidKey("private JWK has no \"x\""))?;
            SigningKey::from_parts(seed, VerifyingKey::from_bytes(&x)?)
        };
        check_kid(&object, key.kid())?;
        Ok(key)
    }

    /// The private JWK as one line of JSON, for `wrangler secret put`. Zeroized on drop.
    pub fn to_private_jwk(&self) -> Zeroizing<String> {
        let public = self.verifying_key();
        Zeroizing::new(format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{}","kid":"{}","use":"sig","alg":"EdDSA"}}"#,
            base64url::encode(public.as_bytes()),
            Zeroizing::new(base64url::encode(self.seed())).as_str(),
            public.kid()
        ))
    }
}

impl KeySet {
    /// The public JWKS (`{"keys":[…]}`) of every accepted key, signing key first.
    pub fn to_jwks(&self) -> Value {
        json!({ "keys": self.keys().iter().map(VerifyingKey::to_jwk).collect::<Vec<_>>() })
    }
}

/// Reads public keys from a JWK, a JWKS, or a JSON array of JWKs; private members are ignored.
pub fn public_keys_from_json(text: &str) -> Result<Vec<VerifyingKey>, Error> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let wrapped = format!(r#"{{"keys":{trimmed}}}"#);
        return public_keys_from_json(&wrapped);
    }
    let object = parse_object(text)?;
    match object.get("keys") {
        None => Ok(vec![public_from_member(&object)?]),
        Some(Value::Array(members)) => members
            .iter()
            .map(|member| match member {
                Value::Object(object) => public_from_member(object),
                _ => Err(Error::InvalidKey("JWKS member is not an object")),
            })
            .collect(),
        Some(_) => Err(Error::InvalidKey("\"keys\" is not an array")),
    }
}

fn parse_object(text: &str) -> Result<Map<String, Value>, Error> {
    strict_json::parse_object(text.trim().as_bytes()).map_err(|e| match e {
        StrictJsonError::DuplicateMember => Error::InvalidKey("duplicate JSON member"),
        StrictJsonError::Invalid => Error::InvalidKey("not a JSON object"),
    })
}

fn public_from_member(object: &Map<String, Value>) -> Result<VerifyingKey, Error> {
    check_key_type(object)?;
    let x = object
        .get("x")
        .and_then(Value::as_str)
        .ok_or(Error::InvalidKey("JWK has no \"x\""))?;
    let key = VerifyingKey::from_bytes(&decode_32(x, "x")?)?;
    check_kid(object, key.kid())?;
    Ok(key)
}

fn check_key_type(object: &Map<String, Value>) -> Result<(), Error> {
    if object.get("kty").and_then(Value::as_str) != Some("OKP") {
        return Err(Error::InvalidKey("\"kty\" is not \"OKP\""));
    }
    if object.get("crv").and_then(Value::as_str) != Some("Ed25519") {
        return Err(Error::InvalidKey("\"crv\" is not \"Ed25519\""));
    }
    if let Some(usage) = object.get("use") {
        if usage.as_str() != Some("sig") {
            return Err(Error::InvalidKey("\"use\" is not \"sig\""));
        }
    }
    if let Some(alg) = object.get("alg") {
        if !matches!(alg.as_str(), Some("EdDSA" | "Ed25519")) {
            return Err(Error::InvalidKey("\"alg\" is not \"EdDSA\""));
        }
    }
    Ok(())
}

fn check_kid(object: &Map<String, Value>, thumbprint: &str) -> Result<(), Error> {
    match object.get("kid") {
        None => Ok(()),
        Some(kid) if kid.as_str() == Some(thumbprint) => Ok(()),
        Some(_) => Err(Error::InvalidKey(
            "\"kid\" is not the key's RFC 7638 thumbprint",
        )),
    }
}

fn decode_32(text: &str, member: &'static str) -> Result<[u8; 32], Error> {
    let bytes = Zeroizing::new(base64url::decode(text).ok_or(match member {
        "d" => Error::InvalidKey("\"d\" is not strict base64url"),
        _ => Error::InvalidKey("\"x\" is not strict base64url"),
    })?);
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::InvalidKey("key member is not 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_jwk_round_trips_and_public_matches() {
        let key = SigningKey::from_seed(&mut [9u8; 32]);
        let text = key.to_private_jwk();
        let again = SigningKey::from_jwk(&text).expect("own export imports");
        assert_eq!(again.kid(), key.kid());
        let public = VerifyingKey::from_jwk(&key.verifying_key().to_jwk().to_string())
            .expect("public export imports");
        assert_eq!(&public, key.verifying_key());
    }

    #[test]
    fn refuses_bad_jwks() {
        let key = SigningKey::from_seed(&mut [9u8; 32]);
        let x = base64url::encode(key.verifying_key().as_bytes());
        let d = base64url::encode(&[9u8; 32]);
        let other_d = base64url::encode(&[8u8; 32]);
        for (name, text) in [
            (
                "wrong kty",
                format!(r#"{{"kty":"EC","crv":"Ed25519","x":"{x}"}}"#),
            ),
            (
                "wrong crv",
                format!(r#"{{"kty":"OKP","crv":"X25519","x":"{x}"}}"#),
            ),
            (
                "enc use",
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","use":"enc"}}"#),
            ),
            (
                "other alg",
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"ES256"}}"#),
            ),
            (
                "foreign kid",
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"k1"}}"#),
            ),
            (
                "padded x",
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}="}}"#),
            ),
            (
                "short x",
                r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#.to_owned(),
            ),
            (
                "duplicate x",
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","x":"{x}"}}"#),
            ),
        ] {
            assert!(VerifyingKey::from_jwk(&text).is_err(), "{name}");
        }
        let mismatched = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{other_d}"}}"#);
        assert!(SigningKey::from_jwk(&mismatched).is_err());
        let public_only = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#);
        assert!(SigningKey::from_jwk(&public_only).is_err());
        let good = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{d}"}}"#);
        assert!(SigningKey::from_jwk(&good).is_ok());
    }

    #[test]
    fn reads_jwk_jwks_and_arrays() {
        let a = SigningKey::from_seed(&mut [1u8; 32]);
        let b = SigningKey::from_seed(&mut [2u8; 32]);
        let set = KeySet::new(a, vec![b.verifying_key().clone()]);
        let jwks = set.to_jwks();
        assert_eq!(
            public_keys_from_json(&jwks.to_string()).map(|k| k.len()),
            Ok(2)
        );
        assert_eq!(
            public_keys_from_json(&jwks["keys"].to_string()).map(|k| k.len()),
            Ok(2)
        );
        assert_eq!(
            public_keys_from_json(&b.to_private_jwk()).map(|k| k.len()),
            Ok(1)
        );
        assert!(public_keys_from_json(r#"{"keys":{}}"#).is_err());
    }
}
