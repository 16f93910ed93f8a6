//! `edgeauth revoke`: adds one revocation to the revocation document, read and written either
//! as a file / standard output or in Workers KV through `npx wrangler kv key get/put`.

use edgeauth::revocation::{Revocation, RevocationList};

use super::{usage, Failure};

/// The Workers KV binding and key the edge reads (`src/adapter/revocation.rs`).
const BINDING: &str = "REVOCATIONS";
const KEY: &str = "revocations";

/// Where the document lives.
pub enum Store {
    /// A file (or `-` for standard input), or nothing: an empty document. The result is printed.
    Document(Option<String>),
    /// Workers KV through wrangler, with extra wrangler flags (`--remote`, `--local`,
    /// `--persist-to DIR`, `--config FILE`, `--env NAME`).
    Wrangler(Vec<String>),
}

/// Applies `revocation` at `now` with the deployment's maximum session age and leeway, prunes
/// expired entries, bumps the revision, and stores the result.
pub fn run(
    revocation: &Revocation,
    store: &Store,
    now: u64,
    max_age: u64,
    leeway: u64,
) -> Result<(), Failure> {
    let mut list = match store {
        Store::Document(None) => RevocationList::empty(),
        Store::Document(Some(source)) => parse(&super::read_input(source)?)?,
        Store::Wrangler(flags) => read_kv(flags)?,
    };
    revocation.apply(&mut list, now, max_age, leeway);
    list.prepare_write(now);
    let text = list.to_json();
    match store {
        Store::Document(_) => println!("{text}"),
        Store::Wrangler(flags) => {
            wrangler(
                &["kv", "key", "put", "--binding", BINDING, KEY, &text],
                flags,
            )?;
            eprintln!(
                "edgeauth: revoked {} (revision {}, {} sessions and {} users listed); every isolate applies it within REVOCATION_REFRESH_SECS plus KV propagation",
                revocation.to_json(),
                list.revision,
                list.sessions.len(),
                list.users.len()
            );
        }
    }
    Ok(())
}

fn parse(text: &str) -> Result<RevocationList, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(RevocationList::empty());
    }
    RevocationList::parse(text).map_err(|e| {
        usage(format!(
            "{e}; fix or remove the stored document before revoking (it is never overwritten blind)"
        ))
    })
}

/// The stored document: `kv key list` tells a missing key (an empty document) apart from a
/// stored one, since `kv key get` prints the same text for both a missing key and a value.
fn read_kv(flags: &[String]) -> Result<RevocationList, Failure> {
    let listed = wrangler(
        &["kv", "key", "list", "--binding", BINDING, "--prefix", KEY],
        flags,
    )?;
    let names: Vec<serde_json::Value> = serde_json::from_str(listed.trim())
        .map_err(|e| usage(format!("wrangler kv key list: unexpected output ({e})")))?;
    if !names.iter().any(|entry| entry["name"] == KEY) {
        return Ok(RevocationList::empty());
    }
    parse(&wrangler(
        &["kv", "key", "get", "--binding", BINDING, KEY, "--text"],
        flags,
    )?)
}

/// Runs `npx wrangler <args> <flags>` and returns its standard output.
fn wrangler(args: &[&str], flags: &[String]) -> Result<String, Failure> {
    let output = std::process::Command::new("npx")
        .arg("wrangler")
        .args(args)
        .args(flags)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| usage(format!("running npx wrangler: {e}")))?;
    if !output.status.success() {
        return Err(Failure {
            code: 1,
            message: format!(
                "npx wrangler {} failed ({})",
                args[..3].join(" "),
                output.status
            ),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| usage("wrangler printed non-UTF-8 output"))
}
