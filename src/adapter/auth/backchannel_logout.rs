//! `POST /auth/backchannel-logout/<provider>` (OpenID Connect Back-Channel Logout 1.0): the
//! provider tells the edge a user's session there has ended. The logout token is checked
//! (signature through WebCrypto with the provider's JWKS, then §2.6's claims, in
//! `login::oidc::id_token`), and the sessions it names are revoked through the one revocation
//! writer: those begun in that provider session (`sid`), else every session of that user
//! (`sub`). Answers 200, 400 for a token that is refused, 503 when the revocation cannot be
//! stored (the provider may retry).

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::revocation::{session_drop_after, RevocationList};
use crate::login::oidc::id_token::{Expected, UntrustedIdToken};
use crate::login::oidc::Kind;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{capped_body, now};
use crate::adapter::gateway::revocation as revocation_copy;
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
    let provider = config
        .providers
        .get(id)
        .filter(|provider| provider.kind == Kind::Oidc)
        .ok_or_else(|| Denied::new(Refusal::NotFound, "unknown_provider"))?;
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
    let discovery = oidc::discovery(provider, now)
        .await
        .map_err(|e| Denied::new(Refusal::ProviderUnavailable, e.0))?;
    let token = UntrustedIdToken::parse_logout(&token).map_err(|e| refused(e.0))?;
    let verified = oidc::signed_by(provider, &discovery, &token, now)
        .await
        .map_err(|e| refused(e.0))?;
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
            delta.revoke_provider_session(
                &provider.id,
                sid,
                session_drop_after(now, max_age, leeway),
            );
            serde_json::json!({ "idp": provider.id, "idp_sid": sid })
        }
        (None, Some(sub)) => {
            let sub = provider.mapping.session_sub(&provider.id, sub);
            // `now + 1`: every session begun up to this second (times are whole seconds).
            delta.revoke_user(&sub, now + 1, max_age, leeway);
            serde_json::json!({ "sub": sub, "before": now + 1 })
        }
        (None, None) => return Err(refused("logout_token:no_sub_or_sid".into())),
    };
    audit.revoked = Some(revoked);
    let revision = revocation_copy::write(env, now, &delta)
        .await
        .map_err(|e| {
            Denied::new(
                Refusal::StoreUnavailable,
                format!("revocation_write_failed: {e}"),
            )
        })?;
    audit.revision = Some(revision);
    audit.reason = Some(format!("provider:{}", provider.id));
    let response = Response::empty()
        .map(|r| r.with_status(200))
        .map_err(|_| Denied::new(Refusal::Internal, "response"))?;
    let _ = response.headers().set("cache-control", "no-store");
    Ok(response)
}
