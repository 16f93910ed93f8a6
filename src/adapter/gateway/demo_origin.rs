//! The built-in demo origin, used when `ORIGIN_URL` is unset or empty, so `make dev` shows the
//! whole flow with nothing else running. Never used when an origin is configured.
//!
//! A browser navigation (`GET`/`HEAD` accepting `text/html`, the gateway's own test) gets a
//! readable HTML page: who the edge says you are, the decoded `X-Auth-Assertion`, every header
//! received, and a sign-out (or sign-in) control. Everything else (API clients, scripts) gets
//! JSON describing the request. Everything below [`answer`] is pure (no Worker types); the
//! adapter builds for wasm only, so tests/integration/demo_origin.test.mjs covers it, in Chromium.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use worker::{Headers, Request, Response};

use crate::adapter::respond;
use crate::encoding::base64url;
use crate::gateway;
use crate::login::next;

/// Describes `req` (method, path, query, headers, body size): an HTML page for a browser
/// navigation, JSON for anything else.
pub async fn answer(mut req: Request) -> worker::Result<Response> {
    let url = crate::adapter::request_url::of(&req).map_err(worker::Error::RustError)?;
    let headers: BTreeMap<String, String> = req.headers().entries().collect();
    let method = req.inner().method();
    let body_bytes = req.bytes().await?.len();
    let received = Received {
        method: &method,
        path: url.path(),
        query: url.query(),
        headers: &headers,
        body_bytes,
    };
    let header = |name: &str| headers.get(name).map(String::as_str);
    let inbound = gateway::Inbound {
        method: &method,
        accept: header("accept"),
        fetch_mode: header("sec-fetch-mode"),
        requested_with: header("x-requested-with"),
        ..gateway::Inbound::default()
    };
    let response = if gateway::is_navigation(&inbound) {
        let csp = page_csp();
        let out = Headers::new();
        for (name, value) in [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("content-security-policy", csp.as_str()),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
        ] {
            out.set(name, value)?;
        }
        Response::builder()
            .with_status(200)
            .with_headers(out)
            .fixed(page(&received).into_bytes())
    } else {
        respond::json(200, &received.json(), "no-store")?
    };
    response.headers().set("x-edgeauth-demo-origin", "1")?;
    Ok(response)
}

/// What the demo origin received, as it describes it.
struct Received<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    /// Lowercased names (as the Fetch API gives them), sorted.
    headers: &'a BTreeMap<String, String>,
    body_bytes: usize,
}

