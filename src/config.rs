//! The gateway's configuration: read once per isolate from Worker vars and secrets into one
//! typed, validated value. Any error is fatal for every request (500), never a pass-through.

use crate::cookie;
use crate::headers::{self, IdentityHeaders};
use crate::http_url::{HttpUrl, UrlError};
use crate::jwk;
use crate::keys::{KeySet, SigningKey};
use crate::path::Parameters;
use crate::rules::AccessRules;
use crate::validation::{self, Validation};
use std::fmt;

/// Default `iss` of minted sessions (set `ISSUER` to your public URL).
pub const DEFAULT_ISSUER: &str = "edgeauth";
/// Default `aud` of session tokens.
pub const DEFAULT_SESSION_AUDIENCE: &str = "edgeauth";
/// Default `aud` of the assertions the origin receives.
pub const DEFAULT_ASSERTION_AUDIENCE: &str = "origin";
/// Default session lifetime in seconds (`exp - iat`).
pub const DEFAULT_SESSION_TTL_SECS: u64 = 3600;
/// Default time the origin has to answer, in milliseconds.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 15_000;

/// Default time the upstream user store has to answer, in milliseconds.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 5_000;
/// Default fraction of a session's lifetime after which it is renewed.
pub const DEFAULT_RENEW_AFTER: f64 = 0.5;

/// Which store authenticates logins (`USER_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserStore {
    /// Workers KV (`USERS` binding): `user:<name>` → a JSON record with a PBKDF2 PHC hash.
    Kv,
    /// An HTTP endpoint that answers `POST {username, password}` with 200 and the identity.
    Upstream {
        /// `UPSTREAM_AUTH_URL`.
        url: String,
        /// `UPSTREAM_TIMEOUT_MS`.
        timeout_ms: u64,
    },
}

