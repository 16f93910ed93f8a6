//! How a provider's verified identity becomes our session, and who may log in through it.
//!
//! - `sub` is `<provider>:<sub>` unless the provider is configured `"sub": "plain"`, so two
//!   providers' users never collide.
//! - The e-mail address counts only when the provider marked it verified ([`IdClaims::email`]).
//! - Roles: `default_roles`, plus the roles `group_roles` gives each group in the
//!   `groups_claim` (default `groups`), plus those `email_domain_roles` gives the e-mail's
//!   domain, plus those `scope_roles` gives each granted scope (the `scope` claim, space-separated,
//!   or `scp`, as access tokens carry them: [`crate::machine::issuer`]).
//! - `keep_claims`: claims of the provider's token copied into the session (strings, or arrays
//!   of strings, bounded), for the access rules' `claims` conditions; never a claim the edge
//!   sets itself (the session's own claims and [`RESERVED_CLAIMS`]).
//! - `required_claims`: claims the provider's token must carry with exactly these string values
//!   (Google's `hd` for a Workspace domain: an e-mail domain alone also admits consumer accounts
//!   registered with such an address).
//! - Each configured allow list must admit the user: `allowed_email_domains` (the verified
//!   e-mail's domain), `allowed_subs` (the provider's `sub`; for GitHub the numeric user id),
//!   `allowed_emails` (the verified e-mail) and `allowed_groups` (any group). Never a user
//!   name: one can be renamed, then taken by someone else. With none configured, every user of
//!   the provider may log in.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::login::{is_valid_role, is_valid_username, Identity, ProviderLogin, Verdict, MAX_ROLES};
use serde::Deserialize;
use serde_json::Value;

use super::id_token::IdClaims;

/// Whether `sub` keeps the provider's id in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubMode {
    /// `<provider>:<sub>` (the default).
    #[default]
    Namespaced,
    /// The provider's `sub` as it is: only for a single provider, or one whose subjects are
    /// known not to collide with any other login's.
    Plain,
}

/// The `mapping` member of an `IDENTITY_PROVIDERS` entry, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingJson {
    #[serde(default)]
    sub: SubMode,
    #[serde(default)]
    default_roles: Vec<String>,
    #[serde(default)]
    groups_claim: Option<String>,
    #[serde(default)]
    group_roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    email_domain_roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    scope_roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    allowed_email_domains: Option<Vec<String>>,
    #[serde(default)]
    allowed_subs: Option<Vec<String>>,
    #[serde(default)]
    allowed_emails: Option<Vec<String>>,
    #[serde(default)]
    allowed_groups: Option<Vec<String>>,
    #[serde(default)]
    required_claims: BTreeMap<String, String>,
    #[serde(default)]
    keep_claims: Vec<String>,
}

/// Claims a mapping may not keep besides the session's own ([`crate::token::claims::MEMBERS`]):
/// those the edge sets itself.
pub const RESERVED_CLAIMS: [&str; 10] = [
    "amr",
    "psid",
    "idp",
    "idp_sid",
    "machine",
    "login_time",
    "scope",
    "htm",
    "htu",
    "jti",
];
/// Most values a kept array claim may hold, and longest kept string, in bytes.
const MAX_KEPT_ITEMS: usize = 64;
const MAX_KEPT_BYTES: usize = 256;

/// A provider's identity mapping, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    sub: SubMode,
    default_roles: Vec<String>,
    groups_claim: String,
    group_roles: BTreeMap<String, Vec<String>>,
    email_domain_roles: BTreeMap<String, Vec<String>>,
    scope_roles: BTreeMap<String, Vec<String>>,
    allowed_email_domains: Option<Vec<String>>,
    allowed_subs: Option<Vec<String>>,
    allowed_emails: Option<Vec<String>>,
    allowed_groups: Option<Vec<String>>,
    required_claims: BTreeMap<String, String>,
    keep_claims: Vec<String>,
}

