//! The gateway's configuration: read once per isolate from Worker vars and secrets into one
//! typed, validated value. Any error is fatal for every request (500), never a pass-through.
//!
//! Each subsystem parses its own section through the one reader, [`Vars`]; this module only
//! assembles them and checks what spans sections.

mod vars;

pub use vars::{parse_fraction, Vars};

use crate::audit;
use crate::encoding::http_url::{HttpUrl, UrlError};
use crate::gateway::cookie;
use crate::gateway::headers::IdentityHeaders;
use crate::gateway::path::Parameters;
use crate::gateway::revocation;
use crate::gateway::rules::AccessRules;
use crate::login::oidc::Providers;
use crate::login::passkey;
use crate::login::{PasswordStore, SessionSettings};
use crate::machine::issuer::TrustedIssuers;
use crate::machine::service_token;
use crate::token::keys::{self, KeySet, SigningKey};
use crate::token::session_cache;
use crate::token::validation::Validation;
use std::fmt;

/// Default `aud` of the assertions the origin receives.
pub const DEFAULT_ASSERTION_AUDIENCE: &str = "origin";
/// Default time the origin has to answer, in milliseconds.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 15_000;

/// Everything the gateway needs, validated.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The key that signs sessions and assertions (`SIGNING_KEY`): always present.
    pub signing_key: SigningKey,
    /// Every key accepted for verification: the signing key's, then `PREVIOUS_KEYS`.
    pub keys: KeySet,
    /// How session tokens are verified (`iss`, `aud`, leeway, maximum age, size cap).
    pub session: Validation,
    /// How long sessions last and when they are renewed.
    pub sessions: SessionSettings,
    /// `aud` of the `X-Auth-Assertion` token (`ASSERTION_AUDIENCE`).
    pub assertion_audience: String,
    /// Whether every assertion is bound to its request (`ASSERTION_BINDING`: `session`, the
    /// default, or `request`; a rule can ask for it on its paths alone).
    pub bind_assertions: bool,
    /// The origin's base URL without a trailing slash; `None` serves the built-in demo origin.
    pub origin: Option<String>,
    /// How long the origin has to answer before the edge gives up with 504 (`ORIGIN_TIMEOUT_MS`).
    pub origin_timeout_ms: u64,
    /// Access rules (`ACCESS_RULES`).
    pub rules: AccessRules,
    /// Session cookie name (`SESSION_COOKIE`).
    pub cookie_name: String,
    /// Whether the session cookie is forwarded to the origin (`FORWARD_SESSION_COOKIE`).
    pub forward_session_cookie: bool,
    /// Whether an `Authorization` header the edge did not use (another scheme, or a bearer
    /// token that is not a valid session, on a public route) reaches the origin
    /// (`FORWARD_CLIENT_AUTHORIZATION`, default false). A used or revoked session never does.
    pub forward_client_authorization: bool,
    /// What `;parameters` in request paths get (`PATH_PARAMETERS`: `refuse`, the default, or
    /// `strip`).
    pub path_parameters: Parameters,
    /// Identity header names and the reserved-header rule.
    pub headers: IdentityHeaders,
    /// Where password logins are checked (`USER_STORE`).
    pub password_store: PasswordStore,
    /// The identity providers users may sign in with (`IDENTITY_PROVIDERS`).
    pub providers: Providers,
    /// The passkey relying party (`PASSKEY_RP_ID`, …); `None`: passkeys are off.
    pub passkeys: Option<passkey::Settings>,
    /// External issuers whose access tokens programs may present (`TRUSTED_ISSUERS`).
    pub issuers: TrustedIssuers,
    /// Service tokens (`SERVICE_TOKENS=kv`, the two headers); `None`: off.
    pub service_tokens: Option<service_token::Settings>,
    /// Entries of the per-isolate verified-session cache (`SESSION_CACHE_SIZE`, default 10,000;
    /// 0 disables it).
    pub session_cache_size: usize,
    /// The cache's memory bound, in estimated bytes: about 32 MiB, shared by every app's cache
    /// with several apps ([`crate::apps`]).
    pub session_cache_bytes: usize,
    /// Fraction of plain `allow` decisions that are logged (`AUDIT_SAMPLE_ALLOWED`, 0–1, default
    /// 1: all). Refusals, errors, logins, logouts and renewals are always logged.
    pub audit_sample_allowed: f64,
    /// How revocation is read, and who may revoke.
    pub revocation: revocation::Settings,
    /// The app this configuration is, when the deployment serves several (`APPS`); `None` for
    /// the only app, or the auth host.
    pub app: Option<crate::apps::AppLink>,
    /// Whether this is the auth host of several apps: its sessions then carry a sign-on id
    /// (`login::handoff::SIGN_ON_CLAIM`) that every app session made from them shares.
    pub signs_on: bool,
}

