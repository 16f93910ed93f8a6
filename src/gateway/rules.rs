//! Access rules: which paths are public, which need a session, and what the session must be.
//!
//! Configured as a JSON array (the `ACCESS_RULES` var):
//! `[{"path": "/admin/*", "methods": ["POST"], "roles": ["admin"]}, {"path": "/", "access": "public"}]`.
//! - `path` is exact (`/login`) or a prefix ending in `/*` (`/admin/*` covers `/admin` and
//!   everything below it; `/*` covers everything).
//! - `methods` (optional) limits the rule to those methods; `GET` also covers `HEAD`.
//! - `effect`: `allow` (the default) or `deny`.
//! - An allow rule says `access` (`"public"` or `"authenticated"`), or conditions the session
//!   must all meet ([`Conditions`]: `roles`, `users`, `emails`, `email_domains`, `claims`,
//!   `login`, `idp`, each met by any one of its values, and `max_auth_age_secs`). It may let
//!   CORS preflights through unauthenticated (`"preflight": "pass"`), and bind the assertion
//!   the origin receives to the request (`"assertion": "request"`).
//! - A deny rule refuses (403) the requests it matches whose session meets its conditions; one
//!   without conditions refuses everyone.
//!
//! The most specific rule decides, whatever the order: exact before prefix, longer prefix before
//! shorter, a rule with `methods` before one without. A deny rule wins over an allow rule of the
//! same specificity, and a more specific allow rule over a less specific deny rule. Two allow
//! rules that could match the same request at the same specificity are a configuration error
//! (compared ignoring case). Unmatched requests need a session.
//!
//! A request must pass under every way an origin may read its canonical path ([`Requirement`]):
//! decoded as it is and as Windows trims it ([`crate::gateway::path::readings`]); each as spelled and
//! with ASCII case folded (Express, ASP.NET Core and case-insensitive file systems ignore case;
//! with `PATHS_CASE_INSENSITIVE` only the folded reading counts); an exact path also covers
//! itself with a trailing `/` (Express, Spring); and a last segment `name.ext` must also pass the
//! rule that names `name` itself, if one does (Rails' `(.:format)`, Spring's suffix matching
//! route `/admin.json` to `/admin`).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::token::claims::Claims;

/// What an allow rule lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a valid session, if present, is still forwarded as identity.
    Public,
    /// Any valid session.
    Authenticated,
    /// A valid session holding at least one of these roles.
    AnyRole(Vec<String>),
    /// A valid session meeting every condition (roles among them).
    Conditions(Box<Conditions>),
}

/// What a session must be, beyond valid: each condition that is set must hold, and a list is
/// met by any one of its values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions {
    /// One of these roles.
    pub roles: Option<Vec<String>>,
    /// One of these users (`sub`, exactly).
    pub users: Option<Vec<String>>,
    /// One of these e-mail addresses (ASCII case ignored).
    pub emails: Option<Vec<String>>,
    /// An e-mail address in one of these domains (lowercase).
    pub email_domains: Option<Vec<String>>,
    /// Claims of the session, each holding one of its values (a string claim equal to one, an
    /// array claim containing one).
    pub claims: Vec<ClaimCondition>,
    /// One of these ways of logging in ([`LOGIN_METHODS`]).
    pub login: Option<Vec<String>>,
    /// One of these identity providers or trusted issuers (the session's `idp`).
    pub idp: Option<Vec<String>>,
    /// The login at most this old (`now - auth_time`); an older session is sent to log in
    /// again rather than refused.
    pub max_auth_age_secs: Option<u64>,
}

/// `{"claim": "groups", "any_of": ["eng", "ops"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    /// The claim's name.
    pub claim: String,
    /// The values, any one of which meets it.
    pub any_of: Vec<String>,
}

/// The values of the `login` condition, and how a session says each: its `amr` (password,
/// single sign-on, passkey) or its `machine` claim ([`crate::machine`]).
pub const LOGIN_METHODS: [&str; 5] = ["password", "sso", "passkey", "issuer", "service_token"];

/// The least `max_auth_age_secs`: less would send users to log in over and over.
pub const MIN_AUTH_AGE_SECS: u64 = 60;

/// Whether a rule lets a request through or refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Lets through what its access admits.
    Allow,
    /// Refuses what its conditions match.
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// The path without the trailing `/*`; empty for `/*`.
    Prefix(String),
}

/// One configured rule. Two rules are equal when they say the same, wherever they are listed.
#[derive(Debug, Clone, Eq)]
pub struct AccessRule {
    /// Its place in `ACCESS_RULES`, for explanations.
    pub index: usize,
    pattern: Pattern,
    methods: Option<Vec<String>>,
    effect: Effect,
    /// An allow rule's access; a deny rule's conditions, as [`Access::Conditions`] (or
    /// [`Access::Authenticated`] for none: it then refuses everyone).
    access: Access,
    preflight_passes: bool,
    /// `"assertion": "request"`: the assertion for a request this rule decides is bound to it.
    binds_assertion: bool,
}

impl PartialEq for AccessRule {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.pattern,
            &self.methods,
            self.effect,
            &self.access,
            self.preflight_passes,
            self.binds_assertion,
        ) == (
            &other.pattern,
            &other.methods,
            other.effect,
            &other.access,
            other.preflight_passes,
            other.binds_assertion,
        )
    }
}

/// The parsed, conflict-free rule set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessRules {
    rules: Vec<AccessRule>,
    case_insensitive: bool,
}

/// The access that applies when no rule matches.
pub static DEFAULT_ACCESS: Access = Access::Authenticated;

/// Who is asking, as the rules see it: a verified session's claims ([`Subject::of`]), or the
/// identity `edgeauth check-policy` is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'s> {
    /// `sub`.
    pub sub: &'s str,
    /// The roles.
    pub roles: &'s [String],
    /// The e-mail address, if any.
    pub email: Option<&'s str>,
    /// Every other claim (`groups`, `amr`, `idp`, …).
    pub claims: &'s Map<String, Value>,
    /// When the user last proved who they are ([`crate::login::LOGIN_TIME_CLAIM`]; for a
    /// machine credential, when it was checked or issued); `None`: not known, so no
    /// `max_auth_age_secs` is met.
    pub login_time: Option<u64>,
}

impl<'s> Subject<'s> {
    /// The subject of a session's claims.
    pub fn of(claims: &'s Claims) -> Self {
        Subject {
            sub: &claims.sub,
            roles: &claims.roles,
            email: claims.email.as_deref(),
            claims: &claims.extra,
            login_time: if claims.extra.contains_key("machine") {
                Some(claims.auth_time)
            } else {
                claims
                    .extra
                    .get(crate::login::LOGIN_TIME_CLAIM)
                    .and_then(Value::as_u64)
            },
        }
    }

