//! `edgeauth`: keys, tokens and password hashes from the command line.
//!
//! Exit codes: 0 success, 1 refused (`verify`), 2 bad input or usage.

mod check_policy;
mod revoke;
mod service_token;

use clap::{Parser, Subcommand};
use edgeauth::bindings::{Binding, Kind};
use edgeauth::login::passkey::enrollment::Enrollment;
use edgeauth::login::password::{self, PasswordHash};
use edgeauth::token::{claims, jwk};
use edgeauth::{Claims, KeySet, SigningKey, Validation};
use serde_json::{Map, Value};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "edgeauth",
    version,
    about = "Keys, session tokens and password hashes for edgeauth"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signing key: the private JWK on stdout, its kid and public JWK on stderr.
    ///
    /// Store it as the Worker secret directly: `edgeauth keygen | npx wrangler secret put SIGNING_KEY`.
    Keygen,
    /// Print the public JWKS of one or more keys (private JWKs, public JWKs or JWKS files).
    Jwks {
        /// Key files; `-` reads standard input.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Print the public JWK (one line) of a private JWK, or of the `SIGNING_KEY` in a `.dev.vars`:
    /// what goes into `PREVIOUS_KEYS` when the key is retired, and its kid on stderr.
    PublicKey {
        /// Private JWK file (or `.dev.vars`); `-` reads standard input.
        key: String,
    },
    /// Mint a session token (for tests and service tokens).
    Mint {
        /// Private JWK file (or a `.dev.vars` holding `SIGNING_KEY='…'`); `-` reads standard input.
        #[arg(long)]
        key: String,
        /// Issuer (`iss`).
        #[arg(long)]
        iss: String,
        /// Audience (`aud`).
        #[arg(long)]
        aud: String,
        /// User id (`sub`).
        #[arg(long)]
        sub: String,
        /// Roles, comma-separated.
        #[arg(long, default_value = "", value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime in seconds (`exp - iat`).
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Session id; random 128 bits when omitted.
        #[arg(long)]
        sid: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// When the user authenticated (Unix seconds); defaults to now.
        #[arg(long)]
        auth_time: Option<u64>,
        /// Extra claim as NAME=JSON (repeatable).
        #[arg(long = "claim", value_name = "NAME=JSON")]
        extra: Vec<String>,
        /// Pretend the time is this (Unix seconds).
        #[arg(long)]
        now: Option<u64>,
    },
    /// Verify a token: print its claims, or the exact reason it is refused (exit 1).
    Verify {
        /// Key files (JWK or JWKS, public or private); `-` reads standard input.
        #[arg(long = "keys", required = true)]
        keys: Vec<String>,
        /// Expected issuer.
        #[arg(long)]
        iss: String,
        /// Expected audience.
        #[arg(long)]
        aud: String,
        /// Clock leeway in seconds.
        #[arg(long, default_value_t = edgeauth::token::validation::DEFAULT_LEEWAY_SECS)]
        leeway: u64,
        /// Maximum session age (`now - auth_time`) in seconds.
        #[arg(long, default_value_t = edgeauth::token::validation::DEFAULT_MAX_SESSION_AGE_SECS)]
        max_age: u64,
        /// Maximum token length in bytes.
        #[arg(long, default_value_t = edgeauth::token::validation::DEFAULT_MAX_TOKEN_BYTES)]
        max_bytes: usize,
        /// Pretend the time is this (Unix seconds).
        #[arg(long)]
        now: Option<u64>,
        /// The token; `-` or omitted reads standard input.
        token: Option<String>,
    },
    /// Add or update a Workers KV user: reads the password from standard input and prints the
    /// `wrangler kv key put` command that stores the record (or only the record).
    AddUser {
        /// The username (the session's `sub`).
        username: String,
        /// Roles, comma-separated.
        #[arg(long, default_value = "", value_delimiter = ',')]
        roles: Vec<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Store the user as disabled (refused at login).
        #[arg(long)]
        disabled: bool,
        /// Print a command for the local `wrangler dev` store (`--local`).
        #[arg(long)]
        local: bool,
        /// Print only the JSON record.
        #[arg(long)]
        record_only: bool,
    },
    /// Check the `[vars]` of a wrangler config the way the edge will at start (rules, origin,
    /// headers, numbers), so mistakes stop the build instead of answering 500 at runtime.
    CheckConfig {
        /// The wrangler config file.
        #[arg(default_value = "wrangler.toml")]
        config: String,
    },
    /// Revoke one session (`--sid`) or every session of a user begun before a time (`--user`,
    /// `--before`, default now) through the edge's `POST /auth/revoke`, with an administrator's
    /// session token (role `REVOKE_ROLE`) from `EDGEAUTH_TOKEN` or `--token-file`.
    Revoke {
        /// The edge's base URL, e.g. `https://auth.example.com`.
        #[arg(long)]
        url: String,
        /// The session id (`sid`) to revoke.
        #[arg(long, required_unless_present = "user", conflicts_with = "user")]
        sid: Option<String>,
        /// The user (`sub`) whose sessions to revoke.
        #[arg(long)]
        user: Option<String>,
        /// With `--user`: revoke sessions that began before this time (Unix seconds).
        #[arg(long, requires = "user")]
        before: Option<u64>,
        /// A file holding the administrator's session token (else `EDGEAUTH_TOKEN`).
        #[arg(long)]
        token_file: Option<String>,
    },
    /// Print a one-time enrollment link for a user's first passkey (or a new one after a lost
    /// device). The link's token is in its fragment, so it never reaches a server log; anyone
    /// holding the link can enroll as the user until it is used or expires: send it privately.
    Enroll {
        /// Private JWK file (or a `.dev.vars` holding `SIGNING_KEY='…'`); `-` reads standard input.
        #[arg(long)]
        key: String,
        /// The edge's base URL, e.g. `https://app.example.com`.
        #[arg(long)]
        url: String,
        /// The user (`sub`).
        user: String,
        /// Roles, comma-separated: what the user's passkeys sign in with.
        #[arg(long, default_value = "", value_delimiter = ',')]
        roles: Vec<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Lifetime of the link in seconds (at most 7 days).
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
        /// Pretend the time is this (Unix seconds).
        #[arg(long)]
        now: Option<u64>,
    },
    /// What the access rules decide for a request and an identity: the rule that decides, the
    /// decision and why. Exit 0 when it is allowed, 1 when it is not.
    CheckPolicy(check_policy::CheckPolicy),
    /// Service tokens for programs (CI jobs, other services): create, list, revoke.
    ServiceToken {
        #[command(subcommand)]
        command: service_token::ServiceTokenCommand,
    },
    /// Hash a password read from standard input as a PHC string (PBKDF2-HMAC-SHA256).
    HashPassword {
        /// PBKDF2 iterations (10,000 to 100,000, the Workers limit).
        #[arg(long, default_value_t = password::ITERATIONS)]
        iterations: u32,
    },
}

