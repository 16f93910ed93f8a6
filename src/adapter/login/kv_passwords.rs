//! Passwords in Workers KV: read the user's record, derive PBKDF2 through WebCrypto against it
//! (or against the decoy, at the same cost), and let the core decide.

use crate::bindings;
use crate::login::kv_passwords::{user_key, Lookup};
use crate::login::request::LoginRequest;
use crate::login::Verdict;
use crate::refusal::{Denied, Refusal};
use worker::Env;

use super::pbkdf2;
use crate::adapter::deadline;

/// The verdict on `request`; `Err` when the store cannot be read (500, fail closed).
pub async fn check(env: &Env, request: &LoginRequest) -> Result<Verdict, Denied> {
    let store = env
        .kv(bindings::USERS)
        .map_err(|_| Denied::new(Refusal::Internal, "kv_binding_missing"))?;
    let stored = deadline::kv_record(&store, &user_key(&request.username))
        .await
        .map_err(|e| Denied::new(Refusal::Internal, e.as_str()))?;
    let lookup = Lookup::from_stored(stored.as_deref());
    let matches = pbkdf2::verify_password(request.password.as_bytes(), &lookup.hash())
        .await
        .map_err(|_| Denied::new(Refusal::Internal, "pbkdf2_failed"))?;
    Ok(lookup.verdict(&request.username, matches))
}
