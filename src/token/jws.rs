//! The JWS compact serialization layer (RFC 7515) for Ed25519 (RFC 8037): split, decode,
//! read the protected header, check the signature. It knows nothing about sessions.

use crate::encoding::base64url;
use crate::encoding::strict_json::{self, StrictJsonError};
use crate::token::error::{Error, Malformed};
use crate::token::keys::VerifyingKey;
use crate::token::signature_precheck;
use serde_json::Value;

/// The header parameters read by name: `alg`, `typ`, `kid`, then those refused outright
/// (`crit`, `jku`, `jwk`, `x5u`, `x5c`: they ask the verifier to trust keys or semantics carried
/// by the token itself).
const HEADER_MEMBERS: [&str; 8] = ["alg", "typ", "kid", "crit", "jku", "jwk", "x5u", "x5c"];

/// A compact JWS whose shape is valid but whose signature has not been checked.
///
/// Everything read from it is attacker-controlled until [`UntrustedJws::verify_signature`]
/// succeeds.
#[derive(Debug)]
pub struct UntrustedJws<'a> {
    signing_input: &'a str,
    kid: Option<String>,
    payload: Vec<u8>,
    signature: [u8; 64],
}

impl<'a> UntrustedJws<'a> {
    /// Parses `token` in verification order: size cap, three segments, strict base64url,
    /// header JSON (no duplicates), `alg`, forbidden parameters, `typ`, `kid`, signature length.
    pub fn parse(token: &'a str, max_bytes: usize) -> Result<Self, Error> {
        if token.len() > max_bytes {
            return Err(Malformed::TooLarge.into());
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Malformed::Segments.into());
        };
        let decode = |segment| base64url::decode(segment).ok_or(Malformed::Base64);
        let header = decode(header_b64)?;
        let payload = decode(payload_b64)?;
        let signature = decode(signature_b64)?;

        let ([alg, typ, kid, forbidden @ ..], _others) =
            strict_json::parse_members(&header, &HEADER_MEMBERS).map_err(|e| match e {
                StrictJsonError::DuplicateMember => Malformed::DuplicateMember,
                StrictJsonError::Invalid => Malformed::Header,
            })?;
        if !matches!(
            alg.as_ref().and_then(Value::as_str),
            Some("EdDSA" | "Ed25519")
        ) {
            return Err(Malformed::Algorithm.into());
        }
        if forbidden.iter().any(Option::is_some) {
            return Err(Malformed::ForbiddenHeader.into());
        }
        match typ {
            None => {}
            Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
            Some(_) => return Err(Malformed::Type.into()),
        }
        let kid = match kid {
            None => None,
            Some(Value::String(kid)) if !kid.is_empty() => Some(kid),
            Some(_) => return Err(Malformed::MissingKeyId.into()),
        };
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| Malformed::SignatureLength)?;

        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        Ok(UntrustedJws {
            signing_input,
            kid,
            payload,
            signature,
        })
    }

    /// The header's `kid`, if any. Untrusted: use it only to look up a key.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Checks the signature with `key` (`verify_strict`) and returns the now-authentic payload.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify_signature(self, key: &VerifyingKey) -> Result<Vec<u8>, Error> {
        key.verify(self.signing_input.as_bytes(), &self.signature)?;
        Ok(self.payload)
    }

    /// The first half of a split verification with `key`: runs the strict checks a generic
    /// Ed25519 verifier may not make ([`signature_precheck::precheck`]: S < L, canonical R not
    /// of small order) and returns what is left to check, the signature equation.
    pub fn prepare<'k>(self, key: &'k VerifyingKey) -> Result<PendingJws<'a, 'k>, Error> {
        signature_precheck::precheck(&self.signature)?;
        Ok(PendingJws { jws: self, key })
    }
}

/// A JWS whose key is chosen and whose signature passed the strict pre-checks, but whose
/// signature equation is not checked yet. Its payload is reachable only through a verdict:
/// [`PendingJws::verify`] (ed25519-dalek here) or
/// [`PendingJws::complete_with_external_verdict`] (a check made elsewhere, e.g. WebCrypto).
#[derive(Debug)]
pub struct PendingJws<'a, 'k> {
    jws: UntrustedJws<'a>,
    key: &'k VerifyingKey,
}

impl<'a, 'k> PendingJws<'a, 'k> {
    /// The key the signature must verify under (validated at load: canonical, not weak).
    pub fn key(&self) -> &'k VerifyingKey {
        self.key
    }

    /// The exact bytes that were signed: `header.payload` as received.
    pub fn signing_input(&self) -> &'a [u8] {
        self.jws.signing_input.as_bytes()
    }

    /// The 64-byte signature `R || S`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.jws.signature
    }

    /// Checks the signature here with `verify_strict` and returns the now-authentic payload.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify(self) -> Result<Vec<u8>, Error> {
        self.jws.verify_signature(self.key)
    }

    /// Finishes with the verdict of an Ed25519 check made outside this crate. Only pass `true`
    /// when a standard (cofactorless) Ed25519 verification of exactly [`Self::signature`] over
    /// exactly [`Self::signing_input`] under exactly [`Self::key`] succeeded; any error of that
    /// check must be passed as `false`. `false` refuses with [`Error::BadSignature`].
    // Called by the Workers adapter (wasm32) only; host builds use `verify`.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn complete_with_external_verdict(
        self,
        signature_verified: bool,
    ) -> Result<Vec<u8>, Error> {
        if !signature_verified {
            return Err(Error::BadSignature);
        }
        Ok(self.jws.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a token with `header` (and an empty payload); the `kid` it read, or the refusal.
    fn with_header(header: &str) -> Result<Option<String>, Error> {
        let token = format!(
            "{}.{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(b"{}"),
            base64url::encode(&[0u8; 64])
        );
        UntrustedJws::parse(&token, 4096).map(|jws| jws.kid().map(str::to_owned))
    }

    #[test]
    fn refused_header_parameters_are_refused_even_null_or_escaped() {
        for header in [
            r#"{"alg":"EdDSA","crit":null}"#,
            r#"{"alg":"EdDSA","x5c":null}"#,
            r#"{"alg":"EdDSA","\u0063rit":[]}"#,
            r#"{"alg":"EdDSA","jwk":{}}"#,
            r#"{"alg":"EdDSA","jku":"https://attacker.example/jwks"}"#,
            r#"{"alg":"EdDSA","x5u":""}"#,
        ] {
            let refused = with_header(header).expect_err(header);
            assert_eq!(
                refused,
                Error::Malformed(Malformed::ForbiddenHeader),
                "{header}"
            );
        }
    }

    #[test]
    fn header_members_are_checked_by_name() {
        let refused = |header: &str| with_header(header).expect_err(header);
        assert_eq!(refused(r#"{"alg":"none"}"#), Malformed::Algorithm.into());
        assert_eq!(
            refused(r#"{"alg":"EdDSA","typ":null}"#),
            Malformed::Type.into()
        );
        assert_eq!(
            refused(r#"{"alg":"EdDSA","kid":""}"#),
            Malformed::MissingKeyId.into()
        );
        assert_eq!(
            refused(r#"{"alg":"EdDSA","\u0061lg":"EdDSA"}"#),
            Malformed::DuplicateMember.into()
        );
        let parsed = with_header(r#"{"typ":"jwt","kid":"k1","alg":"Ed25519","x":1}"#);
        assert_eq!(parsed.expect("valid").as_deref(), Some("k1"));
    }
}