/// A failure with the exit code it deserves.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("edgeauth: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen => keygen(),
        Command::Jwks { keys } => {
            let keys = KeySet::verify_only(read_public_keys(&keys)?);
            println!("{}", keys.to_jwks());
            Ok(())
        }
        Command::PublicKey { key } => {
            let key = SigningKey::from_jwk(&signing_key_text(&read_input(&key)?))
                .map_err(|e| usage(e.to_string()))?;
            println!("{}", key.verifying_key().to_jwk());
            eprintln!("kid: {}", key.kid());
            Ok(())
        }
        Command::Mint {
            key,
            iss,
            aud,
            sub,
            roles,
            ttl,
            sid,
            name,
            email,
            auth_time,
            extra,
            now,
        } => {
            let key = SigningKey::from_jwk(&signing_key_text(&read_input(&key)?))
                .map_err(|e| usage(format!("{key}: {e}")))?;
            let now = now.unwrap_or_else(unix_now);
            let sid = match sid {
                Some(sid) => sid,
                None => claims::session_id(random()?),
            };
            let claims = Claims {
                iss,
                aud: vec![aud],
                sub,
                sid,
                iat: now,
                exp: now + ttl,
                nbf: None,
                auth_time: auth_time.unwrap_or(now),
                roles: roles.into_iter().filter(|r| !r.is_empty()).collect(),
                name,
                email,
                extra: parse_extra_claims(&extra)?,
            };
            println!("{}", edgeauth::mint(&claims, &key));
            Ok(())
        }
        Command::Verify {
            keys,
            iss,
            aud,
            leeway,
            max_age,
            max_bytes,
            now,
            token,
        } => {
            let keys = KeySet::verify_only(read_public_keys(&keys)?);
            let token = match token {
                Some(token) if token != "-" => token,
                _ => read_input("-")?,
            };
            let mut rules = Validation::new(iss, aud);
            rules.leeway_secs = leeway;
            rules.max_session_age_secs = max_age;
            rules.max_token_bytes = max_bytes;
            // Exactly one trailing newline (from a pipe or file) is tolerated, nothing else.
            let token = token.strip_suffix('\n').unwrap_or(&token);
            match edgeauth::verify(token, &keys, &rules, now.unwrap_or_else(unix_now)) {
                Ok(verified) => {
                    let pretty = serde_json::to_string_pretty(verified.claims())
                        .map_err(|e| usage(e.to_string()))?;
                    println!("{pretty}");
                    eprintln!("verified with kid {}", verified.kid());
                    Ok(())
                }
                Err(e) => {
                    let code = match e {
                        edgeauth::Error::Malformed(m) => format!("malformed:{}", m.code()),
                        e => e.code().to_owned(),
                    };
                    Err(Failure {
                        code: 1,
                        message: format!("refused: {e} ({code})"),
                    })
                }
            }
        }
        Command::AddUser {
            username,
            roles,
            name,
            email,
            disabled,
            local,
            record_only,
        } => {
            if !edgeauth::login::is_valid_username(&username) {
                return Err(usage(format!(
                    "username {username:?}: 1 to 128 visible ASCII characters, no comma"
                )));
            }
            let roles: Vec<String> = roles.into_iter().filter(|r| !r.is_empty()).collect();
            if let Some(bad) = roles.iter().find(|r| !edgeauth::login::is_valid_role(r)) {
                return Err(usage(format!("role {bad:?}: visible ASCII, no comma")));
            }
            let password = read_password()?;
            let salt: [u8; password::SALT_BYTES] = random()?;
            let hash = password::native::hash(password.as_bytes(), &salt, password::ITERATIONS);
            let mut record = serde_json::json!({
                "password": hash.to_phc(),
                "roles": roles,
                "disabled": disabled,
            });
            if let Some(name) = name {
                record["name"] = name.into();
            }
            if let Some(email) = email {
                record["email"] = email.into();
            }
            let record = record.to_string();
            // Never print a record the edge would refuse.
            edgeauth::login::kv_passwords::UserRecord::parse(&record)
                .map_err(|e| usage(e.to_string()))?;
            if record_only {
                println!("{record}");
            } else {
                println!(
                    "npx wrangler kv key put{} --binding USERS {} {}",
                    if local { " --local" } else { "" },
                    shell_quote(&edgeauth::login::kv_passwords::user_key(&username)),
                    shell_quote(&record)
                );
            }
            Ok(())
        }
        Command::CheckConfig { config } => check_config(&config),
        Command::Revoke {
            url,
            sid,
            user,
            before,
            token_file,
        } => {
            let token = match token_file {
                Some(file) => read_input(&file)?,
                None => std::env::var("EDGEAUTH_TOKEN").map_err(|_| {
                    usage("an administrator's session token is needed: EDGEAUTH_TOKEN or --token-file")
                })?,
            };
            let token = token.trim();
            if token.is_empty() || token.contains(char::is_whitespace) {
                return Err(usage("the session token is empty or not one token"));
            }
            let body = match (sid, user) {
                (Some(sid), _) => serde_json::json!({ "sid": sid }),
                (None, Some(sub)) => match before {
                    Some(before) => serde_json::json!({ "sub": sub, "before": before }),
                    None => serde_json::json!({ "sub": sub }),
                },
                (None, None) => return Err(usage("--sid or --user is required")),
            };
            revoke::run(&url, token, &body)
        }
        Command::Enroll {
            key,
            url,
            user,
            roles,
            name,
            email,
            ttl,
            now,
        } => {
            let key = SigningKey::from_jwk(&signing_key_text(&read_input(&key)?))
                .map_err(|e| usage(format!("{key}: {e}")))?;
            let base = edgeauth::encoding::http_url::HttpUrl::parse(&url)
                .map_err(|e| usage(format!("--url: {e}")))?;
            let identity = edgeauth::login::Identity {
                sub: user,
                roles: roles.into_iter().filter(|r| !r.is_empty()).collect(),
                name,
                email,
                provider: None,
                amr: edgeauth::login::AMR_PASSKEY_VERIFIED,
            };
            let enrollment =
                Enrollment::new(&identity, ttl, &random()?, now.unwrap_or_else(unix_now))
                    .ok_or_else(|| {
                        usage(
                    "the user must be a valid username, roles valid, and --ttl 1 to 604800 seconds",
                )
                    })?;
            println!(
                "{}/auth/passkeys/enroll#token={}",
                base.origin(),
                enrollment.seal(&key)
            );
            Ok(())
        }
        Command::ServiceToken { command } => service_token::run(command),
        Command::CheckPolicy(args) => check_policy::run(args),
        Command::HashPassword { iterations } => {
            if !(password::MIN_ITERATIONS..=password::MAX_ITERATIONS).contains(&iterations) {
                return Err(usage(
                    "--iterations must be 10000 to 100000 (the Workers limit)",
                ));
            }
            let password = read_password()?;
            let salt: [u8; password::SALT_BYTES] = random()?;
            let hash = password::native::hash(password.as_bytes(), &salt, iterations);
            // Round-trip through the parser so we never print a hash the edge would refuse.
            let phc = hash.to_phc();
            PasswordHash::parse(&phc).map_err(|e| usage(e.to_string()))?;
            println!("{phc}");
            Ok(())
        }
    }
}

