//! Placeholder forwarding: every request the edge does not answer itself goes to the origin,
//! unchanged but for one added header. The gateway (issue 4) replaces this file.

use worker::{Env, Fetch, Request, RequestInit, RequestRedirect, Response, Url};

use super::demo_origin;
use super::respond::EdgeError;

/// The `[vars]` entry naming the origin; unset or empty selects the built-in demo origin.
const ORIGIN_URL_VAR: &str = "ORIGIN_URL";

/// The header added to every forwarded request, so the origin can see it came through the edge.
pub const FORWARDED_HEADER: &str = "x-edgeauth-forwarded";

/// Where forwarded requests go.
pub enum Origin {
    /// A real origin: scheme, host, port and an optional path prefix.
    Remote(Url),
    /// The origin built into the worker, for `make dev` with nothing else running.
    Demo,
}

impl Origin {
    /// Reads `ORIGIN_URL`; unset or blank means [`Origin::Demo`], anything else must be an
    /// absolute `http(s)` URL.
    pub fn from_env(env: &Env) -> Result<Self, EdgeError> {
        let raw = env
            .var(ORIGIN_URL_VAR)
            .map(|var| var.to_string())
            .unwrap_or_default();
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Origin::Demo);
        }
        let url = Url::parse(raw)
            .map_err(|e| EdgeError::Config(format!("{ORIGIN_URL_VAR} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(EdgeError::Config(format!(
                "{ORIGIN_URL_VAR} must be an absolute http(s) URL"
            )));
        }
        Ok(Origin::Remote(url))
    }
}

/// Sends `req` to `origin` (method, headers, streamed body and query unchanged, plus
/// [`FORWARDED_HEADER`]) and returns the origin's response as it came, redirects included.
pub async fn forward(req: Request, origin: &Origin) -> Result<Response, EdgeError> {
    let incoming = req.url()?;
    let target = match origin {
        Origin::Remote(base) => target_url(base, &incoming),
        Origin::Demo => incoming,
    };
    let outgoing = outgoing_request(&req, &target)?;
    match origin {
        Origin::Remote(_) => Fetch::Request(outgoing)
            .send()
            .await
            .map_err(EdgeError::OriginUnreachable),
        Origin::Demo => demo_origin::answer(outgoing).await,
    }
}

/// The origin's URL with the incoming path appended to its own path prefix, and the incoming
/// query.
fn target_url(base: &Url, incoming: &Url) -> Url {
    let mut target = base.clone();
    let prefix = base.path().trim_end_matches('/');
    target.set_path(&format!("{prefix}{}", incoming.path()));
    target.set_query(incoming.query());
    target.set_fragment(None);
    target
}

fn outgoing_request(req: &Request, target: &Url) -> Result<Request, EdgeError> {
    let headers = req.headers().clone();
    // The target URL decides the Host, not the name the client used for the edge.
    headers.delete("host")?;
    headers.set(FORWARDED_HEADER, "1")?;
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(req.inner().body().map(Into::into));
    Ok(Request::new_with_init(target.as_str(), &init)?)
}
