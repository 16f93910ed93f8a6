//! The one writer of the revocation document: a Durable Object (binding `REVOCATION_WRITER`, one
//! instance). Workers KV has no compare-and-swap, so read-modify-write from many isolates would
//! lose revocations written close together; here every change is applied, in order, to the copy
//! in the object's own strongly consistent storage, then published to KV for the readers.
//!
//! `POST` with a document of entries to add: merged, expired entries pruned, revision bumped,
//! stored; the answer is the whole new document. Publishing to KV happens in the alarm right
//! after (so a burst of writes becomes one KV write, within KV's one-write-per-second-per-key
//! limit, and a failed publish is retried by the runtime); the alarm is also set for the next
//! expiry, so the published document shrinks even when nothing new is revoked.

use crate::revocation::RevocationList;
use worker::{durable_object, Date, DurableObject, Env, Request, Response, Result, State};

use super::revocation::{BINDING, KEY};

/// Storage key of the authoritative document.
const DOCUMENT: &str = "document";

#[durable_object]
pub struct RevocationWriter {
    state: State,
    env: Env,
}

impl DurableObject for RevocationWriter {
    fn new(state: State, env: Env) -> Self {
        RevocationWriter { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let delta = match RevocationList::parse(&req.text().await?) {
            Ok(delta) => delta,
            Err(e) => return Response::error(format!("bad change: {e}"), 400),
        };
        let mut list = match self.load().await {
            Ok(list) => list,
            Err(e) => return Response::error(e, 503),
        };
        let now = Date::now().as_millis() / 1000;
        list.merge(&delta);
        list.prepare_write(now);
        let Some(text) = list.to_stored_json() else {
            return Response::error("document would exceed its size limit", 507);
        };
        // Storage operations hold the object's input gate: no other request interleaves between
        // the load above (when it came from storage) and this put.
        self.state.storage().put(DOCUMENT, &text).await?;
        self.state.storage().set_alarm(0).await?;
        Response::ok(text)
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let Some(text) = storage.get::<String>(DOCUMENT).await? else {
            return Response::ok("nothing to publish");
        };
        let mut list = RevocationList::parse(&text).map_err(|e| e.to_string())?;
        let now = Date::now().as_millis() / 1000;
        let text = if list.prune(now) > 0 {
            list.revision = list.revision.saturating_add(1);
            let text = list.to_json();
            storage.put(DOCUMENT, &text).await?;
            text
        } else {
            text
        };
        // An error here fails the alarm, and the runtime retries it.
        self.env.kv(BINDING)?.put(KEY, text)?.execute().await?;
        if let Some(at) = list.next_expiry() {
            let delay_ms = at.saturating_sub(now).saturating_mul(1000);
            storage
                .set_alarm(i64::try_from(delay_ms).unwrap_or(i64::MAX))
                .await?;
        }
        Response::ok("published")
    }
}

impl RevocationWriter {
    /// The stored document; on first use, the one published in KV (a deployment that had
    /// documents before the writer, or an operator's hand-written one). A published document
    /// that cannot be parsed is an error, never replaced by an empty one.
    async fn load(&self) -> std::result::Result<RevocationList, String> {
        let storage = self.state.storage();
        if let Some(text) = stored(&storage).await? {
            return RevocationList::parse(&text).map_err(|e| format!("stored document: {e}"));
        }
        let published = self
            .env
            .kv(BINDING)
            .map_err(|_| format!("{BINDING} KV binding missing"))?
            .get(KEY)
            .text()
            .await
            .map_err(|e| format!("KV read failed: {e}"))?;
        // The KV read let other requests in: one of them may have stored a document meanwhile.
        if let Some(text) = stored(&storage).await? {
            return RevocationList::parse(&text).map_err(|e| format!("stored document: {e}"));
        }
        match published {
            None => Ok(RevocationList::empty()),
            Some(text) => RevocationList::parse(&text)
                .map_err(|e| format!("published document unreadable, not overwritten: {e}")),
        }
    }
}

async fn stored(storage: &worker::Storage) -> std::result::Result<Option<String>, String> {
    storage
        .get::<String>(DOCUMENT)
        .await
        .map_err(|e| format!("storage read failed: {e}"))
}
