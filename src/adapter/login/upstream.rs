//! An upstream user store: post the credentials (never following a redirect, which would send
//! the password wherever it points) and let the core judge the answer.

use crate::login::request::LoginRequest;
use crate::login::upstream::{self, Settings};
use crate::login::Verdict;
use crate::refusal::{Denied, Refusal};
use std::borrow::Cow;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

use crate::adapter::gateway::send_with_timeout;

/// The verdict on `request`: a store that cannot be reached is a failed login.
pub async fn check(settings: &Settings, request: &LoginRequest) -> Result<Verdict, Denied> {
    let unavailable = |reason: String| Verdict::Refused(Cow::Owned(reason));
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("accept", "application/json");
    let body = upstream::request_body(request);
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body.as_str().into()));
    let outgoing = Request::new_with_init(&settings.url, &init)
        .map_err(|_| Denied::new(Refusal::Internal, "upstream_request"))?;
    let mut response = match send_with_timeout(outgoing, settings.timeout_ms).await {
        Ok(response) => response,
        Err(denied) => {
            return Ok(unavailable(format!(
                "upstream_unavailable:{}",
                denied.reason
            )))
        }
    };
    let status = response.status_code();
    let text = if status == 200 {
        response.text().await.unwrap_or_default()
    } else {
        String::new()
    };
    Ok(upstream::verdict(status, &text))
}
