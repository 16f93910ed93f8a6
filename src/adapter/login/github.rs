//! GitHub's I/O at the callback: the code exchange (with the PKCE verifier), then the user, its
//! e-mail addresses and, when the mapping needs them, its teams, each read once with the access
//! token. The answers are judged in `login::oidc::github`.

use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

use crate::login::next::encode_component;
use crate::login::oidc::github::{self, Endpoints, MAX_TEAMS_BYTES, MAX_USER_BYTES};
use crate::login::oidc::id_token::IdClaims;
use crate::login::oidc::{OidcError, Provider};

use super::oidc::call;

/// Exchanges `code` and reads the identity it gives access to.
pub async fn finish(
    provider: &Provider,
    endpoints: &Endpoints,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<IdClaims, OidcError> {
    let form = format!(
        "client_id={}&client_secret={}&code={}&redirect_uri={}&code_verifier={}",
        encode_component(&provider.client_id),
        encode_component(&provider.client_secret),
        encode_component(code),
        encode_component(redirect_uri),
        encode_component(verifier)
    );
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/x-www-form-urlencoded");
    let answer = fetch(
        &endpoints.token_endpoint(),
        Method::Post,
        headers,
        Some(form),
        MAX_USER_BYTES,
    )
    .await?;
    let token = github::access_token(&answer)?;
    let api = |url: String, max| {
        let headers = Headers::new();
        let _ = headers.set("authorization", &format!("Bearer {token}"));
        let _ = headers.set("accept", "application/vnd.github+json");
        let _ = headers.set("x-github-api-version", "2022-11-28");
        async move { fetch(&url, Method::Get, headers, None, max).await }
    };
    let user = api(endpoints.user_url(), MAX_USER_BYTES).await?;
    let emails = api(endpoints.emails_url(), MAX_USER_BYTES).await?;
    let teams = if provider.mapping.needs_groups() {
        Some(api(endpoints.teams_url(), MAX_TEAMS_BYTES).await?)
    } else {
        None
    };
    github::claims(&user, &emails, teams.as_deref())
}

/// One request to GitHub expecting `200` and JSON of at most `max` bytes.
async fn fetch(
    url: &str,
    method: Method,
    headers: Headers,
    body: Option<String>,
    max: usize,
) -> Result<Vec<u8>, OidcError> {
    // GitHub refuses API requests without a User-Agent.
    let _ = headers.set("user-agent", "edgeauth");
    if !headers.has("accept").unwrap_or(false) {
        let _ = headers.set("accept", "application/json");
    }
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(body.map(Into::into));
    let request = Request::new_with_init(url, &init)
        .map_err(|e| OidcError::new("provider_unreachable", e))?;
    match call(request, max).await? {
        (200, body) => Ok(body),
        (status, _) => Err(OidcError::new("github", format!("status:{status}"))),
    }
}
