//! The Worker's bindings, by name: the one list the adapter reads them by, `edgeauth
//! check-config` checks a wrangler configuration against, and the tests derive their
//! configurations from.

use crate::config::GatewayConfig;
use crate::login::PasswordStore;

/// What kind of binding a name must be in `wrangler.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[[kv_namespaces]] binding = …`.
    KvNamespace,
    /// `[[durable_objects.bindings]] name = …, class_name = …`.
    DurableObject {
        /// The exported class that implements it.
        class_name: &'static str,
    },
    /// `[[ratelimits]] name = …` (Workers Rate Limiting).
    RateLimit,
    /// `[assets] binding = …`.
    Assets,
}

/// One binding the Worker uses.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Its name in `wrangler.toml` and in `env`.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// What breaks without it (every binding fails closed: nothing passes without it).
    pub without_it: &'static str,
    /// Whether a configuration uses it.
    pub needed_by: fn(&GatewayConfig) -> bool,
}

fn always(_: &GatewayConfig) -> bool {
    true
}

/// User records for the Workers KV password login (`user:<name>` → JSON record) and passkeys
/// (`passkey:*`, see [`crate::login::passkey::credential`]).
pub const USERS: &str = "USERS";
/// The revocation document (key `revocations`), read by every isolate.
pub const REVOCATIONS: &str = "REVOCATIONS";
/// The one writer of the revocation document.
pub const REVOCATION_WRITER: &str = "REVOCATION_WRITER";
/// The Durable Object class behind [`REVOCATION_WRITER`].
pub const REVOCATION_WRITER_CLASS: &str = "RevocationWriter";
/// One-time values, claimed atomically (passkey challenges, enrollment links).
pub const SINGLE_USE: &str = "SINGLE_USE";
/// The Durable Object class behind [`SINGLE_USE`].
pub const SINGLE_USE_CLASS: &str = "SingleUse";
/// Login attempts (and writing logouts) per client IP.
pub const LOGIN_IP_LIMIT: &str = "LOGIN_IP_LIMIT";
/// Login attempts per username.
pub const LOGIN_USER_LIMIT: &str = "LOGIN_USER_LIMIT";
/// The static assets of `www/` (the login page).
pub const ASSETS: &str = "ASSETS";

/// Every binding, as `wrangler.toml` declares it.
pub const ALL: [Binding; 7] = [
    Binding {
        name: ASSETS,
        kind: Kind::Assets,
        without_it: "the login page cannot be served",
        needed_by: always,
    },
    Binding {
        name: USERS,
        kind: Kind::KvNamespace,
        without_it: "password logins with USER_STORE=kv and every passkey sign-in fail",
        needed_by: |config| config.password_store == PasswordStore::Kv || config.passkeys.is_some(),
    },
    Binding {
        name: REVOCATIONS,
        kind: Kind::KvNamespace,
        without_it: "every session is refused on protected routes",
        needed_by: always,
    },
    Binding {
        name: REVOCATION_WRITER,
        kind: Kind::DurableObject {
            class_name: REVOCATION_WRITER_CLASS,
        },
        without_it: "logout and revocation cannot be stored",
        needed_by: always,
    },
    Binding {
        name: SINGLE_USE,
        kind: Kind::DurableObject {
            class_name: SINGLE_USE_CLASS,
        },
        without_it: "every passkey sign-in and registration, and every sign-on handoff to an app, is refused",
        needed_by: |config| config.passkeys.is_some() || config.app.is_some(),
    },
    Binding {
        name: LOGIN_IP_LIMIT,
        kind: Kind::RateLimit,
        without_it: "every login is refused",
        needed_by: always,
    },
    Binding {
        name: LOGIN_USER_LIMIT,
        kind: Kind::RateLimit,
        without_it: "every login is refused",
        needed_by: always,
    },
];
