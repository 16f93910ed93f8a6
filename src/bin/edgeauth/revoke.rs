//! `edgeauth revoke`: revokes a session or a user through the edge's `POST /auth/revoke`, with an
//! administrator's session token (`REVOKE_ROLE`). Going through the edge keeps one writer of the
//! revocation document (the edge's Durable Object), so no revocation can overwrite another.

use super::{usage, Failure};

/// Sends `body` (`{"sid":…}` or `{"sub":…,"before":…}`) to `base_url`'s `/auth/revoke` with
/// `token`; prints the edge's answer (`{"revoked":…,"revision":…}`).
pub fn run(base_url: &str, token: &str, body: &serde_json::Value) -> Result<(), Failure> {
    let base = base_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(usage("--url must be the edge's http(s) base URL"));
    }
    let url = format!("{base}/auth/revoke");
    let answer = ureq::post(&url)
        .timeout(std::time::Duration::from_secs(30))
        .set("authorization", &format!("Bearer {token}"))
        .set("content-type", "application/json")
        .set("accept", "application/json")
        .send_string(&body.to_string());
    match answer {
        Ok(response) => {
            let text = response
                .into_string()
                .map_err(|e| usage(format!("reading the answer of {url}: {e}")))?;
            println!("{}", text.trim());
            eprintln!(
                "edgeauth: revoked; every isolate applies it within the delay docs/revocation.md gives"
            );
            Ok(())
        }
        Err(ureq::Error::Status(status, response)) => {
            let text = response.into_string().unwrap_or_default();
            let hint = match status {
                401 => " (the token is missing, invalid, expired or revoked)",
                403 => " (the token lacks REVOKE_ROLE)",
                503 => " (the revocation could not be stored: nothing changed; retry)",
                _ => "",
            };
            Err(Failure {
                code: 1,
                message: format!("{url} answered {status}{hint}: {}", text.trim()),
            })
        }
        Err(e) => Err(Failure {
            code: 1,
            message: format!("{url}: {e}"),
        }),
    }
}
