//! `GET /auth/login` (the page) and `POST /auth/login` (a password login): parse (core), rate
//! limit, ask the configured password store (`adapter/login/`), mint the session.

use crate::audit::AuditEvent;
use crate::bindings;
use crate::config::GatewayConfig;
use crate::login::next::safe_next;
use crate::login::request::{LoginError, LoginKind, LoginRequest, MAX_LOGIN_BODY_BYTES};
use crate::login::{PasswordStore, Verdict};
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{capped_body, client_ip, limit, page, redirect, same_origin, with_cookie};
use crate::adapter::{login as methods, request_url, respond};

/// `GET /auth/login?next=…`: the page, which returns to `next` (made safe) afterwards.
pub async fn page(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "login_page";
    let url = request_url::of(req).ok();
    let param = |name| {
        url.as_ref()
            .and_then(|url| url.query_param(name).map(|value| value.into_owned()))
    };
    let reauth = param("reauth").as_deref() == Some("1");
    page::render(
        env,
        config,
        &safe_next(param("next").as_deref()),
        None,
        200,
        reauth,
    )
    .await
}

/// `POST /auth/login` with a form (answered with a redirect or the page) or JSON (answered with
/// the token). A failed login, whatever failed, gets the one [`Refusal::InvalidCredentials`].
pub async fn submit(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "login";
    if config.password_store == PasswordStore::None {
        return Err(Denied::new(Refusal::NotFound, "no_password_store"));
    }
    same_origin(req)?;
    let body = capped_body(req, MAX_LOGIN_BODY_BYTES).await?;
    let content_type = respond::header(req, "content-type");
    let request = match LoginRequest::parse(content_type.as_deref(), &body) {
        Ok(request) => request,
        Err(LoginError::TooLarge) => {
            return Err(Denied::new(Refusal::PayloadTooLarge, "body_too_large"))
        }
        Err(LoginError::InvalidUsername | LoginError::InvalidPassword) => {
            let kind = LoginKind::of(content_type.as_deref());
            let denied = Denied::new(Refusal::InvalidCredentials, "invalid_credentials_format");
            return failure(env, config, kind, "/", denied, audit).await;
        }
        Err(e) => {
            return Err(Denied::new(
                Refusal::BadRequest,
                format!("bad_login_body:{}", e.code()),
            ))
        }
    };

    limit(
        env,
        bindings::LOGIN_IP_LIMIT,
        format!("ip:{}", client_ip(audit)),
    )
    .await?;
    limit(
        env,
        bindings::LOGIN_USER_LIMIT,
        format!("user:{}", request.username),
    )
    .await?;

    let identity = match methods::check_password(env, &config.password_store, &request).await? {
        // A password user named like a provider's user (`corp:alice`) would be that user at
        // the origin: refused.
        Verdict::Authenticated(identity) if config.reserves_sub(&identity.sub) => {
            let denied = Denied::new(Refusal::InvalidCredentials, "sub_in_provider_namespace");
            return failure(env, config, request.kind, &request.next, denied, audit).await;
        }
        Verdict::Authenticated(identity) => identity,
        Verdict::Refused(reason) => {
            let denied = Denied::new(Refusal::InvalidCredentials, reason);
            return failure(env, config, request.kind, &request.next, denied, audit).await;
        }
    };
    let session = methods::start_session(req, env, config, &identity, audit).await?;
    let response = match request.kind {
        LoginKind::Form => redirect(&request.next),
        LoginKind::Json => respond::json(
            200,
            &serde_json::json!({
                "token": session.token,
                "expires_at": session.claims.exp,
                "user": session.claims.sub,
                "roles": session.claims.roles,
            }),
            "no-store",
        )
        .map_err(|_| Denied::new(Refusal::Internal, "response"))?,
    };
    with_cookie(response, &session.set_cookie)
}

/// A failed login: logged as `login_failed`; a form gets the page again with the generic message
/// and the table's status, JSON the table's body.
async fn failure(
    env: &Env,
    config: &GatewayConfig,
    kind: LoginKind,
    next: &str,
    denied: Denied,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    match kind {
        LoginKind::Form => page::failure(env, config, next, denied, audit).await,
        LoginKind::Json => Err(denied),
    }
}
