//! A provider's JSON Web Key Set: its public signing keys, and which one may check a token.
//!
//! Only what WebCrypto needs is kept of each key (the public members), so a key is imported as
//! the provider published it and nothing the token says can add or replace one.

use crate::encoding::{base64url, strict_json};
use serde_json::{Map, Value};

use super::OidcError;

/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys a JWKS may hold.
pub const MAX_KEYS: usize = 1000;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
pub const MIN_RSA_BYTES: usize = 256;

/// A signature algorithm the edge accepts in a provider's tokens. Never `none`, never HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 and a 32-byte salt.
    Ps256,
    /// ECDSA on P-256 with SHA-256 (the JWS signature is `r || s`, 64 bytes).
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// The JOSE name of an accepted algorithm; `None` for anything else (`none`, `HS256`, …).
    pub fn from_jose(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "PS256" => Some(Alg::Ps256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn jose(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn fits(self, key: &KeyType) -> bool {
        matches!(
            (self, key),
            (Alg::Rs256 | Alg::Ps256, KeyType::Rsa)
                | (Alg::Es256, KeyType::P256)
                | (Alg::EdDsa, KeyType::Ed25519)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    Ed25519,
}

/// One public signing key of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderKey {
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// The algorithm it is restricted to (`alg` in the JWK), if any.
    pub alg: Option<Alg>,
    kind: KeyType,
    /// The public JWK, only its public members, for WebCrypto's `importKey("jwk", …)`.
    pub jwk: Map<String, Value>,
}

/// Which key may check a token, or why none may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoKey {
    /// No key has the token's `kid`: the provider may have rotated; refetch (bounded) and retry.
    UnknownKid,
    /// The token names no `kid` and more than one key fits its `alg` (OIDC Core §10.1).
    Ambiguous,
    /// No key fits the token's `alg`.
    NoneFits,
}

/// A provider's usable signing keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderKeys(Vec<ProviderKey>);

impl ProviderKeys {
    /// Parses a JWKS. Keys that are not for signatures (`use` other than `sig`), of a type or
    /// curve we do not verify, or with a weak RSA modulus are left out; a key carrying private
    /// members, or a malformed document, refuses the whole set.
    pub fn parse(json: &[u8]) -> Result<Self, OidcError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(OidcError::new("jwks", "too large"));
        }
        let document = strict_json::parse_object(json)
            .map_err(|_| OidcError::new("jwks", "not a JSON object"))?;
        let Some(Value::Array(keys)) = document.get("keys") else {
            return Err(OidcError::new("jwks", "no keys array"));
        };
        if keys.len() > MAX_KEYS {
            return Err(OidcError::new("jwks", "too many keys"));
        }
        let mut usable = Vec::new();
        for key in keys {
            let Value::Object(key) = key else {
                return Err(OidcError::new("jwks", "a key is not an object"));
            };
            if let Some(key) = ProviderKey::from_jwk(key)? {
                usable.push(key);
            }
        }
        Ok(ProviderKeys(usable))
    }

    /// The key that may check a token signed with `alg` naming `kid`.
    pub fn select(&self, kid: Option<&str>, alg: Alg) -> Result<&ProviderKey, NoKey> {
        let fits = |key: &&ProviderKey| alg.fits(&key.kind) && key.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => {
                let named: Vec<&ProviderKey> = self
                    .0
                    .iter()
                    .filter(|key| key.kid.as_deref() == Some(kid))
                    .collect();
                if named.is_empty() {
                    return Err(NoKey::UnknownKid);
                }
                let mut fitting = named.into_iter().filter(fits);
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (Some(_), Some(_)) => Err(NoKey::Ambiguous),
                    (None, _) => Err(NoKey::NoneFits),
                }
            }
            None => {
                // Without a kid, a token may only be checked when the set leaves no choice.
                if self.0.len() > 1 {
                    return Err(NoKey::Ambiguous);
                }
                self.0.iter().find(fits).ok_or(NoKey::NoneFits)
            }
        }
    }

    /// How many usable keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ProviderKey {
    fn from_jwk(jwk: &Map<String, Value>) -> Result<Option<Self>, OidcError> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|private| jwk.contains_key(*private))
        {
            return Err(OidcError::new("jwks", "a key carries private members"));
        }
        if text("use").is_some_and(|usage| usage != "sig") {
            return Ok(None);
        }
        let b64 = |name: &str| text(name).and_then(base64url::decode);
        let (kind, members): (KeyType, &[&str]) = match (text("kty"), text("crv")) {
            (Some("RSA"), _) => {
                let modulus =
                    b64("n").ok_or_else(|| OidcError::new("jwks", "RSA key without n"))?;
                let significant = modulus.iter().skip_while(|&&b| b == 0).count();
                if b64("e").is_none() {
                    return Err(OidcError::new("jwks", "RSA key without e"));
                }
                if significant < MIN_RSA_BYTES {
                    return Ok(None);
                }
                (KeyType::Rsa, &["kty", "n", "e"])
            }
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64("x"), b64("y"));
                if x.map(|x| x.len()) != Some(32) || y.map(|y| y.len()) != Some(32) {
                    return Err(OidcError::new("jwks", "P-256 key with bad coordinates"));
                }
                (KeyType::P256, &["kty", "crv", "x", "y"])
            }
            (Some("OKP"), Some("Ed25519")) => {
                if b64("x").map(|x| x.len()) != Some(32) {
                    return Err(OidcError::new("jwks", "Ed25519 key with bad x"));
                }
                (KeyType::Ed25519, &["kty", "crv", "x"])
            }
            _ => return Ok(None),
        };
        let alg = match text("alg") {
            None => None,
            Some(name) => match Alg::from_jose(name) {
                Some(alg) if alg.fits(&kind) => Some(alg),
                // A key for an algorithm we never accept (or that does not fit it): unusable.
                _ => return Ok(None),
            },
        };
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(kid)) if !kid.is_empty() => Some(kid.clone()),
            Some(_) => return Err(OidcError::new("jwks", "kid is not a string")),
        };
        let public = members
            .iter()
            .filter_map(|name| jwk.get(*name).map(|v| ((*name).to_owned(), v.clone())))
            .collect();
        Ok(Some(ProviderKey {
            kid,
            alg,
            kind,
            jwk: public,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa(kid: &str) -> Value {
        serde_json::json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": base64url::encode(&[0xc5; 256]), "e": "AQAB"})
    }
    fn ec(kid: &str) -> Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
            "x": base64url::encode(&[1; 32]), "y": base64url::encode(&[2; 32])})
    }
    fn okp(kid: &str) -> Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": base64url::encode(&[3; 32])})
    }
    fn set(keys: Vec<Value>) -> ProviderKeys {
        ProviderKeys::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes())
            .expect("valid set")
    }

    #[test]
    fn keys_are_chosen_by_kid_and_algorithm() {
        let keys = set(vec![rsa("r1"), ec("e1"), okp("o1")]);
        assert_eq!(keys.len(), 3);
        let kid = |alg, kid| keys.select(Some(kid), alg).map(|k| k.kid.clone());
        assert_eq!(kid(Alg::Rs256, "r1"), Ok(Some("r1".into())));
        assert_eq!(kid(Alg::Es256, "e1"), Ok(Some("e1".into())));
        assert_eq!(kid(Alg::EdDsa, "o1"), Ok(Some("o1".into())));
        assert_eq!(
            kid(Alg::Es256, "r1"),
            Err(NoKey::NoneFits),
            "alg must fit the key"
        );
        assert_eq!(
            kid(Alg::Ps256, "r1"),
            Err(NoKey::NoneFits),
            "the JWK's alg binds"
        );
        assert_eq!(kid(Alg::Rs256, "gone"), Err(NoKey::UnknownKid));
    }

    #[test]
    fn without_a_kid_only_a_single_key_is_used() {
        let one = set(vec![rsa("r1")]);
        assert!(one.select(None, Alg::Rs256).is_ok());
        assert_eq!(one.select(None, Alg::Es256), Err(NoKey::NoneFits));
        let two = set(vec![rsa("r1"), ec("e1")]);
        assert_eq!(two.select(None, Alg::Rs256), Err(NoKey::Ambiguous));
    }

    #[test]
    fn only_public_members_are_kept() {
        let mut key = rsa("r1");
        key["x5c"] = serde_json::json!(["MIIB..."]);
        let keys = set(vec![key]);
        let chosen = keys.select(Some("r1"), Alg::Rs256).expect("key");
        let names: Vec<&str> = chosen.jwk.keys().map(String::as_str).collect();
        assert_eq!(names, ["e", "kty", "n"]);
    }

    #[test]
    fn unusable_keys_are_left_out_and_broken_sets_refused() {
        let mut encryption = rsa("enc");
        encryption["use"] = "enc".into();
        let mut weak = rsa("weak");
        weak["n"] = base64url::encode(&[0xc5; 128]).into();
        let hmac = serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"});
        let mut hs = rsa("hs");
        hs["alg"] = "HS256".into();
        let keys = set(vec![encryption, weak, hs, rsa("ok")]);
        assert_eq!(keys.len(), 1);
        for bad in [
            serde_json::json!({"keys": [hmac]}).to_string(),
            serde_json::json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}]})
                .to_string(),
            r#"{"keys": {}}"#.into(),
            r#"{"keys": [], "keys": []}"#.into(),
            "[]".into(),
        ] {
            assert!(ProviderKeys::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
