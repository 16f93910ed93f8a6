//! Login methods' I/O, one file per method, each ending in the core's [`Verdict`]; and the one
//! place every method's session is minted ([`start_session`]).

pub mod github;
mod kv_passwords;
pub mod oidc;
pub mod passkey;
pub mod pbkdf2;
mod upstream;

use crate::audit::AuditEvent;
use crate::config::GatewayConfig;
use crate::gateway::cookie;
use crate::login::handoff::SIGN_ON_CLAIM;
use crate::login::request::LoginRequest;
use crate::login::{self, Identity, PasswordStore, Verdict};
use crate::refusal::{Denied, Refusal};

use crate::token::claims::{self, Claims};
use worker::{Date, Env, Request};

use crate::adapter::signing;

/// Checks a password login against the configured store. An `Err` is a store that cannot
/// answer at all (fail closed, 500); a refused login is a [`Verdict::Refused`].
pub async fn check_password(
    env: &Env,
    store: &PasswordStore,
    request: &LoginRequest,
) -> Result<Verdict, Denied> {
    match store {
        PasswordStore::Kv => kv_passwords::check(env, request).await,
        PasswordStore::Upstream(settings) => upstream::check(settings, request).await,
        PasswordStore::None => Err(Denied::new(Refusal::NotFound, "no_password_store")),
    }
}

/// The sign-on id of the auth host's session `req` presents, when it is ours, unrevoked and
/// `sub`'s, even past its `exp` (`auth::lapsed_sign_on`: that session is never renewed).
async fn kept_sign_on(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    sub: &str,
    now: u64,
) -> Option<String> {
    let session = crate::adapter::auth::lapsed_sign_on(req, env, config, now).await?;
    let claims = session.claims();
    if claims.sub != sub {
        return None;
    }
    claims
        .extra
        .get(SIGN_ON_CLAIM)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// A session just minted for an identity.
pub struct Started {
    /// Its claims.
    pub claims: Claims,
    /// The token.
    pub token: String,
    /// The `Set-Cookie` value that carries it.
    pub set_cookie: String,
}

/// Mints the session of `identity` (whatever method vouched for it), logging in through `req`,
/// and records the login. At the auth host of several apps the session carries a sign-on id:
/// the one of the session this browser presents for the same user, if any, else its own `sid`;
/// so one logout ends every app session of this browser's sign-on, logins before it included.
pub async fn start_session(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    identity: &Identity,
    audit: &mut AuditEvent,
) -> Result<Started, Denied> {
    let now = Date::now().as_millis() / 1000;
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).map_err(|_| Denied::new(Refusal::Internal, "no_randomness"))?;
    let mut claims = login::new_session_claims(config, identity, claims::session_id(entropy), now);
    if config.signs_on {
        let kept = kept_sign_on(req, env, config, &identity.sub, now).await;
        let sign_on = kept.unwrap_or_else(|| claims.sid.clone());
        claims.extra.insert(SIGN_ON_CLAIM.into(), sign_on.into());
    }
    let token = signing::mint(config, &claims).await?;
    if token.len() > config.session.max_token_bytes {
        // The session could never be used: refuse now rather than fail every request later.
        return Err(Denied::new(Refusal::Internal, "minted_token_too_large"));
    }
    audit.event = "login";
    audit.reason = Some("success".into());
    audit.sub = Some(claims.sub.clone());
    audit.sid = Some(claims.sid.clone());
    audit.kid = Some(config.signing_key().kid().to_owned());
    // At the auth host the cookie outlives the token, to the login's maximum age: a logout or a
    // later login there must still find the sign-on the app sessions share.
    let kept_until = if config.signs_on {
        claims
            .auth_time
            .saturating_add(config.session.max_session_age_secs)
    } else {
        claims.exp
    };
    let set_cookie = cookie::set(&config.cookie_name, &token, kept_until.saturating_sub(now));
    Ok(Started {
        claims,
        token,
        set_cookie,
    })
}
