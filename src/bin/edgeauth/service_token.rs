//! `edgeauth service-token create | list | revoke`: service tokens live in Workers KV, written
//! with wrangler, so only whoever may deploy the Worker can make one. `create` prints the
//! client id and secret once, the record (which holds only the secret's digest) and the
//! `wrangler kv key put` command that stores it; `list` reads `wrangler kv key list` from standard
//! input; `revoke` prints the `wrangler kv key delete` command.

use clap::Subcommand;
use edgeauth::login::is_valid_role;
use edgeauth::machine::service_token::{self, Record};
use serde_json::Value;

use crate::{random, read_input, shell_quote, unix_now, usage, Failure};

/// Default lifetime of a service token: 90 days.
const DEFAULT_TTL_SECS: u64 = 90 * 86_400;
/// Longest lifetime of a service token: about 2 years.
const MAX_TTL_SECS: u64 = 731 * 86_400;

#[derive(Subcommand)]
pub(crate) enum ServiceTokenCommand {
    /// Make a service token: prints its client id and secret (shown only here) and the command
    /// that stores its record.
    Create {
        /// What it is for: the origin sees `service:<name>` (a-z, 0-9, -, _, .).
        name: String,
        /// Roles, comma-separated.
        #[arg(long, default_value = "", value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime in seconds (default 90 days, at most 2 years).
        #[arg(long, default_value_t = DEFAULT_TTL_SECS)]
        ttl: u64,
        /// Print a command for the local `wrangler dev` store (`--local`).
        #[arg(long)]
        local: bool,
        /// Pretend the time is this (Unix seconds).
        #[arg(long)]
        now: Option<u64>,
    },
    /// List service tokens from `npx wrangler kv key list --binding USERS --prefix
    /// service-token:` on standard input (or a file).
    List {
        /// The listing's JSON; `-` or omitted reads standard input.
        #[arg(default_value = "-")]
        input: String,
        /// Pretend the time is this (Unix seconds).
        #[arg(long)]
        now: Option<u64>,
    },
    /// Print the command that deletes a service token's record: it is refused from then on
    /// (at once here, within KV's cache time of 60 seconds at other locations).
    Revoke {
        /// Its client id.
        client_id: String,
        /// Print a command for the local `wrangler dev` store (`--local`).
        #[arg(long)]
        local: bool,
    },
}

pub(crate) fn run(command: ServiceTokenCommand) -> Result<(), Failure> {
    match command {
        ServiceTokenCommand::Create {
            name,
            roles,
            ttl,
            local,
            now,
        } => {
            if !service_token::is_valid_name(&name) {
                return Err(usage(format!(
                    "name {name:?}: 1 to {} of a-z, 0-9, -, _ and .",
                    service_token::MAX_NAME_BYTES
                )));
            }
            let roles: Vec<String> = roles.into_iter().filter(|r| !r.is_empty()).collect();
            if let Some(bad) = roles.iter().find(|r| !is_valid_role(r)) {
                return Err(usage(format!("role {bad:?}: visible ASCII, no comma")));
            }
            if ttl == 0 || ttl > MAX_TTL_SECS {
                return Err(usage(format!("--ttl must be 1 to {MAX_TTL_SECS} seconds")));
            }
            let now = now.unwrap_or_else(unix_now);
            let (client_id, secret) = service_token::new_credentials(&random()?);
            let expires = now.saturating_add(ttl);
            let record = Record::new(&name, roles, &secret, now, expires);
            println!("client_id: {client_id}");
            println!("secret: {secret}");
            println!("expires: {expires}");
            println!("record: {}", record.to_json());
            println!(
                "store: npx wrangler kv key put{} --binding USERS {} {} --metadata {} --expiration {expires}",
                if local { " --local" } else { "" },
                shell_quote(&service_token::record_key(&client_id)),
                shell_quote(&record.to_json()),
                shell_quote(&record.metadata().to_string()),
            );
            eprintln!(
                "edgeauth: the secret is shown only here; the record holds its SHA-256 digest"
            );
            Ok(())
        }
        ServiceTokenCommand::List { input, now } => {
            let now = now.unwrap_or_else(unix_now);
            let listing: Value = serde_json::from_str(&read_input(&input)?)
                .map_err(|e| usage(format!("not a wrangler kv key list: {e}")))?;
            let Value::Array(keys) = listing else {
                return Err(usage("not a wrangler kv key list (a JSON array)"));
            };
            println!("client_id\tname\troles\tcreated\texpires\tstatus");
            for key in keys {
                let Some(client_id) = key
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|name| name.strip_prefix("service-token:"))
                else {
                    continue;
                };
                let meta = key.get("metadata").cloned().unwrap_or(Value::Null);
                let text = |field: &str| match meta.get(field) {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => "?".into(),
                };
                let status = match meta.get("expires").and_then(Value::as_u64) {
                    Some(expires) if expires <= now => "expired",
                    Some(_) => "active",
                    None => "unknown",
                };
                println!(
                    "{client_id}\t{}\t{}\t{}\t{}\t{status}",
                    text("name"),
                    text("roles"),
                    text("created"),
                    text("expires")
                );
            }
            Ok(())
        }
        ServiceTokenCommand::Revoke { client_id, local } => {
            if !service_token::is_client_id(&client_id) {
                return Err(usage("a client id is 32 lowercase hex digits"));
            }
            println!(
                "npx wrangler kv key delete{} --binding USERS {}",
                if local { " --local" } else { "" },
                shell_quote(&service_token::record_key(&client_id))
            );
            Ok(())
        }
    }
}
