//! The Cloudflare Workers adapter: the `fetch` entry point and a small router.
//!
//! Thin on purpose: configuration comes from [`state`], every decision from the pure core
//! (`crate::gateway`), every refusal leaves through [`respond`], and one audit line is
//! logged per request.

mod auth;
#[cfg(feature = "bench")]
mod bench;
mod deadline;
mod gateway;
mod login;
mod machine;
mod request_url;
mod respond;
mod signing;
mod single_use;
mod state;
mod token;
#[cfg(feature = "vector-tests")]
mod vector_tests;
mod webcrypto;

use crate::apps::Site;
use crate::audit::AuditEvent;
use crate::gateway::path;
use crate::refusal::Refusal;
use worker::{console_error, console_log, event, Context, Env, Request, Response};

/// The health check answered by the edge itself.
const HEALTH_PATH: &str = "/healthz";
/// The public keys, for origins verifying `X-Auth-Assertion`.
const JWKS_PATH: &str = "/.well-known/jwks.json";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let mut audit = AuditEvent {
        request_id: request_id(&req),
        method: method_of(&req),
        ip: respond::header(&req, "cf-connecting-ip"),
        country: req.cf().and_then(|cf| cf.country()),
        ..AuditEvent::default()
    };
    let mut sample_allowed = 1.0;
    let response = match state::get(&env) {
        Err(config_error) => {
            audit.event = "config_error";
            audit.reason = Some(config_error.to_string());
            respond::refusal(Refusal::Internal, &audit.request_id, None)
        }
        Ok(state) => {
            sample_allowed = state.deployment.base.audit_sample_allowed;
            route(req, &env, state, &mut audit).await
        }
    };
    audit.status = response.status_code();
    let mut draw = [0u8; 4];
    if sample_allowed < 1.0 {
        // Without randomness the draw stays 0: the record is kept unless sampling is 0.
        let _ = getrandom::fill(&mut draw);
    }
    if !audit.is_logged(sample_allowed, u32::from_le_bytes(draw)) {
        return Ok(response);
    }
    if audit.status >= 500 {
        console_error!("{}", audit.to_line());
    } else {
        console_log!("{}", audit.to_line());
    }
    Ok(response)
}

/// Finds whom the request is for by its host ([`crate::apps`]: a host no app is served on is
/// refused, 421), then dispatches on the request's real method and its canonical path
/// ([`path::normalize`]): the same path the gateway checks and forwards, so no spelling of
/// `/auth/…` reaches the origin and no spelling of another path reaches `/auth/…`.
async fn route(req: Request, env: &Env, state: &state::State, audit: &mut AuditEvent) -> Response {
    let Ok(url) = request_url::of(&req) else {
        audit.event = "error";
        audit.reason = Some("request_url".into());
        return respond::refusal(Refusal::Internal, &audit.request_id, None);
    };
    let deployment = &state.deployment;
    let site = match deployment.site(Some(url.host())) {
        Ok(site) => site,
        Err(e) => {
            audit.event = "deny";
            audit.reason = Some(e.code().into());
            return respond::refusal(Refusal::BadRequest, &audit.request_id, None);
        }
    };
    let config = match site {
        Site::Single(config) | Site::Auth(config) => config,
        Site::App(app) => {
            audit.app = Some(app.id.clone());
            &app.config
        }
        Site::Unknown => {
            audit.event = "deny";
            audit.reason = Some("unknown_host".into());
            return respond::refusal(Refusal::MisdirectedRequest, &audit.request_id, None);
        }
    };
    let Ok(path) = path::normalize(url.path(), config.path_parameters) else {
        audit.event = "deny";
        audit.reason = Some("bad_path".into());
        return respond::refusal(Refusal::BadRequest, &audit.request_id, None);
    };
    match (audit.method.as_str(), path.as_str()) {
        ("GET" | "HEAD", HEALTH_PATH) => {
            audit.event = "health";
            let (cache_entries, cache_bytes) = state::session_cache_sizes();
            let (revoked_sessions, revoked_users) = gateway::revocation::copy_sizes();
            audit.isolate = Some(serde_json::json!({
                "cache_entries": cache_entries,
                "cache_bytes": cache_bytes,
                "revoked_sessions": revoked_sessions,
                "revoked_users": revoked_users,
                "memory_bytes": core::arch::wasm32::memory_size(0) * 65_536,
            }));
            respond::json_text(
                200,
                &format!(
                    r#"{{"status":"ok","version":"{}"}}"#,
                    env!("CARGO_PKG_VERSION")
                ),
                "no-store",
            )
        }
        ("GET" | "HEAD", JWKS_PATH) => {
            audit.event = "jwks";
            respond::json_text(200, &state.jwks, "public, max-age=300")
        }
        #[cfg(feature = "bench")]
        ("POST", bench::PATH) => bench::handle(req, config).await,
        #[cfg(feature = "vector-tests")]
        ("POST", vector_tests::PATH) => vector_tests::handle(req, config).await,
        (_, p) if is_auth_path(p) => {
            auth::handle(req, &path, env, site, deployment.apps.as_ref(), audit).await
        }
        _ if matches!(site, Site::Auth(_)) => {
            // The auth host forwards nothing: it only logs users in.
            audit.event = "deny";
            audit.reason = Some("auth_host_path".into());
            respond::refusal(Refusal::NotFound, &audit.request_id, None)
        }
        _ => gateway::handle(req, &path, &url, env, config, audit).await,
    }
}

/// `/auth` and below, in any case: none of its spellings is passed to the origin.
fn is_auth_path(path: &str) -> bool {
    path.get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case("/auth"))
        && matches!(path.as_bytes().get(5), None | Some(b'/'))
}

/// The request's method as received. `Request::method` maps every method it does not know
/// (`PROPFIND`, `MKCOL`…) to `GET`; no decision may be made on that.
pub(crate) fn method_of(req: &Request) -> String {
    req.inner().method()
}

/// The Cloudflare ray id when present, else 16 random hex digits.
fn request_id(req: &Request) -> String {
    if let Some(ray) = respond::header(req, "cf-ray") {
        if !ray.is_empty() && ray.len() <= 64 && ray.bytes().all(|b| b.is_ascii_graphic()) {
            return ray;
        }
    }
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return "unknown".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
