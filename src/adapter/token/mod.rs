//! The Worker's one session verifier, used by every route that reads a session: the isolate's
//! verified-session cache, else the core's strict checks with WebCrypto's Ed25519 for the
//! signature equation; then the revocation copy. The core's `token::verify` (ed25519-dalek) is
//! the native and CLI verifier only.
//!
//! On forwarded requests ([`check_presented`]) a bearer token may also be a trusted issuer's
//! access token, and the credential may be a service token (`adapter::machine`); the `/auth/*`
//! routes ([`check`], [`verify`]) take our own sessions only.

pub mod ed25519;

use crate::config::GatewayConfig;
use crate::gateway::credentials::Source;
use crate::gateway::{self, Checked, Presented};
use crate::token::claims::{VerifiedClaims, Via};
use crate::token::error::Error;
use crate::token::keys::KeySet;
use crate::token::session_cache::Session;
use crate::token::validation::Validation;
use crate::token::UntrustedToken;
use worker::Env;

use crate::adapter::gateway::revocation;
use crate::adapter::machine;
use crate::adapter::{signing, state};

/// What became of `token`, our own session, at `now`: verified ([`verify`]) and screened
/// against the revocation copy. A valid session comes with the assertion minted for it at first
/// sight.
pub async fn check(
    env: &Env,
    config: &GatewayConfig,
    token: &str,
    now: u64,
) -> (Checked, Option<String>) {
    screened(env, config, verify(config, token, now).await, now).await
}

/// What became of the credential a forwarded request presents, at `now`: our session, a
/// trusted issuer's access token (as a bearer only), or a service token; verified and screened
/// against the revocation copy like a session.
pub async fn check_presented(
    env: &Env,
    config: &GatewayConfig,
    presented: Presented<'_>,
    now: u64,
) -> (Checked, Option<String>) {
    let verified = match presented {
        Presented::Token(token, source) => verify_any(config, token, source, now).await,
        Presented::ServiceToken(presented) => {
            match machine::service_token::verify(env, config, &presented, now).await {
                Ok(verified) => Ok(with_assertion(config, verified, now).await.0),
                Err(e) => Err(e),
            }
        }
        Presented::BadServiceToken => Err(Error::Credential("service_token_malformed")),
    };
    screened(env, config, verified, now).await
}

async fn screened(
    env: &Env,
    config: &GatewayConfig,
    verified: Result<Session, Error>,
    now: u64,
) -> (Checked, Option<String>) {
    match verified {
        Err(e) => (Checked::Invalid(e), None),
        Ok(session) => match revocation::screen(env, config, &session.verified, now).await {
            Ok(()) => (Checked::Valid(session.verified), Some(session.assertion)),
            Err(reason) => (Checked::Revoked(session.verified, reason), None),
        },
    }
}

/// Verifies `token` at `now` as `token::verify` would: a cache hit, else [`verify_fresh`]; a
/// fresh success mints its `X-Auth-Assertion` and is cached with it. Our own sessions only.
pub async fn verify(config: &GatewayConfig, token: &str, now: u64) -> Result<Session, Error> {
    let cached = state::with_session_cache(config, |c| c.get(token, now))
        .filter(|session| session.verified.is_session());
    if let Some(session) = cached {
        return Ok(session);
    }
    let verified = verify_fresh(token, &config.keys, &config.session, now).await?;
    cached_with_assertion(config, token, verified, now).await
}

/// Our own session `token` verified as [`verify_fresh`] does but with its `exp` and maximum age
/// stretched by the maximum age, then screened against the revocation copy: what names a sign-on
/// for a logout or a later login at the auth host to carry on (`auth::lapsed_sign_on`). Never
/// cached, never admitted anywhere.
pub async fn lapsed_session(
    env: &Env,
    config: &GatewayConfig,
    token: &str,
    now: u64,
) -> Option<VerifiedClaims> {
    let stretched = Validation {
        leeway_secs: config
            .session
            .leeway_secs
            .saturating_add(config.session.max_session_age_secs),
        ..config.session.clone()
    };
    let session = verify_fresh(token, &config.keys, &stretched, now)
        .await
        .ok()?;
    revocation::screen(env, config, &session, now).await.ok()?;
    Some(session)
}

/// [`verify`], or for a bearer token naming a trusted issuer, that issuer's check (cached
/// like a session).
async fn verify_any(
    config: &GatewayConfig,
    token: &str,
    source: Source,
    now: u64,
) -> Result<Session, Error> {
    let issuer = match source {
        Source::Bearer => config.issuers.for_token(token),
        Source::Cookie | Source::ServiceToken => None,
    };
    let Some(issuer) = issuer else {
        return verify(config, token, now).await;
    };
    let cached = state::with_session_cache(config, |c| c.get(token, now))
        .filter(|session| session.verified.via() == Via::Issuer);
    if let Some(session) = cached {
        return Ok(session);
    }
    let verified = machine::issuer::verify(issuer, token, &config.session, now).await?;
    cached_with_assertion(config, token, verified, now).await
}

/// `verified` with its assertion, cached under `token` when the assertion could be minted.
async fn cached_with_assertion(
    config: &GatewayConfig,
    token: &str,
    verified: VerifiedClaims,
    now: u64,
) -> Result<Session, Error> {
    let (session, minted) = with_assertion(config, verified, now).await;
    if minted {
        state::with_session_cache(config, |c| c.insert(token, &session, &config.session, now));
    }
    Ok(session)
}

/// `verified` with the assertion minted for it, and whether minting worked.
async fn with_assertion(
    config: &GatewayConfig,
    verified: VerifiedClaims,
    now: u64,
) -> (Session, bool) {
    let claims = gateway::assertion_claims(config, &verified, now);
    // A key that cannot sign (it was checked at import, so never in practice) leaves the
    // session without an assertion, uncached; forwarding refuses it (`assertion_unavailable`).
    let minted = signing::mint(config, &claims).await;
    let session = Session {
        verified,
        assertion: minted.as_deref().unwrap_or_default().to_owned(),
    };
    (session, minted.is_ok())
}

/// The production verification without the cache: parse, key lookup, strict pre-checks (core),
/// the signature equation (WebCrypto), the claims (core).
pub async fn verify_fresh(
    token: &str,
    keys: &KeySet,
    validation: &Validation,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    let pending = UntrustedToken::parse(token, validation.max_token_bytes)?.prepare(keys)?;
    let verdict =
        ed25519::verify(pending.key(), pending.signing_input(), pending.signature()).await;
    pending.complete_with_external_verdict(verdict, validation, now)
}
