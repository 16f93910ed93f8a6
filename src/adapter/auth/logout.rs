//! `POST /auth/logout`: revokes the presented session (its `sid`, everywhere, within the
//! revocation delay) and clears the cookie; a browser goes back to the login page. If the
//! revocation cannot be stored the cookie is still cleared, but the answer is 503: the token
//! itself would stay valid until it expires. Logouts that write count against `LOGIN_IP_LIMIT`.

use crate::apps::Host;
use crate::audit::AuditEvent;
use crate::bindings;
use crate::config::GatewayConfig;
use crate::gateway::cookie;
use crate::gateway::revocation::{self, RevocationList};
use crate::login::next::encode_component;
use crate::login::oidc::Provider;
use crate::login::session_routes;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{
    client_ip, lapsed_sign_on, limit, now, redirect, same_origin, store_revocation,
    verified_session, with_cookie,
};
use crate::adapter::gateway::revocation as revocation_copy;
use crate::adapter::login::oidc;
use crate::adapter::{request_url, respond};

/// Serves the route. On an app (`APPS`), `?all=1` logs out of every app: it also lists the auth
/// host's session this one came from.
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
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    // At the auth host a logout always ends the whole sign-on; at an app, with `?all=1`.
    let everywhere =
        config.signs_on || (config.app.is_some() && url.query_param("all").as_deref() == Some("1"));
    let verified = match verified_session(req, config, now).await {
        // The auth host's session is never renewed (it forwards nothing) while its apps' are:
        // an expired one still names the sign-on to end.
        None if config.signs_on => lapsed_sign_on(req, env, config, now).await,
        verified => verified,
    };
    let continues_to = session_routes::logout_continues_to(config, verified.as_ref())
        .filter(|_| config.app.is_none());
    if let Some(session) = &verified {
        let to_end = session_routes::sessions_to_end(session, everywhere, |sid| {
            revocation_copy::lists_session(sid, now, max_stale)
        });
        if !to_end.is_empty() {
            limit(
                env,
                bindings::LOGIN_IP_LIMIT,
                format!("ip:{}", client_ip(audit)),
            )
            .await?;
            audit.session(session);
            let claims = session.claims();
            let propagation = config.revocation.max_propagation_secs();
            let (ttl, leeway) = (config.sessions.ttl_secs, config.session.leeway_secs);
            let mut revoked = serde_json::Map::new();
            let mut delta = RevocationList::empty();
            for sid in &to_end {
                let (what, drop_after) = if *sid == claims.sid {
                    let max_age = config.session.max_session_age_secs;
                    let until = revocation::logout_drop_after(
                        claims,
                        now,
                        ttl,
                        propagation,
                        max_age,
                        leeway,
                    );
                    ("sid", until)
                } else {
                    // The sign-on: other sessions of it may have begun later than this one.
                    let until =
                        revocation::sign_on_drop_after(claims, now, ttl, propagation, leeway);
                    ("psid", until)
                };
                revoked.insert(what.into(), sid.as_str().into());
                delta.revoke_session(sid, drop_after);
            }
            audit.revoked = Some(revoked.into());
            match store_revocation(env, now, &delta).await {
                Ok(revision) => audit.revision = Some(revision),
                Err(denied) => return with_cookie(respond::denied(denied, audit), &clear),
            }
        }
    }
    let wants_page = session_routes::logout_shows_page(respond::header(req, "accept").as_deref());
    let response = if wants_page {
        match (continues_to, &config.app) {
            (Some(provider), _) => redirect(&end_session_url(req, provider, now).await),
            // An app's users log in again at the auth host.
            (None, Some(link)) => redirect(&format!(
                "//{}/auth/login",
                link.auth_host
                    .on_port_of(
                        &Host::parse(Some(url.host()))
                            .map_err(|e| { Denied::new(Refusal::BadRequest, e.code()) })?
                    )
                    .authority()
            )),
            (None, None) => redirect("/auth/login"),
        }
    } else {
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(|_| Denied::new(Refusal::Internal, "response"))?
    };
    let response = with_cookie(response, &clear)?;
    let _ = response.headers().set("cache-control", "no-store");
    Ok(response)
}

/// The provider's `end_session_endpoint` with `client_id` and the post-logout redirect URI
/// (RP-Initiated Logout 1.0 §2); the login page when the provider has no such endpoint or
/// cannot be reached (the edge's own session is ended either way).
async fn end_session_url(req: &Request, provider: &Provider, now: u64) -> String {
    let Ok(url) = request_url::of(req) else {
        return "/auth/login".into();
    };
    let endpoint = match oidc::discovery(provider, now).await {
        Ok(discovery) => discovery.end_session_endpoint,
        Err(_) => None,
    };
    let Some(endpoint) = endpoint else {
        return "/auth/login".into();
    };
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!(
        "{endpoint}{separator}client_id={}&post_logout_redirect_uri={}",
        encode_component(&provider.client_id),
        encode_component(&provider.post_logout_redirect_uri(url.origin()))
    )
}
