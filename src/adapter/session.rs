//! The session check on the request path: the isolate's verified-session cache, else the split
//! verification of the core with WebCrypto's Ed25519 for the signature equation; then the
//! gateway's decision with that result.

use crate::claims::VerifiedClaims;
use crate::config::GatewayConfig;
use crate::error::Error;
use crate::gateway::{self, Admitted, Denied, Inbound};
use crate::keys::KeySet;
use crate::session_cache::Session;
use crate::token::UntrustedToken;
use crate::validation::Validation;

use super::{ed25519, state};

/// Decides `inbound` at `now` ([`gateway::admit_with`]) with its session token, if any,
/// verified beforehand by [`verify`]. Also gives the assertion minted for that session.
pub async fn admit(
    config: &GatewayConfig,
    inbound: &Inbound<'_>,
    now: u64,
) -> (Result<Admitted, Denied>, Option<String>) {
    let presented = match gateway::presented_token(config, inbound) {
        Some(token) => Some((token, verify(config, token, now).await)),
        None => None,
    };
    let mut assertion = None;
    let decision = gateway::admit_with(config, inbound, |token| match presented {
        Some((verified_token, Ok(session))) if verified_token == token => {
            assertion = Some(session.assertion);
            Ok(session.verified)
        }
        Some((verified_token, Err(e))) if verified_token == token => Err(e),
        // Not the token that was verified (cannot happen: the same extraction): refuse.
        _ => Err(Error::BadSignature),
    });
    (decision, assertion)
}

/// Verifies `token` at `now` as `token::verify` would: a cache hit, else [`verify_fresh`]; a
/// fresh success mints its `X-Auth-Assertion` and is cached with it.
pub async fn verify(config: &GatewayConfig, token: &str, now: u64) -> Result<Session, Error> {
    let cached = state::with_session_cache(config.session_cache_size, |c| c.get(token, now));
    if let Some(session) = cached {
        return Ok(session);
    }
    let verified = verify_fresh(token, &config.keys, &config.session, now).await?;
    let assertion = gateway::assertion(config, verified.claims(), now);
    let session = Session {
        verified,
        assertion,
    };
    state::with_session_cache(config.session_cache_size, |c| {
        c.insert(token, &session, &config.session, now)
    });
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
