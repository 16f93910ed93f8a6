//! An upstream user store: post the credentials (never following a redirect, which would send
//! the password wherever it points) and let the core judge the answer.

use crate::login::request::LoginRequest;
use crate::login::upstream::{self, Settings};
use crate::login::Verdict;
use crate::refusal::{Denied, Refusal};
use std::borrow::Cow;
use std::time::Duration;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

use crate::adapter::deadline;
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
    let exchange = async {
        let mut response = send_with_timeout(outgoing, settings.timeout_ms)
            .await
            .map_err(|denied| denied.reason.into_owned())?;
        let status = response.status_code();
        if status != 200 {
            return Ok((status, Vec::new()));
        }
        // One byte past the core's limit is enough for it to refuse the answer as too large.
        deadline::capped_body(&mut response, upstream::MAX_UPSTREAM_BODY_BYTES + 1)
            .await
            .map(|body| (status, body))
            .map_err(|e| e.as_str().to_owned())
    };
    let limit = Duration::from_millis(settings.timeout_ms);
    match deadline::within(limit, exchange).await {
        None => Ok(unavailable(
            "upstream_unavailable:no complete answer in time".to_owned(),
        )),
        Some(Err(reason)) => Ok(unavailable(format!("upstream_unavailable:{reason}"))),
        // Not UTF-8: an empty answer, which the core refuses. A leading BOM is dropped, as
        // `Response.text()` does.
        Some(Ok((status, body))) => {
            let text = std::str::from_utf8(&body).unwrap_or_default();
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            Ok(upstream::verdict(status, text))
        }
    }
}
