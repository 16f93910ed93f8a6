//! Per-isolate state: the configuration, parsed and validated once, and what is derived from it.
//!
//! A configuration error is kept too, so every request of the isolate answers 500 with the same
//! log line instead of re-reading a broken configuration (and never passes anything through).

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::apps::Deployment;
use crate::config::{ConfigError, GatewayConfig};
use crate::token::session_cache::SessionCache;
use worker::Env;

/// What every request of this isolate shares.
pub struct State {
    /// The validated deployment: the only app, or the auth host and the apps.
    pub deployment: Deployment,
    /// The public JWKS, serialized once.
    pub jwks: String,
}

static STATE: OnceLock<Result<State, ConfigError>> = OnceLock::new();

/// The isolate's state, built from `env` on first use.
pub fn get(env: &Env) -> &'static Result<State, ConfigError> {
    STATE.get_or_init(|| {
        let deployment = Deployment::from_lookup(|name| lookup(env, name))?;
        let jwks = deployment.base.keys.to_jwks().to_string();
        Ok(State { deployment, jwks })
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
    /// The isolate's verified-session caches, one per app ([`GatewayConfig::cache_slot`]): an
    /// isolate runs one request at a time per thread of JavaScript, and a cache is only
    /// borrowed inside synchronous code.
    static SESSION_CACHES: RefCell<Vec<Option<SessionCache>>> = const { RefCell::new(Vec::new()) };
}

/// Entries and estimated bytes of every verified-session cache of this isolate together.
pub fn session_cache_sizes() -> (usize, usize) {
    SESSION_CACHES.with(|cell| {
        cell.borrow()
            .iter()
            .flatten()
            .fold((0, 0), |(n, b), c| (n + c.len(), b + c.bytes()))
    })
}

/// Runs `f` with `config`'s verified-session cache, created on first use.
pub fn with_session_cache<R>(config: &GatewayConfig, f: impl FnOnce(&mut SessionCache) -> R) -> R {
    let slot = config.cache_slot();
    SESSION_CACHES.with(|cell| {
        let mut caches = cell.borrow_mut();
        if caches.len() <= slot {
            caches.resize_with(slot + 1, || None);
        }
        f(caches[slot].get_or_insert_with(|| {
            SessionCache::with_bounds(config.session_cache_size, config.session_cache_bytes)
        }))
    })
}
