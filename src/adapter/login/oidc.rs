//! Single sign-on's I/O: a provider's discovery document and JWKS (cached per isolate, the JWKS
//! cache shared with `adapter::machine`'s trusted issuers; an unknown `kid` refetches the JWKS
//! at most once per [`JWKS_REFETCH_SECS`]), the code exchange
//! at its token endpoint, and the ID token's signature through WebCrypto. Every decision is the
//! core's (`crate::login::oidc`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

use crate::login::next::encode_component;
use crate::login::oidc::discovery::{Discovery, MAX_DISCOVERY_BYTES};
use crate::login::oidc::id_token::{Expected, IdClaims, UntrustedIdToken, MAX_ID_TOKEN_BYTES};
use crate::login::oidc::jwks::{Alg, NoKey, ProviderKey, ProviderKeys, MAX_JWKS_BYTES};
use crate::login::oidc::{OidcError, Provider, TokenAuth};

use crate::adapter::gateway::send_with_timeout;
use crate::adapter::{deadline, webcrypto};

/// How long a discovery document is used before it is fetched again.
pub const DISCOVERY_TTL_SECS: u64 = 3600;
/// How long a JWKS is used before it is fetched again.
pub const JWKS_TTL_SECS: u64 = 3600;
/// The least time between two fetches of a provider's JWKS for an unknown `kid`: a key the
/// provider rotated in is fetched at once, but a flood of tokens naming unknown keys is not a
/// flood of fetches.
pub const JWKS_REFETCH_SECS: u64 = 60;
/// How long after a failed fetch of a JWKS (or a trusted issuer's discovery document) the
/// edge refuses without trying again: a provider that is down, slow or rate-limiting the
/// Worker is not hit once per request that names it.
pub const FETCH_RETRY_SECS: u64 = 10;
/// How long the provider has to answer one request, body included, in milliseconds.
pub const PROVIDER_TIMEOUT_MS: u64 = 5_000;
/// Largest token endpoint answer accepted, in bytes.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct Cached {
    discovery: Option<(Discovery, u64)>,
    keys: Option<(ProviderKeys, u64)>,
    /// When an unknown `kid` last made the JWKS be fetched again (counted from the attempt,
    /// whether it worked or not).
    refetched_at: Option<u64>,
    /// When a fetch of the JWKS last failed.
    failed_at: Option<u64>,
}

thread_local! {
    /// Per provider id; only borrowed in synchronous code.
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
}

fn unreachable(what: &str) -> impl Fn(worker::Error) -> OidcError + '_ {
    move |e| OidcError::new("provider_unreachable", format!("{what}: {e}"))
}

/// `provider`'s discovery document at `now`: cached, else fetched and checked.
pub async fn discovery(provider: &Provider, now: u64) -> Result<Discovery, OidcError> {
    let cached = CACHE.with(|cache| {
        cache
            .borrow()
            .get(&provider.id)
            .and_then(|c| c.discovery.clone())
            .filter(|(_, at)| now < at + DISCOVERY_TTL_SECS)
    });
    if let Some((discovery, _)) = cached {
        return Ok(discovery);
    }
    let body = get(&provider.discovery_url(), MAX_DISCOVERY_BYTES).await?;
    let discovery = Discovery::parse(&body, provider)?;
    CACHE.with(|cache| {
        cache
            .borrow_mut()
            .entry(provider.id.clone())
            .or_default()
            .discovery = Some((discovery.clone(), now));
    });
    Ok(discovery)
}

/// Why no key of an issuer's JWKS may check a token.
pub enum KeyError {
    /// The JWKS holds no key for it (after the one bounded refetch for an unknown `kid`).
    NoKey(NoKey),
    /// The JWKS could not be fetched or read.
    Unavailable(OidcError),
}

impl From<KeyError> for OidcError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NoKey(no_key) => OidcError::new("id_token", format!("{no_key:?}")),
            KeyError::Unavailable(e) => e,
        }
    }
}

/// The key published at `jwks_uri` that may check a token naming `kid` with `alg`, from the
/// isolate's copy of that JWKS (kept per `cache_id`: a provider's id, or `issuer:<id>` for a
/// trusted issuer). An unknown `kid` refetches the JWKS, at most once per
/// [`JWKS_REFETCH_SECS`].
pub async fn jwks_key(
    cache_id: &str,
    jwks_uri: &str,
    kid: Option<&str>,
    alg: Alg,
    now: u64,
) -> Result<ProviderKey, KeyError> {
    let (cached, refetched_at, failed_at) = CACHE.with(|cache| {
        let cache = cache.borrow();
        let entry = cache.get(cache_id);
        let keys = entry
            .and_then(|c| c.keys.clone())
            .filter(|(_, at)| now < at + JWKS_TTL_SECS);
        (
            keys,
            entry.and_then(|c| c.refetched_at),
            entry.and_then(|c| c.failed_at),
        )
    });
    if let Some((keys, _)) = &cached {
        match keys.select(kid, alg) {
            Ok(key) => return Ok(key.clone()),
            Err(NoKey::UnknownKid)
                if refetched_at.is_none_or(|at| now >= at + JWKS_REFETCH_SECS) => {}
            Err(no_key) => return Err(KeyError::NoKey(no_key)),
        }
    }
    if failed_at.is_some_and(|at| now < at + FETCH_RETRY_SECS) {
        return Err(KeyError::Unavailable(OidcError::new(
            "provider_unreachable",
            "a fetch failed moments ago",
        )));
    }
    let refetch = cached.is_some();
    // Recorded before the fetch, so that a failing refetch is bounded too.
    CACHE.with(|cache| {
        if refetch {
            cache
                .borrow_mut()
                .entry(cache_id.to_owned())
                .or_default()
                .refetched_at = Some(now);
        }
    });
    let fetched = match get(jwks_uri, MAX_JWKS_BYTES).await {
        Ok(body) => ProviderKeys::parse(&body),
        Err(e) => Err(e),
    };
    let keys = CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let entry = cache.entry(cache_id.to_owned()).or_default();
        match fetched {
            Ok(keys) => {
                entry.keys = Some((keys.clone(), now));
                entry.failed_at = None;
                Ok(keys)
            }
            Err(e) => {
                entry.failed_at = Some(now);
                Err(KeyError::Unavailable(e))
            }
        }
    })?;
    keys.select(kid, alg).cloned().map_err(KeyError::NoKey)
}

