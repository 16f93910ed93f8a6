//! The Cloudflare Workers adapter: the `fetch` entry point and a small router.
//!
//! Thin on purpose: the edge answers `/healthz` itself and hands everything else to
//! [`forward`], which the gateway (issue 4) replaces. Every failure becomes an [`EdgeError`] and
//! leaves through the one error→HTTP table in [`respond`].

mod demo_origin;
mod forward;
mod respond;

use worker::{event, Context, Env, Method, Request, Response};

use forward::Origin;
use respond::EdgeError;

/// The health check answered by the edge itself, never forwarded.
const HEALTH_PATH: &str = "/healthz";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    match route(req, &env).await {
        Ok(response) => Ok(response),
        Err(err) => respond::error(&err),
    }
}

async fn route(req: Request, env: &Env) -> Result<Response, EdgeError> {
    match (req.method(), req.path().as_str()) {
        (Method::Get | Method::Head, HEALTH_PATH) => health(),
        _ => {
            let origin = Origin::from_env(env)?;
            forward::forward(req, &origin).await
        }
    }
}

/// `GET /healthz`: 200 with the version of this build.
fn health() -> Result<Response, EdgeError> {
    respond::json(
        200,
        &serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    )
}
