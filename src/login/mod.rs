//! Logging in: the identity a login method produces, its verdict, and the session minted from
//! it. No `worker` types: every decision here is tested natively.
//!
//! A login method is one file here (what it reads and decides) and one in `adapter/login/`
//! (its I/O), and ends in a [`Verdict`]: [`Verdict::Authenticated`] with an [`Identity`], or
//! [`Verdict::Refused`] with a reason only the log sees (the client is told
//! [`INVALID_CREDENTIALS`], whatever failed). From an identity, every method's session is the
//! same: [`new_session_claims`], renewed by [`renewal`].
//!
//! - [`kv_passwords`], [`upstream`]: the password methods (`USER_STORE`), reading a
//!   [`request::LoginRequest`] and hashing with [`password`].
//! - [`next`]: where the browser goes afterwards; [`same_origin`]: the cross-site check.
//! - [`session_routes`]: what `/auth/session`, `/auth/logout` and `/auth/revoke` require.
//! - [`page`]: the login page.
//! - [`handoff`]: a login at the auth host becoming one app's session ([`crate::apps`]).

pub mod handoff;
pub mod kv_passwords;
pub mod next;
pub mod oidc;
pub mod page;
pub mod passkey;
pub mod password;
pub mod request;
pub mod same_origin;
pub mod session_routes;
pub mod upstream;

use std::borrow::Cow;

use crate::config::{ConfigError, GatewayConfig, Vars};
use crate::encoding::strict_json::{self, StrictJsonError};
use crate::token::claims::{Claims, VerifiedClaims};
use serde_json::{Map, Value};
use std::fmt;

/// Longest username, in bytes.
pub const MAX_USERNAME_BYTES: usize = 128;
/// Longest role name, in bytes.
pub const MAX_ROLE_BYTES: usize = 128;
/// Most roles one user may have.
pub const MAX_ROLES: usize = 64;
/// Longest `name` or `email`, in bytes.
pub const MAX_PROFILE_BYTES: usize = 256;

/// The one message every failed login shows, whatever failed (unknown user, wrong password,
/// disabled user): the page and the JSON body never say which.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";

/// Which store checks password logins (`USER_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordStore {
    /// Workers KV ([`kv_passwords`]).
    Kv,
    /// An HTTP endpoint ([`upstream`]).
    Upstream(upstream::Settings),
    /// No password login (single sign-on only, or API tokens): the login page has no form and
    /// `POST /auth/login` does not exist.
    None,
}

impl PasswordStore {
    /// `USER_STORE`: `kv` (the default), `upstream` (with [`upstream::Settings`]) or `none`.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        match vars.choice("USER_STORE", &[("kv", 0), ("upstream", 1), ("none", 2)])? {
            0 => Ok(PasswordStore::Kv),
            1 => Ok(PasswordStore::Upstream(upstream::Settings::from_vars(
                vars,
            )?)),
            _ => Ok(PasswordStore::None),
        }
    }
}

/// How long sessions last and when they are renewed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionSettings {
    /// Lifetime of new sessions in seconds (`SESSION_TTL_SECS`, default 3600).
    pub ttl_secs: u64,
    /// Renew a cookie session once this fraction of its lifetime has passed (`RENEW_AFTER`,
    /// 0 to 1, default 0.5; 1 disables renewal).
    pub renew_after: f64,
}

/// Default session lifetime in seconds (`exp - iat`).
pub const DEFAULT_SESSION_TTL_SECS: u64 = 3600;
/// Default fraction of a session's lifetime after which it is renewed.
pub const DEFAULT_RENEW_AFTER: f64 = 0.5;

