//! `GET /auth/session`: the verified claims of the current session.

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{current_session, now};
use crate::adapter::respond;

/// Serves the route.
pub async fn handle(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "session";
    let (session, _) = current_session(req, env, config, now()).await?;
    audit.session(&session);
    respond::json(200, session.claims(), "no-store")
        .map_err(|_| Denied::new(Refusal::Internal, "response"))
}
