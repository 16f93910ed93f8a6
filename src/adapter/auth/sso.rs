//! `GET /auth/sso/<provider>?next=…[&prompt=login]`: starts a single sign-on (with
//! `prompt=login`, one that makes the provider authenticate the user afresh). The login in flight is sealed in
//! its own short-lived cookie (`login::oidc::transaction`) and the browser is sent to the
//! provider with `state`, `nonce` and the PKCE `S256` challenge.

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::cookie;
use crate::login::next::{encode_component, safe_next};
use crate::login::oidc::transaction::{Entropy, Transaction, TRANSACTION_TTL_SECS};
use crate::login::oidc::Kind;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{now, page, provider, redirect, with_cookie};
use crate::adapter::login::oidc;
use crate::adapter::{request_url, signing};

/// The route's prefix; the provider's id follows.
pub const PREFIX: &str = "/auth/sso/";

/// Serves the route for the provider `id`.
pub async fn start(
    req: &Request,
    id: &str,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "sso_start";
    let provider = provider(config, id)?;
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    let next = safe_next(url.query_param("next").as_deref());
    let now = now();
    let endpoint = match &provider.kind {
        Kind::GitHub(endpoints) => endpoints.authorization_endpoint(),
        Kind::Oidc => match oidc::discovery(provider, now).await {
            Ok(discovery) => discovery.authorization_endpoint,
            Err(e) => {
                let denied = Denied::new(Refusal::ProviderUnavailable, e.0);
                return page::failure(env, config, &next, denied, audit).await;
            }
        },
    };
    let mut entropy: Entropy = [0u8; 96];
    getrandom::fill(&mut entropy).map_err(|_| Denied::new(Refusal::Internal, "no_randomness"))?;
    let mut transaction = Transaction::new(&provider.id, next, &entropy, now);
    // A rule asked for a fresh login; GitHub has no way to ask for one.
    transaction.reauth =
        url.query_param("prompt").as_deref() == Some("login") && provider.kind == Kind::Oidc;
    let (redirect_uri, scope, challenge) = (
        provider.redirect_uri(url.origin()),
        provider.scopes.join(" "),
        transaction.code_challenge(),
    );
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", &provider.client_id),
        ("redirect_uri", &redirect_uri),
        ("scope", &scope),
        ("state", &transaction.state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if provider.kind == Kind::Oidc {
        // GitHub issues no ID token, so it has no nonce to carry.
        query.push(("nonce", &transaction.nonce));
    }
    if transaction.reauth {
        // OIDC Core §3.1.2.1: authenticate again; with max_age the ID token carries auth_time.
        query.push(("prompt", "login"));
        query.push(("max_age", "0"));
    }
    let query = query
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_component(value)))
        .collect::<Vec<_>>()
        .join("&");
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    audit.reason = Some(format!("provider:{}", provider.id));
    let sealed = signing::sign(config, transaction.to_seal()).await?;
    with_cookie(
        redirect(&format!("{endpoint}{separator}{query}")),
        &cookie::set(&transaction.cookie_name(), &sealed, TRANSACTION_TTL_SECS),
    )
}
