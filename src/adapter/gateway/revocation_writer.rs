//! The one writer of the revocation document: a Durable Object (binding `REVOCATION_WRITER`, one
//! instance). Workers KV has no compare-and-swap, so read-modify-write from many isolates would
//! lose revocations written close together; here every change is applied, in order, to the copy
//! in the object's own strongly consistent storage, then published to KV for the readers.
//!
//! `POST` with a document of entries to add: merged, expired entries pruned, revision bumped,
//! stored, published to KV; the answer (the whole new document) comes only once a publish that
//! holds the write has succeeded, so a writer that dies at any moment never leaves an answered
//! revocation unpublished. Writes that arrive while a publish runs wait for the next one, a
//! second later, which carries all of them: a burst stays within KV's
//! one-write-per-second-per-key limit. A failed publish answers 503 (the write is stored, and
//! the next publish carries it).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use crate::gateway::revocation::RevocationList;
use futures_channel::oneshot;
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
    /// A write is publishing (it leads); later writes queue behind it.
    leading: Cell<bool>,
    /// Writes stored since the running publish read the document, in arrival order.
    queued: RefCell<Vec<oneshot::Sender<Turn>>>,
    /// When the last publish ended, in ms since the epoch.
    last_publish_ms: Cell<f64>,
}

/// What a queued write hears from the publish before its own.
enum Turn {
    /// A publish holding this write finished, with this outcome.
    Published(std::result::Result<(), String>),
    /// This write leads the next publish, for itself and everyone queued behind it.
    Lead,
}

impl DurableObject for RevocationWriter {
    fn new(state: State, env: Env) -> Self {
        RevocationWriter {
            state,
            env,
            leading: Cell::new(false),
            queued: RefCell::new(Vec::new()),
            last_publish_ms: Cell::new(0.0),
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
        match self.published().await {
            Ok(()) => Response::ok(text),
            Err(reason) => {
                console_error!(
                    "{}",
                    serde_json::json!({"event": "revocation_publish_failed", "reason": reason})
                );
                Response::error("stored, not published", 503)
            }
        }
    }
}

impl RevocationWriter {
    /// Waits until a publish of a document holding the write just stored has finished. Only one
    /// publish runs at a time, at most one a second; whoever finishes one hands the lead to the
    /// first write queued behind it, so no request publishes more than once.
    async fn published(&self) -> std::result::Result<(), String> {
        if self.leading.replace(true) {
            let (tx, rx) = oneshot::channel();
            self.queued.borrow_mut().push(tx);
            let mut waiting = Waiting { writer: self, rx };
            match (&mut waiting.rx).await {
                Ok(Turn::Published(outcome)) => return outcome,
                Ok(Turn::Lead) => {}
                Err(oneshot::Canceled) => return Err("the publish was abandoned".to_owned()),
            }
        }
        // From here on this write leads: whatever happens to it (even a cancelled request),
        // the guard hands the lead on or releases it.
        let lead = Lead(self);
        let wait = self.last_publish_ms.get() + 1000.0 - Date::now().as_millis() as f64;
        if wait > 0.0 {
            Delay::from(Duration::from_millis(wait as u64)).await;
        }
        // Everyone queued now stored before this read: the published document holds them all.
        let batch = std::mem::take(&mut *self.queued.borrow_mut());
        let outcome = self.publish_stored().await.map_err(|e| e.to_string());
        // Counted from the put's end: the next one reaches KV a full second after this one.
        self.last_publish_ms.set(Date::now().as_millis() as f64);
        for tx in batch {
            let _ = tx.send(Turn::Published(outcome.clone()));
        }
        drop(lead);
        outcome
    }

    async fn publish_stored(&self) -> Result<()> {
        let Some(text) = self.state.storage().get::<String>(DOCUMENT).await? else {
            // Only called after a put: a missing document is an error, never a success.
            return Err(worker::Error::RustError("stored document missing".into()));
        };
        self.env.kv(BINDING)?.put(KEY, text)?.execute().await?;
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

/// The lead of the publishes, held by one write; dropping it passes the lead to the first write
/// still queued (a cancelled one is skipped: its sender fails), or releases it.
struct Lead<'a>(&'a RevocationWriter);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let writer = self.0;
        loop {
            let next = {
                let mut queued = writer.queued.borrow_mut();
                (!queued.is_empty()).then(|| queued.remove(0))
            };
            match next {
                None => {
                    writer.leading.set(false);
                    return;
                }
                Some(tx) => {
                    if tx.send(Turn::Lead).is_ok() {
                        return;
                    }
                }
            }
        }
    }
}

/// A queued write's wait; if its request is dropped just after the lead was handed to it, the
/// lead goes on to the next write instead of being lost.
struct Waiting<'a> {
    writer: &'a RevocationWriter,
    rx: oneshot::Receiver<Turn>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(Some(Turn::Lead)) = self.rx.try_recv() {
            drop(Lead(self.writer));
        }
    }
}