    /// How the session was won, one of [`LOGIN_METHODS`]: the machine credential, else the
    /// first `amr` value we mint (`pwd`, `fed`, `hwk`).
    pub fn login_method(&self) -> Option<&'static str> {
        match self.claims.get("machine").and_then(Value::as_str) {
            Some("issuer") => return Some("issuer"),
            Some("service_token") => return Some("service_token"),
            Some(_) => return None,
            None => {}
        }
        let amr = self.claims.get("amr")?.as_array()?;
        amr.iter().find_map(|value| match value.as_str()? {
            "pwd" => Some("password"),
            "fed" => Some("sso"),
            "hwk" => Some("passkey"),
            _ => None,
        })
    }

    fn idp(&self) -> Option<&str> {
        self.claims.get("idp").and_then(Value::as_str)
    }
}

/// What the rules say of one request, for the subject presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It may pass.
    Pass,
    /// It needs a (valid) session.
    NeedsSession,
    /// The session's login is older than a rule's `max_auth_age_secs`: log in again.
    LoginTooOld,
    /// Refused whatever session comes (403); the condition that failed, for the log.
    Refused(&'static str),
    /// A CORS preflight its rule lets through: anonymously, credentials withheld.
    Preflight,
}

/// How a reading was decided: the rule (`None`: the default) and the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The deciding rule's place in `ACCESS_RULES`, if a rule decided.
    pub rule: Option<usize>,
    /// What it said.
    pub verdict: Verdict,
}

/// One reading of the path: the allow rule that decides it (`None`: [`DEFAULT_ACCESS`]) and the
/// deny rules as specific or more.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading<'a> {
    allow: Option<&'a AccessRule>,
    denies: Vec<&'a AccessRule>,
}

/// What a request needs: every reading of its path must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement<'a> {
    readings: Vec<Reading<'a>>,
}

impl<'a> Requirement<'a> {
    /// Whether every reading is public and no deny rule applies: anyone passes.
    pub fn is_public(&self) -> bool {
        self.readings
            .iter()
            .all(|reading| reading.denies.is_empty() && reading.access() == &Access::Public)
    }

    /// The verdict for `subject` (`None`: no valid session) at `now`; `preflight`: the request
    /// is a CORS preflight. The strictest reading decides: refused, then needs a session, then
    /// log in again.
    pub fn evaluate(&self, subject: Option<&Subject>, now: u64, preflight: bool) -> Verdict {
        self.explain(subject, now, preflight).verdict
    }

    /// [`Self::evaluate`], with the rule that decided.
    pub fn explain(&self, subject: Option<&Subject>, now: u64, preflight: bool) -> Decision {
        let rank = |verdict: &Verdict| match verdict {
            Verdict::Refused(_) => 4,
            Verdict::NeedsSession => 3,
            Verdict::LoginTooOld => 2,
            Verdict::Preflight => 1,
            Verdict::Pass => 0,
        };
        self.readings
            .iter()
            .map(|reading| reading.decide(subject, now, preflight))
            .max_by_key(|decision| rank(&decision.verdict))
            .unwrap_or(Decision {
                rule: None,
                verdict: DEFAULT_ACCESS.verdict(subject, now),
            })
    }

    /// Adds `other`'s readings: the request must meet both (a `Destination` path).
    pub fn require(&mut self, other: Requirement<'a>) {
        for reading in other.readings {
            self.add(reading);
        }
    }

    /// Whether the allow rule deciding any reading binds the assertion to the request
    /// (`"assertion": "request"`).
    pub fn binds_assertion(&self) -> bool {
        self.readings
            .iter()
            .any(|reading| reading.allow.is_some_and(|rule| rule.binds_assertion))
    }

    /// The allow rules' access of each distinct reading.
    pub fn accesses(&self) -> Vec<&'a Access> {
        self.readings.iter().map(Reading::access).collect()
    }

    fn add(&mut self, reading: Reading<'a>) {
        if !self.readings.contains(&reading) {
            self.readings.push(reading);
        }
    }
}

/// A requirement equals an access when every reading has that access and no deny rule.
impl PartialEq<&Access> for Requirement<'_> {
    fn eq(&self, other: &&Access) -> bool {
        self.readings
            .iter()
            .all(|reading| reading.denies.is_empty() && reading.access() == *other)
    }
}

impl<'a> Reading<'a> {
    fn access(&self) -> &'a Access {
        self.allow.map_or(&DEFAULT_ACCESS, |rule| &rule.access)
    }

    fn decide(&self, subject: Option<&Subject>, now: u64, preflight: bool) -> Decision {
        for deny in &self.denies {
            let matched = match (&deny.access, subject) {
                (Access::Conditions(conditions), Some(subject)) => {
                    conditions.unmet(subject, now).is_none()
                }
                (Access::Conditions(_), None) => false,
                _ => true,
            };
            if matched {
                return Decision {
                    rule: Some(deny.index),
                    verdict: Verdict::Refused("denied_by_rule"),
                };
            }
        }
        let rule = self.allow.map(|rule| rule.index);
        if preflight && self.allow.is_some_and(|rule| rule.preflight_passes) {
            return Decision {
                rule,
                verdict: Verdict::Preflight,
            };
        }
        Decision {
            rule,
            verdict: self.access().verdict(subject, now),
        }
    }
}

impl Access {
    fn verdict(&self, subject: Option<&Subject>, now: u64) -> Verdict {
        match (self, subject) {
            (Access::Public, _) => Verdict::Pass,
            (_, None) => Verdict::NeedsSession,
            (Access::Authenticated, Some(_)) => Verdict::Pass,
            (Access::AnyRole(roles), Some(subject)) => {
                if roles.iter().any(|role| subject.roles.contains(role)) {
                    Verdict::Pass
                } else {
                    Verdict::Refused("missing_role")
                }
            }
            (Access::Conditions(conditions), Some(subject)) => {
                match conditions.unmet(subject, now) {
                    None => Verdict::Pass,
                    Some("login_too_old") => Verdict::LoginTooOld,
                    Some(why) => Verdict::Refused(why),
                }
            }
        }
    }
}