impl Mapping {
    /// Validates a mapping: every role a valid role name, domains compared in lowercase.
    pub fn from_json(json: MappingJson) -> Result<Self, String> {
        let roles_ok = |roles: &[String]| roles.iter().all(|role| is_valid_role(role));
        if !roles_ok(&json.default_roles)
            || !json.group_roles.values().all(|roles| roles_ok(roles))
            || !json
                .email_domain_roles
                .values()
                .all(|roles| roles_ok(roles))
            || !json.scope_roles.values().all(|roles| roles_ok(roles))
        {
            return Err("mapping: a role is not header-safe text without commas".into());
        }
        let lower = |domains: BTreeMap<String, Vec<String>>| {
            domains
                .into_iter()
                .map(|(domain, roles)| (domain.to_ascii_lowercase(), roles))
                .collect()
        };
        if let Some(bad) = json.keep_claims.iter().find(|name| {
            name.is_empty()
                || name.len() > 64
                || crate::token::claims::MEMBERS.contains(&name.as_str())
                || RESERVED_CLAIMS.contains(&name.as_str())
        }) {
            return Err(format!(
                "mapping: keep_claims {bad:?} is empty, too long, or a claim the edge sets itself"
            ));
        }
        Ok(Mapping {
            keep_claims: json.keep_claims,
            sub: json.sub,
            default_roles: json.default_roles,
            groups_claim: json.groups_claim.unwrap_or_else(|| "groups".into()),
            group_roles: json.group_roles,
            email_domain_roles: lower(json.email_domain_roles),
            scope_roles: json.scope_roles,
            allowed_email_domains: json
                .allowed_email_domains
                .map(|domains| domains.iter().map(|d| d.to_ascii_lowercase()).collect()),
            allowed_subs: json.allowed_subs,
            allowed_emails: json.allowed_emails,
            allowed_groups: json.allowed_groups,
            required_claims: json.required_claims,
        })
    }

    /// The claims this mapping keeps in the session.
    pub fn kept_claim_names(&self) -> &[String] {
        &self.keep_claims
    }

    /// The kept claims of `claims` that fit a session: a string, or an array of strings, of
    /// bounded size (anything else is left out).
    pub fn kept(&self, claims: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
        let fits = |text: &str| text.len() <= MAX_KEPT_BYTES && !text.contains(char::is_control);
        self.keep_claims
            .iter()
            .filter_map(|name| {
                let value = match claims.get(name)? {
                    Value::String(text) if fits(text) => Value::from(text.as_str()),
                    Value::Array(items)
                        if items.len() <= MAX_KEPT_ITEMS
                            && items.iter().all(|item| item.as_str().is_some_and(fits)) =>
                    {
                        Value::Array(items.clone())
                    }
                    _ => return None,
                };
                Some((name.clone(), value))
            })
            .collect()
    }

    /// Whether subjects are taken as the provider states them (`"sub": "plain"`).
    pub fn is_plain(&self) -> bool {
        self.sub == SubMode::Plain
    }

    /// Whether the mapping uses the user's groups (so a provider that needs another request
    /// to know them, GitHub, makes it).
    pub fn needs_groups(&self) -> bool {
        !self.group_roles.is_empty() || self.allowed_groups.is_some()
    }

    /// Our session's `sub` for the provider's `sub` (what back-channel logout revokes too).
    pub fn session_sub(&self, provider: &str, sub: &str) -> String {
        match self.sub {
            SubMode::Namespaced => format!("{provider}:{sub}"),
            SubMode::Plain => sub.to_owned(),
        }
    }

