//! The built-in demo origin, used when `ORIGIN_URL` is unset or empty: it answers every
//! forwarded request with JSON describing what it received, so `make dev` shows the whole flow
//! with nothing else running. Never used when an origin is configured.

use std::collections::BTreeMap;

use worker::{Request, Response};

use crate::adapter::respond;

/// Describes `req` (method, path, query, headers, body size) as a JSON response.
pub async fn answer(mut req: Request) -> worker::Result<Response> {
    let url = crate::adapter::request_url::of(&req).map_err(worker::Error::RustError)?;
    let headers: BTreeMap<String, String> = req.headers().entries().collect();
    let body_bytes = req.bytes().await?.len();
    let response = respond::json(
        200,
        &serde_json::json!({
            "origin": "edgeauth built-in demo origin",
            "note": "Set ORIGIN_URL to forward to a real origin.",
            "method": req.inner().method(),
            "path": url.path(),
            "query": url.query(),
            "headers": headers,
            "body_bytes": body_bytes,
        }),
        "no-store",
    )?;
    response.headers().set("x-edgeauth-demo-origin", "1")?;
    Ok(response)
}
