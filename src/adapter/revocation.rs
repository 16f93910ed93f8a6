//! Revocation on the request path: the isolate's copy of the revocation document (Workers KV
//! binding `REVOCATIONS`, key `revocations`), re-read at most every `REVOCATION_REFRESH_SECS`,
//! and the O(1) check of a verified session against it. All decisions are in
//! `crate::revocation`; this is the KV glue.

use std::cell::RefCell;

use crate::claims::Claims;
use crate::config::GatewayConfig;
use crate::revocation::{Freshness, RevocationCopy, RevocationList};
use worker::{console_error, Env};

/// The Workers KV binding holding the document.
pub const BINDING: &str = "REVOCATIONS";
/// The document's key in it.
pub const KEY: &str = "revocations";

thread_local! {
    /// This isolate's copy (only borrowed in synchronous code, never across an `await`).
    static COPY: RefCell<RevocationCopy> = RefCell::new(RevocationCopy::default());
}

/// `Ok` if the verified session may be used; otherwise the reason for the log:
/// `revoked_session`, `revoked_user`, or `revocation_unavailable` (no copy fresh enough).
pub async fn screen(
    env: &Env,
    config: &GatewayConfig,
    claims: &Claims,
    now: u64,
) -> Result<(), &'static str> {
    let due = COPY.with(|copy| {
        copy.borrow().freshness(now, config.revocation_refresh_secs) == Freshness::Refresh
    });
    if due {
        // Marked before the read, so the isolate's other requests meanwhile do not read too.
        COPY.with(|copy| copy.borrow_mut().last_attempt = Some(now));
        let result = read(env).await;
        if let Err(reason) = &result {
            console_error!(
                "{}",
                serde_json::json!({"event": "revocation_refresh_failed", "reason": reason})
            );
        }
        COPY.with(|copy| copy.borrow_mut().record_read(now, result.ok()));
    }
    COPY.with(
        |copy| match copy.borrow().usable(now, config.revocation_max_stale_secs) {
            None => Err("revocation_unavailable"),
            Some(list) => list.check(claims).map_err(|revoked| revoked.code()),
        },
    )
}

/// The stored document; a missing value is an empty list, anything unreadable an error.
async fn read(env: &Env) -> Result<RevocationList, String> {
    let kv = env
        .kv(BINDING)
        .map_err(|_| format!("{BINDING} KV binding missing"))?;
    let text = kv
        .get(KEY)
        .text()
        .await
        .map_err(|e| format!("KV read failed: {e}"))?;
    match text {
        None => Ok(RevocationList::empty()),
        Some(text) => RevocationList::parse(&text).map_err(|e| e.to_string()),
    }
}

/// Read-modify-write of the document: `change` is applied to the stored copy, expired entries
/// are pruned, the revision bumped, and the result stored and made this isolate's copy at once.
/// Returns the new revision.
///
/// Workers KV has no compare-and-swap: two writes racing within KV's propagation delay are
/// last-writer-wins and one of them can be lost (see the README). A document that cannot be
/// read or parsed is never overwritten, so a write cannot silently drop every entry.
pub async fn write(
    env: &Env,
    now: u64,
    change: impl FnOnce(&mut RevocationList),
) -> Result<u64, String> {
    let mut list = read(env).await?;
    change(&mut list);
    list.prepare_write(now);
    let kv = env
        .kv(BINDING)
        .map_err(|_| format!("{BINDING} KV binding missing"))?;
    kv.put(KEY, list.to_json())
        .map_err(|e| format!("KV write failed: {e}"))?
        .execute()
        .await
        .map_err(|e| format!("KV write failed: {e}"))?;
    let revision = list.revision;
    COPY.with(|copy| copy.borrow_mut().record_read(now, Some(list)));
    Ok(revision)
}
