//! Per-isolate state: the configuration, parsed and validated once, and what is derived from it.
//!
//! A configuration error is kept too, so every request of the isolate answers 500 with the same
//! log line instead of re-reading a broken configuration (and never passes anything through).

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::config::{ConfigError, GatewayConfig};
use crate::token::session_cache::SessionCache;
use worker::Env;

/// What every request of this isolate shares.
pub struct State {
    /// The validated configuration.
    pub config: GatewayConfig,
    /// The public JWKS, serialized once.
    pub jwks: String,
}

static STATE: OnceLock<Result<State, ConfigError>> = OnceLock::new();

/// The isolate's state, built from `env` on first use.
pub fn get(env: &Env) -> &'static Result<State, ConfigError> {
    STATE.get_or_init(|| {
        let config = GatewayConfig::from_lookup(|name| lookup(env, name))?;
        let jwks = config.keys.to_jwks().to_string();
        Ok(State { config, jwks })
    })
}

/// A var or a secret by name (`wrangler.toml` `[vars]`, `.dev.vars`, `wrangler secret put`).
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

thread_local! {
    /// The isolate's verified-session cache (an isolate runs one request at a time per thread
    /// of JavaScript, and the cache is only borrowed inside synchronous code).
    static SESSION_CACHE: RefCell<Option<SessionCache>> = const { RefCell::new(None) };
}

/// Runs `f` with the isolate's verified-session cache, created with `capacity` on first use.
pub fn with_session_cache<R>(capacity: usize, f: impl FnOnce(&mut SessionCache) -> R) -> R {
    SESSION_CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        f(cache.get_or_insert_with(|| SessionCache::new(capacity)))
    })
}
