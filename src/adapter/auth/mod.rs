//! `/auth/*`, one file per route: the login page and `POST /auth/login` ([`login`]), logout,
//! revocation and the current session. Decisions are the core's (`crate::login`); these files
//! read the request, perform the I/O and answer. Every refusal leaves as a [`Denied`].

mod backchannel_logout;
mod callback;
mod handoff;
mod login;
mod logout;
mod page;
mod passkeys;
mod revoke;
mod session;
mod sso;

use crate::apps::{AppLink, Apps, Site};
use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::credentials::Source;
use crate::login::same_origin;
use crate::login::session_routes;
use crate::refusal::{Denied, Refusal};
use crate::token::claims::VerifiedClaims;
use worker::{Env, Headers, Request, Response};

use crate::adapter::deadline::{self, BodyError};
use crate::adapter::{request_url, respond, token};

/// Serves `/auth/*` for `site`; `path` is the request's canonical path. With several apps,
/// logins happen on the auth host only; an app serves its handoff, its logout and its session.
pub async fn handle(
    mut req: Request,
    path: &str,
    env: &Env,
    site: Site<'_>,
    apps: Option<&Apps>,
    audit: &mut AuditEvent,
) -> Response {
    audit.path = Some(path.to_owned());
    let result = match site {
        Site::App(app) => match &app.config.app {
            Some(link) => app_route(&req, path, env, &app.config, link, audit).await,
            None => Err(Denied::new(Refusal::Internal, "app_without_link")),
        },
        Site::Single(config) | Site::Auth(config) => {
            let apps = apps.filter(|_| matches!(site, Site::Auth(_)));
            login_host_route(&mut req, path, env, config, apps, audit).await
        }
        Site::Unknown => Err(Denied::new(Refusal::MisdirectedRequest, "unknown_host")),
    };
    result.unwrap_or_else(|denied| respond::denied(denied, audit))
}

/// `/auth/*` where users log in: the only app's, or the auth host's (`apps`: then it also
/// issues handoffs).
async fn login_host_route(
    req: &mut Request,
    path: &str,
    env: &Env,
    config: &GatewayConfig,
    apps: Option<&Apps>,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    let method = audit.method.clone();
    match (method.as_str(), path) {
        ("GET" | "HEAD", "/auth/login") => login::page(req, env, config, audit).await,
        ("GET" | "HEAD", p) if p.starts_with(sso::PREFIX) => {
            sso::start(req, &p[sso::PREFIX.len()..], env, config, audit).await
        }
        ("GET" | "HEAD", p) if p.starts_with(callback::PREFIX) => {
            callback::finish(req, &p[callback::PREFIX.len()..], env, config, audit).await
        }
        (_, p) if p == passkeys::PAGE || p.starts_with("/auth/passkeys/") => {
            passkeys::handle(req, p, env, config, audit).await
        }
        ("GET" | "HEAD", "/auth/login.css" | "/auth/login.js" | "/auth/passkeys.js") => {
            audit.event = "asset";
            page::asset(env, &path["/auth".len()..]).await
        }
        ("GET" | "HEAD", crate::login::handoff::PATH) => match apps {
            Some(apps) => handoff::issue(req, env, config, apps, audit).await,
            None => Err(Denied::new(Refusal::NotFound, "unknown_auth_path")),
        },
        ("POST", "/auth/login") => login::submit(req, env, config, audit).await,
        ("POST", "/auth/logout") => logout::handle(req, env, config, audit).await,
        ("POST", p) if p.starts_with(backchannel_logout::PREFIX) => {
            let id = &p[backchannel_logout::PREFIX.len()..];
            backchannel_logout::handle(req, id, env, config, audit).await
        }
        ("POST", "/auth/revoke") => revoke::handle(req, env, config, audit).await,
        ("GET", "/auth/session") => session::handle(req, env, config, audit).await,
        (_, "/auth/login" | "/auth/logout" | "/auth/revoke" | "/auth/session") => {
            Err(Denied::new(Refusal::MethodNotAllowed, "method_not_allowed"))
        }
        _ => Err(Denied::new(Refusal::NotFound, "unknown_auth_path")),
    }
}

/// `/auth/*` on an app: signing on through the auth host (`/auth/login`, `/auth/handoff`),
/// logging out of this app or of all (`/auth/logout`), and its current session.
async fn app_route(
    req: &Request,
    path: &str,
    env: &Env,
    config: &GatewayConfig,
    link: &AppLink,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    let method = audit.method.clone();
    match (method.as_str(), path) {
        ("GET" | "HEAD", "/auth/login") => handoff::start(req, link, audit).await,
        ("GET" | "HEAD", crate::login::handoff::PATH) => {
            handoff::redeem(req, env, config, link, audit).await
        }
        ("POST", "/auth/logout") => logout::handle(req, env, config, audit).await,
        ("GET", "/auth/session") => session::handle(req, env, config, audit).await,
        (_, "/auth/login" | "/auth/logout" | "/auth/session" | crate::login::handoff::PATH) => {
            Err(Denied::new(Refusal::MethodNotAllowed, "method_not_allowed"))
        }
        _ => Err(Denied::new(Refusal::NotFound, "unknown_auth_path")),
    }
}

