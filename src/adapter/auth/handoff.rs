//! The sign-on across apps ([`crate::login::handoff`]), on both sides:
//!
//! - an app's `GET /auth/login` ([`start`]): the nonce cookie, then to the auth host;
//! - the auth host's `GET /auth/handoff` ([`issue`]): its session (or a login first), then a
//!   sealed handoff to the app;
//! - an app's `GET /auth/handoff` ([`redeem`]): the handoff opened, checked against revocation,
//!   claimed once, and the app's own session set.
//!
//! Every answer is `no-store` and `Referrer-Policy: no-referrer`: a handoff in a URL is sent on
//! to no one.

use crate::apps::{AppLink, Apps, Host};
use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::{cookie, Checked};
use crate::login::handoff::{self, Handoff, SealedHandoff};
use crate::login::next;
use crate::refusal::{Denied, Refusal};
use crate::token::claims;
use worker::{Env, Request, Response};

use super::{now, redirect, with_cookie};
use crate::adapter::gateway::revocation;
use crate::adapter::{request_url, respond, signing, single_use, token};

fn failed(reason: &'static str) -> Denied {
    Denied::new(Refusal::SignInFailed, format!("handoff:{reason}"))
}

fn random<const N: usize>() -> Result<[u8; N], Denied> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| Denied::new(Refusal::Internal, "no_randomness"))?;
    Ok(bytes)
}

/// The host the request was sent to.
fn host_of(url: &request_url::RequestUrl) -> Result<Host, Denied> {
    Host::parse(Some(url.host())).map_err(|e| Denied::new(Refusal::BadRequest, e.code()))
}

/// A redirect that tells the browser to send no `Referer` onwards, and to run in no frame (a
/// page framing the exchange could watch where it goes).
fn redirect_quietly(location: &str) -> Response {
    let response = redirect(location);
    let headers = response.headers();
    let _ = headers.set("referrer-policy", "no-referrer");
    let _ = headers.set("x-frame-options", "DENY");
    let _ = headers.set("content-security-policy", "frame-ancestors 'none'");
    response
}

/// An app's `GET /auth/login`: keep (or set) the nonce cookie, and send the browser to sign on
/// at the auth host for this app, then back to `next`.
pub async fn start(
    req: &Request,
    link: &AppLink,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "handoff_start";
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    let host = host_of(&url)?;
    let next = next::safe_next(url.query_param("next").as_deref());
    let reauth = url.query_param("reauth").as_deref() == Some("1");
    let cookies = respond::header(req, "cookie").unwrap_or_default();
    let kept = cookie::find(&cookies, handoff::NONCE_COOKIE)
        .ok()
        .flatten()
        .filter(|nonce| handoff::is_nonce(nonce))
        .map(str::to_owned);
    let nonce = match kept {
        Some(nonce) => nonce,
        None => handoff::new_nonce(&random()?),
    };
    let location = handoff::start_location(
        &link.auth_host.on_port_of(&host),
        &host,
        &handoff::state_of(&nonce),
        &next,
        reauth,
    );
    // Renewed on every start, so a login that began just before it lapsed still finds it.
    let nonce_cookie = format!(
        "{}={nonce}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=Lax",
        handoff::NONCE_COOKIE,
        handoff::NONCE_COOKIE_MAX_AGE_SECS
    );
    with_cookie(redirect_quietly(&location), &nonce_cookie)
}

