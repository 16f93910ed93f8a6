//! The one writer of the revocation document: a Durable Object (binding `REVOCATION_WRITER`, one
//! instance). Workers KV has no compare-and-swap, so read-modify-write from many isolates would
//! lose revocations written close together; here every change is applied, in order, to the copy
//! in the object's own strongly consistent storage, then published to KV for the readers.
//!
//! `POST` with a document of entries to add: merged, expired entries pruned, revision bumped,
//! stored, published to KV; the answer is the whole new document. Writes that arrive while a
//! publish is running only ask for one more publish of the latest document a second later, so a
//! burst stays within KV's one-write-per-second-per-key limit. A failed publish is logged; the
//! stored document is complete, and the next write publishes it whole.

use std::cell::Cell;
use std::time::Duration;

use crate::gateway::revocation::RevocationList;
use worker::{
    console_error, durable_object, Date, Delay, DurableObject, Env, Request, Response, Result,
    State,
};

use super::revocation::{BINDING, KEY};

/// Storage key of the authoritative document.
const DOCUMENT: &str = "document";

#[durable_object(fetch)]
pub struct RevocationWriter {
    state: State,
    env: Env,
    /// A publish loop is running.
    publishing: Cell<bool>,
    /// A write arrived during the running publish: publish once more.
    again: Cell<bool>,
}

impl DurableObject for RevocationWriter {
    fn new(state: State, env: Env) -> Self {
        RevocationWriter {
            state,
            env,
            publishing: Cell::new(false),
            again: Cell::new(false),
        }
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
        self.publish().await;
        Response::ok(text)
    }
}

impl RevocationWriter {
    /// Publishes the stored document to KV, once more for every burst of writes meanwhile.
    async fn publish(&self) {
        if self.publishing.replace(true) {
            self.again.set(true);
            return;
        }
        loop {
            self.again.set(false);
            if let Err(e) = self.publish_once().await {
                console_error!(
                    "{}",
                    serde_json::json!({"event": "revocation_publish_failed", "reason": e.to_string()})
                );
            }
            if !self.again.get() {
                break;
            }
            Delay::from(Duration::from_secs(1)).await;
        }
        self.publishing.set(false);
    }

    async fn publish_once(&self) -> Result<()> {
        if let Some(text) = self.state.storage().get::<String>(DOCUMENT).await? {
            self.env.kv(BINDING)?.put(KEY, text)?.execute().await?;
        }
        Ok(())
    }

    /// The stored document; on first use, the one published in KV (a deployment that had
    /// documents before the writer, or an operator's hand-written one). A published document
    /// that cannot be parsed is an error, never replaced by an empty one.
    async fn load(&self) -> std::result::Result<RevocationList, String> {
        let storage = self.state.storage();
        if let Some(text) = stored(&storage).await? {
            return RevocationList::parse(&text).map_err(|e| format!("stored document: {e}"));
        }
        let published = super::revocation::read(&self.env).await;
        // The KV read let other requests in: one of them may have stored a document meanwhile.
        if let Some(text) = stored(&storage).await? {
            return RevocationList::parse(&text).map_err(|e| format!("stored document: {e}"));
        }
        published.map_err(|e| format!("published document unreadable, not overwritten: {e}"))
    }
}

async fn stored(storage: &worker::Storage) -> std::result::Result<Option<String>, String> {
    storage
        .get::<String>(DOCUMENT)
        .await
        .map_err(|e| format!("storage read failed: {e}"))
}
