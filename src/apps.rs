//! Several apps behind one deployment, with one sign-on across them.
//!
//! `APPS` lists the apps: each is served on its hosts (`wiki.example.com`, or `*.example.com`
//! for any one label), with its own origin, rules, session cookie and audiences, and so its own
//! sessions: a session of one app is refused by every other. `AUTH_HOST` is where users log in.
//! An app without a session sends the browser there; the auth host sends it back to that app's
//! `/auth/handoff` with a one-time token for that app alone ([`crate::login::handoff`]), and the
//! app sets its own cookie. The app list is the redirect allowlist: a handoff goes to no other
//! host. A request for a host no app is served on is refused (421), never sent to a default
//! origin. Without `APPS` one app is served on every host.

use crate::config::{ConfigError, GatewayConfig, Vars};
use serde::Deserialize;
use serde_json::Value;

/// Most apps one deployment serves.
pub const MAX_APPS: usize = 256;
/// Longest app id.
const MAX_ID_BYTES: usize = 32;
/// Longest `Host` value considered (a name of 253 bytes, a port).
const MAX_HOST_BYTES: usize = 260;

/// A request's `Host`: its name in lower case, and its port when one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: String,
    port: Option<u16>,
}

/// Why a `Host` value is refused (400) before any app is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// No `Host` at all.
    Missing,
    /// Not one host name (or bracketed IP literal) with an optional port: two values joined by
    /// a comma (a duplicated header), spaces, a trailing dot, an empty label, a bad port.
    Malformed,
}

impl HostError {
    /// The log reason.
    pub fn code(self) -> &'static str {
        match self {
            HostError::Missing => "no_host",
            HostError::Malformed => "bad_host",
        }
    }
}

impl Host {
    /// Parses a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`).
    pub fn parse(value: Option<&str>) -> Result<Host, HostError> {
        let value = value.filter(|v| !v.is_empty()).ok_or(HostError::Missing)?;
        if value.len() > MAX_HOST_BYTES {
            return Err(HostError::Malformed);
        }
        let (name, port) = if value.starts_with('[') {
            let end = value.find(']').ok_or(HostError::Malformed)?;
            let (name, rest) = value.split_at(end + 1);
            let inner = &name[1..name.len() - 1];
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err(HostError::Malformed);
            }
            match rest {
                "" => (name, None),
                _ => (
                    name,
                    Some(rest.strip_prefix(':').ok_or(HostError::Malformed)?),
                ),
            }
        } else {
            let (name, port) = match value.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (value, None),
            };
            let is_label = |label: &str| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if !name.split('.').all(is_label) {
                return Err(HostError::Malformed);
            }
            (name, port)
        };
        let port = match port {
            None => None,
            Some(digits) => {
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(HostError::Malformed);
                }
                Some(
                    digits
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or(HostError::Malformed)?,
                )
            }
        };
        Ok(Host {
            name: name.to_ascii_lowercase(),
            port,
        })
    }

    /// The name, in lower case.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port, when the `Host` named one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `name[:port]`, as a URL's authority.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.name),
            None => self.name.clone(),
        }
    }

    /// This host with `port` when it names none itself: the auth host, reached on the port the
    /// request came in on (one deployment serves every host on the same ports).
    pub fn on_port_of(&self, other: &Host) -> Host {
        Host {
            name: self.name.clone(),
            port: self.port.or(other.port),
        }
    }
}

/// A host an app is served on: exactly `wiki.example.com`, or `*.example.com` for any one label
/// in front of `example.com` (as in certificates: not `example.com` itself, not `a.b.example.com`).
/// With a port, only that port; without, any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// The exact name, or for a wildcard what follows `*.`.
    name: String,
    wildcard: bool,
    port: Option<u16>,
}

