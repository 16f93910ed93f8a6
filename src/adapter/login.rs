//! `/auth/*`: the login page, login, logout and the current session. The decisions live in
//! the core (`crate::login`, `crate::login_page`); this file is the glue to Workers KV, Rate
//! Limiting, static assets, WebCrypto and the upstream store.

use crate::audit::AuditEvent;
use crate::claims;
use crate::config::{GatewayConfig, UserStore};
use crate::cookie;
use crate::credentials;
use crate::login::{self, Identity, LoginError, LoginKind, LoginRequest, UserRecord};
use crate::login_page;
use crate::refusal::Refusal;
use crate::token;
use worker::{Date, Env, Headers, Method, Request, RequestInit, Response};

use super::{forward, respond, webcrypto};

/// The static-assets binding (`[assets]` in `wrangler.toml`, directory `www/`).
const ASSETS: &str = "ASSETS";
/// The Workers KV binding holding `user:<name>` records.
const USERS: &str = "USERS";
/// Rate Limiting bindings: attempts per client IP and per username.
const IP_LIMIT: &str = "LOGIN_IP_LIMIT";
const USER_LIMIT: &str = "LOGIN_USER_LIMIT";
/// The page's security headers: nothing but our own files, never framed.
const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

type Refused = (Refusal, &'static str);

/// Serves `/auth/*`.
pub async fn handle(
    mut req: Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Response {
    let path = req.path();
    audit.path = Some(path.clone());
    let result = match (req.method(), path.as_str()) {
        (Method::Get | Method::Head, "/auth/login") => {
            audit.event = "login_page";
            let next = login::safe_next(query_param(&req, "next").as_deref());
            page(env, &next, None, 200).await
        }
        (Method::Get | Method::Head, "/auth/login.css" | "/auth/login.js") => {
            audit.event = "asset";
            asset(env, &path["/auth".len()..]).await
        }
        (Method::Post, "/auth/login") => login(&mut req, env, config, audit).await,
        (Method::Post, "/auth/logout") => logout(&req, config, audit),
        (Method::Get, "/auth/session") => session(&req, config, audit),
        (_, "/auth/login" | "/auth/logout" | "/auth/session") => {
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
    let declared = respond::header(req, "content-length").and_then(|len| len.parse::<usize>().ok());
    if declared.is_some_and(|len| len > login::MAX_LOGIN_BODY_BYTES) {
        return Err((Refusal::PayloadTooLarge, "body_too_large"));
    }
    let body = req
        .bytes()
        .await
        .map_err(|_| (Refusal::BadRequest, "body_unreadable"))?;
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
            init.with_method(Method::Post)
                .with_headers(headers)
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
            if response.status_code() != 200 {
                audit.reason = Some(format!("upstream_status:{}", response.status_code()));
                return Ok(None);
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

/// `POST /auth/logout`: clears the cookie; a browser goes back to the login page.
fn logout(
    req: &Request,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "logout";
    same_origin(req)?;
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
        .append("set-cookie", &cookie::clear(&config.cookie_name))
        .map_err(|_| (Refusal::Internal, "set_cookie"))?;
    let _ = response.headers().set("cache-control", "no-store");
    Ok(response)
}

/// `GET /auth/session`: the verified claims of the current session.
fn session(
    req: &Request,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Refused> {
    audit.event = "session";
    let cookie_header = respond::header(req, "cookie");
    let authorization = respond::header(req, "authorization");
    let presented = credentials::extract(
        cookie_header.as_deref(),
        authorization.as_deref(),
        &config.cookie_name,
    )
    .map_err(|_| (Refusal::BadRequest, "ambiguous_credentials"))?
    .ok_or((Refusal::Unauthenticated, "no_token"))?;
    let now = Date::now().as_millis() / 1000;
    let verified = token::verify(presented.0, &config.keys, &config.session, now)
        .map_err(|e| (Refusal::Unauthenticated, e.code()))?;
    audit.sub = Some(verified.claims().sub.clone());
    audit.sid = Some(verified.claims().sid.clone());
    audit.kid = Some(verified.kid().to_owned());
    respond::json(200, verified.claims(), "no-store").map_err(|_| (Refusal::Internal, "response"))
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