fn check_config(path: &str) -> Result<(), Failure> {
    let text = read_input(path)?;
    let deployment = load_config(path)?;
    // A missing binding fails closed at run time (every session, login or logout refused):
    // say so at build time instead.
    let parsed: toml::Table =
        toml::from_str(&text).map_err(|e| usage(format!("{path}: not TOML: {e}")))?;
    for binding in edgeauth::bindings::ALL {
        if deployment.configs().any(|c| (binding.needed_by)(c)) && !declares(&parsed, &binding) {
            return Err(usage(format!(
                "{path}: no {} binding {:?}: {} (see docs/configuration.md)",
                kind_name(binding.kind),
                binding.name,
                binding.without_it
            )));
        }
    }
    eprintln!("{path}: configuration is valid");
    Ok(())
}

/// Whether a wrangler configuration declares `binding` as its kind requires.
fn declares(config: &toml::Table, binding: &Binding) -> bool {
    let entries = |table: Option<&toml::Value>| {
        table
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let named = |entries: Vec<toml::Value>, key: &str| {
        entries
            .into_iter()
            .filter(|entry| entry.get(key).and_then(toml::Value::as_str) == Some(binding.name))
            .collect::<Vec<_>>()
    };
    match binding.kind {
        Kind::KvNamespace => !named(entries(config.get("kv_namespaces")), "binding").is_empty(),
        Kind::RateLimit => !named(entries(config.get("ratelimits")), "name").is_empty(),
        Kind::Assets => {
            config
                .get("assets")
                .and_then(|assets| assets.get("binding"))
                .and_then(toml::Value::as_str)
                == Some(binding.name)
        }
        Kind::DurableObject { class_name } => named(
            entries(
                config
                    .get("durable_objects")
                    .and_then(|d| d.get("bindings")),
            ),
            "name",
        )
        .iter()
        .any(|entry| entry.get("class_name").and_then(toml::Value::as_str) == Some(class_name)),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::KvNamespace => "[[kv_namespaces]]",
        Kind::DurableObject { .. } => "[[durable_objects.bindings]]",
        Kind::RateLimit => "[[ratelimits]]",
        Kind::Assets => "[assets]",
    }
}

/// The deployment a wrangler config's [vars] give (every app's configuration), with a throwaway
/// signing key.
fn load_config(path: &str) -> Result<edgeauth::apps::Deployment, Failure> {
    let strings = load_vars(path)?;
    edgeauth::apps::Deployment::from_lookup(|name| strings.get(name).cloned())
        .map_err(|e| usage(format!("{path}: {e}")))
}

/// A wrangler config's [vars] as the edge reads them, with a throwaway signing key and
/// placeholders for the providers' client secrets (which must not be vars).
pub(crate) fn load_vars(path: &str) -> Result<std::collections::HashMap<String, String>, Failure> {
    let text = read_input(path)?;
    let parsed: toml::Table =
        toml::from_str(&text).map_err(|e| usage(format!("{path}: not TOML: {e}")))?;
    let vars = match parsed.get("vars") {
        None => toml::Table::new(),
        Some(toml::Value::Table(vars)) => vars.clone(),
        Some(_) => return Err(usage(format!("{path}: [vars] is not a table"))),
    };
    let mut strings = std::collections::HashMap::new();
    for (name, value) in &vars {
        if name == "SIGNING_KEY" {
            return Err(usage(format!(
                "{path}: SIGNING_KEY must be a secret (wrangler secret put / .dev.vars), never a [vars] entry"
            )));
        }
        let toml::Value::String(value) = value else {
            return Err(usage(format!("{path}: [vars] {name} must be a string")));
        };
        strings.insert(name.clone(), value.clone());
    }
    // The real key is a secret the build cannot see; a throwaway one lets everything else be checked.
    let throwaway = SigningKey::generate().map_err(|e| usage(e.to_string()))?;
    strings.insert("SIGNING_KEY".into(), throwaway.to_private_jwk().to_string());
    // Likewise each identity provider's client secret: it must be a secret, never a [vars] entry
    // (at run time a var and a secret look alike, so this is where it is enforced).
    for name in provider_secret_names(strings.get("IDENTITY_PROVIDERS")) {
        if strings.contains_key(&name) {
            return Err(usage(format!(
                "{path}: {name} holds an identity provider's client secret: it must be a secret (wrangler secret put), never a [vars] entry"
            )));
        }
        strings.insert(name, "placeholder for check-config".into());
    }
    Ok(strings)
}

/// The secret names `IDENTITY_PROVIDERS` entries give in `client_secret_secret` (what is not
/// well-formed is left to the configuration's own check, which says what is wrong).
fn provider_secret_names(providers: Option<&String>) -> Vec<String> {
    let Some(Ok(serde_json::Value::Array(entries))) =
        providers.map(|text| serde_json::from_str::<serde_json::Value>(text))
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| entry.get("client_secret_secret")?.as_str())
        .map(str::to_owned)
        .collect()
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        eprintln!("Type the password, then Enter:");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| usage(format!("reading the password: {e}")))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(usage("empty password on standard input"));
    }
    Ok(password.to_owned())
}