impl HostPattern {
    /// Parses `wiki.example.com`, `*.example.com`, either with `:port`.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let (wildcard, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let refuse = || format!("{text:?} is not a host name, or *. and a domain");
        let host = Host::parse(Some(rest)).map_err(|_| refuse())?;
        if wildcard && (!host.name.contains('.') || host.name.starts_with('[')) {
            return Err(refuse());
        }
        if matches!(host.port, Some(80 | 443)) {
            // The runtime's URL never shows a default port: such a pattern would match nothing.
            return Err(format!("{text:?}: leave out the default port"));
        }
        Ok(HostPattern {
            name: host.name,
            wildcard,
            port: host.port,
        })
    }

    /// Whether `host` is served by this pattern.
    pub fn matches(&self, host: &Host) -> bool {
        if self.port.is_some_and(|port| host.port != Some(port)) {
            return false;
        }
        if !self.wildcard {
            return host.name == self.name;
        }
        host.name
            .strip_suffix(self.name.as_str())
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    }

    /// Whether this is a `*.` pattern.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The pattern as exact host, when it is not a wildcard.
    fn exact(&self) -> Option<Host> {
        (!self.wildcard).then(|| Host {
            name: self.name.clone(),
            port: self.port,
        })
    }
}

/// What an app's own configuration knows about the deployment around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLink {
    /// The app's id (`APPS[].id`): in its handoff tokens and its log lines.
    pub id: String,
    /// Where its users log in (`AUTH_HOST`).
    pub auth_host: Host,
    /// Its index among the apps, from 1 (0 is the auth host): which per-isolate cache is its own.
    pub slot: usize,
}

/// One app: its hosts and its whole configuration.
#[derive(Debug)]
pub struct App {
    /// Its id.
    pub id: String,
    /// The hosts it is served on.
    pub hosts: Vec<HostPattern>,
    /// Its configuration: the deployment's with the app's own origin, rules, cookie, audiences.
    pub config: GatewayConfig,
}

/// The apps and the auth host.
#[derive(Debug)]
pub struct Apps {
    /// Where users log in.
    pub auth_host: Host,
    apps: Vec<App>,
}

/// Whom a request is for.
#[derive(Debug, Clone, Copy)]
pub enum Site<'d> {
    /// The only app (no `APPS`): every host.
    Single(&'d GatewayConfig),
    /// The auth host: logins, the handoff, logout of every app.
    Auth(&'d GatewayConfig),
    /// One app.
    App(&'d App),
    /// A host no app is served on: 421.
    Unknown,
}

/// The whole deployment: its own configuration (the only app's, or the auth host's) and the
/// apps, if any.
#[derive(Debug)]
pub struct Deployment {
    /// The configuration from the Worker's vars as they are: the only app, or the auth host.
    pub base: GatewayConfig,
    /// The apps (`APPS`), each with its own configuration.
    pub apps: Option<Apps>,
}

/// One entry of `APPS`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    id: String,
    hosts: Vec<String>,
    origin: String,
    #[serde(default)]
    rules: Option<Value>,
    #[serde(default)]
    cookie: Option<String>,
    #[serde(default)]
    session_audience: Option<String>,
    #[serde(default)]
    assertion_audience: Option<String>,
    #[serde(default)]
    assertion_binding: Option<String>,
}

impl Deployment {
    /// Reads the deployment from a lookup of vars and secrets by name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base = GatewayConfig::from_lookup(&lookup)?;
        let vars = Vars::new(&lookup);
        let Some(text) = vars.get("APPS") else {
            if vars.get("AUTH_HOST").is_some() {
                return Err(ConfigError("AUTH_HOST is set without APPS".into()));
            }
            return Ok(Deployment { base, apps: None });
        };
        let mut apps = Apps::parse(&text, &vars, &base)?;
        let mut base = base;
        base.signs_on = true;
        // One memory bound for the deployment, shared by every app's cache and the auth host's.
        let slots = apps.apps.len() + 1;
        for config in std::iter::once(&mut base).chain(apps.apps.iter_mut().map(|a| &mut a.config))
        {
            config.session_cache_size = config.session_cache_size.div_ceil(slots);
            config.session_cache_bytes /= slots;
        }
        Ok(Deployment {
            base,
            apps: Some(apps),
        })
    }

    /// Whom a request for `host` is for: the only app, the auth host, one app, or nobody.
    /// Refused before any lookup when the `Host` is missing or malformed (with apps only: one app
    /// serves every host).
    pub fn site(&self, host: Option<&str>) -> Result<Site<'_>, HostError> {
        let Some(apps) = &self.apps else {
            return Ok(Site::Single(&self.base));
        };
        let host = Host::parse(host)?;
        if host.name == apps.auth_host.name {
            return Ok(Site::Auth(&self.base));
        }
        Ok(apps.app_for(&host).map_or(Site::Unknown, Site::App))
    }

    /// Every configuration: the base's, then each app's.
    pub fn configs(&self) -> impl Iterator<Item = &GatewayConfig> {
        std::iter::once(&self.base).chain(
            self.apps
                .iter()
                .flat_map(|a| a.apps.iter().map(|a| &a.config)),
        )
    }
}