impl Received<'_> {
    /// The JSON answer for API clients: its shape is what scripts and tests read.
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "origin": "edgeauth built-in demo origin",
            "note": "Set ORIGIN_URL to forward to a real origin.",
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body_bytes": self.body_bytes,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The page's only style, allowed by its hash in [`page_csp`] (no `'unsafe-inline'`).
const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}\
main{max-width:60rem;margin:0 auto;padding:1.5rem}\
section{background:#fff;border:1px solid #d8dde3;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.15rem;margin:0 0 .5rem}h3{font-size:1rem;margin:.75rem 0 .25rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}dt{font-weight:600}dd{margin:0}\
code,pre,td{font-family:ui-monospace,monospace;font-size:13px}\
pre{background:#f1f3f5;padding:.75rem;overflow:auto;margin:0}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-top:1px solid #e3e6ea}\
td{word-break:break-all}th{font-size:13px}tbody th{white-space:nowrap}\
button,.button{font:inherit;padding:.4rem 1rem;border-radius:6px;border:1px solid #1b4fbf;background:#1f5ee0;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}\
.muted{color:#59636e}";

/// No script at all, the one style block by hash, forms only to this origin, never framed.
fn page_csp() -> String {
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The HTML page for a browser. Every interpolated value is escaped ([`escape`]): header
/// values, the path and the query are the client's.
fn page(r: &Received) -> String {
    let mut html = String::with_capacity(8 * 1024);
    html.push_str(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>edgeauth demo origin</title>\n<style>",
    );
    html.push_str(STYLE);
    html.push_str("</style>\n</head>\n<body>\n<main>\n<h1>edgeauth demo origin</h1>\n");
    html.push_str(
        "<p class=\"muted\">This page is the edge's built-in demo origin: it shows what an origin \
         behind edgeauth receives. Set <code>ORIGIN_URL</code> to forward to your own origin. \
         API clients (no <code>Accept: text/html</code>) get the same as JSON.</p>\n",
    );
    let _ = writeln!(
        html,
        "<p>Request: <code id=\"request-line\">{} {}</code></p>",
        escape(r.method),
        escape(&target(r.path, r.query)),
    );
    who_you_are(&mut html, r);
    assertion_section(&mut html, r.header("x-auth-assertion"));
    headers_section(&mut html, r);
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

fn who_you_are(html: &mut String, r: &Received) {
    html.push_str("<section aria-labelledby=\"who\">\n<h2 id=\"who\">Who you are</h2>\n");
    let Some(user) = r.header("x-auth-user") else {
        let login = next::login_location(r.path, r.query);
        let _ = write!(
            html,
            "<p id=\"identity\">Not signed in. This path is public, so the edge let the request \
             through without a session.</p>\n<p><a class=\"button\" href=\"{}\">Sign in</a></p>\n",
            escape(&login)
        );
        html.push_str("</section>\n");
        return;
    };
    html.push_str("<dl id=\"identity\">\n");
    let roles = r.header("x-auth-roles").unwrap_or_default();
    let expires = r.header("x-auth-expires").unwrap_or_default();
    let expires_shown = match expires.parse::<u64>() {
        Ok(secs) => format!("{expires} ({})", utc(secs)),
        Err(_) => expires.to_owned(),
    };
    for (id, label, value) in [
        ("user", "User (X-Auth-User)", user),
        (
            "roles",
            "Roles (X-Auth-Roles)",
            if roles.is_empty() { "(none)" } else { roles },
        ),
        (
            "session",
            "Session (X-Auth-Session)",
            r.header("x-auth-session").unwrap_or_default(),
        ),
        ("expires", "Expires (X-Auth-Expires)", &expires_shown),
    ] {
        let _ = writeln!(
            html,
            "<dt>{label}</dt><dd id=\"{id}\">{}</dd>",
            escape(value)
        );
    }
    html.push_str(
        "</dl>\n<form method=\"post\" action=\"/auth/logout\">\
         <button type=\"submit\">Sign out</button></form>\n</section>\n",
    );
}

fn assertion_section(html: &mut String, assertion: Option<&str>) {
    html.push_str(
        "<section aria-labelledby=\"assertion\">\n\
         <h2 id=\"assertion\">The signed assertion (X-Auth-Assertion)</h2>\n",
    );
    match assertion {
        None => {
            html.push_str("<p id=\"assertion-none\">None: this request carries no session.</p>\n")
        }
        Some(token) => {
            html.push_str(
                "<p><strong>Decoded here for display only, not verified.</strong> Before trusting \
                 anything in it, an origin must verify its signature against the edge's public \
                 keys at <a href=\"/.well-known/jwks.json\">/.well-known/jwks.json</a>, pinning \
                 the algorithm (<code>EdDSA</code>), issuer and audience (see docs/origin.md).</p>\n",
            );
            match decode_jws(token) {
                Some((header, claims)) => {
                    let _ = write!(
                        html,
                        "<h3>JOSE header</h3>\n<pre id=\"assertion-header\">{}</pre>\n\
                         <h3>Claims</h3>\n<pre id=\"assertion-claims\">{}</pre>\n",
                        escape(&header),
                        escape(&claims)
                    );
                }
                None => html
                    .push_str("<p id=\"assertion-undecodable\">It is not a decodable token.</p>\n"),
            }
        }
    }
    html.push_str("</section>\n");
}

fn headers_section(html: &mut String, r: &Received) {
    let _ = write!(
        html,
        "<section aria-labelledby=\"received\">\n<h2 id=\"received\">Headers the origin \
         received</h2>\n<p class=\"muted\">{} headers; request body: {} bytes.</p>\n\
         <table id=\"headers\">\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Value\
         </th></tr></thead>\n<tbody>\n",
        r.headers.len(),
        r.body_bytes
    );
    for (name, value) in r.headers {
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

/// `path?query`, as requested.
fn target(path: &str, query: Option<&str>) -> String {
    match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

/// A compact JWS's protected header and payload, each pretty-printed JSON; `None` unless it has
/// three segments whose first two are base64url JSON. Nothing is verified.
fn decode_jws(token: &str) -> Option<(String, String)> {
    let mut segments = token.split('.');
    let (header, payload, _signature) = (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() {
        return None;
    }
    let pretty = |segment: &str| {
        let bytes = base64url::decode(segment)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        serde_json::to_string_pretty(&value).ok()
    };
    Some((pretty(header)?, pretty(payload)?))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, shifted so eras start on 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Escapes text for HTML element content and quoted attribute values (the login page's rule).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::login::page::escape_into(&mut out, text);
    out
}
