//! `GET /auth/callback/<provider>?code=…&state=…`: finishes a single sign-on. The transaction
//! cookie named by `state` is opened (seal through WebCrypto, provider, state, expiry) and
//! cleared whatever happens; the code is exchanged, the ID token checked, the identity mapped
//! (all decisions in `login::oidc`), and our own session minted.

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::cookie;
use crate::login::oidc::id_token::Expected;
use crate::login::oidc::transaction::{cookie_name, SealedTransaction, Transaction};
use crate::login::oidc::{Kind, OidcError, Provider};
use crate::login::Verdict;
use crate::refusal::{Denied, Refusal};
use worker::{Env, Request, Response};

use super::{now, page, provider, redirect, with_cookie};
use crate::adapter::login::{self as methods, github, oidc};
use crate::adapter::request_url::{self, RequestUrl};
use crate::adapter::{respond, token};

/// The route's prefix; the provider's id follows.
pub const PREFIX: &str = "/auth/callback/";

/// Serves the route for the provider `id`.
pub async fn finish(
    req: &Request,
    id: &str,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "sso_callback";
    let provider = provider(config, id)?;
    let url = request_url::of(req).map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))?;
    let state = url.query_param("state").unwrap_or_default().into_owned();
    let Some(name) = cookie_name(&state) else {
        let denied = Denied::new(Refusal::SignInFailed, "transaction:no_state");
        return page::failure(env, config, "/", denied, audit).await;
    };
    let clear = cookie::clear(&name);
    let sealed = respond::header(req, "cookie").and_then(|header| {
        cookie::find(&header, &name)
            .ok()
            .flatten()
            .map(str::to_owned)
    });
    let transaction = match sealed {
        None => Err(OidcError::new("transaction", "missing")),
        Some(sealed) => open(config, &sealed, &provider.id, &state).await,
    };
    let response = match transaction {
        Err(e) => page::failure(env, config, "/", signed_out(e), audit).await?,
        Ok(transaction) => match sign_in(provider, &url, config, &transaction).await {
            Ok(identity) => {
                let session = methods::start_session(req, env, config, &identity, audit).await?;
                audit.reason = Some(format!("success:{}", provider.id));
                with_cookie(redirect(&transaction.next), &session.set_cookie)?
            }
            Err(denied) => page::failure(env, config, &transaction.next, denied, audit).await?,
        },
    };
    with_cookie(response, &clear)
}

/// The transaction sealed in `value`, once the seal verified under our signing key.
async fn open(
    config: &GatewayConfig,
    value: &str,
    provider: &str,
    state: &str,
) -> Result<Transaction, OidcError> {
    let sealed = SealedTransaction::parse(value)?;
    let key = config.signing_key().verifying_key();
    let verified = token::ed25519::verify(key, sealed.signing_input(), sealed.signature()).await;
    sealed.open(verified, provider, state, now())
}

/// The provider's answer turned into an identity: its error, or the code exchanged and the ID
/// token checked and mapped.
async fn sign_in(
    provider: &Provider,
    url: &RequestUrl,
    config: &GatewayConfig,
    transaction: &Transaction,
) -> Result<crate::login::Identity, Denied> {
    if let Some(error) = url.query_param("error") {
        return Err(Denied::new(
            Refusal::SignInFailed,
            format!("provider_error:{}", oidc::short_code(&error)),
        ));
    }
    let code = url
        .query_param("code")
        .filter(|code| !code.is_empty())
        .ok_or_else(|| Denied::new(Refusal::SignInFailed, "no_code"))?;
    let now = now();
    let redirect_uri = provider.redirect_uri(url.origin());
    let claims = match &provider.kind {
        Kind::GitHub(endpoints) => {
            github::finish(
                provider,
                endpoints,
                &code,
                &transaction.verifier,
                &redirect_uri,
            )
            .await
        }
        Kind::Oidc => {
            let discovery = oidc::discovery(provider, now).await.map_err(unavailable)?;
            let expected = Expected {
                issuer: &provider.issuer,
                client_id: &provider.client_id,
                nonce: &transaction.nonce,
                leeway_secs: config.session.leeway_secs,
                now,
            };
            let claims = oidc::finish(
                provider,
                &discovery,
                &code,
                &transaction.verifier,
                &redirect_uri,
                &expected,
            )
            .await;
            match claims {
                Ok(claims) => transaction
                    .check_fresh(&claims, config.session.leeway_secs)
                    .map(|()| claims),
                other => other,
            }
        }
    }
    .map_err(|e| {
        if e.0.starts_with("provider_") {
            unavailable(e)
        } else {
            signed_out(e)
        }
    })?;
    match provider.mapping.identity(&provider.id, &claims) {
        Verdict::Authenticated(identity) => Ok(identity),
        Verdict::Refused(reason) => Err(Denied::new(Refusal::SignInFailed, reason)),
    }
}

fn signed_out(e: OidcError) -> Denied {
    Denied::new(Refusal::SignInFailed, e.0)
}

fn unavailable(e: OidcError) -> Denied {
    Denied::new(Refusal::ProviderUnavailable, e.0)
}