impl Apps {
    fn parse(text: &str, vars: &Vars, base: &GatewayConfig) -> Result<Apps, ConfigError> {
        let err = |message: String| ConfigError(format!("APPS: {message}"));
        for name in ["ORIGIN_URL", "ACCESS_RULES"] {
            if vars.get(name).is_some() {
                return Err(err(format!(
                    "with apps, each app has its own origin and rules: move {name} into them"
                )));
            }
        }
        let auth_host = vars
            .get("AUTH_HOST")
            .ok_or_else(|| err("AUTH_HOST (where users log in) must be set too".into()))?;
        // No port: the auth host answers on every port, so no app's wildcard can take its name
        // on another one.
        let auth_host = HostPattern::parse(&auth_host)
            .ok()
            .and_then(|p| p.exact())
            .filter(|host| host.port.is_none())
            .ok_or_else(|| {
                ConfigError(format!(
                    "AUTH_HOST: {auth_host:?} is not a host name without a port"
                ))
            })?;
        let entries: Vec<AppEntry> =
            serde_json::from_str(text).map_err(|e| err(format!("not a list of apps: {e}")))?;
        if entries.is_empty() || entries.len() > MAX_APPS {
            return Err(err(format!("1 to {MAX_APPS} apps")));
        }
        let mut apps: Vec<App> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            let app = App::build(entry, index + 1, &auth_host, vars, base)
                .map_err(|e| err(format!("[{index}]: {}", e.0)))?;
            apps.push(app);
        }
        check_distinct(&apps, &auth_host, base).map_err(err)?;
        check_cookie_name(&base.cookie_name)
            .map_err(|e| ConfigError(format!("SESSION_COOKIE: {e}")))?;
        Ok(Apps { auth_host, apps })
    }

    /// The app served on `host`: an exact host before any wildcard.
    pub fn app_for(&self, host: &Host) -> Option<&App> {
        let serves = |exact: bool| {
            move |app: &&App| {
                app.hosts
                    .iter()
                    .any(|p| p.is_wildcard() != exact && p.matches(host))
            }
        };
        self.apps
            .iter()
            .find(serves(true))
            .or_else(|| self.apps.iter().find(serves(false)))
    }

    /// The app a handoff may go to, for the auth host reached at `here`: the app served on
    /// `requested` (a `Host` value), reached on the same port (one deployment serves every host
    /// on the same ports), and never the auth host itself. `None` for any other host: the app
    /// list is the redirect allowlist.
    pub fn handoff_target(&self, requested: &str, here: &Host) -> Option<(&App, Host)> {
        let host = Host::parse(Some(requested)).ok()?;
        if host.port != here.port || host.name == self.auth_host.name {
            return None;
        }
        self.app_for(&host).map(|app| (app, host))
    }

    /// The apps.
    pub fn iter(&self) -> impl Iterator<Item = &App> {
        self.apps.iter()
    }
}

