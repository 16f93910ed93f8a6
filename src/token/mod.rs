//! Session tokens: minting, and verification from untrusted text to [`VerifiedClaims`].

pub mod claims;
pub mod error;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod seal;
pub mod session_cache;
pub mod signature_precheck;
pub mod validation;

use crate::encoding::base64url;
use crate::encoding::strict_json::StrictJsonError;
use crate::token::claims::{Claims, VerifiedClaims};
use crate::token::error::{Error, Malformed};
use crate::token::jws::{PendingJws, UntrustedJws};
#[cfg(not(target_arch = "wasm32"))]
use crate::token::keys::SigningKey;
use crate::token::keys::{KeySet, VerifyingKey};
use crate::token::validation::Validation;

/// A session token that parsed but is not verified. Anything read from it is untrusted.
#[derive(Debug)]
pub struct UntrustedToken<'a> {
    jws: UntrustedJws<'a>,
    kid: String,
}

impl<'a> UntrustedToken<'a> {
    /// Parses `token` as a session token: a valid compact JWS whose header has a `kid`.
    pub fn parse(token: &'a str, max_bytes: usize) -> Result<Self, Error> {
        let jws = UntrustedJws::parse(token, max_bytes)?;
        let kid = jws.kid().ok_or(Malformed::MissingKeyId)?.to_owned();
        Ok(UntrustedToken { jws, kid })
    }

    /// The `kid` the token claims to be signed with. Untrusted.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Looks the key up in `keys`, checks the signature, then every claim rule at time `now`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify(
        self,
        keys: &KeySet,
        validation: &Validation,
        now: u64,
    ) -> Result<VerifiedClaims, Error> {
        let key = keys.find(&self.kid).ok_or(Error::UnknownKey)?;
        let payload = self.jws.verify_signature(key)?;
        finish(&payload, self.kid, validation, now)
    }

    /// The first half of a split verification, for a signature check that runs elsewhere (the
    /// Worker's WebCrypto): key lookup by `kid`, then the strict signature pre-checks. The
    /// claims are checked by the second half, [`PendingSignature`]'s completion.
    pub fn prepare(self, keys: &KeySet) -> Result<PendingSignature<'a, '_>, Error> {
        let key = keys.find(&self.kid).ok_or(Error::UnknownKey)?;
        let jws = self.jws.prepare(key)?;
        Ok(PendingSignature { jws, kid: self.kid })
    }
}

/// A session token whose key is found and whose signature passed the strict pre-checks, waiting
/// for the signature equation. Nothing in it is trusted; claims come out only with a verdict.
#[derive(Debug)]
#[must_use = "a pending signature proves nothing until it is verified"]
pub struct PendingSignature<'a, 'k> {
    jws: PendingJws<'a, 'k>,
    kid: String,
}

impl<'a, 'k> PendingSignature<'a, 'k> {
    /// The key to verify with.
    pub fn key(&self) -> &'k VerifyingKey {
        self.jws.key()
    }

    /// The signed bytes.
    pub fn signing_input(&self) -> &'a [u8] {
        self.jws.signing_input()
    }

    /// The signature `R || S`.
    pub fn signature(&self) -> &[u8; 64] {
        self.jws.signature()
    }

    /// Checks the signature here (`verify_strict`), then the claims: the same verdicts as
    /// [`verify`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify(self, validation: &Validation, now: u64) -> Result<VerifiedClaims, Error> {
        let payload = self.jws.verify()?;
        finish(&payload, self.kid, validation, now)
    }

    /// Finishes with the verdict of an Ed25519 check made outside this crate, then checks the
    /// claims. See [`PendingJws::complete_with_external_verdict`] for what `signature_verified`
    /// must mean; an error of the external check is `false`. Crate-private: only the Workers
    /// adapter's WebCrypto check (and the bench route) may vouch for a signature, so no caller
    /// of the library can turn an unverified token into [`VerifiedClaims`].
    // Called by the Workers adapter (wasm32) only; host builds use `verify`.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn complete_with_external_verdict(
        self,
        signature_verified: bool,
        validation: &Validation,
        now: u64,
    ) -> Result<VerifiedClaims, Error> {
        let payload = self
            .jws
            .complete_with_external_verdict(signature_verified)?;
        finish(&payload, self.kid, validation, now)
    }
}

fn finish(
    payload: &[u8],
    kid: String,
    validation: &Validation,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    let claims = parse_claims(payload)?;
    check_claims(&claims, validation, now)?;
    Ok(VerifiedClaims::new(claims, kid))
}

