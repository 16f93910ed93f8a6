//! `POST /auth/revoke` with `{"sid":"…"}` (one session) or `{"sub":"…","before":…}` (every
//! session of a user that began before `before`, default now). Needs a current session holding
//! `REVOKE_ROLE`; with a cookie session the request must also be same-origin.

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::revocation::{Revocation, RevocationList};
use crate::login::session_routes;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{capped_body, current_session, is_same_origin, now, store_revocation};
use crate::adapter::respond;

/// Largest body accepted.
const MAX_REVOKE_BODY_BYTES: usize = 1024;

/// Serves the route.
pub async fn handle(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "revoke";
    let now = now();
    let (session, source) = current_session(req, env, config, now).await?;
    audit.session(&session);
    session_routes::may_revoke(config, &session, source, is_same_origin(req)?)?;
    let body = capped_body(req, MAX_REVOKE_BODY_BYTES).await?;
    let revocation = Revocation::from_json(&body, now)
        .map_err(|reason| Denied::new(Refusal::BadRequest, reason))?;
    audit.revoked = Some(revocation.to_json());
    let mut delta = RevocationList::empty();
    revocation.apply(
        &mut delta,
        now,
        config.session.max_session_age_secs,
        config.session.leeway_secs,
    );
    let revision = store_revocation(env, now, &delta).await?;
    audit.revision = Some(revision);
    respond::json(
        200,
        &serde_json::json!({ "revoked": revocation.to_json(), "revision": revision }),
        "no-store",
    )
    .map_err(|_| Denied::new(Refusal::Internal, "response"))
}