impl App {
    fn build(
        entry: AppEntry,
        slot: usize,
        auth_host: &Host,
        vars: &Vars,
        base: &GatewayConfig,
    ) -> Result<App, ConfigError> {
        let id = entry.id;
        if id.is_empty()
            || id.len() > MAX_ID_BYTES
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError(format!(
                "id {id:?} is not 1 to {MAX_ID_BYTES} of a-z, 0-9 and -"
            )));
        }
        let in_app = |e: ConfigError| ConfigError(format!("{id:?}: {}", e.0));
        // An empty value would read as unset, and fall back to the deployment's.
        for (name, value) in [
            ("origin", Some(&entry.origin)),
            ("cookie", entry.cookie.as_ref()),
            ("session_audience", entry.session_audience.as_ref()),
            ("assertion_audience", entry.assertion_audience.as_ref()),
            ("assertion_binding", entry.assertion_binding.as_ref()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(in_app(ConfigError(format!("{name} is empty"))));
            }
        }
        if entry.hosts.is_empty() {
            return Err(in_app(ConfigError("hosts: at least one".into())));
        }
        let hosts = entry
            .hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| in_app(ConfigError(format!("hosts: {e}"))))?;
        let mut own: Vec<(&str, String)> = vec![
            ("ORIGIN_URL", entry.origin),
            (
                "SESSION_AUDIENCE",
                entry
                    .session_audience
                    .unwrap_or_else(|| format!("{}:{id}", base.session.audience)),
            ),
            (
                "ASSERTION_AUDIENCE",
                entry
                    .assertion_audience
                    .unwrap_or_else(|| format!("{}:{id}", base.assertion_audience)),
            ),
        ];
        if let Some(rules) = entry.rules {
            own.push(("ACCESS_RULES", rules.to_string()));
        }
        if let Some(cookie) = entry.cookie {
            own.push(("SESSION_COOKIE", cookie));
        }
        if let Some(binding) = entry.assertion_binding {
            own.push(("ASSERTION_BINDING", binding));
        }
        let mut config = GatewayConfig::from_lookup(|name| {
            own.iter()
                .find(|(own_name, _)| *own_name == name)
                .map(|(_, value)| value.clone())
                .or_else(|| vars.get(name))
        })
        .map_err(in_app)?;
        check_cookie_name(&config.cookie_name)
            .map_err(|e| in_app(ConfigError(format!("cookie: {e}"))))?;
        config.app = Some(AppLink {
            id: id.clone(),
            auth_host: auth_host.clone(),
            slot,
        });
        Ok(App { id, hosts, config })
    }
}

/// With several apps every session cookie is a `__Host-` cookie, which no other host (a sibling
/// app, its origin) can set or overwrite, and none is one of the edge's own ceremony cookies.
fn check_cookie_name(name: &str) -> Result<(), String> {
    if name.starts_with("__Host-") && !crate::gateway::cookie::is_transaction(name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must start with __Host- and not be one of the edge's own"
        ))
    }
}

/// Whether `wildcard` serves `exact`'s name on the ports `exact` (pinned to one) leaves it.
fn covers_on_another_port(wildcard: &HostPattern, exact: &HostPattern) -> bool {
    wildcard.wildcard
        && !exact.wildcard
        && exact.port.is_some()
        && wildcard.matches(&Host {
            name: exact.name.clone(),
            port: None,
        })
}

