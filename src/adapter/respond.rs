//! Responses the edge writes itself. Refusals go through the one error→HTTP table,
//! [`crate::refusal::Refusal::http`]; bodies are generic JSON with the request id.

use crate::audit::AuditEvent;
use crate::refusal::{Denied, Refusal};
use serde::Serialize;
use worker::{Headers, Request, Response};

/// Seconds a rate-limited client is told to wait (the login limiters' period).
pub const RETRY_AFTER_SECS: &str = "60";

/// A request header's value; an unreadable header counts as absent.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The response to `denied`, recorded in `audit` first: the one way a refusal leaves the edge.
pub fn denied(denied: Denied, audit: &mut AuditEvent) -> Response {
    audit.record(&denied);
    refusal(
        denied.refusal,
        &audit.request_id,
        denied.location.as_deref(),
    )
}

/// The refusal's generic JSON response (302 with `Location` for the login redirect, 401 with
/// `WWW-Authenticate`).
pub fn refusal(refusal: Refusal, request_id: &str, location: Option<&str>) -> Response {
    let (status, _, _) = refusal.http();
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    match refusal {
        Refusal::Unauthenticated => {
            let _ = headers.set("www-authenticate", "Bearer realm=\"edgeauth\"");
        }
        Refusal::LoginRequired => {
            let _ = headers.set("location", location.unwrap_or("/auth/login"));
        }
        Refusal::TooManyRequests => {
            let _ = headers.set("retry-after", RETRY_AFTER_SECS);
        }
        _ => {}
    }
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(refusal.body(request_id).into_bytes())
}

/// A JSON response with `status` and `cache-control`.
pub fn json<T: Serialize>(status: u16, body: &T, cache_control: &str) -> worker::Result<Response> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("cache-control", cache_control)?;
    Ok(response)
}

/// A pre-serialized JSON body.
pub fn json_text(status: u16, body: &str, cache_control: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", cache_control);
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.as_bytes().to_vec())
}
