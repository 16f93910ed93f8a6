//! Access rules: which paths are public, which need a session, which need a role.
//!
//! Configured as a JSON array (the `ACCESS_RULES` var):
//! `[{"path": "/admin/*", "methods": ["POST"], "roles": ["admin"]}, {"path": "/", "access": "public"}]`.
//! - `path` is exact (`/login`) or a prefix ending in `/*` (`/admin/*` covers `/admin` and
//!   everything below it; `/*` covers everything).
//! - `methods` (optional) limits the rule to those methods; `GET` also covers `HEAD`.
//! - exactly one of `access` (`"public"` or `"authenticated"`) or `roles` (any one of them grants).
//!
//! The most specific rule wins, whatever the order: exact before prefix, longer prefix before
//! shorter, a rule with `methods` before one without. Two rules that could match the same request
//! at the same specificity are a configuration error. Unmatched requests need a session.
//! Paths are matched in their canonical form ([`crate::path`]), the one the origin receives; an
//! exact path also covers itself with a trailing `/` (`/admin` covers `/admin/`), as Express and
//! Spring route them.

use serde::Deserialize;

/// What a request needs to pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a valid session, if present, is still forwarded as identity.
    Public,
    /// Any valid session.
    Authenticated,
    /// A valid session holding at least one of these roles.
    AnyRole(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// The path without the trailing `/*`; empty for `/*`.
    Prefix(String),
}

/// One configured rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pattern: Pattern,
    methods: Option<Vec<String>>,
    access: Access,
}

/// The parsed, conflict-free rule set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessRules {
    rules: Vec<AccessRule>,
    case_insensitive: bool,
}

/// The access that applies when no rule matches.
pub static DEFAULT_ACCESS: Access = Access::Authenticated;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    path: String,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    access: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

impl AccessRules {
    /// Parses and validates the JSON rule list. `case_insensitive` matches paths ignoring ASCII
    /// case (for origins that do).
    pub fn from_json(text: &str, case_insensitive: bool) -> Result<Self, String> {
        let parsed: Vec<RuleJson> = match crate::strict_json::parse_array(text.as_bytes()) {
            Ok(items) => serde_json::from_value(serde_json::Value::Array(items))
                .map_err(|e| format!("ACCESS_RULES: {e}"))?,
            Err(_) => return Err("ACCESS_RULES is not a JSON array without duplicate keys".into()),
        };
        let mut rules = Vec::with_capacity(parsed.len());
        for (index, rule) in parsed.into_iter().enumerate() {
            let rule = AccessRule::from_json(rule, case_insensitive)
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

    /// The access required for `method` on the normalized `path`.
    pub fn access_for(&self, method: &str, path: &str) -> &Access {
        let folded;
        let path = if self.case_insensitive {
            folded = path.to_ascii_lowercase();
            folded.as_str()
        } else {
            path
        };
        self.rules
            .iter()
            .filter(|rule| rule.matches(method, path))
            .max_by_key(|rule| rule.specificity())
            .map_or(&DEFAULT_ACCESS, |rule| &rule.access)
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
    fn from_json(rule: RuleJson, case_insensitive: bool) -> Result<Self, String> {
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
        if crate::path::normalize(literal, crate::path::Parameters::Refuse).as_deref()
            != Ok(literal)
            || (prefix.is_some() && literal.len() > 1 && literal.ends_with('/'))
        {
            return Err(format!("path {path:?} is not a normalized absolute path"));
        }
        let fold = |p: &str| {
            if case_insensitive {
                p.to_ascii_lowercase()
            } else {
                p.to_owned()
            }
        };
        let pattern = match prefix {
            Some(prefix) => Pattern::Prefix(fold(prefix)),
            None => Pattern::Exact(fold(without_trailing_slash(&path))),
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
        let access = match (rule.access.as_deref(), rule.roles) {
            (Some("public"), None) => Access::Public,
            (Some("authenticated"), None) => Access::Authenticated,
            (None, Some(roles)) if !roles.is_empty() && roles.iter().all(|r| !r.is_empty()) => {
                Access::AnyRole(roles)
            }
            (None, Some(_)) => return Err("\"roles\" must be a non-empty list of names".into()),
            (Some(other), None) => {
                return Err(format!(
                    "access {other:?} is not \"public\" or \"authenticated\""
                ))
            }
            _ => return Err("give exactly one of \"access\" or \"roles\"".into()),
        };
        Ok(AccessRule {
            pattern,
            methods,
            access,
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let path_matches = match &self.pattern {
            Pattern::Exact(exact) => without_trailing_slash(path) == exact,
            Pattern::Prefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        };
        path_matches
            && self
                .methods
                .as_ref()
                .is_none_or(|methods| methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }

    /// Larger is more specific: exact over prefix, longer prefix, then method-specific.
    fn specificity(&self) -> (bool, usize, bool) {
        match &self.pattern {
            Pattern::Exact(p) => (true, p.len(), self.methods.is_some()),
            Pattern::Prefix(p) => (false, p.len(), self.methods.is_some()),
        }
    }

    fn conflicts_with(&self, other: &AccessRule) -> bool {
        self.pattern == other.pattern
            && match (&self.methods, &other.methods) {
                (None, None) => true,
                (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
                _ => false,
            }
    }
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
    fn case() {
        let rules = rules();
        // Case-sensitive by default: /ADMIN is not /admin, so it falls to the default (never public).
        assert_eq!(rules.access_for("GET", "/ADMIN"), &Access::Authenticated);
        let folded = AccessRules::from_json(RULES, true).expect("valid");
        assert_eq!(folded.access_for("GET", "/ADMIN/Users"), &admin());
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
            r#"[{"path": "/a.", "access": "public"}]"#,
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
}
