//! `/auth/*`: the login page, login, logout, revocation and the current session. The decisions live in
//! the core (`crate::login`, `crate::login_page`); this file is the glue to Workers KV, Rate
//! Limiting, static assets, WebCrypto and the upstream store.

use crate::audit::AuditEvent;
use crate::claims::{self, VerifiedClaims};
use crate::config::{GatewayConfig, UserStore};
use crate::cookie;
use crate::credentials::{self, Source};
use crate::login::{self, Identity, LoginError, LoginKind, LoginRequest, UserRecord};
use crate::login_page;
use crate::refusal::Refusal;
use crate::revocation::{self, Revocation, RevocationList};
use crate::token;
use worker::{Date, Env, Headers, Method, Request, RequestInit, RequestRedirect, Response};

use super::{forward, respond, webcrypto};

/// The static-assets binding (`[assets]` in `wrangler.toml`, directory `www/`).
const ASSETS: &str = "ASSETS";
/// Largest `POST /auth/revoke` body accepted.
const MAX_REVOKE_BODY_BYTES: usize = 1024;
/// The Workers KV binding holding `user:<name>` records.
const USERS: &str = "USERS";
/// Rate Limiting bindings: attempts per client IP and per username.
const IP_LIMIT: &str = "LOGIN_IP_LIMIT";
const USER_LIMIT: &str = "LOGIN_USER_LIMIT";
/// The page's security headers: nothing but our own files, never framed.
const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

