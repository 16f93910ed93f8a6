//! Revocation on the request path: the isolate's copy of the revocation document (Workers KV
//! binding `REVOCATIONS`, key `revocations`), re-read at most every `REVOCATION_REFRESH_SECS`,
//! the O(1) check of a verified session against it, and writes through the one writer
//! ([`super::revocation_writer`]). Every decision is in `crate::gateway::revocation`; this is the glue.

use std::cell::RefCell;
use std::time::Duration;

use crate::bindings;
use crate::config::GatewayConfig;
use crate::gateway::revocation::{RevocationCopy, RevocationList, Step};
use crate::token::claims::VerifiedClaims;
use worker::{console_error, Date, Delay, Env, Method, Request, RequestInit};

use crate::adapter::deadline;

/// The Workers KV binding holding the published document.
pub const BINDING: &str = bindings::REVOCATIONS;
/// The document's key in it.
pub const KEY: &str = "revocations";
/// The Durable Object namespace of the writer, and the name of its one instance.
const WRITER_BINDING: &str = bindings::REVOCATION_WRITER;
const WRITER_NAME: &str = "revocations";
/// How long a write may wait for the writer: its publish, and the one before it, plus margin.
/// Past it the logout or revocation reports that it could not revoke (503).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request without a usable copy waits for another request's read.
const WAIT_LIMIT_MS: u64 = 6_000;

thread_local! {
    /// This isolate's copy (only borrowed in synchronous code, never across an `await`).
    static COPY: RefCell<RevocationCopy> = RefCell::new(RevocationCopy::default());
}

/// Entries of this isolate's copy (sessions, users).
pub fn copy_sizes() -> (usize, usize) {
    COPY.with(|copy| copy.borrow().sizes())
}

/// `Ok` if the verified session may be used; otherwise the reason for the log:
/// `revoked_session`, `revoked_user`, or `revocation_unavailable` (no copy fresh enough).
pub async fn screen(
    env: &Env,
    config: &GatewayConfig,
    session: &VerifiedClaims,
    now: u64,
) -> Result<(), &'static str> {
    let (refresh, max_stale) = (
        config.revocation.refresh_secs,
        config.revocation.max_stale_secs,
    );
    let give_up_at = Date::now().as_millis() + WAIT_LIMIT_MS;
    let mut read_done = false;
    loop {
        // One read per request at most: after it, check (with REVOCATION_REFRESH_SECS = 0 the
        // schedule would otherwise ask for another read at once).
        let step = if read_done {
            Step::Check
        } else {
            COPY.with(|copy| copy.borrow().next_step(now, refresh, max_stale))
        };
        match step {
            Step::Check => {
                return COPY.with(|copy| match copy.borrow().usable(now, max_stale) {
                    None => Err("revocation_unavailable"),
                    Some(list) => list.check(session).map_err(|revoked| revoked.code()),
                })
            }
            Step::Read => {
                COPY.with(|copy| copy.borrow_mut().begin_read(now));
                let result = read(env).await;
                if let Err(reason) = &result {
                    console_error!(
                        "{}",
                        serde_json::json!({"event": "revocation_refresh_failed", "reason": reason})
                    );
                }
                let finished = Date::now().as_millis() / 1000;
                COPY.with(|copy| copy.borrow_mut().record_read(now, finished, result.ok()));
                read_done = true;
            }
            Step::Wait => {
                if Date::now().as_millis() >= give_up_at {
                    return Err("revocation_unavailable");
                }
                Delay::from(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Whether this isolate's copy already lists `sid` (a repeated logout need not write again).
pub fn lists_session(sid: &str, now: u64, max_stale_secs: u64) -> bool {
    COPY.with(|copy| {
        copy.borrow()
            .usable(now, max_stale_secs)
            .is_some_and(|list| list.sessions.contains_key(sid))
    })
}

/// The published document; a missing value is an empty list, anything unreadable (or a read
/// slower than [`deadline::KV_READ_TIMEOUT`]) an error.
pub(super) async fn read(env: &Env) -> Result<RevocationList, String> {
    let kv = env
        .kv(BINDING)
        .map_err(|_| format!("{BINDING} KV binding missing"))?;
    let text = match deadline::within(deadline::KV_READ_TIMEOUT, kv.get(KEY).text()).await {
        Some(result) => result.map_err(|e| format!("KV read failed: {e}"))?,
        None => return Err("KV read timed out".to_owned()),
    };
    match text {
        None => Ok(RevocationList::empty()),
        Some(text) => RevocationList::parse(&text).map_err(|e| e.to_string()),
    }
}

/// Adds `delta`'s entries through the writer, which stores and publishes the whole document;
/// the result becomes this isolate's copy at once. Returns the new revision.
pub async fn write(env: &Env, now: u64, delta: &RevocationList) -> Result<u64, String> {
    let writer = env
        .durable_object(WRITER_BINDING)
        .and_then(|namespace| namespace.get_by_name(WRITER_NAME))
        .map_err(|_| format!("{WRITER_BINDING} Durable Object binding missing"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(delta.to_json().into()));
    let request = Request::new_with_init("https://revocation-writer.invalid/", &init)
        .map_err(|e| format!("writer request: {e}"))?;
    let exchange = async {
        let mut response = writer
            .fetch_with_request(request)
            .await
            .map_err(|e| format!("writer unreachable: {e}"))?;
        let text = response
            .text()
            .await
            .map_err(|e| format!("writer answer: {e}"))?;
        Ok::<_, String>((response, text))
    };
    let (response, text) = deadline::within(WRITE_TIMEOUT, exchange)
        .await
        .ok_or_else(|| format!("writer gave no answer within {WRITE_TIMEOUT:?}"))??;
    if response.status_code() != 200 {
        return Err(format!(
            "writer refused ({}): {text}",
            response.status_code()
        ));
    }
    let list = RevocationList::parse(&text).map_err(|e| format!("writer answer: {e}"))?;
    let revision = list.revision;
    COPY.with(|copy| copy.borrow_mut().record_written(now, list));
    Ok(revision)
}
