//! The login page and its assets, from the static-assets binding (`www/`).

use crate::audit::AuditEvent;
use crate::bindings;
use crate::config::GatewayConfig;
use crate::login::page;
use crate::login::PasswordStore;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Headers, Response};

/// The page's security headers: nothing but our own files, never framed.
const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The login page (`www/login.html`), filled in with `next`, the configured ways to sign in
/// (asking providers for a fresh login when `reauth`) and the error to show, if any.
pub async fn render(
    env: &Env,
    config: &GatewayConfig,
    next: &str,
    error: Option<&str>,
    status: u16,
    reauth: bool,
) -> Result<Response, Denied> {
    let template = asset(env, "/login.html")
        .await?
        .text()
        .await
        .map_err(|_| Denied::new(Refusal::Internal, "asset_read_failed"))?;
    let providers: Vec<(&str, &str)> = config
        .providers
        .iter()
        .map(|provider| (provider.id.as_str(), provider.label.as_str()))
        .collect();
    let html = page::render(
        &template,
        &page::Page {
            next,
            error,
            providers: &providers,
            password_form: config.password_store != PasswordStore::None,
            passkeys: config.passkeys.is_some(),
            reauth,
        },
    );
    Ok(html_response(html.into_bytes(), status))
}

/// An edge page (`html`): never cached, nothing but our own files, never framed.
pub fn html_response(html: Vec<u8>, status: u16) -> Response {
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
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(html)
}

/// A login that failed, as a page: the refusal is recorded, and the login page shown again with
/// the table's status and generic message, returning to `next`.
pub async fn failure(
    env: &Env,
    config: &GatewayConfig,
    next: &str,
    denied: Denied,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.record(&denied);
    let (status, _, message) = denied.refusal.http();
    render(env, config, next, Some(message), status, false).await
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
