//! What a verifier requires of a token besides its signature.

use crate::config::{ConfigError, Vars};

/// Default clock leeway in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Default maximum session age (`now - auth_time`) in seconds: 7 days.
pub const DEFAULT_MAX_SESSION_AGE_SECS: u64 = 7 * 24 * 3600;
/// Default maximum token length in bytes: 4 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 4096;

/// Verification rules. Every check is always on; only its bounds are configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The `iss` a token must carry. No default.
    pub issuer: String,
    /// A value `aud` must contain. No default.
    pub audience: String,
    /// Seconds of clock skew tolerated for `exp`, `nbf`, `iat` and `auth_time`. Defaults to 30.
    pub leeway_secs: u64,
    /// Longest a session may live from `auth_time`, whatever its `exp`. Defaults to 7 days.
    pub max_session_age_secs: u64,
    /// Longest token accepted, checked before anything else. Defaults to 4096 bytes.
    pub max_token_bytes: usize,
}

impl Validation {
    /// Rules for tokens from `issuer` meant for `audience`, with the default bounds.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_session_age_secs: DEFAULT_MAX_SESSION_AGE_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// Default `iss` of minted sessions (set `ISSUER` to your public URL).
pub const DEFAULT_ISSUER: &str = "edgeauth";
/// Default `aud` of session tokens.
pub const DEFAULT_SESSION_AUDIENCE: &str = "edgeauth";

impl Validation {
    /// The session tokens' rules: `ISSUER`, `SESSION_AUDIENCE`, `LEEWAY_SECS`,
    /// `MAX_SESSION_AGE_SECS`, `MAX_TOKEN_BYTES`.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let mut session = Validation::new(
            vars.text("ISSUER", DEFAULT_ISSUER),
            vars.text("SESSION_AUDIENCE", DEFAULT_SESSION_AUDIENCE),
        );
        session.leeway_secs = vars.number("LEEWAY_SECS", DEFAULT_LEEWAY_SECS, 0..=u64::MAX)?;
        session.max_session_age_secs = vars.number(
            "MAX_SESSION_AGE_SECS",
            DEFAULT_MAX_SESSION_AGE_SECS,
            0..=u64::MAX,
        )?;
        // Within 512..=16384, so the conversion cannot truncate on any target.
        session.max_token_bytes = vars.number(
            "MAX_TOKEN_BYTES",
            DEFAULT_MAX_TOKEN_BYTES as u64,
            512..=16384,
        )? as usize;
        Ok(session)
    }
}
