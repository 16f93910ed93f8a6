//! `POST /auth/logout`: revokes the presented session (its `sid`, everywhere, within the
//! revocation delay) and clears the cookie; a browser goes back to the login page. If the
//! revocation cannot be stored the cookie is still cleared, but the answer is 503: the token
//! itself would stay valid until it expires. Logouts that write count against `LOGIN_IP_LIMIT`.

use crate::audit::AuditEvent;
use crate::bindings;
use crate::config::GatewayConfig;
use crate::gateway::cookie;
use crate::gateway::revocation::{self, RevocationList};
use crate::login::session_routes;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{client_ip, limit, now, redirect, same_origin, verified_session, with_cookie};
use crate::adapter::gateway::revocation as revocation_copy;
use crate::adapter::respond;

/// Serves the route.
pub async fn handle(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "logout";
    same_origin(req)?;
    let now = now();
    let clear = cookie::clear(&config.cookie_name);
    let max_stale = config.revocation.max_stale_secs;
    let session =
        session_routes::to_end_on_logout(verified_session(req, config, now).await, |sid| {
            revocation_copy::lists_session(sid, now, max_stale)
        });
    if let Some(session) = session {
        limit(
            env,
            bindings::LOGIN_IP_LIMIT,
            format!("ip:{}", client_ip(audit)),
        )
        .await?;
        audit.session(&session);
        let claims = session.claims();
        let drop_after = revocation::logout_drop_after(
            claims,
            now,
            config.sessions.ttl_secs,
            config.revocation.max_propagation_secs(),
            config.session.max_session_age_secs,
            config.session.leeway_secs,
        );
        audit.revoked = Some(serde_json::json!({ "sid": claims.sid }));
        let mut delta = RevocationList::empty();
        delta.revoke_session(&claims.sid, drop_after);
        match revocation_copy::write(env, now, &delta).await {
            Ok(revision) => audit.revision = Some(revision),
            Err(e) => {
                let denied = Denied::new(
                    Refusal::StoreUnavailable,
                    format!("revocation_write_failed: {e}"),
                );
                return with_cookie(respond::denied(denied, audit), &clear);
            }
        }
    }
    let response = if session_routes::logout_shows_page(respond::header(req, "accept").as_deref()) {
        redirect("/auth/login")
    } else {
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(|_| Denied::new(Refusal::Internal, "response"))?
    };
    let response = with_cookie(response, &clear)?;
    let _ = response.headers().set("cache-control", "no-store");
    Ok(response)
}