/// Everything the gateway needs, validated.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The signing key and every key accepted for verification.
    pub keys: KeySet,
    /// How session tokens are verified (`iss`, `aud`, leeway, maximum age, size cap).
    pub session: Validation,
    /// `aud` of the `X-Auth-Assertion` token (`ASSERTION_AUDIENCE`).
    pub assertion_audience: String,
    /// Lifetime of new sessions in seconds (`SESSION_TTL_SECS`).
    pub session_ttl_secs: u64,
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
    /// Where logins are checked.
    pub user_store: UserStore,
    /// Renew a cookie session once this fraction of its lifetime has passed (`RENEW_AFTER`,
    /// 0 to 1; 1 disables renewal).
    pub renew_after: f64,
    /// Entries of the per-isolate verified-session cache (`SESSION_CACHE_SIZE`, default 10,000;
    /// 0 disables it).
    pub session_cache_size: usize,
    /// Fraction of plain `allow` decisions that are logged (`AUDIT_SAMPLE_ALLOWED`, 0–1, default
    /// 1: all). Refusals, errors, logins, logouts and renewals are always logged.
    pub audit_sample_allowed: f64,
    /// How often an isolate re-reads the revocation document (`REVOCATION_REFRESH_SECS`,
    /// default 30; 0 re-reads on every request that carries a session).
    pub revocation_refresh_secs: u64,
    /// How long an isolate keeps using its last good copy when re-reading fails
    /// (`REVOCATION_MAX_STALE_SECS`, default 300); past that, protected routes fail closed.
    pub revocation_max_stale_secs: u64,
    /// The role that may revoke sessions through `POST /auth/revoke` (`REVOKE_ROLE`,
    /// default `admin`).
    pub revoke_role: String,
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
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let text = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());
        let number = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError(format!("{name}: {v:?} is not a whole number"))),
            }
        };
        let flag = |name: &str, default: bool| -> Result<bool, ConfigError> {
            match get(name).as_deref() {
                None => Ok(default),
                Some("true" | "1" | "yes") => Ok(true),
                Some("false" | "0" | "no") => Ok(false),
                Some(v) => Err(ConfigError(format!("{name}: {v:?} is not true or false"))),
            }
        };

        let signing = get("SIGNING_KEY").ok_or_else(|| {
            ConfigError(
                "SIGNING_KEY secret is missing (a private Ed25519 JWK; see `edgeauth keygen`)"
                    .into(),
            )
        })?;
        let signing =
            SigningKey::from_jwk(&signing).map_err(|e| ConfigError(format!("SIGNING_KEY: {e}")))?;
        let previous = match get("PREVIOUS_KEYS") {
            None => Vec::new(),
            Some(text) => jwk::public_keys_from_json(&text)
                .map_err(|e| ConfigError(format!("PREVIOUS_KEYS: {e}")))?,
        };
        let keys = KeySet::new(signing, previous);

        let mut session = Validation::new(
            text("ISSUER", DEFAULT_ISSUER),
            text("SESSION_AUDIENCE", DEFAULT_SESSION_AUDIENCE),
        );
        session.leeway_secs = number("LEEWAY_SECS", validation::DEFAULT_LEEWAY_SECS)?;
        session.max_session_age_secs = number(
            "MAX_SESSION_AGE_SECS",
            validation::DEFAULT_MAX_SESSION_AGE_SECS,
        )?;
        session.max_token_bytes = usize::try_from(number(
            "MAX_TOKEN_BYTES",
            validation::DEFAULT_MAX_TOKEN_BYTES as u64,
        )?)
        .map_err(|_| ConfigError("MAX_TOKEN_BYTES is too large".into()))?;
        if !(512..=16384).contains(&session.max_token_bytes) {
            return Err(ConfigError("MAX_TOKEN_BYTES must be 512 to 16384".into()));
        }
        let assertion_audience = text("ASSERTION_AUDIENCE", DEFAULT_ASSERTION_AUDIENCE);
        if assertion_audience == session.audience {
            return Err(ConfigError(
                "ASSERTION_AUDIENCE must differ from SESSION_AUDIENCE, or an assertion seen by the origin would work as a session".into(),
            ));
        }
        let session_ttl_secs = number("SESSION_TTL_SECS", DEFAULT_SESSION_TTL_SECS)?;
        if session_ttl_secs == 0 || session_ttl_secs > session.max_session_age_secs {
            return Err(ConfigError(
                "SESSION_TTL_SECS must be positive and at most MAX_SESSION_AGE_SECS".into(),
            ));
        }

        let origin = get("ORIGIN_URL")
            .map(|url| parse_origin(&url))
            .transpose()?;
        let origin_timeout_ms = number("ORIGIN_TIMEOUT_MS", DEFAULT_ORIGIN_TIMEOUT_MS)?;
        if !(100..=120_000).contains(&origin_timeout_ms) {
            return Err(ConfigError(
                "ORIGIN_TIMEOUT_MS must be 100 to 120000".into(),
            ));
        }
        let rules = AccessRules::from_json(
            &text("ACCESS_RULES", "[]"),
            flag("PATHS_CASE_INSENSITIVE", false)?,
        )
        .map_err(ConfigError)?;

        let path_parameters = match text("PATH_PARAMETERS", "refuse").as_str() {
            "refuse" => Parameters::Refuse,
            "strip" => Parameters::Strip,
            other => {
                return Err(ConfigError(format!(
                    "PATH_PARAMETERS: {other:?} is not \"refuse\" or \"strip\""
                )))
            }
        };

        let cookie_name = text("SESSION_COOKIE", cookie::DEFAULT_NAME);
        if cookie_name.is_empty()
            || !cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError(format!(
                "SESSION_COOKIE: {cookie_name:?} is not a cookie name"
            )));
        }

        let reserved: Vec<String> = text("RESERVED_HEADERS", "")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        let mut headers = IdentityHeaders::default().with_reserved(
            &text("IDENTITY_HEADER_PREFIX", headers::DEFAULT_PREFIX),
            &reserved,
        );
        for (var, slot) in [
            ("HEADER_USER", &mut headers.user),
            ("HEADER_ROLES", &mut headers.roles),
            ("HEADER_SESSION", &mut headers.session),
            ("HEADER_EXPIRES", &mut headers.expires),
            ("HEADER_ASSERTION", &mut headers.assertion),
        ] {
            if let Some(name) = get(var) {
                if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(ConfigError(format!("{var}: {name:?} is not a header name")));
                }
                *slot = name;
            }
        }

        let user_store = match text("USER_STORE", "kv").as_str() {
            "kv" => UserStore::Kv,
            "upstream" => {
                let url = get("UPSTREAM_AUTH_URL").ok_or_else(|| {
                    ConfigError("USER_STORE is upstream but UPSTREAM_AUTH_URL is not set".into())
                })?;
                let url = HttpUrl::parse(&url)
                    .ok()
                    .filter(|u| !u.has_credentials())
                    .ok_or_else(|| ConfigError("UPSTREAM_AUTH_URL is not an http(s) URL".into()))?;
                let timeout_ms = number("UPSTREAM_TIMEOUT_MS", DEFAULT_UPSTREAM_TIMEOUT_MS)?;
                if !(100..=60_000).contains(&timeout_ms) {
                    return Err(ConfigError(
                        "UPSTREAM_TIMEOUT_MS must be 100 to 60000".into(),
                    ));
                }
                UserStore::Upstream {
                    url: url.without_fragment(),
                    timeout_ms,
                }
            }
            other => {
                return Err(ConfigError(format!(
                    "USER_STORE: {other:?} is not \"kv\" or \"upstream\""
                )))
            }
        };
        let fraction = |name: &str, default: f64| -> Result<f64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => parse_fraction(&v)
                    .ok_or_else(|| ConfigError(format!("{name}: {v:?} is not between 0 and 1"))),
            }
        };
        let renew_after = fraction("RENEW_AFTER", DEFAULT_RENEW_AFTER)?;
        let audit_sample_allowed = fraction("AUDIT_SAMPLE_ALLOWED", 1.0)?;

        let session_cache_size = number(
            "SESSION_CACHE_SIZE",
            crate::session_cache::DEFAULT_CAPACITY as u64,
        )?;
        if session_cache_size > 1_000_000 {
            return Err(ConfigError(
                "SESSION_CACHE_SIZE must be 0 to 1000000".into(),
            ));
        }

        let revocation_refresh_secs = number(
            "REVOCATION_REFRESH_SECS",
            crate::revocation::DEFAULT_REFRESH_SECS,
        )?;
        let revocation_max_stale_secs = number(
            "REVOCATION_MAX_STALE_SECS",
            crate::revocation::DEFAULT_MAX_STALE_SECS,
        )?;
        if revocation_refresh_secs > 3600 || revocation_max_stale_secs > 86_400 {
            return Err(ConfigError(
                "REVOCATION_REFRESH_SECS must be 0 to 3600 and REVOCATION_MAX_STALE_SECS 0 to 86400"
                    .into(),
            ));
        }
        if revocation_max_stale_secs < revocation_refresh_secs {
            // A copy would go stale before the next read is due: every session refused between.
            return Err(ConfigError(
                "REVOCATION_MAX_STALE_SECS must be at least REVOCATION_REFRESH_SECS".into(),
            ));
        }
        let revoke_role = text("REVOKE_ROLE", "admin");

        Ok(GatewayConfig {
            keys,
            session,
            assertion_audience,
            session_ttl_secs,
            origin,
            origin_timeout_ms,
            rules,
            cookie_name,
            forward_session_cookie: flag("FORWARD_SESSION_COOKIE", false)?,
            forward_client_authorization: flag("FORWARD_CLIENT_AUTHORIZATION", false)?,
            path_parameters,
            headers,
            user_store,
            renew_after,
            session_cache_size: session_cache_size as usize,
            audit_sample_allowed,
            revocation_refresh_secs,
            revocation_max_stale_secs,
            revoke_role,
        })
    }

    /// The signing key (a `GatewayConfig` always has one).
    pub fn signing_key(&self) -> &SigningKey {
        // `from_lookup` builds `keys` with `KeySet::new`, which always holds a signing key.
        self.keys
            .signing_key()
            .expect("a gateway key set always has a signing key")
    }
}

