//! Bounds on waiting for other systems: a deadline for any future, a body read in chunks up to
//! a size cap, and a KV record read under both. A provider or store that stalls (before its
//! headers, or half-way through a body) or answers too much costs at most the deadline and the
//! cap, then refuses.

use std::future::Future;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::kv::KvStore;
use worker::{ByteStream, Delay, Response};

/// `work`'s output, or `None` once `limit` has passed.
pub async fn within<F: Future>(limit: Duration, work: F) -> Option<F::Output> {
    let work = std::pin::pin!(work);
    let timer = std::pin::pin!(Delay::from(limit));
    match select(work, timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// More than the cap was declared or sent: reading stops there.
    TooLarge,
    /// The stream failed (the connection dropped mid-body, say).
    Broken,
}

impl BodyError {
    /// The log's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyError::TooLarge => "too large",
            BodyError::Broken => "body cut off",
        }
    }
}

/// `response`'s body, at most `max` bytes (see [`capped`]).
pub async fn capped_body(response: &mut Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let declared = response.headers().get("content-length").ok().flatten();
    if declares_more(declared.as_deref(), max) {
        return Err(BodyError::TooLarge);
    }
    capped(response.stream().ok(), max).await
}

/// Whether a `Content-Length` of `declared` is above `max`: checked before the body's stream is
/// taken, since a stream taken and left unread breaks the connection it came on.
pub fn declares_more(declared: Option<&str>, max: usize) -> bool {
    declared
        .and_then(|len| len.parse::<usize>().ok())
        .is_some_and(|len| len > max)
}

/// A body stream (none: an empty body), at most `max` bytes: reading stops at the first chunk
/// past the cap, so an endless body is never buffered.
pub async fn capped(stream: Option<ByteStream>, max: usize) -> Result<Vec<u8>, BodyError> {
    let Some(mut stream) = stream else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long a Workers KV read may take before the request it serves is refused.
pub const KV_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest user, credential or service-token record read from KV: the records the edge
/// writes are well under 4 KiB; anything far larger is not one of them.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Why a KV record was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvReadError {
    Failed,
    TimedOut,
    TooLarge,
}

impl KvReadError {
    /// The log's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KvReadError::Failed => "kv_read_failed",
            KvReadError::TimedOut => "kv_read_timed_out",
            KvReadError::TooLarge => "kv_record_too_large",
        }
    }
}

/// The record under `key` (none: absent), read within [`KV_READ_TIMEOUT`] and at most
/// [`MAX_RECORD_BYTES`] long.
pub async fn kv_record(store: &KvStore, key: &str) -> Result<Option<String>, KvReadError> {
    match within(KV_READ_TIMEOUT, store.get(key).text()).await {
        None => Err(KvReadError::TimedOut),
        Some(Err(_)) => Err(KvReadError::Failed),
        Some(Ok(Some(text))) if text.len() > MAX_RECORD_BYTES => Err(KvReadError::TooLarge),
        Some(Ok(text)) => Ok(text),
    }
}
