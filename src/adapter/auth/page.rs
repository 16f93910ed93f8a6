//! The login page and its assets, from the static-assets binding (`www/`).

use crate::bindings;
use crate::login::page;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Headers, Response};

/// The page's security headers: nothing but our own files, never framed.
const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The login page (`www/login.html`), filled in with `next` and the error to show, if any.
pub async fn render(
    env: &Env,
    next: &str,
    error: Option<&str>,
    status: u16,
) -> Result<Response, Denied> {
    let template = asset(env, "/login.html")
        .await?
        .text()
        .await
        .map_err(|_| Denied::new(Refusal::Internal, "asset_read_failed"))?;
    let html = page::render(&template, next, error);
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

/// A file of `www/` by its path.
pub async fn asset(env: &Env, path: &str) -> Result<Response, Denied> {
    let assets = env
        .assets(bindings::ASSETS)
        .map_err(|_| Denied::new(Refusal::Internal, "assets_binding_missing"))?;
    let response = assets
        .fetch(format!("https://assets.invalid{path}"), None)
        .await
        .map_err(|_| Denied::new(Refusal::Internal, "asset_fetch_failed"))?;
    if response.status_code() != 200 {
        return Err(Denied::new(Refusal::NotFound, "asset_missing"));
    }
    Ok(response)
}
