//! `POST /auth/backchannel-logout/<provider>` (OpenID Connect Back-Channel Logout 1.0): the
//! provider tells the edge a user's session there has ended. The logout token is checked
//! (signature through WebCrypto with the provider's JWKS, then §2.6's claims, in
//! `login::oidc::id_token`), and the sessions it names are revoked through the one revocation
//! writer: those begun in that provider session (`sid`), else every session of that user
//! (`sub`). Answers 200, 400 for a token that is refused, 503 when the provider's keys or the
//! revocation cannot be had (the provider may retry).

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::revocation::{provider_logout_drop_after, RevocationList};
use crate::login::oidc::id_token::{Expected, UntrustedIdToken, MAX_ID_TOKEN_AGE_SECS};
use crate::login::oidc::{Kind, OidcError};
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{capped_body, now, provider, store_revocation};
use crate::adapter::login::oidc;
use crate::adapter::respond;

/// The route's prefix; the provider's id follows.
pub const PREFIX: &str = "/auth/backchannel-logout/";
/// Largest request body accepted (a form with one token).
const MAX_BODY_BYTES: usize = 20 * 1024;

/// Serves the route for the provider `id`.
pub async fn handle(
    req: &mut Request,
    id: &str,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "backchannel_logout";
    let provider = provider(config, id)?;
    if provider.kind != Kind::Oidc {
        return Err(Denied::new(Refusal::NotFound, "unknown_provider"));
    }
    let refused = |reason: String| Denied::new(Refusal::BadRequest, reason);
    let body = capped_body(req, MAX_BODY_BYTES).await?;
    let content_type = respond::header(req, "content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(refused("logout_token:content_type".into()));
    }
    let mut tokens = form_urlencoded::parse(&body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    let (Some(token), None) = (tokens.next(), tokens.next()) else {
        return Err(refused("logout_token:missing_or_repeated".into()));
    };
    let now = now();
    let token = UntrustedIdToken::parse_logout(&token).map_err(|e| refused(e.0))?;
    // The provider's own failure is 503, so that it retries; a token it sent wrong is 400.
    let provider_failed = |e: OidcError| {
        if e.0.starts_with("provider_") {
            Denied::new(Refusal::StoreUnavailable, e.0)
        } else {
            refused(e.0)
        }
    };
    let discovery = oidc::discovery(provider, now)
        .await
        .map_err(provider_failed)?;
    let verified = oidc::signed_by(provider, &discovery, &token, now)
        .await
        .map_err(provider_failed)?;
    let expected = Expected {
        issuer: &provider.issuer,
        client_id: &provider.client_id,
        nonce: "",
        leeway_secs: config.session.leeway_secs,
        now,
    };
    let ended = token
        .complete_logout(verified, &expected)
        .map_err(|e| refused(e.0))?;
    let (max_age, leeway) = (
        config.session.max_session_age_secs,
        config.session.leeway_secs,
    );
    let mut delta = RevocationList::empty();
    let revoked = match (&ended.sid, &ended.sub) {
        (Some(sid), _) => {
            let drop_after = provider_logout_drop_after(
                now,
                config.sessions.ttl_secs,
                config.revocation.max_propagation_secs(),
                MAX_ID_TOKEN_AGE_SECS,
                max_age,
                leeway,
            );
            delta.revoke_provider_session(&provider.id, sid, drop_after);
            serde_json::json!({ "idp": provider.id, "idp_sid": sid })
        }
        (None, Some(sub)) => {
            let sub = provider.mapping.session_sub(&provider.id, sub);
            // The sessions begun before the provider issued the token (whole seconds), not
            // those begun since: a replayed or late token ends no later login.
            let before = ended.iat.min(now) + 1;
            delta.revoke_user(&sub, before, max_age, leeway);
            serde_json::json!({ "sub": sub, "before": before })
        }
        (None, None) => return Err(refused("logout_token:no_sub_or_sid".into())),
    };
    audit.revoked = Some(revoked);
    let revision = store_revocation(env, now, &delta).await?;
    audit.revision = Some(revision);
    audit.reason = Some(format!("provider:{}", provider.id));
    let response = Response::empty()
        .map(|r| r.with_status(200))
        .map_err(|_| Denied::new(Refusal::Internal, "response"))?;
    let _ = response.headers().set("cache-control", "no-store");
    Ok(response)
}