/// A decimal fraction from 0 to 1 such as `0`, `1`, `0.5` or `.01` (at most 9 decimal places).
/// Plain digits only, no sign or exponent, so no general float parser (and its ~10 KB of tables)
/// ends up in the Worker.
fn parse_fraction(text: &str) -> Option<f64> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + decimals.len() == 0 || whole.len() > 1 || decimals.len() > 9 {
        return None;
    }
    if !digits(whole) || !digits(decimals) {
        return None;
    }
    let scale = 10u64.pow(decimals.len() as u32);
    let numerator = format!("{whole}{decimals}").parse::<u64>().ok()?;
    (numerator <= scale).then(|| numerator as f64 / scale as f64)
}

/// Accepts `http(s)://host[:port][/base]` with no query, fragment or credentials.
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
        assert_eq!(config.session.issuer, DEFAULT_ISSUER);
        assert_eq!(config.cookie_name, "__Host-edgeauth");
        assert!(config.origin.is_none());
        assert!(!config.forward_session_cookie);
        assert!(!config.forward_client_authorization);
        assert_eq!(config.path_parameters, Parameters::Refuse);
        assert!(config.rules.is_empty());
        assert_eq!(config.keys.keys().len(), 1);
        assert_eq!(config.revocation_refresh_secs, 30);
        assert_eq!(config.revocation_max_stale_secs, 300);
        assert_eq!(config.revoke_role, "admin");
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