type Refused = (Refusal, &'static str);

/// Serves `/auth/*`; `path` is the request's canonical path.
pub async fn handle(
    mut req: Request,
    path: &str,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Response {
    audit.path = Some(path.to_owned());
    let method = audit.method.clone();
    let result = match (method.as_str(), path) {
        ("GET" | "HEAD", "/auth/login") => {
            audit.event = "login_page";
            let next = login::safe_next(query_param(&req, "next").as_deref());
            page(env, &next, None, 200).await
        }
        ("GET" | "HEAD", "/auth/login.css" | "/auth/login.js") => {
            audit.event = "asset";
            asset(env, &path["/auth".len()..]).await
        }
        ("POST", "/auth/login") => login(&mut req, env, config, audit).await,
        ("POST", "/auth/logout") => logout(&req, env, config, audit).await,
        ("POST", "/auth/revoke") => revoke(&mut req, env, config, audit).await,
        ("GET", "/auth/session") => session(&req, env, config, audit).await,
        (_, "/auth/login" | "/auth/logout" | "/auth/revoke" | "/auth/session") => {
            Err((Refusal::MethodNotAllowed, "method_not_allowed"))
        }
        _ => Err((Refusal::NotFound, "unknown_auth_path")),
    };
    result.unwrap_or_else(|(refusal, reason)| {
        if audit.event.is_empty() || audit.event == "login" {
            audit.event = "deny";
        }
        audit.reason.get_or_insert_with(|| reason.to_owned());
        respond::refusal(refusal, &audit.request_id, None)
    })
}

async fn login(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "login";
    same_origin(req)?;
    let body = capped_body(req, login::MAX_LOGIN_BODY_BYTES).await?;
    let content_type = respond::header(req, "content-type");
    let request = match LoginRequest::parse(content_type.as_deref(), &body) {
        Ok(request) => request,
        Err(LoginError::TooLarge) => return Err((Refusal::PayloadTooLarge, "body_too_large")),
        Err(LoginError::InvalidUsername | LoginError::InvalidPassword) => {
            audit.reason = Some("invalid_credentials_format".into());
            return failure(env, kind_of(content_type.as_deref()), "/", audit).await;
        }
        Err(e) => {
            audit.reason = Some(format!("bad_login_body:{}", e.code()));
            return Err((Refusal::BadRequest, "bad_login_body"));
        }
    };

    let ip = audit.ip.clone().unwrap_or_else(|| "unknown".into());
    limit(env, IP_LIMIT, format!("ip:{ip}"), audit).await?;
    limit(env, USER_LIMIT, format!("user:{}", request.username), audit).await?;

    let identity = match authenticate(env, config, &request, audit).await? {
        Some(identity) => identity,
        None => return failure(env, request.kind, &request.next, audit).await,
    };

    let now = Date::now().as_millis() / 1000;
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).map_err(|_| (Refusal::Internal, "no_randomness"))?;
    let claims = login::new_session_claims(config, &identity, claims::session_id(entropy), now);
    let token = token::mint(&claims, config.signing_key());
    if token.len() > config.session.max_token_bytes {
        // The session could never be used: refuse now rather than fail every request later.
        return Err((Refusal::Internal, "minted_token_too_large"));
    }
    audit.event = "login";
    audit.reason = Some("success".into());
    audit.sub = Some(claims.sub.clone());
    audit.sid = Some(claims.sid.clone());
    audit.kid = Some(config.signing_key().kid().to_owned());
    let set_cookie = cookie::set(&config.cookie_name, &token, claims.exp.saturating_sub(now));
    let response = match request.kind {
        LoginKind::Form => redirect(&request.next),
        LoginKind::Json => respond::json(
            200,
            &serde_json::json!({
                "token": token,
                "expires_at": claims.exp,
                "user": claims.sub,
                "roles": claims.roles,
            }),
            "no-store",
        )
        .map_err(|_| (Refusal::Internal, "response"))?,
    };
    response
        .headers()
        .append("set-cookie", &set_cookie)
        .map_err(|_| (Refusal::Internal, "set_cookie"))?;
    Ok(response)
}

/// Checks the credentials against the configured store. `Ok(None)` is a failed login; an
/// `Err` is a store that cannot answer (fail closed).
async fn authenticate(
    env: &Env,
    config: &GatewayConfig,
    request: &LoginRequest,
    audit: &mut AuditEvent,
) -> Result<Option<Identity>, Refused> {
    match &config.user_store {
        UserStore::Kv => {
            let store = env
                .kv(USERS)
                .map_err(|_| (Refusal::Internal, "kv_binding_missing"))?;
            let record = store
                .get(&login::user_key(&request.username))
                .text()
                .await
                .map_err(|_| (Refusal::Internal, "kv_read_failed"))?;
            let record = match record.as_deref().map(UserRecord::parse) {
                Some(Ok(record)) => Some(record),
                Some(Err(e)) => {
                    audit.reason = Some(format!("bad_user_record:{}", e.0));
                    None
                }
                None => None,
            };
            // Unknown users and unreadable records cost the same PBKDF2 work as real ones.
            let hash = record
                .as_ref()
                .map_or_else(login::decoy_hash, |r| r.password.clone());
            let matches = webcrypto::verify_password(request.password.as_bytes(), &hash)
                .await
                .map_err(|_| (Refusal::Internal, "pbkdf2_failed"))?;
            let reason = match &record {
                None => "unknown_user",
                Some(_) if !matches => "wrong_password",
                Some(record) if record.disabled => "disabled_user",
                Some(record) => return Ok(Some(record.identity(&request.username))),
            };
            audit.reason.get_or_insert_with(|| reason.to_owned());
            Ok(None)
        }
        UserStore::Upstream { url, timeout_ms } => {
            let body = serde_json::json!({
                "username": request.username,
                "password": request.password.as_str(),
            })
            .to_string();
            let headers = Headers::new();
            let _ = headers.set("content-type", "application/json");
            let _ = headers.set("accept", "application/json");
            let mut init = RequestInit::new();
            // Never re-post the password to wherever a redirect points: a 3xx is a failed login.
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual)
                .with_body(Some(body.into()));
            let upstream = Request::new_with_init(url, &init)
                .map_err(|_| (Refusal::Internal, "upstream_request"))?;
            let mut response = match forward::send_with_timeout(upstream, *timeout_ms).await {
                Ok(response) => response,
                Err((_, reason)) => {
                    audit.reason = Some(format!("upstream_unavailable:{reason}"));
                    return Ok(None);
                }
            };
            match response.status_code() {
                200 => {}
                status @ 300..=399 => {
                    audit.reason = Some(format!("upstream_redirect_refused:{status}"));
                    return Ok(None);
                }
                status => {
                    audit.reason = Some(format!("upstream_status:{status}"));
                    return Ok(None);
                }
            }
            let text = response.text().await.unwrap_or_default();
            match Identity::from_upstream(&text) {
                Ok(identity) => Ok(Some(identity)),
                Err(e) => {
                    audit.reason = Some(format!("upstream_bad_answer:{}", e.0));
                    Ok(None)
                }
            }
        }
    }
}

/// A failed login: the generic message, as the page again (form) or JSON, status 401.
async fn failure(
    env: &Env,
    kind: LoginKind,
    next: &str,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "login_failed";
    match kind {
        LoginKind::Form => page(env, next, Some(login::INVALID_CREDENTIALS), 401).await,
        LoginKind::Json => respond::json(
            401,
            &serde_json::json!({
                "error": "invalid_credentials",
                "message": login::INVALID_CREDENTIALS,
                "request_id": audit.request_id,
            }),
            "no-store",
        )
        .map_err(|_| (Refusal::Internal, "response")),
    }
}

fn kind_of(content_type: Option<&str>) -> LoginKind {
    match content_type {
        Some(ct) if ct.to_ascii_lowercase().starts_with("application/json") => LoginKind::Json,
        _ => LoginKind::Form,
    }
}

