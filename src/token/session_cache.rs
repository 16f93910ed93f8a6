//! The verified-session cache: a bounded, per-isolate map from the exact token string to what
//! verifying it produced (the claims, and the `X-Auth-Assertion` minted for it), so a token seen
//! again costs no Ed25519 verification and no signing.
//!
//! Sessions are read-only: a token that verified once keeps verifying, with the same claims,
//! until a time-based check would refuse it. Each entry stores the window in which every
//! time-based check of [`crate::token::verify`] passes (`exp` with leeway, `iat`/`nbf`/`auth_time`
//! not in the future with leeway, and the maximum session age from `auth_time`); outside that
//! window the entry is treated as absent and the token is verified afresh. Only successes are
//! cached; refusals are recomputed every time.
//!
//! One cache serves one [`KeySet`] and one [`Validation`] (one isolate's configuration): the
//! non-time checks (signature, `iss`, `aud`, size cap) depend only on those and the token.
//! Access rules and roles are not part of verification and run on every request, hit or miss.

use std::collections::HashMap;

use crate::config::{ConfigError, Vars};
#[cfg(not(target_arch = "wasm32"))]
use crate::token;
use crate::token::claims::{Claims, VerifiedClaims};
#[cfg(not(target_arch = "wasm32"))]
use crate::token::error::Error;
#[cfg(not(target_arch = "wasm32"))]
use crate::token::keys::KeySet;
use crate::token::validation::Validation;

/// Default number of entries (`SESSION_CACHE_SIZE`).
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Default bound on the estimated bytes held by the entries (32 MiB): with the largest tokens
/// allowed (16 KiB) the byte bound, not the entry count, is what keeps the isolate small.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Fixed per-entry overhead counted on top of the strings (map slot, allocations, integers).
const ENTRY_OVERHEAD: usize = 256;

/// A verified session: what a cache hit or a fresh verification gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The verified claims, exactly as [`crate::token::verify`] returns them.
    pub verified: VerifiedClaims,
    /// The assertion minted for this session when it was first verified.
    pub assertion: String,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    /// First second at which every time-based check passes.
    valid_from: u64,
    /// First second at which some time-based check fails; the entry is never served from then.
    valid_until: u64,
    /// Estimated bytes held, counted against `max_bytes`.
    cost: usize,
}

/// A bounded map from token to verified session.
///
/// Bounds: at most `capacity` entries and about `max_bytes` bytes. Eviction, when an insert
/// would exceed either: first every entry that can no longer be served is dropped; if that frees
/// less than an eighth of the room, arbitrary entries (the map's iteration order) are dropped
/// until the cache is at most seven eighths full. One sweep pays for many inserts, so the cost
/// per insert stays constant on average, and only tokens that verified can be inserted, so a
/// client cannot flush the cache with garbage.
#[derive(Debug)]
pub struct SessionCache {
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    // A `HashMap<String, _>` looks a token up by its SipHash only to choose a bucket; a hit then
    // compares the whole key (`String` equality, every byte), so a token that differs from a
    // cached one in any byte is a miss, however the hashes compare.
    entries: HashMap<String, Entry>,
}

impl SessionCache {
    /// A cache of at most `capacity` entries (0 disables it) and the default byte bound.
    pub fn new(capacity: usize) -> Self {
        Self::with_bounds(capacity, DEFAULT_MAX_BYTES)
    }

    /// A cache with explicit bounds on entries and estimated bytes.
    pub fn with_bounds(capacity: usize, max_bytes: usize) -> Self {
        SessionCache {
            capacity,
            max_bytes,
            bytes: 0,
            entries: HashMap::new(),
        }
    }