/// A configuration problem, precise enough to fix from the log. Never contains secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl GatewayConfig {
    /// Builds the configuration from a lookup of vars and secrets by name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let (signing_key, keys) = keys::from_vars(&vars)?;
        let session = Validation::from_vars(&vars)?;
        let assertion_audience = vars.text("ASSERTION_AUDIENCE", DEFAULT_ASSERTION_AUDIENCE);
        if assertion_audience == session.audience {
            return Err(ConfigError(
                "ASSERTION_AUDIENCE must differ from SESSION_AUDIENCE, or an assertion seen by the origin would work as a session".into(),
            ));
        }
        let providers = Providers::from_vars(&vars)?;
        let issuers = TrustedIssuers::from_vars(&vars, &session, &providers)?;
        if providers.get(service_token::SUB_NAMESPACE).is_some() {
            return Err(ConfigError(format!(
                "IDENTITY_PROVIDERS: the id {:?} is reserved for service tokens",
                service_token::SUB_NAMESPACE
            )));
        }
        let rules = AccessRules::from_vars(&vars)?;
        check_claim_conditions(&rules, &providers, &issuers)?;
        let (id_header, secret_header) = service_token::header_names(&vars)?;
        let headers =
            IdentityHeaders::from_vars(&vars)?.also_reserving(&[&id_header, &secret_header]);
        Ok(GatewayConfig {
            signing_key,
            keys,
            sessions: SessionSettings::from_vars(&vars, session.max_session_age_secs)?,
            session,
            assertion_audience,
            bind_assertions: vars.choice("ASSERTION_BINDING", &[("session", 0), ("request", 1)])?
                == 1,
            origin: vars
                .get("ORIGIN_URL")
                .map(|url| parse_origin(&url))
                .transpose()?,
            origin_timeout_ms: vars.number(
                "ORIGIN_TIMEOUT_MS",
                DEFAULT_ORIGIN_TIMEOUT_MS,
                100..=120_000,
            )?,
            rules,
            cookie_name: cookie::name_from_vars(&vars)?,
            forward_session_cookie: vars.flag("FORWARD_SESSION_COOKIE", false)?,
            forward_client_authorization: vars.flag("FORWARD_CLIENT_AUTHORIZATION", false)?,
            path_parameters: Parameters::from_vars(&vars)?,
            headers,
            password_store: PasswordStore::from_vars(&vars)?,
            providers,
            passkeys: passkey::Settings::from_vars(&vars)?,
            issuers,
            service_tokens: service_token::Settings::from_vars(&vars)?,
            session_cache_size: session_cache::capacity_from_vars(&vars)?,
            session_cache_bytes: session_cache::DEFAULT_MAX_BYTES,
            audit_sample_allowed: audit::sample_from_vars(&vars)?,
            revocation: revocation::Settings::from_vars(&vars)?,
            app: None,
            signs_on: false,
        })
    }

    /// Which per-isolate verified-session cache is this configuration's: each app's own, since
    /// a cached session carries the assertion minted for its app.
    pub fn cache_slot(&self) -> usize {
        self.app.as_ref().map_or(0, |app| app.slot)
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// Whether `sub` belongs to a namespace only one kind of login may produce: an identity
    /// provider's (`<id>:…`), a trusted issuer's, or service tokens' (`service:…`). A password
    /// or passkey user named so would pose as that identity at the origin, and is refused.
    pub fn reserves_sub(&self, sub: &str) -> bool {
        self.providers.reserves(sub)
            || self.issuers.reserves(sub)
            || crate::login::oidc::in_namespace(sub, service_token::SUB_NAMESPACE)
    }
}