async fn limit(
    env: &Env,
    binding: &str,
    key: String,
    audit: &mut AuditEvent,
) -> Result<(), Refused> {
    let limiter = env
        .rate_limiter(binding)
        .map_err(|_| (Refusal::Internal, "rate_limit_binding_missing"))?;
    let outcome = limiter
        .limit(key)
        .await
        .map_err(|_| (Refusal::Internal, "rate_limit_failed"))?;
    if outcome.success {
        Ok(())
    } else {
        audit.reason = Some(format!("rate_limited:{binding}"));
        Err((Refusal::TooManyRequests, "rate_limited"))
    }
}

/// `POST /auth/logout`: revokes the presented session (its `sid`, everywhere, within the
/// revocation delay) and clears the cookie; a browser goes back to the login page. If the
/// revocation cannot be stored the cookie is still cleared, but the answer is 503: the token
/// itself would stay valid until it expires. Logouts count against `LOGIN_IP_LIMIT`, since each
/// one writes.
async fn logout(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "logout";
    same_origin(req)?;
    let now = Date::now().as_millis() / 1000;
    let clear = cookie::clear(&config.cookie_name);
    // Only a session that verifies is revoked: a forged or expired one has nothing to end, and
    // one already listed needs no second write.
    let session = presented_session(req, config, now)
        .await
        .ok()
        .filter(|(verified, _)| {
            !super::revocation::lists_session(
                &verified.claims().sid,
                now,
                config.revocation_max_stale_secs,
            )
        });
    if let Some((verified, _)) = session {
        let ip = audit.ip.clone().unwrap_or_else(|| "unknown".into());
        limit(env, IP_LIMIT, format!("ip:{ip}"), audit).await?;
        let claims = verified.claims();
        record_session(audit, &verified);
        let drop_after = revocation::logout_drop_after(
            claims,
            now,
            config.session_ttl_secs,
            revocation::max_propagation_secs(
                config.revocation_refresh_secs,
                config.revocation_max_stale_secs,
            ),
            config.session.max_session_age_secs,
            config.session.leeway_secs,
        );
        audit.revoked = Some(serde_json::json!({ "sid": claims.sid }));
        let mut delta = RevocationList::empty();
        delta.revoke_session(&claims.sid, drop_after);
        match super::revocation::write(env, now, &delta).await {
            Ok(revision) => audit.revision = Some(revision),
            Err(e) => {
                audit.event = "error";
                audit.reason = Some(format!("revocation_write_failed: {e}"));
                let response = respond::refusal(Refusal::StoreUnavailable, &audit.request_id, None);
                let _ = response.headers().append("set-cookie", &clear);
                return Ok(response);
            }
        }
    }
    let wants_page =
        respond::header(req, "accept").is_some_and(|accept| accept.contains("text/html"));
    let response = if wants_page {
        redirect("/auth/login")
    } else {
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(|_| (Refusal::Internal, "response"))?
    };
    response
        .headers()
        .append("set-cookie", &clear)
        .map_err(|_| (Refusal::Internal, "set_cookie"))?;
    let _ = response.headers().set("cache-control", "no-store");
    Ok(response)
}

/// `POST /auth/revoke` with `{"sid":"…"}` (one session) or `{"sub":"…","before":…}` (every
/// session of a user that began before `before`, default now). Needs a session holding
/// `REVOKE_ROLE`; with a cookie session the request must also be same-origin.
async fn revoke(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "revoke";
    let now = Date::now().as_millis() / 1000;
    let (verified, source) = current_session(req, env, config, now).await?;
    record_session(audit, &verified);
    if source == Source::Cookie {
        same_origin(req)?;
    }
    if !verified.claims().has_role(&config.revoke_role) {
        return Err((Refusal::Forbidden, "missing_role"));
    }
    let body = capped_body(req, MAX_REVOKE_BODY_BYTES).await?;
    let revocation =
        Revocation::from_json(&body, now).map_err(|reason| (Refusal::BadRequest, reason))?;
    audit.revoked = Some(revocation.to_json());
    let (max_age, leeway) = (
        config.session.max_session_age_secs,
        config.session.leeway_secs,
    );
    let mut delta = RevocationList::empty();
    revocation.apply(&mut delta, now, max_age, leeway);
    let revision = super::revocation::write(env, now, &delta)
        .await
        .map_err(|e| {
            audit.reason = Some(format!("revocation_write_failed: {e}"));
            (Refusal::StoreUnavailable, "revocation_write_failed")
        })?;
    audit.revision = Some(revision);
    respond::json(
        200,
        &serde_json::json!({ "revoked": revocation.to_json(), "revision": revision }),
        "no-store",
    )
    .map_err(|_| (Refusal::Internal, "response"))
}

