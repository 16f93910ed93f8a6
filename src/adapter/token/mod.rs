//! The Worker's one session verifier, used by every route that reads a session: the isolate's
//! verified-session cache, else the core's strict checks with WebCrypto's Ed25519 for the
//! signature equation; then the revocation copy. The core's `token::verify` (ed25519-dalek) is
//! the native and CLI verifier only.

pub mod ed25519;

use crate::config::GatewayConfig;
use crate::gateway::{self, Checked};
use crate::token::claims::VerifiedClaims;
use crate::token::error::Error;
use crate::token::keys::KeySet;
use crate::token::session_cache::Session;
use crate::token::validation::Validation;
use crate::token::UntrustedToken;
use worker::Env;

use crate::adapter::gateway::revocation;
use crate::adapter::{signing, state};

/// What became of `token` at `now`: verified ([`verify`]) and screened against the revocation
/// copy. A valid session comes with the assertion minted for it at first sight.
pub async fn check(
    env: &Env,
    config: &GatewayConfig,
    token: &str,
    now: u64,
) -> (Checked, Option<String>) {
    match verify(config, token, now).await {
        Err(e) => (Checked::Invalid(e), None),
        Ok(session) => match revocation::screen(env, config, &session.verified, now).await {
            Ok(()) => (Checked::Valid(session.verified), Some(session.assertion)),
            Err(reason) => (Checked::Revoked(session.verified, reason), None),
        },
    }
}

/// Verifies `token` at `now` as `token::verify` would: a cache hit, else [`verify_fresh`]; a
/// fresh success mints its `X-Auth-Assertion` and is cached with it.
pub async fn verify(config: &GatewayConfig, token: &str, now: u64) -> Result<Session, Error> {
    let cached = state::with_session_cache(config.session_cache_size, |c| c.get(token, now));
    if let Some(session) = cached {
        return Ok(session);
    }
    let verified = verify_fresh(token, &config.keys, &config.session, now).await?;
    let claims = gateway::assertion_claims(config, &verified, now);
    // A key that cannot sign (it was checked at import, so never in practice) leaves the
    // session without an assertion, uncached; forwarding refuses it (`assertion_unavailable`).
    let minted = signing::mint(config, &claims).await;
    let session = Session {
        verified,
        assertion: minted.as_deref().unwrap_or_default().to_owned(),
    };
    if minted.is_ok() {
        state::with_session_cache(config.session_cache_size, |c| {
            c.insert(token, &session, &config.session, now)
        });
    }
    Ok(session)
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