/// Claims the edge itself puts in sessions, which rules may name: how the session was won, the
/// provider or issuer, an access token's scopes.
const CLAIMS_EVERY_SESSION_MAY_HAVE: [&str; 4] = ["amr", "idp", "scope", "machine"];

/// A rule's `claims` condition must name a claim some session can carry: one the edge sets, or
/// one a provider's or issuer's mapping keeps (`keep_claims`). Any other would never hold (an
/// allow rule admitting nobody, a deny rule never refusing), whatever the tokens say.
fn check_claim_conditions(
    rules: &AccessRules,
    providers: &Providers,
    issuers: &TrustedIssuers,
) -> Result<(), ConfigError> {
    let kept = |name: &str| {
        CLAIMS_EVERY_SESSION_MAY_HAVE.contains(&name)
            || providers
                .iter()
                .any(|p| p.mapping.kept_claim_names().iter().any(|k| k == name))
            || issuers
                .iter()
                .any(|i| i.mapping.kept_claim_names().iter().any(|k| k == name))
    };
    match rules.claim_names().find(|(_, name)| !kept(name)) {
        Some((index, name)) => Err(ConfigError(format!(
            "ACCESS_RULES[{index}]: no session carries the claim {name:?}: keep it with a provider's or issuer's mapping (\"keep_claims\")"
        ))),
        None => Ok(()),
    }
}