/// Verifies a session token at time `now` (Unix seconds).
///
/// Order: size cap, strict base64url, header, key lookup by `kid`, `verify_strict` signature,
/// then claims (`exp`, `nbf`/`iat`/`auth_time` not in the future, `iss`, `aud`, session age).
#[cfg(not(target_arch = "wasm32"))]
pub fn verify(
    token: &str,
    keys: &KeySet,
    validation: &Validation,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    UntrustedToken::parse(token, validation.max_token_bytes)?.verify(keys, validation, now)
}

/// What the edge signs, and how the signed value is written: a token
/// (`signing input.signature`) or a sealed value (the input without its domain, then the
/// signature; [`seal`]). Whoever holds the key signs [`Self::input`]: ed25519-dalek on the host
/// ([`mint`]), WebCrypto in the Worker (`adapter::signing`).
#[derive(Debug)]
pub struct ToSign {
    input: String,
    shown_from: usize,
}

impl ToSign {
    pub(crate) fn new(input: String, shown_from: usize) -> Self {
        ToSign { input, shown_from }
    }

    /// The bytes to sign.
    pub fn input(&self) -> &[u8] {
        self.input.as_bytes()
    }

    /// The signed value, with `signature` over [`Self::input`].
    pub fn finish(mut self, signature: &[u8; 64]) -> String {
        self.input.push('.');
        self.input.push_str(&base64url::encode(signature));
        self.input.split_off(self.shown_from)
    }
}

/// The token to sign for `claims` under the key `kid`: `{"alg":"EdDSA","typ":"JWT","kid":…}`.
pub fn unsigned(claims: &Claims, kid: &str) -> ToSign {
    // A kid is a thumbprint: base64url, nothing to escape.
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#);
    // Serializing our own claims cannot fail (every map key is a string); if it ever did, the
    // empty payload would make a token that no verifier accepts.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut input = base64url::encode(header.as_bytes());
    input.push('.');
    input.push_str(&base64url::encode(&payload));
    ToSign::new(input, 0)
}

/// Mints a session token over `claims`, signed by `key` here (host builds: the CLI, tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn mint(claims: &Claims, key: &SigningKey) -> String {
    let unsigned = unsigned(claims, key.kid());
    let signature = key.sign(unsigned.input());
    unsigned.finish(&signature)
}

fn parse_claims(payload: &[u8]) -> Result<Claims, Error> {
    let claims = Claims::from_json(payload).map_err(|e| match e {
        StrictJsonError::DuplicateMember => Malformed::DuplicateMember,
        StrictJsonError::Invalid => Malformed::Claims,
    })?;
    if claims.sub.is_empty() || claims.sid.is_empty() {
        return Err(Malformed::Claims.into());
    }
    Ok(claims)
}

fn check_claims(claims: &Claims, rules: &Validation, now: u64) -> Result<(), Error> {
    let leeway = rules.leeway_secs;
    if now >= claims.exp.saturating_add(leeway) {
        return Err(Error::Expired);
    }
    let latest_start = now.saturating_add(leeway);
    if claims.iat > latest_start
        || claims.auth_time > latest_start
        || claims.nbf.is_some_and(|nbf| nbf > latest_start)
    {
        return Err(Error::NotYetValid);
    }
    if claims.iss != rules.issuer {
        return Err(Error::WrongIssuer);
    }
    if !claims.has_audience(&rules.audience) {
        return Err(Error::WrongAudience);
    }
    if now.saturating_sub(claims.auth_time) > rules.max_session_age_secs {
        return Err(Error::TooOld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_external_verdict_decides_the_signature_and_the_claims_still_run() {
        let key = SigningKey::from_seed(&mut [7u8; 32]);
        let keys = KeySet::new(SigningKey::from_seed(&mut [7u8; 32]), Vec::new());
        let rules = Validation::new("iss", "aud");
        let claims: Claims = serde_json::from_str(
            r#"{"iss":"iss","aud":"aud","sub":"u","sid":"s","iat":100,"exp":200,"auth_time":100,"roles":[]}"#,
        )
        .expect("claims");
        let token = mint(&claims, &key);
        let pending = || {
            UntrustedToken::parse(&token, rules.max_token_bytes)
                .and_then(|t| t.prepare(&keys))
                .expect("passes the pre-checks")
        };
        assert_eq!(
            pending().complete_with_external_verdict(false, &rules, 150),
            Err(Error::BadSignature)
        );
        assert!(pending()
            .complete_with_external_verdict(true, &rules, 150)
            .is_ok());
        assert_eq!(
            pending().complete_with_external_verdict(true, &rules, 300),
            Err(Error::Expired),
            "a true verdict still goes through every claim check"
        );
    }
}
