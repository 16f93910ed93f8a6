//! Single use, made atomic: a Durable Object (binding `SINGLE_USE`) per marker, named by it,
//! whose storage says whether the marker was claimed. Workers KV has no compare-and-swap, and
//! read-then-write there lets two requests that arrive together both pass (two sign-ins with
//! one passkey challenge, two passkeys from one enrollment link); a Durable Object runs one
//! request at a time and its storage is strongly consistent, so exactly one claim wins. An
//! alarm deletes the marker once what it marks has expired.

use worker::{
    durable_object, Date, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use crate::bindings;
use crate::refusal::{Denied, Refusal};

/// Storage key of the claim (the object is the marker; this is its one value).
const CLAIMED: &str = "claimed";
/// Longest a marker is kept, in seconds (7 days: the longest-lived one-time value).
const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

#[durable_object(alarm)]
pub struct SingleUse {
    state: State,
}

impl DurableObject for SingleUse {
    fn new(state: State, _env: Env) -> Self {
        SingleUse { state }
    }

    /// `POST` with the marker's lifetime in seconds: `200` for the first claim, `409` for any
    /// later one. `GET` only asks: `200` unclaimed, `409` claimed.
    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        if req.method() == Method::Get {
            return match storage.get::<u64>(CLAIMED).await? {
                Some(_) => Response::error("claimed before", 409),
                None => Response::ok("unclaimed"),
            };
        }
        let Ok(ttl) = req.text().await?.trim().parse::<u64>() else {
            return Response::error("lifetime in seconds expected", 400);
        };
        // Storage operations hold the input gate: no other request interleaves between this
        // get and the put below.
        if storage.get::<u64>(CLAIMED).await?.is_some() {
            return Response::error("claimed before", 409);
        }
        let now_ms = Date::now().as_millis();
        storage.put(CLAIMED, now_ms).await?;
        let expires = now_ms + ttl.clamp(1, MAX_TTL_SECS) * 1000;
        storage.set_alarm(expires as i64).await?;
        Response::ok("claimed")
    }

    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::ok("expired")
    }
}

/// Claims `marker` for `ttl_secs`: `Ok(true)` the first time, `Ok(false)` if it was claimed
/// before; `Err` (503) when the object cannot answer: nothing one-time passes unclaimed.
pub async fn claim(env: &Env, marker: &str, ttl_secs: u64) -> std::result::Result<bool, Denied> {
    ask(env, marker, Some(ttl_secs)).await
}

/// Whether `marker` is still unclaimed (`Ok(true)`), without claiming it: for an early answer
/// only; the claim itself decides.
pub async fn is_unclaimed(env: &Env, marker: &str) -> std::result::Result<bool, Denied> {
    ask(env, marker, None).await
}

async fn ask(env: &Env, marker: &str, claim_for: Option<u64>) -> std::result::Result<bool, Denied> {
    let unavailable =
        |what: &str| Denied::new(Refusal::StoreUnavailable, format!("single_use:{what}"));
    let object = env
        .durable_object(bindings::SINGLE_USE)
        .and_then(|namespace| namespace.get_by_name(marker))
        .map_err(|_| Denied::new(Refusal::Internal, "single_use_binding_missing"))?;
    let mut init = RequestInit::new();
    match claim_for {
        Some(ttl_secs) => init
            .with_method(Method::Post)
            .with_body(Some(ttl_secs.to_string().into())),
        None => init.with_method(Method::Get),
    };
    let request = Request::new_with_init("https://single-use.invalid/", &init)
        .map_err(|_| unavailable("request"))?;
    let response = object
        .fetch_with_request(request)
        .await
        .map_err(|_| unavailable("unreachable"))?;
    match response.status_code() {
        200 => Ok(true),
        409 => Ok(false),
        _ => Err(unavailable("refused")),
    }
}
