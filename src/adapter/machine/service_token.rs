//! A service token checked in the Worker: its record read from Workers KV (`USERS`), then the
//! core's check. A store that cannot be read refuses the token.

use worker::Env;

use crate::bindings;
use crate::config::GatewayConfig;
use crate::machine::service_token::{self, Presented};
use crate::token::claims::VerifiedClaims;
use crate::token::error::Error;

use crate::adapter::deadline;

/// Checks `presented` against its record at `now`.
pub async fn verify(
    env: &Env,
    config: &GatewayConfig,
    presented: &Presented<'_>,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    let unavailable = Error::Credential("service_token_store_unavailable");
    let store = env.kv(bindings::USERS).map_err(|_| unavailable)?;
    let stored = deadline::kv_record(&store, &service_token::record_key(presented.client_id))
        .await
        .map_err(|_| unavailable)?;
    service_token::check(
        presented,
        stored.as_deref(),
        &config.session,
        config.sessions.ttl_secs,
        now,
    )
}