impl Conditions {
    /// The first condition `subject` does not meet at `now` (the login's age last, so that a
    /// session refused anyway is not sent to log in again), or `None`.
    pub fn unmet(&self, subject: &Subject, now: u64) -> Option<&'static str> {
        let any = |list: &Option<Vec<String>>, holds: &dyn Fn(&String) -> bool| {
            list.as_ref().is_none_or(|list| list.iter().any(holds))
        };
        if !any(&self.roles, &|role| subject.roles.contains(role)) {
            return Some("missing_role");
        }
        if !any(&self.users, &|user| user == subject.sub) {
            return Some("user_not_allowed");
        }
        if !any(&self.emails, &|email| {
            subject.email.is_some_and(|e| e.eq_ignore_ascii_case(email))
        }) {
            return Some("email_not_allowed");
        }
        let domain = subject
            .email
            .and_then(|email| email.rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase());
        if !any(&self.email_domains, &|d| domain.as_deref() == Some(d)) {
            return Some("email_domain_not_allowed");
        }
        for condition in &self.claims {
            let held = match subject.claims.get(&condition.claim) {
                // An access token's scopes, one space-separated string.
                Some(Value::String(value)) if condition.claim == "scope" => value
                    .split(' ')
                    .any(|scope| condition.any_of.iter().any(|v| v == scope)),
                Some(Value::String(value)) => condition.any_of.contains(value),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|value| condition.any_of.iter().any(|v| v == value)),
                _ => false,
            };
            if !held {
                return Some("claim_not_allowed");
            }
        }
        let login = subject.login_method();
        if !any(&self.login, &|method| login == Some(method.as_str())) {
            return Some("login_method_not_allowed");
        }
        if !any(&self.idp, &|idp| subject.idp() == Some(idp.as_str())) {
            return Some("idp_not_allowed");
        }
        if let Some(max) = self.max_auth_age_secs {
            if subject
                .login_time
                .is_none_or(|at| now.saturating_sub(at) > max)
            {
                return Some("login_too_old");
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self == &Conditions::default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    path: String,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    effect: Option<String>,
    #[serde(default)]
    access: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    emails: Option<Vec<String>>,
    #[serde(default)]
    email_domains: Option<Vec<String>>,
    #[serde(default)]
    claims: Vec<ClaimCondition>,
    #[serde(default)]
    login: Option<Vec<String>>,
    #[serde(default)]
    idp: Option<Vec<String>>,
    #[serde(default)]
    max_auth_age_secs: Option<u64>,
    #[serde(default)]
    preflight: Option<String>,
    #[serde(default)]
    assertion: Option<String>,
}

impl AccessRules {
    /// Parses and validates the JSON rule list. `case_insensitive` matches paths ignoring ASCII
    /// case (for origins that do).
    pub fn from_json(text: &str, case_insensitive: bool) -> Result<Self, String> {
        let parsed: Vec<RuleJson> = match crate::encoding::strict_json::parse_array(text.as_bytes())
        {
            Ok(items) => serde_json::from_value(serde_json::Value::Array(items))
                .map_err(|e| format!("ACCESS_RULES: {e}"))?,
            Err(_) => return Err("ACCESS_RULES is not a JSON array without duplicate keys".into()),
        };
        let mut rules = Vec::with_capacity(parsed.len());
        for (index, rule) in parsed.into_iter().enumerate() {
            let rule = AccessRule::from_json(index, rule)
                .map_err(|e| format!("ACCESS_RULES[{index}]: {e}"))?;
            if let Some(other) = rules
                .iter()
                .position(|r: &AccessRule| r.conflicts_with(&rule))
            {
                return Err(format!(
                    "ACCESS_RULES[{index}] conflicts with ACCESS_RULES[{other}]: same path and overlapping methods"
                ));
            }
            rules.push(rule);
        }
        Ok(AccessRules {
            rules,
            case_insensitive,
        })
    }

    /// `ACCESS_RULES` (default none: every path needs a session) and `PATHS_CASE_INSENSITIVE`.
    pub fn from_vars(vars: &crate::config::Vars) -> Result<Self, crate::config::ConfigError> {
        let case_insensitive = vars.flag("PATHS_CASE_INSENSITIVE", false)?;
        AccessRules::from_json(&vars.text("ACCESS_RULES", "[]"), case_insensitive)
            .map_err(crate::config::ConfigError)
    }

    /// What `method` on the canonical `path` ([`crate::gateway::path::normalize`]) needs.
    pub fn access_for(&self, method: &str, path: &str) -> Requirement<'_> {
        let mut requirement = Requirement {
            readings: Vec::with_capacity(2),
        };
        let folds: &[bool] = if self.case_insensitive {
            &[true]
        } else {
            &[false, true]
        };
        for reading in crate::gateway::path::readings(path) {
            for &fold in folds {
                requirement.add(self.reading(|rule| rule.matches(method, &reading, fold)));
                // An exact rule for the reading itself is the operator's word on it.
                if self.rules.iter().any(|rule| {
                    rule.effect == Effect::Allow && rule.is_exact_for(method, &reading, fold)
                }) {
                    continue;
                }
                for alias in aliases(&reading) {
                    let named = self.reading(|rule| rule.names(method, alias, fold));
                    if named.allow.is_some() || !named.denies.is_empty() {
                        requirement.add(named);
                    }
                }
            }
        }
        requirement
    }

    /// The reading the rules that `matches` give: the most specific allow rule, and every deny
    /// rule at least as specific.
    fn reading(&self, matches: impl Fn(&AccessRule) -> bool) -> Reading<'_> {
        let allow = self
            .rules
            .iter()
            .filter(|rule| rule.effect == Effect::Allow && matches(rule))
            .max_by_key(|rule| rule.specificity());
        // Only the path counts here: an allow rule for some methods of a deny rule's path does
        // not lift it.
        let floor = allow.map(AccessRule::path_specificity);
        let denies = self
            .rules
            .iter()
            .filter(|rule| rule.effect == Effect::Deny && matches(rule))
            .filter(|rule| floor.is_none_or(|floor| rule.path_specificity() >= floor))
            .collect();
        Reading { allow, denies }
    }

    /// Every claim a `claims` condition names, with the rule's index.
    pub fn claim_names(&self) -> impl Iterator<Item = (usize, &str)> {
        self.rules.iter().flat_map(|rule| {
            let conditions: &[ClaimCondition] = match &rule.access {
                Access::Conditions(conditions) => &conditions.claims,
                _ => &[],
            };
            conditions
                .iter()
                .map(move |condition| (rule.index, condition.claim.as_str()))
        })
    }

    /// Number of configured rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rules are configured (everything then needs a session).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl AccessRule {
    fn from_json(index: usize, rule: RuleJson) -> Result<Self, String> {
        let path = rule.path;
        let prefix = path.strip_suffix("/*");
        let literal = match prefix {
            Some("") => "/",
            Some(prefix) => prefix,
            None => path.as_str(),
        };
        if literal.contains(['*', ';', '?', '#']) {
            return Err(format!(
                "path {path:?}: only a final \"/*\" wildcard is allowed"
            ));
        }
        if crate::gateway::path::normalize(literal, crate::gateway::path::Parameters::Refuse)
            .as_deref()
            != Ok(literal)
            || (prefix.is_some() && literal.len() > 1 && literal.ends_with('/'))
        {
            return Err(format!("path {path:?} is not a normalized absolute path"));
        }
        let decoded = crate::gateway::path::decode(match prefix {
            Some(prefix) => prefix,
            None => without_trailing_slash(&path),
        });
        if !decoded.is_ascii() {
            // Origins fold non-ASCII case in ways ASCII folding cannot follow (`É` and `é`).
            return Err(format!("path {path:?}: only ASCII characters"));
        }
        let pattern = match prefix {
            Some(_) => Pattern::Prefix(decoded),
            None => Pattern::Exact(decoded),
        };
        let methods = match rule.methods {
            None => None,
            Some(methods) if methods.is_empty() => return Err("\"methods\" is empty".into()),
            Some(methods) => {
                let mut upper = Vec::with_capacity(methods.len());
                for method in methods {
                    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(format!("method {method:?} is not an HTTP method"));
                    }
                    upper.push(method.to_ascii_uppercase());
                }
                if upper.iter().any(|m| m == "GET") && !upper.iter().any(|m| m == "HEAD") {
                    upper.push("HEAD".into());
                }
                Some(upper)
            }
        };
        let effect = match rule.effect.as_deref() {
            None | Some("allow") => Effect::Allow,
            Some("deny") => Effect::Deny,
            Some(other) => return Err(format!("effect {other:?} is not \"allow\" or \"deny\"")),
        };
        let list = |name: &str, list: Option<Vec<String>>| -> Result<Option<Vec<String>>, String> {
            match list {
                Some(items) if items.is_empty() || items.iter().any(String::is_empty) => {
                    Err(format!("\"{name}\" must be a non-empty list of names"))
                }
                other => Ok(other),
            }
        };
        let login = list("login", rule.login)?;
        if let Some(bad) = login
            .iter()
            .flatten()
            .find(|method| !LOGIN_METHODS.contains(&method.as_str()))
        {
            return Err(format!(
                "login {bad:?} is not one of {}",
                LOGIN_METHODS.join(", ")
            ));
        }
        for condition in &rule.claims {
            if condition.claim.is_empty() || condition.any_of.is_empty() {
                return Err("a claim condition needs a claim and a non-empty any_of".into());
            }
        }
        let conditions = Conditions {
            roles: list("roles", rule.roles)?,
            users: list("users", rule.users)?,
            emails: list("emails", rule.emails)?,
            email_domains: list("email_domains", rule.email_domains)?
                .map(|domains| domains.iter().map(|d| d.to_ascii_lowercase()).collect()),
            claims: rule.claims,
            login,
            idp: list("idp", rule.idp)?,
            max_auth_age_secs: rule.max_auth_age_secs,
        };
        if conditions
            .max_auth_age_secs
            .is_some_and(|max| max < MIN_AUTH_AGE_SECS)
        {
            return Err(format!(
                "max_auth_age_secs must be at least {MIN_AUTH_AGE_SECS}: less would send users to log in over and over"
            ));
        }
        let preflight_passes = match rule.preflight.as_deref() {
            None | Some("authenticate") => false,
            Some("pass")
                if methods
                    .as_ref()
                    .is_some_and(|methods| !methods.iter().any(|m| m == "OPTIONS")) =>
            {
                return Err("\"preflight\": \"pass\" on a rule whose methods leave out OPTIONS never applies".into())
            }
            Some("pass") => true,
            Some(other) => {
                return Err(format!(
                    "preflight {other:?} is not \"pass\" or \"authenticate\""
                ))
            }
        };
        let binds_assertion = match rule.assertion.as_deref() {
            None | Some("session") => false,
            Some("request") if effect == Effect::Deny => {
                return Err("a deny rule forwards nothing: no \"assertion\"".into())
            }
            Some("request") => true,
            Some(other) => {
                return Err(format!(
                    "assertion {other:?} is not \"request\" or \"session\""
                ))
            }
        };
        let access = match (effect, rule.access.as_deref()) {
            (Effect::Deny, Some(_)) => {
                return Err("a deny rule has conditions, not \"access\"".into())
            }
            (Effect::Deny, None) if preflight_passes || conditions.max_auth_age_secs.is_some() => {
                return Err("a deny rule has no \"preflight\" or \"max_auth_age_secs\"".into())
            }
            (Effect::Deny, None) if conditions.is_empty() => Access::Authenticated,
            (Effect::Deny, None) => Access::Conditions(Box::new(conditions)),
            (Effect::Allow, Some("public")) if conditions.is_empty() => Access::Public,
            (Effect::Allow, Some("public")) => {
                return Err("a public rule has no conditions: it admits anyone".into())
            }
            (Effect::Allow, Some("authenticated")) | (Effect::Allow, None)
                if conditions.is_empty() =>
            {
                if rule.access.is_none() {
                    return Err("give \"access\" or at least one condition".into());
                }
                Access::Authenticated
            }
            (Effect::Allow, Some("authenticated")) | (Effect::Allow, None) => match conditions {
                Conditions {
                    roles: Some(roles),
                    users: None,
                    emails: None,
                    email_domains: None,
                    ref claims,
                    login: None,
                    idp: None,
                    max_auth_age_secs: None,
                } if claims.is_empty() => Access::AnyRole(roles),
                conditions => Access::Conditions(Box::new(conditions)),
            },
            (Effect::Allow, Some(other)) => {
                return Err(format!(
                    "access {other:?} is not \"public\" or \"authenticated\""
                ))
            }
        };
        Ok(AccessRule {
            index,
            pattern,
            methods,
            effect,
            access,
            preflight_passes,
            binds_assertion,
        })
    }

    /// Whether the rule covers `method` on the decoded `path`, comparing ASCII case only when
    /// `fold` is false.
    fn matches(&self, method: &str, path: &str, fold: bool) -> bool {
        let path_matches = match &self.pattern {
            Pattern::Exact(exact) => same(without_trailing_slash(path), exact, fold),
            Pattern::Prefix(prefix) => strip_prefix(path, prefix, fold)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        };
        path_matches && self.covers(method)
    }

    /// Whether the rule names exactly the decoded `path` (an exact rule for it, or a prefix rule
    /// rooted at it): the rule an origin applies to `path.ext` when it routes formats.
    fn names(&self, method: &str, path: &str, fold: bool) -> bool {
        let path = without_trailing_slash(path);
        let named = match &self.pattern {
            Pattern::Exact(exact) => same(path, exact, fold),
            Pattern::Prefix(prefix) => !prefix.is_empty() && same(path, prefix, fold),
        };
        named && self.covers(method)
    }

    fn is_exact_for(&self, method: &str, path: &str, fold: bool) -> bool {
        matches!(&self.pattern, Pattern::Exact(_)) && self.matches(method, path, fold)
    }

    fn covers(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }

    /// [`Self::specificity`] of the path alone.
    fn path_specificity(&self) -> (bool, usize) {
        let (exact, length, _) = self.specificity();
        (exact, length)
    }

    /// Larger is more specific: exact over prefix, longer prefix, then method-specific.
    fn specificity(&self) -> (bool, usize, bool) {
        match &self.pattern {
            Pattern::Exact(p) => (true, p.len(), self.methods.is_some()),
            Pattern::Prefix(p) => (false, p.len(), self.methods.is_some()),
        }
    }

    /// Both allow rules could decide the same request at the same specificity (patterns
    /// compared ignoring case, as the folded reading does). Deny rules never conflict: each
    /// applies.
    fn conflicts_with(&self, other: &AccessRule) -> bool {
        if self.effect == Effect::Deny || other.effect == Effect::Deny {
            return false;
        }
        let same_pattern = match (&self.pattern, &other.pattern) {
            (Pattern::Exact(a), Pattern::Exact(b)) | (Pattern::Prefix(a), Pattern::Prefix(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            _ => false,
        };
        same_pattern
            && match (&self.methods, &other.methods) {
                (None, None) => true,
                (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
                _ => false,
            }
    }
}

fn same(a: &str, b: &str, fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn strip_prefix<'a>(path: &'a str, prefix: &str, fold: bool) -> Option<&'a str> {
    let head = path.get(..prefix.len())?;
    same(head, prefix, fold).then(|| &path[prefix.len()..])
}

/// The paths an origin may serve `path` as, besides itself: the last segment cut at each `.`
/// after its first character (`/admin.json` → `/admin`: Rails' `(.:format)`, Spring's suffix
/// matching), and every ancestor whose last segment holds such a `.` (`/admin.php/x` →
/// `/admin.php`: PHP's and ASP.NET's PATH_INFO run the script).
fn aliases(path: &str) -> Vec<&str> {
    let path = without_trailing_slash(path);
    let has_inner_dot = |segment: &str| segment.bytes().skip(1).any(|b| b == b'.');
    let mut aliases = Vec::new();
    let mut start = 1;
    while let Some(slash) = path[start..].find('/').map(|i| start + i) {
        if has_inner_dot(&path[start..slash]) {
            aliases.push(&path[..slash]);
        }
        start = slash + 1;
    }
    for (dot, _) in path[start..].match_indices('.').filter(|&(dot, _)| dot > 0) {
        aliases.push(&path[..start + dot]);
    }
    aliases
}

/// `path` without one trailing `/`, unless it is the root.
fn without_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"[
        {"path": "/", "access": "public"},
        {"path": "/public/*", "access": "public"},
        {"path": "/admin/*", "roles": ["admin"]},
        {"path": "/admin/status", "access": "authenticated"},
        {"path": "/reports/*", "access": "authenticated"},
        {"path": "/reports/*", "methods": ["post", "DELETE"], "roles": ["reports:write", "admin"]},
        {"path": "/api/*", "methods": ["GET"], "access": "public"}
    ]"#;

    fn rules() -> AccessRules {
        AccessRules::from_json(RULES, false).expect("valid rules")
    }

    /// Whether a session holding `roles` passes `required`.
    fn met_by(required: &Requirement, roles: &[&str]) -> bool {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let claims = Map::new();
        let subject = Subject {
            sub: "u",
            roles: &roles,
            email: None,
            claims: &claims,
            login_time: Some(0),
        };
        required.evaluate(Some(&subject), 0, false) == Verdict::Pass
    }

    fn admin() -> Access {
        Access::AnyRole(vec!["admin".into()])
    }

    #[test]
    fn most_specific_rule_wins_whatever_the_order() {
        let rules = rules();
        assert_eq!(rules.access_for("GET", "/"), &Access::Public);
        assert_eq!(rules.access_for("GET", "/public/x/y"), &Access::Public);
        assert_eq!(rules.access_for("GET", "/public"), &Access::Public);
        assert_eq!(rules.access_for("GET", "/admin"), &admin());
        assert_eq!(rules.access_for("GET", "/admin/users"), &admin());
        assert_eq!(
            rules.access_for("GET", "/admin/status"),
            &Access::Authenticated
        );
        assert_eq!(
            rules.access_for("GET", "/reports/1"),
            &Access::Authenticated
        );
        let writers = Access::AnyRole(vec!["reports:write".into(), "admin".into()]);
        assert_eq!(rules.access_for("POST", "/reports/1"), &writers);
        assert_eq!(rules.access_for("delete", "/reports/1"), &writers);
        assert_eq!(
            rules.access_for("HEAD", "/api/x"),
            &Access::Public,
            "GET covers HEAD"
        );
        assert_eq!(rules.access_for("POST", "/api/x"), &Access::Authenticated);
        let mut reversed: Vec<serde_json::Value> = serde_json::from_str(RULES).expect("json");
        reversed.reverse();
        let reversed =
            AccessRules::from_json(&serde_json::to_string(&reversed).expect("json"), false)
                .expect("valid");
        for (method, path) in [
            ("GET", "/admin/status"),
            ("POST", "/reports/1"),
            ("GET", "/x"),
        ] {
            assert_eq!(
                reversed.access_for(method, path),
                rules.access_for(method, path)
            );
        }
    }

    #[test]
    fn unmatched_paths_need_a_session() {
        let rules = rules();
        assert_eq!(rules.access_for("GET", "/private"), &Access::Authenticated);
        assert_eq!(
            rules.access_for("GET", "/publicity"),
            &Access::Authenticated,
            "prefix is per segment"
        );
        assert_eq!(rules.access_for("GET", "/adminx"), &Access::Authenticated);
        assert_eq!(
            AccessRules::default().access_for("GET", "/"),
            &Access::Authenticated
        );
    }

    #[test]
    fn exact_paths_cover_their_trailing_slash() {
        let rules = rules();
        assert_eq!(
            rules.access_for("GET", "/admin/status/"),
            &Access::Authenticated
        );
        let exact = AccessRules::from_json(
            r#"[{"path": "/", "access": "public"}, {"path": "/billing", "roles": ["billing"]}]"#,
            false,
        )
        .expect("valid");
        let billing = Access::AnyRole(vec!["billing".into()]);
        assert_eq!(exact.access_for("GET", "/billing"), &billing);
        assert_eq!(exact.access_for("GET", "/billing/"), &billing);
        assert_eq!(
            exact.access_for("GET", "/billing/x"),
            &Access::Authenticated
        );
        assert_eq!(exact.access_for("GET", "/"), &Access::Public);
        assert!(
            AccessRules::from_json(
                r#"[{"path": "/a", "access": "public"}, {"path": "/a/", "roles": ["x"]}]"#,
                false
            )
            .is_err(),
            "/a and /a/ are one path"
        );
    }

    #[test]
    fn every_case_reading_must_pass() {
        let rules = rules();
        // As spelled /ADMIN is unmatched (a session); folded it is /admin (the role): both count.
        let required = rules.access_for("GET", "/ADMIN");
        assert_eq!(required.accesses(), [&Access::Authenticated, &admin()]);
        assert!(!met_by(&required, &["user"]));
        assert!(met_by(&required, &["admin"]));
        // Behind a public catch-all, a case trick is no way around the role.
        let catch_all = AccessRules::from_json(
            r#"[{"path": "/*", "access": "public"}, {"path": "/admin/*", "roles": ["admin"]}]"#,
            false,
        )
        .expect("valid");
        let tricked = catch_all.access_for("GET", "/ADMIN/users");
        assert!(!tricked.is_public() && !met_by(&tricked, &[]));
        assert!(met_by(&tricked, &["admin"]));
        assert_eq!(catch_all.access_for("GET", "/Public/x"), &Access::Public);
        // PATHS_CASE_INSENSITIVE: only the folded reading.
        let folded = AccessRules::from_json(RULES, true).expect("valid");
        assert_eq!(folded.access_for("GET", "/ADMIN/Users"), &admin());
        assert_eq!(folded.access_for("GET", "/PUBLIC/x"), &Access::Public);
    }

    #[test]
    fn windows_readings_must_pass_too() {
        let catch_all = AccessRules::from_json(
            r#"[{"path": "/*", "access": "public"}, {"path": "/admin/*", "roles": ["admin"]}]"#,
            false,
        )
        .expect("valid");
        for path in [
            "/admin.",
            "/admin%20/users",
            "/admin::$DATA",
            "/admin.%20./x",
        ] {
            let required = catch_all.access_for("GET", path);
            assert!(!required.is_public(), "{path}");
            assert!(required.accesses().contains(&&admin()), "{path}");
        }
        assert_eq!(catch_all.access_for("GET", "/wiki/St."), &Access::Public);
    }

    #[test]
    fn a_format_suffix_needs_what_the_named_path_needs() {
        let rules = AccessRules::from_json(
            r#"[
                {"path": "/*", "access": "public"},
                {"path": "/admin/*", "roles": ["admin"]},
                {"path": "/account", "access": "authenticated"},
                {"path": "/account.css", "access": "public"},
                {"path": "/robots.txt", "access": "public"}
            ]"#,
            false,
        )
        .expect("valid");
        for path in [
            "/admin.json",
            "/admin.tar.gz",
            "/ADMIN.json",
            "/admin.json/",
        ] {
            assert!(
                rules.access_for("GET", path).accesses().contains(&&admin()),
                "{path}"
            );
        }
        assert!(!rules.access_for("GET", "/account.json").is_public());
        assert!(!rules.access_for("GET", "/account.v2.json").is_public());
        // An exact rule for the full name is the operator's word on it.
        assert_eq!(rules.access_for("GET", "/account.css"), &Access::Public);
        // Only a rule that names the cut path counts: neither the catch-all nor an unmatched
        // `/robots` makes robots.txt need anything.
        assert_eq!(rules.access_for("GET", "/robots.txt"), &Access::Public);
        assert_eq!(rules.access_for("GET", "/admin/x.json"), &admin());
        assert_eq!(rules.access_for("GET", "/.well-known/x"), &Access::Public);
        let strict = AccessRules::from_json(
            r#"[{"path": "/*", "access": "authenticated"}, {"path": "/robots.txt", "access": "public"}]"#,
            false,
        )
        .expect("valid");
        assert_eq!(strict.access_for("GET", "/robots.txt"), &Access::Public);
        let export = AccessRules::from_json(
            r#"[{"path": "/*", "access": "public"}, {"path": "/export.v2", "roles": ["x"]}]"#,
            false,
        )
        .expect("valid");
        assert!(!export.access_for("GET", "/export.v2.json").is_public());
    }

    #[test]
    fn a_script_path_needs_what_the_script_needs() {
        let rules = AccessRules::from_json(
            r#"[
                {"path": "/*", "access": "public"},
                {"path": "/admin.php", "roles": ["admin"]},
                {"path": "/App/Admin.aspx", "roles": ["admin"]},
                {"path": "/admin.php/help", "access": "public"}
            ]"#,
            false,
        )
        .expect("valid");
        for path in [
            "/admin.php/x",
            "/admin.php/x/y.json",
            "/app/admin.aspx/x",
            "/ADMIN.PHP/",
        ] {
            assert!(
                rules.access_for("GET", path).accesses().contains(&&admin()),
                "{path}"
            );
        }
        assert_eq!(rules.access_for("GET", "/admin.php/help"), &Access::Public);
        assert_eq!(rules.access_for("GET", "/v1.2/x"), &Access::Public);
        assert_eq!(
            aliases("/a.b/c.d/e.f.g"),
            ["/a.b", "/a.b/c.d", "/a.b/c.d/e", "/a.b/c.d/e.f"]
        );
        assert!(aliases("/.well-known/x").is_empty());
    }

    #[test]
    fn refuses_bad_and_conflicting_rules() {
        for bad in [
            r#"{"path": "/"}"#,
            r#"[{"path": "/a", "access": "public", "roles": ["x"]}]"#,
            r#"[{"path": "/a"}]"#,
            r#"[{"path": "/a", "access": "everyone"}]"#,
            r#"[{"path": "/a", "roles": []}]"#,
            r#"[{"path": "/a", "roles": [""]}]"#,
            r#"[{"path": "a", "access": "public"}]"#,
            r#"[{"path": "/a/../b", "access": "public"}]"#,
            r#"[{"path": "/a;x", "access": "public"}]"#,
            r#"[{"path": "/a", "access": "public"}, {"path": "/A", "roles": ["x"]}]"#,
            r#"[{"path": "/caf%C3%A9/*", "access": "public"}]"#,
            r#"[{"path": "/a//*", "access": "public"}]"#,
            r#"[{"path": "/a*", "access": "public"}]"#,
            r#"[{"path": "/a/*/b", "access": "public"}]"#,
            r#"[{"path": "/a", "methods": [], "access": "public"}]"#,
            r#"[{"path": "/a", "methods": ["G ET"], "access": "public"}]"#,
            r#"[{"path": "/a", "access": "public", "acess": "x"}]"#,
            r#"[{"path": "/a", "access": "public", "path": "/b"}]"#,
            r#"[{"path": "/a/*", "access": "public"}, {"path": "/a/*", "roles": ["x"]}]"#,
            r#"[{"path": "/a", "methods": ["GET"], "access": "public"}, {"path": "/a", "methods": ["HEAD", "POST"], "roles": ["x"]}]"#,
        ] {
            assert!(AccessRules::from_json(bad, false).is_err(), "{bad}");
        }
        // Same path, disjoint methods: fine.
        let ok = r#"[{"path": "/a", "methods": ["POST"], "access": "public"}, {"path": "/a", "methods": ["PUT"], "roles": ["x"]}]"#;
        assert!(AccessRules::from_json(ok, false).is_ok());
    }

    const NOW: u64 = 1_800_000_000;

    /// A subject for the condition tests: `ada` (roles, e-mail, groups, the login's `amr`,
    /// `idp`) who logged in `age` seconds ago.
    fn ada(extra: serde_json::Value, age: u64) -> (Vec<String>, Map<String, Value>, u64) {
        let Value::Object(claims) = extra else {
            panic!("an object")
        };
        (vec!["staff".into()], claims, NOW - age)
    }

    fn verdict(
        rules: &str,
        method: &str,
        path: &str,
        who: Option<&(Vec<String>, Map<String, Value>, u64)>,
        preflight: bool,
    ) -> Verdict {
        let rules = AccessRules::from_json(rules, false).expect("valid rules");
        let subject = who.map(|(roles, claims, auth_time)| Subject {
            sub: "corp:ada",
            roles,
            email: Some("Ada@Example.COM"),
            claims,
            login_time: Some(*auth_time),
        });
        rules
            .access_for(method, path)
            .evaluate(subject.as_ref(), NOW, preflight)
    }

    #[test]
    fn every_condition_admits_whom_it_names_and_refuses_the_rest() {
        let who = ada(
            serde_json::json!({"amr": ["fed"], "idp": "corp", "groups": ["eng", "ops"], "level": "gold"}),
            60,
        );
        for (condition, pass, fail, reason) in [
            (
                r#""users": ["corp:ada"]"#,
                true,
                r#""users": ["corp:bob"]"#,
                "user_not_allowed",
            ),
            (
                r#""emails": ["ada@example.com"]"#,
                true,
                r#""emails": ["bob@example.com"]"#,
                "email_not_allowed",
            ),
            (
                r#""email_domains": ["EXAMPLE.com"]"#,
                true,
                r#""email_domains": ["example.org"]"#,
                "email_domain_not_allowed",
            ),
            (
                r#""claims": [{"claim": "groups", "any_of": ["ops"]}]"#,
                true,
                r#""claims": [{"claim": "groups", "any_of": ["sales"]}]"#,
                "claim_not_allowed",
            ),
            (
                r#""claims": [{"claim": "level", "any_of": ["gold"]}]"#,
                true,
                r#""claims": [{"claim": "missing", "any_of": ["gold"]}]"#,
                "claim_not_allowed",
            ),
            (
                r#""login": ["sso", "passkey"]"#,
                true,
                r#""login": ["password"]"#,
                "login_method_not_allowed",
            ),
            (
                r#""idp": ["corp"]"#,
                true,
                r#""idp": ["other"]"#,
                "idp_not_allowed",
            ),
            (
                r#""roles": ["staff"], "users": ["corp:ada"]"#,
                true,
                r#""roles": ["admin"], "users": ["corp:ada"]"#,
                "missing_role",
            ),
        ] {
            let rule = |c: &str| format!(r#"[{{"path": "/x/*", {c}}}]"#);
            assert_eq!(
                verdict(&rule(condition), "GET", "/x/1", Some(&who), false),
                Verdict::Pass,
                "{condition}"
            );
            assert!(pass);
            assert_eq!(
                verdict(&rule(fail), "GET", "/x/1", Some(&who), false),
                Verdict::Refused(reason),
                "{fail}"
            );
            assert_eq!(
                verdict(&rule(condition), "GET", "/x/1", None, false),
                Verdict::NeedsSession,
                "{condition}"
            );
        }
    }

    #[test]
    fn the_login_method_is_read_from_amr_or_the_machine_claim() {
        let rule = |method: &str| format!(r#"[{{"path": "/*", "login": ["{method}"]}}]"#);
        for (claims, method) in [
            (serde_json::json!({"amr": ["pwd"]}), "password"),
            (serde_json::json!({"amr": ["fed"]}), "sso"),
            (serde_json::json!({"amr": ["hwk", "mfa"]}), "passkey"),
            (
                serde_json::json!({"machine": "issuer", "idp": "ci"}),
                "issuer",
            ),
            (
                serde_json::json!({"machine": "service_token"}),
                "service_token",
            ),
        ] {
            let who = ada(claims.clone(), 0);
            assert_eq!(
                verdict(&rule(method), "GET", "/", Some(&who), false),
                Verdict::Pass,
                "{claims}"
            );
            for other in LOGIN_METHODS.iter().filter(|m| **m != method) {
                assert_eq!(
                    verdict(&rule(other), "GET", "/", Some(&who), false),
                    Verdict::Refused("login_method_not_allowed"),
                    "{claims} is not {other}"
                );
            }
        }
        // A session that names no method we know meets no login condition.
        let who = ada(serde_json::json!({"amr": ["otp"]}), 0);
        assert_eq!(
            verdict(&rule("password"), "GET", "/", Some(&who), false),
            Verdict::Refused("login_method_not_allowed")
        );
    }

    #[test]
    fn an_old_login_is_sent_to_log_in_again_unless_it_is_refused_anyway() {
        let rules = r#"[{"path": "/pay/*", "roles": ["staff"], "max_auth_age_secs": 300},
                        {"path": "/boss/*", "roles": ["boss"], "max_auth_age_secs": 300}]"#;
        let fresh = ada(serde_json::json!({}), 300);
        let stale = ada(serde_json::json!({}), 301);
        assert_eq!(
            verdict(rules, "GET", "/pay/1", Some(&fresh), false),
            Verdict::Pass
        );
        assert_eq!(
            verdict(rules, "GET", "/pay/1", Some(&stale), false),
            Verdict::LoginTooOld
        );
        assert_eq!(
            verdict(rules, "GET", "/boss/1", Some(&stale), false),
            Verdict::Refused("missing_role")
        );
        assert_eq!(
            verdict(rules, "GET", "/pay/1", None, false),
            Verdict::NeedsSession
        );
    }

    #[test]
    fn deny_wins_at_the_same_specificity_and_yields_to_a_more_specific_allow() {
        let rules = r#"[
            {"path": "/admin/*", "roles": ["staff"]},
            {"path": "/admin/*", "effect": "deny", "login": ["service_token"]},
            {"path": "/admin/*", "effect": "deny", "users": ["corp:mallory"]},
            {"path": "/admin/health", "access": "public"},
            {"path": "/internal/*", "effect": "deny"},
            {"path": "/*", "access": "public"}
        ]"#;
        let person = ada(serde_json::json!({"amr": ["fed"]}), 0);
        let program = ada(serde_json::json!({"machine": "service_token"}), 0);
        assert_eq!(
            verdict(rules, "GET", "/admin/x", Some(&person), false),
            Verdict::Pass
        );
        assert_eq!(
            verdict(rules, "GET", "/admin/x", Some(&program), false),
            Verdict::Refused("denied_by_rule")
        );
        // A more specific allow rule is the operator's word on its path.
        assert_eq!(
            verdict(rules, "GET", "/admin/health", Some(&program), false),
            Verdict::Pass
        );
        // A deny rule with conditions matches only a session that meets them.
        assert_eq!(
            verdict(rules, "GET", "/admin/x", None, false),
            Verdict::NeedsSession
        );
        // One without conditions refuses everyone, under every reading of the path.
        assert_eq!(
            verdict(rules, "GET", "/internal/x", None, false),
            Verdict::Refused("denied_by_rule")
        );
        assert_eq!(
            verdict(rules, "GET", "/INTERNAL/x", Some(&person), false),
            Verdict::Refused("denied_by_rule")
        );
        assert_eq!(
            verdict(rules, "GET", "/elsewhere", None, false),
            Verdict::Pass
        );
        let parsed = AccessRules::from_json(rules, false).expect("valid");
        let explained = parsed.access_for("GET", "/admin/x").explain(
            Some(&Subject {
                sub: "corp:ada",
                roles: &program.0,
                email: None,
                claims: &program.1,
                login_time: Some(NOW),
            }),
            NOW,
            false,
        );
        assert_eq!(
            explained,
            Decision {
                rule: Some(1),
                verdict: Verdict::Refused("denied_by_rule")
            }
        );
        assert!(!parsed.access_for("GET", "/internal/x").is_public());
    }

    #[test]
    fn preflights_pass_only_where_a_rule_lets_them() {
        let rules = r#"[
            {"path": "/api/*", "roles": ["staff"], "preflight": "pass"},
            {"path": "/other/*", "roles": ["staff"]},
            {"path": "/api/closed/*", "effect": "deny"}
        ]"#;
        assert_eq!(
            verdict(rules, "OPTIONS", "/api/x", None, true),
            Verdict::Preflight
        );
        assert_eq!(
            verdict(rules, "OPTIONS", "/api/x", None, false),
            Verdict::NeedsSession,
            "not a preflight"
        );
        assert_eq!(
            verdict(rules, "OPTIONS", "/other/x", None, true),
            Verdict::NeedsSession
        );
        assert_eq!(
            verdict(rules, "OPTIONS", "/api/closed/x", None, true),
            Verdict::Refused("denied_by_rule")
        );
    }

    #[test]
    fn the_rule_language_refuses_what_it_cannot_mean() {
        for bad in [
            r#"[{"path": "/a", "access": "public", "roles": ["x"]}]"#,
            r#"[{"path": "/a", "access": "public", "max_auth_age_secs": 5}]"#,
            r#"[{"path": "/a"}]"#,
            r#"[{"path": "/a", "effect": "deny", "access": "public"}]"#,
            r#"[{"path": "/a", "effect": "deny", "max_auth_age_secs": 5}]"#,
            r#"[{"path": "/a", "effect": "deny", "preflight": "pass"}]"#,
            r#"[{"path": "/a", "effect": "maybe", "roles": ["x"]}]"#,
            r#"[{"path": "/a", "login": ["magic"]}]"#,
            r#"[{"path": "/a", "users": []}]"#,
            r#"[{"path": "/a", "emails": [""]}]"#,
            r#"[{"path": "/a", "claims": [{"claim": "g", "any_of": []}]}]"#,
            r#"[{"path": "/a", "claims": [{"claim": "g", "any_of": ["x"], "all_of": ["y"]}]}]"#,
            r#"[{"path": "/a", "roles": ["x"], "preflight": "maybe"}]"#,
            r#"[{"path": "/a", "roles": ["x"], "assertion": "always"}]"#,
            r#"[{"path": "/a", "roles": ["x"], "max_auth_age_secs": 30}]"#,
            r#"[{"path": "/a", "roles": ["x"], "methods": ["PUT"], "preflight": "pass"}]"#,
            r#"[{"path": "/a", "effect": "deny", "assertion": "request"}]"#,
            r#"[{"path": "/a", "users": ["x"]}, {"path": "/a", "roles": ["y"]}]"#,
        ] {
            assert!(AccessRules::from_json(bad, false).is_err(), "{bad}");
        }
        // Deny rules never conflict, with each other or with the allow rule of their path.
        assert!(AccessRules::from_json(
            r#"[{"path": "/a", "roles": ["x"]}, {"path": "/a", "effect": "deny", "users": ["m"]}, {"path": "/a", "effect": "deny"}]"#,
            false
        )
        .is_ok());
    }

    #[test]
    fn an_allow_rule_for_some_methods_does_not_lift_a_deny_rule_of_its_path() {
        let rules = r#"[
            {"path": "/reports/*", "roles": ["staff"]},
            {"path": "/reports/*", "effect": "deny", "login": ["service_token"]},
            {"path": "/reports/*", "methods": ["POST", "DELETE"], "roles": ["staff"]},
            {"path": "/reports/public", "access": "public"}
        ]"#;
        let program = ada(serde_json::json!({"machine": "service_token"}), 0);
        for method in ["GET", "POST", "DELETE"] {
            assert_eq!(
                verdict(rules, method, "/reports/1", Some(&program), false),
                Verdict::Refused("denied_by_rule"),
                "{method}"
            );
        }
        // A more specific path is still the operator's word on it.
        assert_eq!(
            verdict(rules, "GET", "/reports/public", Some(&program), false),
            Verdict::Pass
        );
    }

    #[test]
    fn the_age_of_a_login_is_when_the_user_last_proved_who_they_are() {
        let rules = r#"[{"path": "/pay/*", "roles": ["staff"], "max_auth_age_secs": 600}]"#;
        let known = |login_time: Option<u64>| {
            let rules = AccessRules::from_json(rules, false).expect("valid");
            let roles = vec!["staff".to_owned()];
            let claims = Map::new();
            let subject = Subject {
                sub: "u",
                roles: &roles,
                email: None,
                claims: &claims,
                login_time,
            };
            rules
                .access_for("GET", "/pay/1")
                .evaluate(Some(&subject), NOW, false)
        };
        assert_eq!(known(Some(NOW - 600)), Verdict::Pass);
        assert_eq!(known(Some(NOW - 601)), Verdict::LoginTooOld);
        // A provider that said nothing of when the user authenticated meets no age limit.
        assert_eq!(known(None), Verdict::LoginTooOld);
        // Read from the session: `login_time`, or for a machine credential its own time.
        let mut claims = crate::token::claims::Claims {
            iss: "i".into(),
            aud: vec!["a".into()],
            sub: "u".into(),
            sid: "s".into(),
            iat: NOW,
            exp: NOW + 60,
            nbf: None,
            auth_time: NOW - 5000,
            roles: vec![],
            name: None,
            email: None,
            extra: Map::new(),
        };
        assert_eq!(Subject::of(&claims).login_time, None);
        claims
            .extra
            .insert("login_time".into(), Value::from(NOW - 10));
        assert_eq!(Subject::of(&claims).login_time, Some(NOW - 10));
        claims
            .extra
            .insert("machine".into(), Value::from("service_token"));
        assert_eq!(Subject::of(&claims).login_time, Some(NOW - 5000));
    }

    #[test]
    fn a_scope_condition_reads_the_space_separated_scopes() {
        let rules = r#"[{"path": "/*", "claims": [{"claim": "scope", "any_of": ["admin"]}]}]"#;
        for (scope, pass) in [
            ("admin", true),
            ("read admin", true),
            ("administrator", false),
            ("read", false),
        ] {
            let who = ada(serde_json::json!({ "scope": scope }), 0);
            assert_eq!(
                verdict(rules, "GET", "/", Some(&who), false) == Verdict::Pass,
                pass,
                "{scope}"
            );
        }
    }
}