    /// Number of entries held (some may be past their window, until swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Estimated bytes held by the entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Verifies `token` at `now` like [`crate::token::verify`], answering from the cache when the
    /// exact token verified before and is still inside its validity window. On a fresh success,
    /// `mint_assertion` is called once and its result is cached with the claims.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify(
        &mut self,
        token: &str,
        keys: &KeySet,
        validation: &Validation,
        now: u64,
        mint_assertion: impl FnOnce(&VerifiedClaims) -> String,
    ) -> Result<Session, Error> {
        if let Some(session) = self.get(token, now) {
            return Ok(session);
        }
        let verified = token::verify(token, keys, validation, now)?;
        let assertion = mint_assertion(&verified);
        let session = Session {
            verified,
            assertion,
        };
        self.insert(token, &session, validation, now);
        Ok(session)
    }

    /// The session cached for exactly `token` (every byte compared), if `now` is inside its
    /// validity window; an entry outside it is dropped. A miss means: verify afresh, then
    /// [`SessionCache::insert`]. For verification that cannot run inside [`SessionCache::verify`]
    /// (an asynchronous signature check).
    pub fn get(&mut self, token: &str, now: u64) -> Option<Session> {
        let entry = self.entries.get(token)?;
        if entry.valid_from <= now && now < entry.valid_until {
            return Some(entry.session.clone());
        }
        self.remove(token);
        None
    }

    /// Caches `session`, which verifying exactly `token` under this cache's key set and
    /// `validation` just produced (a [`VerifiedClaims`] exists only after verification). It is
    /// served until a time-based check of `validation` would refuse it.
    pub fn insert(&mut self, token: &str, session: &Session, validation: &Validation, now: u64) {
        let claims = session.verified.claims();
        let cost = entry_cost(token, session);
        if self.capacity == 0 || cost > self.max_bytes {
            return;
        }
        if self.entries.len() >= self.capacity || self.bytes + cost > self.max_bytes {
            self.make_room(now, cost);
        }
        let (valid_from, valid_until) = window(claims, validation);
        let entry = Entry {
            session: session.clone(),
            valid_from,
            valid_until,
            cost,
        };
        self.bytes += cost;
        if let Some(old) = self.entries.insert(token.to_owned(), entry) {
            self.bytes -= old.cost;
        }
    }

    fn remove(&mut self, token: &str) {
        if let Some(old) = self.entries.remove(token) {
            self.bytes -= old.cost;
        }
    }

    /// Drops unservable entries, then arbitrary ones, until there is room for `cost` more bytes
    /// and the cache is at most 7/8 full (so the next sweeps are far apart).
    fn make_room(&mut self, now: u64, cost: usize) {
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let keep = e.valid_from <= now && now < e.valid_until;
            if !keep {
                freed += e.cost;
            }
            keep
        });
        self.bytes -= freed;
        let target_len = self.capacity - self.capacity / 8 - 1;
        let target_bytes = (self.max_bytes - self.max_bytes / 8).saturating_sub(cost);
        while self.entries.len() > target_len || self.bytes > target_bytes {
            let Some(victim) = self.entries.keys().next().cloned() else {
                break;
            };
            self.remove(&victim);
        }
    }
}

/// The seconds `[from, until)` in which every time-based check of `token::verify` passes for
/// `claims` under `validation` (the same comparisons, solved for `now`).
fn window(claims: &Claims, validation: &Validation) -> (u64, u64) {
    let leeway = validation.leeway_secs;
    // NotYetValid: refused when `iat`, `auth_time` or `nbf` > now + leeway.
    let latest_start = claims
        .iat
        .max(claims.auth_time)
        .max(claims.nbf.unwrap_or(0));
    let from = latest_start.saturating_sub(leeway);
    // Expired: refused when now >= exp + leeway.
    let expires = claims.exp.saturating_add(leeway);
    // TooOld: refused when now - auth_time > max age, i.e. from auth_time + max age + 1.
    let too_old = claims
        .auth_time
        .saturating_add(validation.max_session_age_secs)
        .saturating_add(1);
    (from, expires.min(too_old))
}

/// Estimated bytes an entry holds: the token as key, the parsed claims (counted as twice the
/// token: parsed JSON takes more room than its text), the assertion, and a fixed overhead.
fn entry_cost(token: &str, session: &Session) -> usize {
    3 * token.len() + session.assertion.len() + ENTRY_OVERHEAD
}

/// `SESSION_CACHE_SIZE`: entries of the per-isolate cache (default [`DEFAULT_CAPACITY`];
/// 0 disables it).
pub fn capacity_from_vars(vars: &Vars) -> Result<usize, ConfigError> {
    // At most 1,000,000: the conversion cannot truncate on any target.
    Ok(vars.number("SESSION_CACHE_SIZE", DEFAULT_CAPACITY as u64, 0..=1_000_000)? as usize)
}