/// Exchanges `code` (with the PKCE `verifier`) at the token endpoint and checks the ID token it
/// returns against `expected`.
pub async fn finish(
    provider: &Provider,
    discovery: &Discovery,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    expected: &Expected<'_>,
) -> Result<IdClaims, OidcError> {
    let id_token = exchange(provider, discovery, code, verifier, redirect_uri).await?;
    let token = UntrustedIdToken::parse(&id_token)?;
    let verified = signed_by(provider, discovery, &token, expected.now).await?;
    token.complete(verified, expected)
}

/// Whether `token` is signed by one of `provider`'s keys: the key its `kid` and `alg` choose
/// (JWKS refetched at most once per [`JWKS_REFETCH_SECS`] for an unknown `kid`), checked
/// through WebCrypto. An error of WebCrypto counts as a bad signature.
pub async fn signed_by(
    provider: &Provider,
    discovery: &Discovery,
    token: &UntrustedIdToken<'_>,
    now: u64,
) -> Result<bool, OidcError> {
    let key = jwks_key(
        &provider.id,
        &discovery.jwks_uri,
        token.kid(),
        token.alg(),
        now,
    )
    .await?;
    Ok(webcrypto::verify(
        &key.jwk,
        token.alg(),
        token.signing_input(),
        token.signature(),
    )
    .await
    .unwrap_or(false))
}

/// The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5): the ID token of its answer.
async fn exchange(
    provider: &Provider,
    discovery: &Discovery,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<String, OidcError> {
    let mut form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
        encode_component(code),
        encode_component(redirect_uri),
        encode_component(verifier)
    );
    let headers = Headers::new();
    let set = |name: &str, value: &str| {
        headers
            .set(name, value)
            .map_err(|_| OidcError::new("token_request", name))
    };
    set("content-type", "application/x-www-form-urlencoded")?;
    set("accept", "application/json")?;
    match provider.token_auth {
        TokenAuth::ClientSecretBasic => {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let credentials = format!(
                "{}:{}",
                encode_component(&provider.client_id),
                encode_component(&provider.client_secret)
            );
            let basic = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                credentials.as_bytes(),
            );
            set("authorization", &format!("Basic {basic}"))?;
        }
        TokenAuth::ClientSecretPost => {
            form.push_str(&format!(
                "&client_id={}&client_secret={}",
                encode_component(&provider.client_id),
                encode_component(&provider.client_secret)
            ));
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(form.into()));
    let request = Request::new_with_init(&discovery.token_endpoint, &init)
        .map_err(|e| OidcError::new("token_request", e))?;
    let (status, body) = call(request, MAX_TOKEN_RESPONSE_BYTES).await?;
    if status != 200 {
        let error = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(short_code))
            .unwrap_or_default();
        return Err(OidcError::new(
            "token_endpoint",
            format!("{status}:{error}"),
        ));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| OidcError::new("token_endpoint", "not JSON"))?;
    let token_type = answer.get("token_type").and_then(|t| t.as_str());
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Err(OidcError::new("token_endpoint", "token_type"));
    }
    match answer.get("id_token").and_then(|t| t.as_str()) {
        Some(token) if token.len() <= MAX_ID_TOKEN_BYTES => Ok(token.to_owned()),
        _ => Err(OidcError::new("token_endpoint", "no id_token")),
    }
}

/// An error code a provider sent, kept only if it looks like one (for the log).
pub fn short_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

/// A `GET` of `url` expecting `200` with a body of at most `max` bytes.
pub async fn get(url: &str, max: usize) -> Result<Vec<u8>, OidcError> {
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(unreachable("request"))?;
    match call(request, max).await? {
        (200, body) => Ok(body),
        (status, _) => Err(OidcError::new("provider_status", status)),
    }
}

/// Sends `request` to a provider and reads its answer's status and body (at most `max` bytes),
/// all within `PROVIDER_TIMEOUT_MS`: a provider that stalls before its headers or half-way
/// through its body fails the call like one that is down.
pub(super) async fn call(request: Request, max: usize) -> Result<(u16, Vec<u8>), OidcError> {
    let exchange = async {
        let mut response = send_with_timeout(request, PROVIDER_TIMEOUT_MS)
            .await
            .map_err(|denied| OidcError::new("provider_unreachable", denied.reason))?;
        let body = deadline::capped_body(&mut response, max)
            .await
            .map_err(|e| OidcError::new("provider_answer", e.as_str()))?;
        Ok((response.status_code(), body))
    };
    deadline::within(Duration::from_millis(PROVIDER_TIMEOUT_MS), exchange)
        .await
        .unwrap_or_else(|| {
            Err(OidcError::new(
                "provider_unreachable",
                format!("no complete answer within {PROVIDER_TIMEOUT_MS} ms"),
            ))
        })
}