impl SessionSettings {
    /// `SESSION_TTL_SECS` (positive, at most the verifier's maximum session age) and
    /// `RENEW_AFTER`.
    pub fn from_vars(vars: &Vars, max_session_age_secs: u64) -> Result<Self, ConfigError> {
        let ttl_secs = vars.number("SESSION_TTL_SECS", DEFAULT_SESSION_TTL_SECS, 0..=u64::MAX)?;
        if ttl_secs == 0 || ttl_secs > max_session_age_secs {
            return Err(ConfigError(
                "SESSION_TTL_SECS must be positive and at most MAX_SESSION_AGE_SECS".into(),
            ));
        }
        Ok(SessionSettings {
            ttl_secs,
            renew_after: vars.fraction("RENEW_AFTER", DEFAULT_RENEW_AFTER)?,
        })
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The method vouches for this identity: a session may be minted.
    Authenticated(Identity),
    /// Refused; the reason is for the log only.
    Refused(Cow<'static, str>),
}

/// Who logged in, from either user store: what goes into the session's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id, the token's `sub` (a valid username: see [`is_valid_username`]).
    pub sub: String,
    /// Roles, each valid by [`is_valid_role`], no duplicates, at most [`MAX_ROLES`].
    pub roles: Vec<String>,
    /// Display name, if known.
    pub name: Option<String>,
    /// Email address, if known.
    pub email: Option<String>,
    /// The identity provider the login went through, for single sign-on.
    pub provider: Option<ProviderLogin>,
    /// How the user authenticated: the session's `amr` claim (RFC 8176 values).
    pub amr: &'static [&'static str],
}

/// `amr` of a password login.
pub const AMR_PASSWORD: &[&str] = &["pwd"];
/// `amr` of a single sign-on: federated (the provider's own methods are not known).
pub const AMR_SSO: &[&str] = &["fed"];
/// `amr` of a passkey sign-in with user verification: a key held by an authenticator, and a
/// PIN or biometric it checked (two factors).
pub const AMR_PASSKEY_VERIFIED: &[&str] = &["hwk", "mfa"];
/// `amr` of a passkey sign-in without user verification.
pub const AMR_PASSKEY: &[&str] = &["hwk"];

/// The identity provider a single sign-on login went through: it becomes the session's `idp`
/// and `idp_sid` claims (back-channel logout names sessions by them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderLogin {
    /// The provider's id in `IDENTITY_PROVIDERS`.
    pub id: String,
    /// The provider's session id (its ID token's `sid`), if it gave one.
    pub sid: Option<String>,
    /// When the provider says the user last authenticated (its ID token's `auth_time`), if it
    /// said: the session's [`LOGIN_TIME_CLAIM`]. A provider that reuses its own session gives
    /// an old one, or none.
    pub auth_time: Option<u64>,
    /// The provider's claims its mapping keeps in the session (`keep_claims`), for the rules.
    pub kept: Map<String, Value>,
}

/// The session claim saying when the user last proved who they are (Unix seconds): the login
/// itself for a password or a passkey, the provider's `auth_time` for single sign-on (absent
/// when the provider gives none). What `max_auth_age_secs` reads; renewal keeps it.
pub const LOGIN_TIME_CLAIM: &str = "login_time";

/// A user store answer or record that cannot be used. The login fails closed (refused with the
/// generic message); the detail is for the log and never contains the password hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordError(pub &'static str);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RecordError {}

/// Whether `username` is acceptable: 1 to [`MAX_USERNAME_BYTES`] bytes of visible ASCII
/// (`!` to `~`), no comma. It becomes `sub` and so the `X-Auth-User` header, and part of the KV
/// key, so nothing a header or a key could mangle gets in. Case-sensitive.
pub fn is_valid_username(username: &str) -> bool {
    (1..=MAX_USERNAME_BYTES).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// Whether `role` is acceptable: 1 to [`MAX_ROLE_BYTES`] bytes of visible ASCII, no comma
/// (roles travel comma-separated in `X-Auth-Roles`).
pub fn is_valid_role(role: &str) -> bool {
    (1..=MAX_ROLE_BYTES).contains(&role.len())
        && role.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

pub(crate) fn object(json: &[u8]) -> Result<Map<String, Value>, RecordError> {
    strict_json::parse_object(json).map_err(|e| match e {
        StrictJsonError::DuplicateMember => RecordError("duplicate member name"),
        StrictJsonError::Invalid => RecordError("not a JSON object"),
    })
}

pub(crate) fn roles(object: &Map<String, Value>) -> Result<Vec<String>, RecordError> {
    let Some(value) = object.get("roles") else {
        return Err(RecordError("roles is missing"));
    };
    let Value::Array(items) = value else {
        return Err(RecordError("roles is not an array"));
    };
    if items.len() > MAX_ROLES {
        return Err(RecordError("too many roles"));
    }
    let mut roles: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(role) if is_valid_role(role) => {
                if roles.contains(role) {
                    return Err(RecordError("a role is listed twice"));
                }
                roles.push(role.clone());
            }
            _ => return Err(RecordError("a role is not header-safe text without commas")),
        }
    }
    Ok(roles)
}

