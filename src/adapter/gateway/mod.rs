//! The gateway on the request path: decide with the core, then forward exactly the checked
//! path, with the identity headers, to the origin (or the built-in demo origin).

use std::time::Duration;

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::cookie;
use crate::gateway::credentials::Source;
use crate::gateway::headers::{self, is_hop_by_hop, RequestFacts, HOP_BY_HOP};
use crate::gateway::{self, Checked, Inbound};
use crate::login;
use crate::refusal::{Denied, Refusal};
use futures_util::future::{select, Either};
use worker::{AbortController, Date, Delay, Env, Fetch, Headers, Request, Response};

use crate::adapter::request_url::RequestUrl;
use crate::adapter::token as session;
use crate::adapter::{respond, signing};

mod demo_origin;
pub mod revocation;
mod revocation_writer;

/// The URL the demo origin sees when `ORIGIN_URL` is unset: it never leaves the isolate.
const DEMO_ORIGIN: &str = "http://demo-origin.invalid";

/// Decides `req` (whose canonical path is `path`) and either refuses it or forwards it and
/// streams the origin's answer back.
pub async fn handle(
    req: Request,
    path: &str,
    url: &RequestUrl,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Response {
    match decide_and_forward(req, path, url, env, config, audit).await {
        Ok(response) => response,
        Err(denied) => respond::denied(denied, audit),
    }
}

fn internal(reason: String) -> Denied {
    Denied::new(Refusal::Internal, reason)
}

async fn decide_and_forward(
    req: Request,
    path: &str,
    url: &RequestUrl,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    let headers = req.headers();
    let header = |name| respond::header(&req, name);
    let (accept, cookie, authorization, destination) = (
        header("accept"),
        header("cookie"),
        header("authorization"),
        header("destination"),
    );
    let (fetch_mode, requested_with, origin, cors_request_method) = (
        header("sec-fetch-mode"),
        header("x-requested-with"),
        header("origin"),
        header("access-control-request-method"),
    );
    let (client_id, client_secret) = match &config.service_tokens {
        Some(settings) => (
            header(settings.id_header.as_str()),
            header(settings.secret_header.as_str()),
        ),
        None => (None, None),
    };
    let method = audit.method.clone();
    let (proto, host) = url.origin().split_once("://").unwrap_or(("https", ""));
    let inbound = Inbound {
        method: &method,
        path,
        accept: accept.as_deref(),
        cookie: cookie.as_deref(),
        authorization: authorization.as_deref(),
        query: url.query(),
        destination: destination.as_deref(),
        host,
        service_token: (client_id.as_deref(), client_secret.as_deref()),
        fetch_mode: fetch_mode.as_deref(),
        requested_with: requested_with.as_deref(),
        origin: origin.as_deref(),
        cors_request_method: cors_request_method.as_deref(),
        has_body: header("transfer-encoding").is_some()
            || header("content-length").is_some_and(|length| length.trim() != "0"),
    };
    let now = Date::now().as_millis() / 1000;

    // Plan (core), check the one presented token (the Worker's verifier and revocation copy),
    // decide (core). A valid session's assertion was minted at first sight and comes from the
    // verified-session cache with it, so a cache hit signs nothing either.
    let plan = gateway::plan(config, &inbound)?;
    let (checked, cached_assertion) = match plan.presented() {
        Some(presented) => {
            let (checked, assertion) = session::check_presented(env, config, presented, now).await;
            (Some(checked), assertion)
        }
        None => (None, None),
    };
    if let Some(Checked::Revoked(session, _)) = &checked {
        // Ignored, but logged: a revoked token replayed on public routes stays traceable.
        audit.session(session);
    }
    let admitted = gateway::decide(plan, checked, now)?;
    audit.event = "allow";
    audit.path = Some(admitted.path.clone());
    audit.reason = admitted
        .ignored
        .map(|why| format!("public_route_ignored_token:{why}"));
    if let Some(identity) = &admitted.identity {
        audit.session(identity);
    }

    let assertion = match (&admitted.identity, cached_assertion) {
        (Some(identity), _) if admitted.bound_assertion => {
            // Bound to this request: minted for it alone, never from the cache.
            let mut jti = [0u8; 16];
            getrandom::fill(&mut jti).map_err(|_| internal("no_randomness".into()))?;
            let request = gateway::BoundRequest {
                method: &method,
                proto,
                host,
                path: &admitted.path,
            };
            let claims = gateway::request_assertion_claims(
                config,
                identity,
                &request,
                crate::encoding::base64url::encode(&jti),
                now,
            );
            Some(signing::mint(config, &claims).await.map_err(|e| {
                Denied::new(
                    Refusal::Internal,
                    format!("assertion_unavailable:{}", e.reason),
                )
            })?)
        }
        (Some(_), Some(assertion)) if !assertion.is_empty() => Some(assertion),
        (Some(identity), _) => {
            let claims = gateway::assertion_claims(config, identity, now);
            Some(signing::mint(config, &claims).await.map_err(|e| {
                Denied::new(
                    Refusal::Internal,
                    format!("assertion_unavailable:{}", e.reason),
                )
            })?)
        }
        (None, _) => None,
    };
    let client_ip = header("cf-connecting-ip");
    let facts = RequestFacts {
        client_ip: client_ip.as_deref(),
        proto,
        host,
    };
    let forwarded = gateway::forward_headers(
        config,
        headers.entries(),
        &admitted,
        &facts,
        assertion.as_deref(),
    )
    .map_err(|e| {
        Denied::new(
            Refusal::Forbidden,
            format!("claim_not_representable:{}", e.0),
        )
    })?;
    let out_headers = Headers::new();
    for (name, value) in &forwarded {
        if name.eq_ignore_ascii_case("host") {
            continue; // the target URL decides the Host
        }
        out_headers
            .append(name, value)
            .map_err(|e| internal(format!("forward header {name}: {e}")))?;
    }

    let mut target = config.origin.as_deref().unwrap_or(DEMO_ORIGIN).to_owned();
    target.push_str(&admitted.path);
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    // web_sys's init, not worker's: worker's takes a `Method` enum, which has no PROPFIND.
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&out_headers.0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = req.inner().body() {
        init.set_body(&body);
    }
    let outgoing = web_sys::Request::new_with_str_and_init(&target, &init)
        .map(Request::from)
        .map_err(|e| internal(format!("build origin request: {e:?}")))?;

    if config.origin.is_none() {
        return demo_origin::answer(outgoing)
            .await
            .map_err(|e| internal(format!("demo origin: {e}")));
    }
    let response = send_with_timeout(outgoing, config.origin_timeout_ms).await?;
    if response.status_code() == 101 {
        // The edge never asks for a protocol switch (`upgrade` is hop-by-hop): refused.
        return Err(Denied::new(
            Refusal::OriginUnavailable,
            "origin_switched_protocols",
        ));
    }
    let renewed = renewed_cookie(config, &admitted, now).await;
    let response = pass_on(response, renewed.as_deref())
        .map_err(|e| internal(format!("origin response: {e}")))?;
    audit.renewed = renewed.is_some();
    Ok(response)
}

/// Sliding renewal: a cookie session past `RENEW_AFTER` of its lifetime gets a re-minted token
/// (same `sid` and `auth_time`, new `iat`/`exp`, never past the maximum age): the `Set-Cookie`
/// value for the response.
async fn renewed_cookie(
    config: &GatewayConfig,
    admitted: &gateway::Admitted,
    now: u64,
) -> Option<String> {
    let (Some(identity), Some(Source::Cookie)) = (&admitted.identity, admitted.source) else {
        return None;
    };
    let renewed = login::renewal(
        identity,
        now,
        config.sessions.renew_after,
        config.sessions.ttl_secs,
        config.session.max_session_age_secs,
    )?;
    let token = signing::mint(config, &renewed).await.ok()?;
    Some(cookie::set(
        &config.cookie_name,
        &token,
        renewed.exp.saturating_sub(now),
    ))
}

/// Sends `request`, giving up after `timeout_ms` (504); an unreachable target is 502.
pub async fn send_with_timeout(request: Request, timeout_ms: u64) -> Result<Response, Denied> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sending = std::pin::pin!(fetch.send_with_signal(&signal));
    let timer = std::pin::pin!(Delay::from(Duration::from_millis(timeout_ms)));
    match select(sending, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(e), _)) => Err(Denied::new(
            Refusal::OriginUnavailable,
            format!("origin_unreachable: {e}"),
        )),
        Either::Right(_) => {
            controller.abort();
            Err(Denied::new(
                Refusal::OriginTimeout,
                format!("origin_timeout_after_ms:{timeout_ms}"),
            ))
        }
    }
}

/// The origin's response for the client: as it is, headers included, unless it carries a
/// hop-by-hop header or a renewed cookie must be added; then with its status, its headers less
/// the hop-by-hop ones, its body streamed, and with the cookie a `Cache-Control` that keeps
/// shared caches from storing one user's session for others.
fn pass_on(response: Response, set_cookie: Option<&str>) -> worker::Result<Response> {
    let has_hop_by_hop = {
        let headers = response.headers();
        HOP_BY_HOP
            .iter()
            .any(|name| headers.has(name).unwrap_or(true))
    };
    if set_cookie.is_none() && !has_hop_by_hop {
        return Ok(response);
    }
    let status = response.status_code();
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        if !is_hop_by_hop(&name) {
            headers.append(&name, &value)?;
        }
    }
    if let Some(value) = set_cookie {
        for name in headers::TARGETED_CACHE_CONTROL {
            headers.delete(name)?;
        }
        headers.append("set-cookie", value)?;
        if let Some(private) =
            headers::private_cache_control(headers.get("cache-control")?.as_deref())
        {
            headers.set("cache-control", &private)?;
        }
    }
    let (_, body) = response.into_parts();
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}