/// The request body, refused (413) when it declares or turns out to be longer than `max` bytes.
async fn capped_body(req: &mut Request, max: usize) -> Result<Vec<u8>, Refused> {
    let declared = respond::header(req, "content-length").and_then(|len| len.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err((Refusal::PayloadTooLarge, "body_too_large"));
    }
    let body = req
        .bytes()
        .await
        .map_err(|_| (Refusal::BadRequest, "body_unreadable"))?;
    if body.len() > max {
        return Err((Refusal::PayloadTooLarge, "body_too_large"));
    }
    Ok(body)
}

/// `GET /auth/session`: the verified claims of the current session.
async fn session(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "session";
    let now = Date::now().as_millis() / 1000;
    let (verified, _) = current_session(req, env, config, now).await?;
    record_session(audit, &verified);
    respond::json(200, verified.claims(), "no-store").map_err(|_| (Refusal::Internal, "response"))
}

/// The request's session: presented (cookie or bearer), verified, and not revoked.
async fn current_session(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    now: u64,
) -> Result<(VerifiedClaims, Source), Refused> {
    let (verified, source) = presented_session(req, config, now).await?;
    super::revocation::screen(env, config, verified.claims(), now)
        .await
        .map_err(|reason| (Refusal::Unauthenticated, reason))?;
    Ok((verified, source))
}

/// The request's session, presented (cookie or bearer) and verified as on the request path (the
/// verified-session cache, else WebCrypto: `session::verify`); revocation not checked.
async fn presented_session(
    req: &Request,
    config: &GatewayConfig,
    now: u64,
) -> Result<(VerifiedClaims, Source), Refused> {
    let cookie_header = respond::header(req, "cookie");
    let authorization = respond::header(req, "authorization");
    let (token, source) = credentials::extract(
        cookie_header.as_deref(),
        authorization.as_deref(),
        &config.cookie_name,
    )
    .map_err(|_| (Refusal::BadRequest, "ambiguous_credentials"))?
    .ok_or((Refusal::Unauthenticated, "no_token"))?;
    let session = super::session::verify(config, token, now)
        .await
        .map_err(|e| (Refusal::Unauthenticated, e.code()))?;
    Ok((session.verified, source))
}

fn record_session(audit: &mut AuditEvent, verified: &VerifiedClaims) {
    audit.sub = Some(verified.claims().sub.clone());
    audit.sid = Some(verified.claims().sid.clone());
    audit.kid = Some(verified.kid().to_owned());
}

/// The login page (`www/login.html` from static assets), filled in.
async fn page(
    env: &Env,
    next: &str,
    error: Option<&str>,
    status: u16,
) -> Result<Response, Refused> {
    let template = asset_text(env, "/login.html").await?;
    let html = login_page::render(&template, next, error);
    let headers = Headers::new();
    for (name, value) in [
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        ("content-security-policy", PAGE_CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
    ] {
        let _ = headers.set(name, value);
    }
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(html.into_bytes()))
}

async fn asset(env: &Env, path: &str) -> Result<Response, Refused> {
    let assets = env
        .assets(ASSETS)
        .map_err(|_| (Refusal::Internal, "assets_binding_missing"))?;
    let response = assets
        .fetch(format!("https://assets.invalid{path}"), None)
        .await
        .map_err(|_| (Refusal::Internal, "asset_fetch_failed"))?;
    if response.status_code() != 200 {
        return Err((Refusal::NotFound, "asset_missing"));
    }
    Ok(response)
}

async fn asset_text(env: &Env, path: &str) -> Result<String, Refused> {
    asset(env, path)
        .await?
        .text()
        .await
        .map_err(|_| (Refusal::Internal, "asset_read_failed"))
}

fn redirect(location: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("location", location);
    let _ = headers.set("cache-control", "no-store");
    Response::builder()
        .with_status(303)
        .with_headers(headers)
        .empty()
}

/// Refuses cross-site state changes (`Origin` / `Sec-Fetch-Site`).
fn same_origin(req: &Request) -> Result<(), Refused> {
    let url = super::request_url::of(req).map_err(|_| (Refusal::BadRequest, "bad_url"))?;
    let expected = url.origin().to_owned();
    let origin = respond::header(req, "origin");
    let site = respond::header(req, "sec-fetch-site");
    if login::is_same_origin(origin.as_deref(), site.as_deref(), &expected) {
        Ok(())
    } else {
        Err((Refusal::CrossSite, "cross_site"))
    }
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    let url = super::request_url::of(req).ok()?;
    url.query_param(name).map(|value| value.into_owned())
}