pub(crate) fn profile_text(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, RecordError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text))
            if text.len() <= MAX_PROFILE_BYTES && !text.chars().any(char::is_control) =>
        {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(RecordError(match name {
            "name" => "name is not a short string without control characters",
            _ => "email is not a short string without control characters",
        })),
    }
}

/// The claims of a new session for `identity`, minted at `now`: `iss` and `aud` from
/// `config.session`, `iat = auth_time = now`, `exp = now + config.sessions.ttl_secs`.
/// `sid` is a fresh session id from the caller (see [`crate::token::claims::session_id`]).
pub fn new_session_claims(
    config: &GatewayConfig,
    identity: &Identity,
    sid: String,
    now: u64,
) -> Claims {
    Claims {
        iss: config.session.issuer.clone(),
        aud: vec![config.session.audience.clone()],
        sub: identity.sub.clone(),
        sid,
        iat: now,
        exp: now.saturating_add(config.sessions.ttl_secs),
        nbf: None,
        auth_time: now,
        roles: identity.roles.clone(),
        name: identity.name.clone(),
        email: identity.email.clone(),
        extra: login_claims(identity, now),
    }
}

/// How the session was won: `amr` and [`LOGIN_TIME_CLAIM`]; for single sign-on also the
/// provider, `idp`, `idp_sid` when known, and the claims its mapping keeps.
fn login_claims(identity: &Identity, now: u64) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("amr".into(), Value::from(identity.amr.to_vec()));
    let login_time = match &identity.provider {
        None => Some(now),
        Some(provider) => provider.auth_time.map(|t| t.min(now)),
    };
    if let Some(login_time) = login_time {
        extra.insert(LOGIN_TIME_CLAIM.into(), Value::from(login_time));
    }
    if let Some(provider) = &identity.provider {
        for (name, value) in &provider.kept {
            extra.insert(name.clone(), value.clone());
        }
        extra.insert("idp".into(), Value::from(provider.id.as_str()));
        if let Some(sid) = &provider.sid {
            extra.insert("idp_sid".into(), Value::from(sid.as_str()));
        }
    }
    extra
}