/// `ORIGIN_URL`: `http(s)://host[:port][/base]` with no query, fragment or credentials.
fn parse_origin(text: &str) -> Result<String, ConfigError> {
    let url = HttpUrl::parse(text).map_err(|e| match e {
        UrlError::NotHttp => ConfigError(format!("ORIGIN_URL: {text:?} is not an http(s) URL")),
        e => ConfigError(format!("ORIGIN_URL: {text:?} is {e}")),
    })?;
    if url.has_query() || url.has_fragment() {
        return Err(ConfigError(
            "ORIGIN_URL must not have a query or fragment".into(),
        ));
    }
    if url.has_credentials() {
        return Err(ConfigError("ORIGIN_URL must not carry credentials".into()));
    }
    Ok(url.without_fragment().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key() -> String {
        SigningKey::from_seed(&mut [4u8; 32])
            .to_private_jwk()
            .to_string()
    }

    fn config(vars: &[(&str, &str)]) -> Result<GatewayConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GatewayConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_with_only_a_signing_key() {
        let config = config(&[("SIGNING_KEY", &key())]).expect("valid");
        assert_eq!(
            config.session.issuer,
            crate::token::validation::DEFAULT_ISSUER
        );
        assert_eq!(config.cookie_name, "__Host-edgeauth");
        assert!(config.origin.is_none());
        assert!(!config.forward_session_cookie);
        assert!(!config.forward_client_authorization);
        assert_eq!(config.path_parameters, Parameters::Refuse);
        assert!(config.rules.is_empty());
        assert_eq!(config.keys.keys().len(), 1);
        assert_eq!(config.revocation.refresh_secs, 30);
        assert_eq!(config.revocation.max_stale_secs, 300);
        assert_eq!(config.revocation.revoke_role, "admin");
    }

    #[test]
    fn fractions_are_plain_decimals_from_zero_to_one() {
        for (text, value) in [
            ("0", 0.0),
            ("1", 1.0),
            ("0.5", 0.5),
            (".01", 0.01),
            ("1.000", 1.0),
        ] {
            assert_eq!(parse_fraction(text), Some(value), "{text}");
        }
        for text in [
            ".",
            "1.5",
            "2",
            "-0",
            "+0.5",
            "1e-2",
            "0.5x",
            "NaN",
            "inf",
            "0.0000000001",
        ] {
            assert_eq!(parse_fraction(text), None, "{text}");
        }
        let sampled = config(&[("SIGNING_KEY", &key()), ("AUDIT_SAMPLE_ALLOWED", "0.25")]);
        assert_eq!(sampled.expect("valid").audit_sample_allowed, 0.25);
        let refused = config(&[("SIGNING_KEY", &key()), ("RENEW_AFTER", "1.01")]);
        assert!(refused.expect_err("out of range").0.contains("RENEW_AFTER"));
    }

    #[test]
    fn every_error_is_reported_and_none_leaks_the_key() {
        let key = key();
        let d = key
            .split("\"d\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("d");
        let broken_key = key.replace("\"x\":\"", "\"x\":\"A");
        for (vars, expect) in [
            (vec![], "SIGNING_KEY secret is missing"),
            (vec![("SIGNING_KEY", "not json")], "SIGNING_KEY"),
            (vec![("SIGNING_KEY", broken_key.as_str())], "SIGNING_KEY"),
            (
                vec![("SIGNING_KEY", key.as_str()), ("ORIGIN_URL", "ftp://x")],
                "ORIGIN_URL",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("ORIGIN_URL", "http://x/?a=1"),
                ],
                "ORIGIN_URL",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("ORIGIN_URL", "http://u:p@x/"),
                ],
                "ORIGIN_URL",
            ),
            (
                vec![("SIGNING_KEY", key.as_str()), ("ORIGIN_URL", "not a url")],
                "ORIGIN_URL",
            ),
            (
                vec![("SIGNING_KEY", key.as_str()), ("ACCESS_RULES", "[{")],
                "ACCESS_RULES",
            ),
            (
                vec![("SIGNING_KEY", key.as_str()), ("LEEWAY_SECS", "-1")],
                "LEEWAY_SECS",
            ),
            (
                vec![("SIGNING_KEY", key.as_str()), ("PREVIOUS_KEYS", "{}")],
                "PREVIOUS_KEYS",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("FORWARD_SESSION_COOKIE", "maybe"),
                ],
                "FORWARD_SESSION_COOKIE",
            ),
            (
                vec![("SIGNING_KEY", key.as_str()), ("PATH_PARAMETERS", "ignore")],
                "PATH_PARAMETERS",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("FORWARD_CLIENT_AUTHORIZATION", "sometimes"),
                ],
                "FORWARD_CLIENT_AUTHORIZATION",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("REVOCATION_REFRESH_SECS", "soon"),
                ],
                "REVOCATION_REFRESH_SECS",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("REVOCATION_MAX_STALE_SECS", "100000"),
                ],
                "REVOCATION_MAX_STALE_SECS",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("REVOCATION_MAX_STALE_SECS", "10"),
                ],
                "at least REVOCATION_REFRESH_SECS",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("ASSERTION_AUDIENCE", "edgeauth"),
                ],
                "ASSERTION_AUDIENCE",
            ),
            (
                vec![
                    ("SIGNING_KEY", key.as_str()),
                    ("HEADER_USER", "X-User\r\nX"),
                ],
                "HEADER_USER",
            ),
            (
                vec![("SIGNING_KEY", key.as_str()), ("SESSION_COOKIE", "a;b")],
                "SESSION_COOKIE",
            ),
        ] {
            let err = config(&vars).expect_err(expect);
            assert!(err.0.contains(expect), "{err}");
            assert!(!err.0.contains(d), "error leaks the private key: {err}");
        }
    }

    #[test]
    fn origin_url_is_normalized() {
        let key = key();
        let config = config(&[
            ("SIGNING_KEY", &key),
            ("ORIGIN_URL", "http://127.0.0.1:9000/"),
        ])
        .expect("ok");
        assert_eq!(config.origin.as_deref(), Some("http://127.0.0.1:9000"));
    }
}