/// The current session (`/auth/session`, `/auth/revoke`): presented, verified by the Worker's
/// one verifier and not revoked ([`session_routes::current`]).
async fn current_session(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    now: u64,
) -> Result<(VerifiedClaims, Source), Denied> {
    let (cookie, authorization) = credentials_of(req);
    let (token, source) =
        session_routes::presented(config, cookie.as_deref(), authorization.as_deref())?;
    let (checked, _) = token::check(env, config, token, now).await;
    Ok((session_routes::current(checked)?, source))
}

/// The presented session if it verifies, revoked or not (`/auth/logout`); `None` for anything
/// else, since a logout always clears the cookie.
async fn verified_session(
    req: &Request,
    config: &GatewayConfig,
    now: u64,
) -> Option<VerifiedClaims> {
    let (cookie, authorization) = credentials_of(req);
    let (token, _) =
        session_routes::presented(config, cookie.as_deref(), authorization.as_deref()).ok()?;
    token::verify(config, token, now)
        .await
        .ok()
        .map(|session| session.verified)
}

/// At the auth host: the presented session if it is ours and unrevoked, even past its `exp`,
/// within the maximum age. It is never renewed (the auth host forwards nothing) while the app
/// sessions made from it are, so only this way does a later logout or login still find the
/// sign-on it began. Only for that: it admits nothing.
pub(crate) async fn lapsed_sign_on(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    now: u64,
) -> Option<VerifiedClaims> {
    let (cookie, _) = credentials_of(req);
    let cookie = cookie?;
    let presented = crate::gateway::cookie::find(&cookie, &config.cookie_name).ok()??;
    token::lapsed_session(env, config, presented, now).await
}

fn credentials_of(req: &Request) -> (Option<String>, Option<String>) {
    (
        respond::header(req, "cookie"),
        respond::header(req, "authorization"),
    )
}

/// The configured identity provider `id` of an `/auth/sso|callback|backchannel-logout/<id>`
/// route: 404 for any other.
fn provider<'c>(
    config: &'c GatewayConfig,
    id: &str,
) -> Result<&'c crate::login::oidc::Provider, Denied> {
    config
        .providers
        .get(id)
        .ok_or_else(|| Denied::new(Refusal::NotFound, "unknown_provider"))
}

/// Stores `delta` through the one revocation writer: its new revision, or 503 (nothing changed).
async fn store_revocation(
    env: &Env,
    now: u64,
    delta: &crate::gateway::revocation::RevocationList,
) -> Result<u64, Denied> {
    crate::adapter::gateway::revocation::write(env, now, delta)
        .await
        .map_err(|e| {
            Denied::new(
                Refusal::StoreUnavailable,
                format!("revocation_write_failed: {e}"),
            )
        })
}

/// Counts one attempt of `key` against the Rate Limiting binding `binding`: 429 over the limit.
async fn limit(env: &Env, binding: &'static str, key: String) -> Result<(), Denied> {
    let limiter = env
        .rate_limiter(binding)
        .map_err(|_| Denied::new(Refusal::Internal, "rate_limit_binding_missing"))?;
    let outcome = limiter
        .limit(key)
        .await
        .map_err(|_| Denied::new(Refusal::Internal, "rate_limit_failed"))?;
    if outcome.success {
        Ok(())
    } else {
        Err(Denied::new(
            Refusal::TooManyRequests,
            format!("rate_limited:{binding}"),
        ))
    }
}

/// The request body, refused (413) when it declares or turns out to be longer than `max` bytes.
/// Read chunk by chunk, counted as it arrives: a body without a length (chunked) is refused as
/// soon as it passes `max`, never buffered whole first.
async fn capped_body(req: &mut Request, max: usize) -> Result<Vec<u8>, Denied> {
    let too_large = || Denied::new(Refusal::PayloadTooLarge, "body_too_large");
    if deadline::declares_more(respond::header(req, "content-length").as_deref(), max) {
        return Err(too_large());
    }
    match deadline::capped(req.stream().ok(), max).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => Err(too_large()),
        Err(BodyError::Broken) => Err(Denied::new(Refusal::BadRequest, "body_unreadable")),
    }
}

/// Whether a state-changing request comes from this origin (`Origin` / `Sec-Fetch-Site`).
fn is_same_origin(req: &Request) -> Result<bool, Denied> {
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    let origin = respond::header(req, "origin");
    let site = respond::header(req, "sec-fetch-site");
    Ok(same_origin::is_same_origin(
        origin.as_deref(),
        site.as_deref(),
        url.origin(),
    ))
}

/// Refuses cross-site state changes.
fn same_origin(req: &Request) -> Result<(), Denied> {
    if is_same_origin(req)? {
        Ok(())
    } else {
        Err(Denied::new(Refusal::CrossSite, "cross_site"))
    }
}

/// A `303 See Other` to `location`, never cached.
fn redirect(location: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("location", location);
    let _ = headers.set("cache-control", "no-store");
    Response::builder()
        .with_status(303)
        .with_headers(headers)
        .empty()
}

/// Adds `Set-Cookie: value` to `response`.
fn with_cookie(response: Response, value: &str) -> Result<Response, Denied> {
    response
        .headers()
        .append("set-cookie", value)
        .map_err(|_| Denied::new(Refusal::Internal, "set_cookie"))?;
    Ok(response)
}

fn client_ip(audit: &AuditEvent) -> String {
    audit.ip.clone().unwrap_or_else(|| "unknown".into())
}

fn now() -> u64 {
    worker::Date::now().as_millis() / 1000
}
