//! What `/auth/session`, `/auth/logout` and `/auth/revoke` require of the presented session:
//! the decisions, given what verification and the revocation copy said (the adapter's I/O).

use crate::config::GatewayConfig;
use crate::gateway::credentials::{self, Source};
use crate::gateway::Checked;
use crate::login::handoff::SIGN_ON_CLAIM;
use crate::login::oidc::Provider;
use crate::refusal::{Denied, Refusal};
use crate::token::claims::VerifiedClaims;

/// The session token presented with an `/auth/*` request: 400 when ambiguous, 401 when absent.
pub fn presented<'r>(
    config: &GatewayConfig,
    cookie: Option<&'r str>,
    authorization: Option<&'r str>,
) -> Result<(&'r str, Source), Denied> {
    credentials::extract(cookie, authorization, &config.cookie_name)
        .map_err(|_| Denied::new(Refusal::BadRequest, "ambiguous_credentials"))?
        .ok_or_else(|| Denied::new(Refusal::Unauthenticated, "no_token"))
}

/// `GET /auth/session` and `POST /auth/revoke` act for the current session only: verified and
/// not revoked (a revoked one, or one that cannot be checked, is refused like a forged one).
pub fn current(checked: Checked) -> Result<VerifiedClaims, Denied> {
    match checked {
        // Only our own sessions act here: never a machine identity (a defence in depth; the
        // `/auth/*` verifier already takes our tokens only).
        Checked::Valid(session) if !session.is_session() => Err(Denied::new(
            Refusal::Unauthenticated,
            "machine_identity_on_auth_route",
        )),
        Checked::Valid(session) => Ok(session),
        Checked::Invalid(e) => Err(Denied::new(Refusal::Unauthenticated, e.code())),
        Checked::Revoked(session, reason) => {
            Err(Denied::new(Refusal::Unauthenticated, reason).of(&session))
        }
    }
}

/// `POST /auth/revoke` needs the revoke role; with a cookie session (which a browser attaches by
/// itself) it must also be same-origin.
pub fn may_revoke(
    config: &GatewayConfig,
    session: &VerifiedClaims,
    source: Source,
    same_origin: bool,
) -> Result<(), Denied> {
    if source == Source::Cookie && !same_origin {
        return Err(Denied::new(Refusal::CrossSite, "cross_site").of(session));
    }
    if !session.claims().has_role(&config.revocation.revoke_role) {
        return Err(Denied::new(Refusal::Forbidden, "missing_role").of(session));
    }
    Ok(())
}

/// The session ids a `POST /auth/logout` of `session` lists, leaving out those `listed` already:
/// its own `sid`; with `everywhere` (an app's "log out of every app") also the auth host's
/// session it came from ([`SIGN_ON_CLAIM`]), which refuses every app's session from that
/// sign-on, and the auth host's own.
pub fn sessions_to_end(
    session: &VerifiedClaims,
    everywhere: bool,
    listed: impl Fn(&str) -> bool,
) -> Vec<String> {
    let claims = session.claims();
    let sign_on = claims
        .extra
        .get(SIGN_ON_CLAIM)
        .and_then(serde_json::Value::as_str)
        .filter(|_| everywhere);
    std::iter::once(claims.sid.as_str())
        .chain(sign_on)
        .filter(|sid| !listed(sid))
        .map(str::to_owned)
        .collect()
}

/// The provider a browser's logout continues to (RP-Initiated Logout): the one the session was
/// signed in with, when it is configured with `end_session`.
pub fn logout_continues_to<'c>(
    config: &'c GatewayConfig,
    session: Option<&VerifiedClaims>,
) -> Option<&'c Provider> {
    let idp = session?.claims().extra.get("idp")?.as_str()?;
    config
        .providers
        .get(idp)
        .filter(|provider| provider.end_session)
}

/// A logout answers a browser (`Accept: text/html`) with the login page, anything else with 204.
pub fn logout_shows_page(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("text/html"))
}