/// `text` as one POSIX shell word.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn keygen() -> Result<(), Failure> {
    let key = SigningKey::generate().map_err(|e| usage(e.to_string()))?;
    println!("{}", key.to_private_jwk().as_str());
    eprintln!("kid: {}", key.kid());
    eprintln!("public JWK: {}", key.verifying_key().to_jwk());
    eprintln!("stdout is the PRIVATE key: store it as the SIGNING_KEY secret, never in a file you commit.");
    Ok(())
}

fn read_public_keys(sources: &[String]) -> Result<Vec<edgeauth::VerifyingKey>, Failure> {
    let mut keys = Vec::new();
    for source in sources {
        let text = read_input(source)?;
        keys.extend(
            jwk::public_keys_from_json(&text).map_err(|e| usage(format!("{source}: {e}")))?,
        );
    }
    Ok(keys)
}

pub(crate) fn read_input(source: &str) -> Result<String, Failure> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| usage(format!("reading standard input: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(source).map_err(|e| usage(format!("{source}: {e}")))
    }
}

/// A private JWK, or the `SIGNING_KEY='…'` line of a `.dev.vars` file (for local testing).
fn signing_key_text(text: &str) -> String {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("SIGNING_KEY="))
        .map(|value| value.trim().trim_matches('\'').to_owned())
        .unwrap_or_else(|| text.to_owned())
}

fn parse_extra_claims(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut extra = Map::new();
    for pair in pairs {
        let (name, json) = pair
            .split_once('=')
            .ok_or_else(|| usage(format!("--claim {pair}: expected NAME=JSON")))?;
        // Claims with a field (and a flag) of their own, and `jti`, registered but unused here.
        if edgeauth::token::claims::MEMBERS.contains(&name) || name == "jti" {
            return Err(usage(format!("--claim {name}: use the dedicated flag")));
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| usage(format!("--claim {name}: value is not JSON: {e}")))?;
        if extra.insert(name.to_owned(), value).is_some() {
            return Err(usage(format!("--claim {name} given twice")));
        }
    }
    Ok(extra)
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], Failure> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| usage(format!("no randomness available: {e}")))?;
    Ok(bytes)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
