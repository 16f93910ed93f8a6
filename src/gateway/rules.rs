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
//! at the same specificity are a configuration error (compared ignoring case). Unmatched requests
//! need a session.
//!
//! A request must pass under every way an origin may read its canonical path ([`Requirement`]):
//! decoded as it is and as Windows trims it ([`crate::gateway::path::readings`]); each as spelled and
//! with ASCII case folded (Express, ASP.NET Core and case-insensitive file systems ignore case;
//! with `PATHS_CASE_INSENSITIVE` only the folded reading counts); an exact path also covers
//! itself with a trailing `/` (Express, Spring); and a last segment `name.ext` must also pass the
//! rule that names `name` itself, if one does (Rails' `(.:format)`, Spring's suffix matching
//! route `/admin.json` to `/admin`).

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

/// What a request needs: the access of every reading of its path, all of which must be met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement<'a> {
    readings: Vec<&'a Access>,
}

impl<'a> Requirement<'a> {
    /// Whether every reading is public.
    pub fn is_public(&self) -> bool {
        self.readings
            .iter()
            .all(|access| **access == Access::Public)
    }

    /// Whether a valid session holding the roles `has_role` answers yes to meets every reading.
    pub fn is_met_by(&self, has_role: impl Fn(&str) -> bool) -> bool {
        self.readings.iter().all(|access| match access {
            Access::AnyRole(roles) => roles.iter().any(|role| has_role(role)),
            Access::Public | Access::Authenticated => true,
        })
    }

    /// Adds `other`'s readings: the request must meet both (a `Destination` path).
    pub fn require(&mut self, other: Requirement<'a>) {
        for access in other.readings {
            self.add(access);
        }
    }

    /// The access of each distinct reading.
    pub fn readings(&self) -> &[&'a Access] {
        &self.readings
    }

    fn add(&mut self, access: &'a Access) {
        if !self.readings.contains(&access) {
            self.readings.push(access);
        }
    }
}

/// A requirement equals an access when every reading has that access.
impl PartialEq<&Access> for Requirement<'_> {
    fn eq(&self, other: &&Access) -> bool {
        self.readings.iter().all(|access| access == other)
    }
}

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
        let parsed: Vec<RuleJson> = match crate::encoding::strict_json::parse_array(text.as_bytes())
        {
            Ok(items) => serde_json::from_value(serde_json::Value::Array(items))
                .map_err(|e| format!("ACCESS_RULES: {e}"))?,
            Err(_) => return Err("ACCESS_RULES is not a JSON array without duplicate keys".into()),
        };
        let mut rules = Vec::with_capacity(parsed.len());
        for (index, rule) in parsed.into_iter().enumerate() {
            let rule =
                AccessRule::from_json(rule).map_err(|e| format!("ACCESS_RULES[{index}]: {e}"))?;
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
                requirement.add(
                    self.best(|rule| rule.matches(method, &reading, fold))
                        .unwrap_or(&DEFAULT_ACCESS),
                );
                // An exact rule for the reading itself is the operator's word on it.
                if self
                    .rules
                    .iter()
                    .any(|rule| rule.is_exact_for(method, &reading, fold))
                {
                    continue;
                }
                for alias in aliases(&reading) {
                    if let Some(access) = self.best(|rule| rule.names(method, alias, fold)) {
                        requirement.add(access);
                    }
                }
            }
        }
        requirement
    }

    fn best(&self, matches: impl Fn(&AccessRule) -> bool) -> Option<&Access> {
        self.rules
            .iter()
            .filter(|rule| matches(rule))
            .max_by_key(|rule| rule.specificity())
            .map(|rule| &rule.access)
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
    fn from_json(rule: RuleJson) -> Result<Self, String> {
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

    /// Larger is more specific: exact over prefix, longer prefix, then method-specific.
    fn specificity(&self) -> (bool, usize, bool) {
        match &self.pattern {
            Pattern::Exact(p) => (true, p.len(), self.methods.is_some()),
            Pattern::Prefix(p) => (false, p.len(), self.methods.is_some()),
        }
    }

    /// Both could decide the same request at the same specificity (patterns compared ignoring
    /// case, as the folded reading does).
    fn conflicts_with(&self, other: &AccessRule) -> bool {
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
        assert_eq!(required.readings(), [&Access::Authenticated, &admin()]);
        assert!(!required.is_met_by(|role| role == "user"));
        assert!(required.is_met_by(|role| role == "admin"));
        // Behind a public catch-all, a case trick is no way around the role.
        let catch_all = AccessRules::from_json(
            r#"[{"path": "/*", "access": "public"}, {"path": "/admin/*", "roles": ["admin"]}]"#,
            false,
        )
        .expect("valid");
        let tricked = catch_all.access_for("GET", "/ADMIN/users");
        assert!(!tricked.is_public() && !tricked.is_met_by(|_| false));
        assert!(tricked.is_met_by(|role| role == "admin"));
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
            assert!(required.readings().contains(&&admin()), "{path}");
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
                rules.access_for("GET", path).readings().contains(&&admin()),
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
                rules.access_for("GET", path).readings().contains(&&admin()),
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
}