/// The auth host's `GET /auth/handoff?app=&state=&next=[&reauth=1]`: with a session of its own
/// (a fresh one, if `reauth`), a sealed handoff to that app; without, the login page first, which
/// comes back here.
pub async fn issue(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    apps: &Apps,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "handoff_issue";
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    let here = host_of(&url)?;
    let bad = |reason: &'static str| Denied::new(Refusal::BadRequest, reason);
    let requested = url.query_param("app").ok_or_else(|| bad("no_app"))?;
    let (app, app_host) = apps
        .handoff_target(&requested, &here)
        .ok_or_else(|| bad("unknown_app"))?;
    audit.app = Some(app.id.clone());
    let state = url
        .query_param("state")
        .filter(|state| handoff::is_nonce(state))
        .ok_or_else(|| bad("bad_state"))?
        .into_owned();
    let reauth = url.query_param("reauth").as_deref() == Some("1");
    let now = now();
    let presented = respond::header(req, "cookie").and_then(|header| {
        cookie::find(&header, &config.cookie_name)
            .ok()
            .flatten()
            .map(str::to_owned)
    });
    let session = match presented {
        None => None,
        Some(token) => match token::check(env, config, &token, now).await.0 {
            Checked::Valid(session) => Some(session),
            Checked::Invalid(_) | Checked::Revoked(..) => None,
        },
    };
    let session = match session {
        Some(session) if !reauth || handoff::login_is_fresh(&session, now) => session,
        _ => {
            // Log in here first; the login page brings the browser back to this very request.
            let back = next::login_location(url.path(), url.query());
            let location = if reauth {
                format!("{back}&reauth=1")
            } else {
                back
            };
            return Ok(redirect_quietly(&location));
        }
    };
    audit.session(&session);
    let next = next::safe_next(url.query_param("next").as_deref());
    let handoff = Handoff::new(&app.id, &app_host, state, next, &random()?, &session, now)
        .map_err(|e| failed(e.0))?;
    let sealed = signing::sign(config, handoff.to_seal()).await?;
    Ok(redirect_quietly(&handoff::redeem_location(
        &app_host, &sealed,
    )))
}

/// An app's `GET /auth/handoff?token=`: the handoff opened for this app, host and browser, the
/// auth host's session not revoked, the handoff claimed once; then the app's own session.
pub async fn redeem(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    link: &AppLink,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "handoff";
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    let host = host_of(&url)?;
    let value = url.query_param("token").ok_or_else(|| failed("no_token"))?;
    let sealed = SealedHandoff::parse(&value).map_err(|e| failed(e.0))?;
    let key = config.signing_key().verifying_key();
    let sealed_by_us =
        token::ed25519::verify(key, sealed.signing_input(), sealed.signature()).await;
    let now = now();
    let genuine = sealed
        .open(sealed_by_us, link, &host, now)
        .map_err(|e| failed(e.0))?;
    // Used up at its first presentation here, before the browser is checked.
    let ttl = genuine
        .exp()
        .saturating_sub(now)
        .saturating_add(config.session.leeway_secs);
    if !single_use::claim(env, &format!("handoff:{}", genuine.jti()), ttl).await? {
        return Err(failed("used_before"));
    }
    let cookies = respond::header(req, "cookie").unwrap_or_default();
    let nonce = cookie::find(&cookies, handoff::NONCE_COOKIE).ok().flatten();
    let opened = genuine.bind(nonce, now).map_err(|e| failed(e.0))?;
    audit.sub = Some(opened.session.claims().sub.clone());
    if let Err(reason) = revocation::screen(env, config, &opened.session, now).await {
        return Err(Denied::new(Refusal::SignInFailed, reason).of(&opened.session));
    }
    let claims =
        handoff::app_session_claims(config, &opened.session, claims::session_id(random()?), now);
    let token = signing::mint(config, &claims).await?;
    if token.len() > config.session.max_token_bytes {
        return Err(Denied::new(Refusal::Internal, "minted_token_too_large"));
    }
    audit.event = "login";
    audit.reason = Some("success:handoff".into());
    audit.sub = Some(claims.sub.clone());
    audit.sid = Some(claims.sid.clone());
    audit.kid = Some(config.signing_key().kid().to_owned());
    let response = redirect_quietly(&opened.next);
    let response = with_cookie(
        response,
        &cookie::set(&config.cookie_name, &token, claims.exp.saturating_sub(now)),
    )?;
    with_cookie(
        response,
        &format!(
            "{}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax",
            handoff::NONCE_COOKIE
        ),
    )
}