    /// The session identity for `claims` from `provider`, or why the user may not log in.
    pub fn identity(&self, provider: &str, claims: &IdClaims) -> Verdict {
        let refused = |why: &'static str| Verdict::Refused(Cow::Borrowed(why));
        let sub = self.session_sub(provider, &claims.sub);
        // A plain `sub` with `:` could be another provider's namespaced user.
        if !is_valid_username(&sub) || (self.sub == SubMode::Plain && sub.contains(':')) {
            return refused("sub_not_representable");
        }
        let has = |(name, value): (&String, &String)| {
            claims.all.get(name).and_then(Value::as_str) == Some(value.as_str())
        };
        if !self.required_claims.iter().all(has) {
            return refused("required_claim_missing");
        }
        let domain = claims
            .email
            .as_deref()
            .and_then(|email| email.rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase());
        let groups = self.groups(claims);
        if let Some(allowed) = &self.allowed_email_domains {
            if !domain.as_ref().is_some_and(|d| allowed.contains(d)) {
                return refused("email_domain_not_allowed");
            }
        }
        if let Some(allowed) = &self.allowed_subs {
            if !allowed.contains(&claims.sub) {
                return refused("user_not_allowed");
            }
        }
        if let Some(allowed) = &self.allowed_emails {
            if !claims
                .email
                .as_ref()
                .is_some_and(|email| allowed.contains(email))
            {
                return refused("user_not_allowed");
            }
        }
        if let Some(allowed) = &self.allowed_groups {
            if !groups.iter().any(|group| allowed.contains(group)) {
                return refused("group_not_allowed");
            }
        }
        let mut roles: Vec<String> = Vec::new();
        let granted = self
            .default_roles
            .iter()
            .chain(
                groups
                    .iter()
                    .filter_map(|g| self.group_roles.get(g))
                    .flatten(),
            )
            .chain(
                domain
                    .iter()
                    .filter_map(|d| self.email_domain_roles.get(d))
                    .flatten(),
            )
            .chain(
                scopes(&claims.all)
                    .filter_map(|scope| self.scope_roles.get(scope))
                    .flatten(),
            );
        for role in granted {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        if roles.len() > MAX_ROLES {
            return refused("too_many_roles");
        }
        Verdict::Authenticated(Identity {
            sub,
            roles,
            name: claims.name.clone().filter(|n| is_profile_text(n)),
            email: claims.email.clone().filter(|e| is_profile_text(e)),
            provider: Some(ProviderLogin {
                id: provider.to_owned(),
                sid: claims.sid.clone(),
                auth_time: super::id_token::time(&claims.all, "auth_time")
                    .ok()
                    .flatten(),
                kept: self.kept(&claims.all),
            }),
            amr: crate::login::AMR_SSO,
        })
    }

    /// The user's groups: the `groups_claim`, an array of strings or a single one.
    fn groups(&self, claims: &IdClaims) -> Vec<String> {
        match claims.all.get(&self.groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(group)) => vec![group.clone()],
            _ => Vec::new(),
        }
    }
}

/// The scopes a token grants: `scope`, space-separated (RFC 8693 §4.2, RFC 9068 §2.2.3), else
/// `scp`, an array (Okta, Entra ID) or a space-separated string.
pub fn scopes(claims: &serde_json::Map<String, Value>) -> impl Iterator<Item = &str> {
    let (words, items) = match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(words)) => (Some(words.as_str()), None),
        Some(Value::Array(items)) => (None, Some(items)),
        _ => (None, None),
    };
    words
        .into_iter()
        .flat_map(|words| words.split(' ').filter(|w| !w.is_empty()))
        .chain(items.into_iter().flatten().filter_map(Value::as_str))
}