/// Sliding renewal of a verified session at `now` (only a verified one: the result is minted).
///
/// When more than `fraction` (0 to 1, e.g. 0.5) of the token's lifetime (`exp - iat`) has
/// elapsed, returns the same claims (same `sid`, `auth_time`, roles and every other claim) with
/// `iat = now` and `exp = min(now + ttl, auth_time + max_age)`: the absolute maximum age from
/// `auth_time` still ends the session. Returns `None` for a machine identity, before the threshold, when the new `exp`
/// would not be later than the current one (nothing gained, e.g. at the age cap), when the
/// token has already expired (`now >= exp`), or when `fraction` is not within 0 to 1.
pub fn renewal(
    session: &VerifiedClaims,
    now: u64,
    fraction: f64,
    ttl: u64,
    max_age: u64,
) -> Option<Claims> {
    let claims = session.claims();
    // A machine identity is never renewed: it would become a session of ours.
    if !session.is_session() || !(0.0..=1.0).contains(&fraction) || now >= claims.exp {
        return None;
    }
    let lifetime = claims.exp.saturating_sub(claims.iat);
    let elapsed = now.saturating_sub(claims.iat);
    // Exact in f64 for any lifetime below 2^53 seconds.
    if (elapsed as f64) <= fraction * lifetime as f64 {
        return None;
    }
    let exp = now
        .saturating_add(ttl)
        .min(claims.auth_time.saturating_add(max_age));
    if exp <= claims.exp {
        return None;
    }
    let mut renewed = claims.clone();
    renewed.iat = now;
    renewed.exp = exp;
    Some(renewed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;
    use crate::token::keys::SigningKey;

    #[test]
    fn usernames_and_roles() {
        for good in [
            "alice",
            "a",
            "bob@example.com",
            "x_y-z.1~!",
            &"u".repeat(128),
        ] {
            assert!(is_valid_username(good), "{good:?}");
        }
        for bad in [
            "",
            "a b",
            "a,b",
            "a\tb",
            "jos\u{e9}",
            "a\r\nb",
            &"u".repeat(129),
        ] {
            assert!(!is_valid_username(bad), "{bad:?}");
        }
        assert!(is_valid_role("admin"));
        assert!(!is_valid_role("a,b"));
        assert!(!is_valid_role(""));
    }

    fn config() -> GatewayConfig {
        let key = SigningKey::from_seed(&mut [9u8; 32])
            .to_private_jwk()
            .to_string();
        GatewayConfig::from_lookup(|name| match name {
            "SIGNING_KEY" => Some(key.clone()),
            "ISSUER" => Some("https://edge.example".into()),
            "SESSION_TTL_SECS" => Some("900".into()),
            _ => None,
        })
        .expect("valid config")
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn new_sessions_verify_under_the_same_config() {
        let config = config();
        let identity = Identity {
            sub: "alice".into(),
            roles: vec!["admin".into()],
            name: Some("Alice".into()),
            email: None,
            provider: None,
            amr: crate::login::AMR_PASSWORD,
        };
        let claims = new_session_claims(&config, &identity, "sid-1".into(), NOW);
        assert_eq!(claims.iss, "https://edge.example");
        assert_eq!(claims.aud, vec![config.session.audience.clone()]);
        assert_eq!(
            (claims.iat, claims.auth_time, claims.exp),
            (NOW, NOW, NOW + 900)
        );
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("alice", "sid-1")
        );
        assert_eq!(claims.roles, ["admin"]);
        assert_eq!(claims.name.as_deref(), Some("Alice"));
        let minted = token::mint(&claims, config.signing_key());
        let verified =
            token::verify(&minted, &config.keys, &config.session, NOW + 1).expect("verifies");
        assert_eq!(verified.claims(), &claims);
    }

    fn session(iat: u64, exp: u64, auth_time: u64) -> Claims {
        let mut extra = Map::new();
        extra.insert("tenant".into(), Value::from("t1"));
        Claims {
            iss: "i".into(),
            aud: vec!["a".into()],
            sub: "alice".into(),
            sid: "sid-1".into(),
            iat,
            exp,
            nbf: None,
            auth_time,
            roles: vec!["admin".into()],
            name: None,
            email: Some("a@b.c".into()),
            extra,
        }
    }

    fn verified(claims: &Claims) -> VerifiedClaims {
        VerifiedClaims::new(claims.clone(), "kid".into())
    }

    const TTL: u64 = 3600;
    const MAX_AGE: u64 = 7 * 24 * 3600;

    #[test]
    fn renews_only_past_the_threshold() {
        let claims = session(NOW, NOW + TTL, NOW - 100);
        let halfway = NOW + TTL / 2;
        assert_eq!(
            renewal(&verified(&claims), NOW, 0.5, TTL, MAX_AGE),
            None,
            "fresh"
        );
        assert_eq!(
            renewal(&verified(&claims), halfway - 1, 0.5, TTL, MAX_AGE),
            None,
            "just before"
        );
        assert_eq!(
            renewal(&verified(&claims), halfway, 0.5, TTL, MAX_AGE),
            None,
            "exactly at"
        );
        let renewed =
            renewal(&verified(&claims), halfway + 1, 0.5, TTL, MAX_AGE).expect("just after");
        assert_eq!(renewed.iat, halfway + 1);
        assert_eq!(renewed.exp, halfway + 1 + TTL);
        let mut expected = claims.clone();
        expected.iat = renewed.iat;
        expected.exp = renewed.exp;
        assert_eq!(
            renewed, expected,
            "everything else is kept: sid, auth_time, roles, extras"
        );
        assert_eq!(
            renewal(&verified(&claims), NOW + TTL, 0.5, TTL, MAX_AGE),
            None,
            "expired"
        );
    }

    #[test]
    fn the_login_time_is_the_login_itself_or_the_providers_word() {
        let config = config();
        let login = |provider: Option<ProviderLogin>, amr| {
            let identity = Identity {
                sub: "u".into(),
                roles: vec![],
                name: None,
                email: None,
                provider,
                amr,
            };
            new_session_claims(&config, &identity, "sid".into(), NOW).extra
        };
        assert_eq!(login(None, AMR_PASSWORD)[LOGIN_TIME_CLAIM], NOW);
        assert_eq!(login(None, AMR_PASSKEY_VERIFIED)[LOGIN_TIME_CLAIM], NOW);
        let mut kept = Map::new();
        kept.insert("groups".into(), serde_json::json!(["eng"]));
        let sso = login(
            Some(ProviderLogin {
                id: "corp".into(),
                auth_time: Some(NOW - 4000),
                kept,
                ..ProviderLogin::default()
            }),
            AMR_SSO,
        );
        assert_eq!(sso[LOGIN_TIME_CLAIM], NOW - 4000, "when the provider says");
        assert_eq!(sso["groups"], serde_json::json!(["eng"]));
        assert_eq!(sso["idp"], "corp");
        let silent = login(
            Some(ProviderLogin {
                id: "gh".into(),
                ..ProviderLogin::default()
            }),
            AMR_SSO,
        );
        assert!(
            !silent.contains_key(LOGIN_TIME_CLAIM),
            "a provider that says nothing"
        );
        let future = login(
            Some(ProviderLogin {
                id: "corp".into(),
                auth_time: Some(NOW + 500),
                ..ProviderLogin::default()
            }),
            AMR_SSO,
        );
        assert_eq!(future[LOGIN_TIME_CLAIM], NOW, "never later than now");
    }

    #[test]
    fn renewal_stops_at_the_absolute_age_cap() {
        // The cap (NOW + 3000) falls between the current exp and now + ttl.
        let auth_time = NOW - MAX_AGE + 3000;
        let claims = session(NOW - 2000, NOW + 1600, auth_time);
        let renewed =
            renewal(&verified(&claims), NOW, 0.5, TTL, MAX_AGE).expect("cap is later than exp");
        assert_eq!(renewed.exp, auth_time + MAX_AGE, "capped, not now + ttl");
        assert_eq!(renewed.auth_time, auth_time);
        // Already at the cap: renewing would gain nothing.
        let at_cap = session(NOW - 4000, auth_time + MAX_AGE, auth_time);
        assert_eq!(renewal(&verified(&at_cap), NOW, 0.5, TTL, MAX_AGE), None);
    }

    #[test]
    fn renewal_refuses_nonsense_fractions() {
        let claims = session(NOW, NOW + TTL, NOW);
        for fraction in [f64::NAN, -0.1, 1.5] {
            assert_eq!(
                renewal(&verified(&claims), NOW + TTL - 1, fraction, TTL, MAX_AGE),
                None
            );
        }
        assert!(renewal(&verified(&claims), NOW + 1, 0.0, TTL, MAX_AGE).is_some());
        assert_eq!(
            renewal(&verified(&claims), NOW + TTL - 1, 1.0, TTL, MAX_AGE),
            None
        );
    }
}
