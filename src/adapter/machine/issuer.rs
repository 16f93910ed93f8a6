//! A trusted issuer's access token checked in the Worker: its JWKS (found through discovery or
//! configured; cached per isolate with single sign-on's, an unknown `kid` refetched at most once
//! a minute), the signature through WebCrypto, then the core's claim checks.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::login::oidc::discovery::{self, MAX_DISCOVERY_BYTES};
use crate::login::oidc::jwks::NoKey;
use crate::machine::issuer::{KeysAt, TrustedIssuer};
use crate::token::claims::VerifiedClaims;
use crate::token::error::Error;
use crate::token::validation::Validation;

use crate::adapter::login::oidc::{self, KeyError, DISCOVERY_TTL_SECS, FETCH_RETRY_SECS};
use crate::adapter::webcrypto;

thread_local! {
    /// Each discovered issuer's `jwks_uri` (`None`: the last fetch failed), with when it was
    /// read, by issuer id.
    static JWKS_URIS: RefCell<HashMap<String, (Option<String>, u64)>> =
        RefCell::new(HashMap::new());
}

/// Verifies `token`, which names `issuer` as its `iss`, at `now`.
pub async fn verify(
    issuer: &TrustedIssuer,
    token: &str,
    validation: &Validation,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    let parsed = issuer.parse(token)?;
    let jwks_uri = jwks_uri(issuer, now).await?;
    let cache_id = format!("issuer:{}", issuer.id);
    let key = oidc::jwks_key(&cache_id, &jwks_uri, parsed.kid(), parsed.alg(), now)
        .await
        .map_err(|e| {
            Error::Credential(match e {
                KeyError::NoKey(NoKey::UnknownKid) => "issuer_unknown_kid",
                KeyError::NoKey(NoKey::Ambiguous) => "issuer_ambiguous_key",
                KeyError::NoKey(NoKey::NoneFits) => "issuer_no_key_fits",
                KeyError::Unavailable(_) => "issuer_keys_unavailable",
            })
        })?;
    // An error of WebCrypto counts as a bad signature.
    let verified = webcrypto::verify(
        &key.jwk,
        parsed.alg(),
        parsed.signing_input(),
        parsed.signature(),
    )
    .await
    .unwrap_or(false);
    issuer.complete(parsed, verified, validation, now)
}

/// Where `issuer`'s keys are: configured, or its discovery document's `jwks_uri` (cached for
/// [`DISCOVERY_TTL_SECS`]; a failed read is not retried for [`FETCH_RETRY_SECS`]).
async fn jwks_uri(issuer: &TrustedIssuer, now: u64) -> Result<String, Error> {
    let discovery_url = match &issuer.keys_at {
        KeysAt::Jwks(url) => return Ok(url.clone()),
        KeysAt::Discovery(url) => url,
    };
    let unavailable = Error::Credential("issuer_keys_unavailable");
    let cached = JWKS_URIS.with(|uris| uris.borrow().get(&issuer.id).cloned());
    match cached {
        Some((Some(uri), at)) if now < at + DISCOVERY_TTL_SECS => return Ok(uri),
        Some((None, at)) if now < at + FETCH_RETRY_SECS => return Err(unavailable),
        _ => {}
    }
    let found = match oidc::get(discovery_url, MAX_DISCOVERY_BYTES).await {
        Ok(body) => discovery::jwks_uri(&body, &issuer.issuer).ok(),
        Err(_) => None,
    };
    JWKS_URIS.with(|uris| {
        uris.borrow_mut()
            .insert(issuer.id.clone(), (found.clone(), now))
    });
    found.ok_or(unavailable)
}