/// A name or e-mail fit for the session, as the password stores' profiles are: at most
/// [`crate::login::MAX_PROFILE_BYTES`], no control characters; anything else is left out.
fn is_profile_text(text: &str) -> bool {
    text.len() <= crate::login::MAX_PROFILE_BYTES && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(email: Option<&str>, groups: Value) -> IdClaims {
        let mut all = serde_json::Map::new();
        all.insert("groups".into(), groups);
        IdClaims {
            sub: "u-1".into(),
            email: email.map(str::to_owned),
            name: Some("Ada".into()),
            sid: Some("idp-s".into()),
            all,
        }
    }

    fn mapping(json: Value) -> Mapping {
        Mapping::from_json(serde_json::from_value(json).expect("shape")).expect("valid")
    }

    fn verdict(mapping: &Mapping, claims: &IdClaims) -> Result<Identity, String> {
        match mapping.identity("corp", claims) {
            Verdict::Authenticated(identity) => Ok(identity),
            Verdict::Refused(why) => Err(why.into_owned()),
        }
    }

    #[test]
    fn identities_are_namespaced_and_roles_mapped() {
        let m = mapping(serde_json::json!({
            "default_roles": ["user"],
            "group_roles": {"eng": ["dev", "user"], "ops": ["admin"]},
            "email_domain_roles": {"Example.com": ["staff"]},
        }));
        let identity = verdict(
            &m,
            &claims(Some("ada@EXAMPLE.com"), serde_json::json!(["eng", "other"])),
        )
        .expect("admitted");
        assert_eq!(identity.sub, "corp:u-1");
        assert_eq!(identity.roles, ["user", "dev", "staff"]);
        assert_eq!(identity.email.as_deref(), Some("ada@EXAMPLE.com"));
        assert_eq!(
            identity.provider,
            Some(ProviderLogin {
                id: "corp".into(),
                sid: Some("idp-s".into()),
                ..ProviderLogin::default()
            })
        );
        let single = verdict(&m, &claims(None, "ops".into())).expect("admitted");
        assert_eq!(single.roles, ["user", "admin"]);
        let plain = mapping(serde_json::json!({"sub": "plain"}));
        assert_eq!(
            verdict(&plain, &claims(None, Value::Null)).map(|i| i.sub),
            Ok("u-1".into())
        );
    }

    #[test]
    fn every_configured_allow_list_must_admit_the_user() {
        let m = mapping(serde_json::json!({
            "allowed_email_domains": ["example.com"],
            "allowed_groups": ["eng"],
        }));
        let eng = serde_json::json!(["eng"]);
        assert!(verdict(&m, &claims(Some("a@example.com"), eng.clone())).is_ok());
        assert_eq!(
            verdict(&m, &claims(Some("a@evil.com"), eng.clone())),
            Err("email_domain_not_allowed".into())
        );
        assert_eq!(
            verdict(&m, &claims(None, eng)),
            Err("email_domain_not_allowed".into()),
            "an unverified e-mail has no domain"
        );
        assert_eq!(
            verdict(
                &m,
                &claims(Some("a@example.com"), serde_json::json!(["ops"]))
            ),
            Err("group_not_allowed".into())
        );
        let subs = mapping(serde_json::json!({"allowed_subs": ["u-1"]}));
        assert!(verdict(&subs, &claims(None, Value::Null)).is_ok());
        let mut bob = claims(Some("bob@example.com"), Value::Null);
        bob.sub = "u-2".into();
        assert_eq!(verdict(&subs, &bob), Err("user_not_allowed".into()));
        let emails = mapping(serde_json::json!({"allowed_emails": ["bob@example.com"]}));
        assert!(verdict(&emails, &bob).is_ok());
        // A subject that looks like a listed e-mail is no e-mail.
        let mut poser = claims(None, Value::Null);
        poser.sub = "bob@example.com".into();
        assert_eq!(verdict(&emails, &poser), Err("user_not_allowed".into()));
        bob.email = None;
        assert_eq!(verdict(&emails, &bob), Err("user_not_allowed".into()));
        let workspace = mapping(serde_json::json!({"required_claims": {"hd": "example.com"}}));
        let mut member = claims(Some("a@example.com"), Value::Null);
        assert_eq!(
            verdict(&workspace, &member),
            Err("required_claim_missing".into())
        );
        member.all.insert("hd".into(), "example.com".into());
        assert!(verdict(&workspace, &member).is_ok());
    }

    #[test]
    fn refuses_what_cannot_be_a_session() {
        let m = mapping(serde_json::json!({}));
        let mut odd = claims(None, Value::Null);
        odd.sub = "a,b".into();
        assert_eq!(verdict(&m, &odd), Err("sub_not_representable".into()));
        let plain = mapping(serde_json::json!({"sub": "plain"}));
        let mut poser = claims(None, Value::Null);
        poser.sub = "other:alice".into();
        assert_eq!(verdict(&plain, &poser), Err("sub_not_representable".into()));
        let mut control = claims(Some("a@example.com"), Value::Null);
        control.name = Some("Ada\nX-Auth-User: admin".into());
        assert_eq!(
            verdict(&m, &control).map(|i| i.name),
            Ok(None),
            "controls: left out"
        );
        assert!(Mapping::from_json(
            serde_json::from_value(serde_json::json!({"default_roles": ["a,b"]})).expect("shape")
        )
        .is_err());
        assert!(serde_json::from_value::<MappingJson>(serde_json::json!({"rolez": []})).is_err());
    }

    #[test]
    fn kept_claims_are_copied_within_bounds_and_never_the_edges_own() {
        let m = mapping(serde_json::json!({"keep_claims": ["groups", "department", "big", "odd"]}));
        let mut all = serde_json::Map::new();
        all.insert("groups".into(), serde_json::json!(["eng", "ops"]));
        all.insert("department".into(), serde_json::json!("R&D"));
        all.insert(
            "big".into(),
            Value::Array((0..65).map(|i| Value::from(i.to_string())).collect()),
        );
        all.insert("odd".into(), serde_json::json!({"nested": true}));
        all.insert("other".into(), serde_json::json!("not kept"));
        let kept = m.kept(&all);
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept["groups"], serde_json::json!(["eng", "ops"]));
        assert_eq!(kept["department"], "R&D");
        for reserved in [
            "amr",
            "idp",
            "machine",
            "login_time",
            "sub",
            "roles",
            "scope",
        ] {
            let json = serde_json::json!({ "keep_claims": [reserved] });
            assert!(
                Mapping::from_json(serde_json::from_value(json).expect("shape")).is_err(),
                "{reserved}"
            );
        }
    }
}