/// Ids, hosts and audiences must each name one thing: a host served twice would be routed by
/// list order, and an audience shared by two apps (or by an app and the auth host) would let a
/// session of one work at the other.
fn check_distinct(apps: &[App], auth_host: &Host, base: &GatewayConfig) -> Result<(), String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut hosts: Vec<&HostPattern> = Vec::new();
    let mut audiences = std::collections::BTreeMap::new();
    audiences.insert(
        base.session.audience.as_str(),
        "the auth host's session".to_owned(),
    );
    audiences.insert(
        base.assertion_audience.as_str(),
        "the auth host's assertion".to_owned(),
    );
    for app in apps {
        if !ids.insert(app.id.as_str()) {
            return Err(format!("the id {:?} is used twice", app.id));
        }
        for pattern in &app.hosts {
            // On another port a host is the same host to a browser: the same cookies. So no name
            // may be served by two apps on different ports: the same name twice, or a name with
            // a port that another app's wildcard serves on every other port. (An exact host
            // without a port wins on every port, so a wildcard over it is no overlap.)
            let overlaps = |other: &HostPattern| {
                (other.name == pattern.name && other.wildcard == pattern.wildcard)
                    || covers_on_another_port(other, pattern)
                    || covers_on_another_port(pattern, other)
            };
            if hosts.iter().any(|other| overlaps(other)) {
                return Err(format!(
                    "{:?}: a host is listed twice (ports aside)",
                    app.id
                ));
            }
            if !pattern.wildcard && pattern.name == auth_host.name {
                return Err(format!("{:?}: AUTH_HOST is not an app's host", app.id));
            }
            hosts.push(pattern);
        }
        for (audience, what) in [
            (&app.config.session.audience, "session"),
            (&app.config.assertion_audience, "assertion"),
        ] {
            if let Some(other) =
                audiences.insert(audience.as_str(), format!("{:?}'s {what}", app.id))
            {
                return Err(format!(
                    "{:?}: the {what} audience {audience:?} is also {other}'s",
                    app.id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::SigningKey;
    use std::collections::HashMap;

    fn key() -> String {
        SigningKey::from_seed(&mut [4u8; 32])
            .to_private_jwk()
            .to_string()
    }

    fn deployment(apps: &str, extra: &[(&str, &str)]) -> Result<Deployment, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("SIGNING_KEY".into(), key());
        vars.insert("AUTH_HOST".into(), "auth.example.com".into());
        vars.insert("APPS".into(), apps.into());
        for (name, value) in extra {
            vars.insert((*name).into(), (*value).into());
        }
        Deployment::from_lookup(|name| vars.get(name).cloned())
    }

    const TWO_APPS: &str = r#"[
        {"id": "wiki", "hosts": ["wiki.example.com"], "origin": "http://127.0.0.1:9001",
         "rules": [{"path": "/public/*", "access": "public"}]},
        {"id": "tools", "hosts": ["*.tools.example.com", "tools.example.com:8443"],
         "origin": "http://127.0.0.1:9002", "cookie": "__Host-tools",
         "assertion_binding": "request"}
    ]"#;

    fn host(text: &str) -> Host {
        Host::parse(Some(text)).expect(text)
    }

    fn site_id(deployment: &Deployment, host: &str) -> Result<String, HostError> {
        Ok(match deployment.site(Some(host))? {
            Site::Single(_) => "single".into(),
            Site::Auth(_) => "auth".into(),
            Site::App(app) => app.id.clone(),
            Site::Unknown => "unknown".into(),
        })
    }

    #[test]
    fn hosts_parse_in_lower_case_with_an_optional_port() {
        for (text, name, port) in [
            ("wiki.example.com", "wiki.example.com", None),
            ("WIKI.Example.COM", "wiki.example.com", None),
            ("wiki.example.com:8443", "wiki.example.com", Some(8443)),
            ("localhost", "localhost", None),
            ("[::1]:8787", "[::1]", Some(8787)),
            ("[::1]", "[::1]", None),
            ("127.0.0.1:80", "127.0.0.1", Some(80)),
        ] {
            let parsed = host(text);
            assert_eq!((parsed.name(), parsed.port()), (name, port), "{text}");
        }
        assert_eq!(Host::parse(None), Err(HostError::Missing));
        assert_eq!(Host::parse(Some("")), Err(HostError::Missing));
        for bad in [
            "a.example.com, b.example.com", // two Host headers, joined
            "a.example.com,b.example.com",
            "a.example.com b",
            "wiki.example.com.", // trailing dot: not the configured name
            "wiki..example.com",
            ".example.com",
            "wiki.example.com:",
            "wiki.example.com:0",
            "wiki.example.com:65536",
            "wiki.example.com:80:80",
            "wiki.example.com:+80",
            "user@wiki.example.com",
            "wiki.example.com/path",
            "wiki_1.example.com",
            "[::1",
            "[zz]",
            "[::1]x",
            "wïki.example.com",
        ] {
            assert_eq!(Host::parse(Some(bad)), Err(HostError::Malformed), "{bad}");
        }
        assert_eq!(
            Host::parse(Some(&"a".repeat(300))),
            Err(HostError::Malformed)
        );
    }

    #[test]
    fn patterns_match_one_exact_host_or_one_label_of_a_wildcard() {
        let exact = HostPattern::parse("wiki.example.com").expect("exact");
        let wildcard = HostPattern::parse("*.Example.com").expect("wildcard");
        let pinned = HostPattern::parse("wiki.example.com:8443").expect("port");
        for (pattern, text, matches) in [
            (&exact, "wiki.example.com", true),
            (&exact, "WIKI.EXAMPLE.COM", true),
            (&exact, "wiki.example.com:8787", true), // no port in the pattern: any port
            (&exact, "wiki.example.org", false),
            (&exact, "xwiki.example.com", false),
            (&exact, "a.wiki.example.com", false),
            (&wildcard, "wiki.example.com", true),
            (&wildcard, "a-b.example.com:8443", true),
            (&wildcard, "example.com", false),
            (&wildcard, "a.b.example.com", false),
            (&wildcard, "evilexample.com", false),
            (&wildcard, "a.example.com.evil.org", false),
            (&pinned, "wiki.example.com:8443", true),
            (&pinned, "wiki.example.com", false),
            (&pinned, "wiki.example.com:443", false),
        ] {
            assert_eq!(pattern.matches(&host(text)), matches, "{pattern:?} {text}");
        }
        for bad in [
            "*.com",
            "*",
            "*.",
            "**.example.com",
            "a.*.example.com",
            "*.[::1]",
            "",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_host_finds_its_app_and_an_unconfigured_one_finds_none() {
        let deployment = deployment(TWO_APPS, &[]).expect("valid");
        for (text, expected) in [
            ("auth.example.com", "auth"),
            ("AUTH.example.com:8787", "auth"),
            ("wiki.example.com", "wiki"),
            ("a.tools.example.com", "tools"),
            ("tools.example.com:8443", "tools"),
            ("tools.example.com", "unknown"),
            ("b.a.tools.example.com", "unknown"),
            ("example.com", "unknown"),
            ("other.example.org", "unknown"),
            ("127.0.0.1:8787", "unknown"),
        ] {
            assert_eq!(
                site_id(&deployment, text).as_deref(),
                Ok(expected),
                "{text}"
            );
        }
        assert_eq!(
            site_id(&deployment, "a, b").err(),
            Some(HostError::Malformed)
        );
        assert!(matches!(deployment.site(None), Err(HostError::Missing)));
        // Without APPS every host, even a missing one, is the only app's.
        let mut vars = HashMap::new();
        vars.insert("SIGNING_KEY".to_owned(), key());
        let single = Deployment::from_lookup(|name| vars.get(name).cloned()).expect("single");
        assert!(matches!(single.site(None), Ok(Site::Single(_))));
        assert!(matches!(single.site(Some("x, y")), Ok(Site::Single(_))));
    }

    #[test]
    fn an_exact_host_wins_over_a_wildcard_and_the_auth_host_over_both() {
        let deployment = deployment(
            r#"[{"id": "any", "hosts": ["*.example.com"], "origin": "http://127.0.0.1:9001"},
                {"id": "wiki", "hosts": ["wiki.example.com"], "origin": "http://127.0.0.1:9002"}]"#,
            &[],
        )
        .expect("valid");
        assert_eq!(
            site_id(&deployment, "wiki.example.com").as_deref(),
            Ok("wiki")
        );
        assert_eq!(
            site_id(&deployment, "blog.example.com").as_deref(),
            Ok("any")
        );
        assert_eq!(
            site_id(&deployment, "auth.example.com").as_deref(),
            Ok("auth")
        );
    }

    #[test]
    fn every_app_has_its_own_origin_rules_cookie_and_audiences() {
        let deployment = deployment(TWO_APPS, &[]).expect("valid");
        let apps: Vec<&App> = deployment.apps.as_ref().expect("apps").iter().collect();
        let (wiki, tools) = (&apps[0].config, &apps[1].config);
        assert_eq!(wiki.origin.as_deref(), Some("http://127.0.0.1:9001"));
        assert_eq!(tools.origin.as_deref(), Some("http://127.0.0.1:9002"));
        assert_eq!(wiki.session.audience, "edgeauth:wiki");
        assert_eq!(wiki.assertion_audience, "origin:wiki");
        assert_eq!(wiki.cookie_name, "__Host-edgeauth");
        assert_eq!(tools.cookie_name, "__Host-tools");
        assert!(!wiki.bind_assertions && tools.bind_assertions);
        assert!(!wiki.rules.is_empty() && tools.rules.is_empty());
        assert_eq!(deployment.base.cache_slot(), 0);
        // One cache budget, shared by the auth host and both apps.
        assert_eq!(wiki.session_cache_size, 10_000_usize.div_ceil(3));
        assert_eq!(
            wiki.session_cache_bytes * 3,
            crate::token::session_cache::DEFAULT_MAX_BYTES
                - crate::token::session_cache::DEFAULT_MAX_BYTES % 3
        );
        assert_eq!((wiki.cache_slot(), tools.cache_slot()), (1, 2));
        let link = wiki.app.as_ref().expect("link");
        assert_eq!(
            (link.id.as_str(), link.auth_host.name()),
            ("wiki", "auth.example.com")
        );
        // What is not the app's own is the deployment's.
        assert_eq!(wiki.session.issuer, deployment.base.session.issuer);
        assert_eq!(
            wiki.signing_key().kid(),
            deployment.base.signing_key().kid()
        );
        assert_eq!(deployment.configs().count(), 3);
    }

    #[test]
    fn a_handoff_goes_only_to_an_app_on_the_port_it_came_from() {
        let deployment = deployment(TWO_APPS, &[]).expect("valid");
        let apps = deployment.apps.as_ref().expect("apps");
        let here = host("auth.example.com");
        let target = |requested: &str, here: &Host| {
            apps.handoff_target(requested, here)
                .map(|(app, host)| (app.id.clone(), host.authority()))
        };
        assert_eq!(
            target("WIKI.example.com", &here),
            Some(("wiki".into(), "wiki.example.com".into()))
        );
        assert_eq!(
            target("x.tools.example.com", &here),
            Some(("tools".into(), "x.tools.example.com".into()))
        );
        for refused in [
            "evil.example.org",
            "wiki.example.com:8443", // another port than the auth host was reached on
            "auth.example.com",
            "wiki.example.com/evil",
            "wiki.example.com@evil.org",
            "",
        ] {
            assert_eq!(target(refused, &here), None, "{refused}");
        }
        let dev = host("auth.example.com:8787");
        assert_eq!(
            target("wiki.example.com:8787", &dev),
            Some(("wiki".into(), "wiki.example.com:8787".into()))
        );
        assert_eq!(target("wiki.example.com", &dev), None);
    }

    #[test]
    fn ambiguous_or_incomplete_app_lists_are_refused() {
        for (apps, extra, expect) in [
            ("[]", vec![], "1 to"),
            ("{", vec![], "not a list"),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"]}]"#,
                vec![],
                "origin",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o", "extra": 1}]"#,
                vec![],
                "unknown field",
            ),
            (
                r#"[{"id": "A", "hosts": ["a.example.com"], "origin": "http://o"}]"#,
                vec![],
                "id",
            ),
            (
                r#"[{"id": "a", "hosts": [], "origin": "http://o"}]"#,
                vec![],
                "at least one",
            ),
            (
                r#"[{"id": "a", "hosts": ["*.com"], "origin": "http://o"}]"#,
                vec![],
                "hosts",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "ftp://o"}]"#,
                vec![],
                "ORIGIN_URL",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o", "rules": [{"path": "x"}]}]"#,
                vec![],
                "ACCESS_RULES",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o"},
                    {"id": "a", "hosts": ["b.example.com"], "origin": "http://o"}]"#,
                vec![],
                "used twice",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o"},
                    {"id": "b", "hosts": ["A.example.com"], "origin": "http://o"}]"#,
                vec![],
                "listed twice",
            ),
            (
                r#"[{"id": "a", "hosts": ["auth.example.com"], "origin": "http://o"}]"#,
                vec![],
                "AUTH_HOST",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o", "session_audience": "edgeauth"}]"#,
                vec![],
                "audience",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o", "session_audience": "x"},
                    {"id": "b", "hosts": ["b.example.com"], "origin": "http://o", "assertion_audience": "x"}]"#,
                vec![],
                "audience",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o"}]"#,
                vec![("ORIGIN_URL", "http://o")],
                "ORIGIN_URL into them",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o"}]"#,
                vec![("ACCESS_RULES", "[]")],
                "ACCESS_RULES into them",
            ),
            (
                r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o"}]"#,
                vec![("AUTH_HOST", "*.example.com")],
                "AUTH_HOST",
            ),
        ] {
            let err = deployment(apps, &extra).expect_err(expect);
            assert!(err.0.contains(expect), "{expect}: {err}");
        }
        let mut vars = HashMap::new();
        vars.insert("SIGNING_KEY".to_owned(), key());
        vars.insert("AUTH_HOST".to_owned(), "auth.example.com".to_owned());
        let err = Deployment::from_lookup(|name| vars.get(name).cloned()).expect_err("no APPS");
        assert!(err.0.contains("AUTH_HOST is set without APPS"), "{err}");
        vars.remove("AUTH_HOST");
        vars.insert(
            "APPS".into(),
            r#"[{"id": "a", "hosts": ["a.example.com"], "origin": "http://o"}]"#.into(),
        );
        let err =
            Deployment::from_lookup(|name| vars.get(name).cloned()).expect_err("no AUTH_HOST");
        assert!(err.0.contains("AUTH_HOST"), "{err}");
    }
}
