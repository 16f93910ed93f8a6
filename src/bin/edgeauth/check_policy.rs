//! `edgeauth check-policy`: what the access rules decide for one request and one identity, with
//! the gateway's own planning and decision (`gateway::plan`, `Plan::explain`), never a copy.

use clap::Args;
use edgeauth::apps::{Deployment, Site};
use edgeauth::gateway::rules::{Subject, Verdict, LOGIN_METHODS};
use edgeauth::gateway::{self, Inbound};
use serde_json::{Map, Value};

use crate::{read_input, unix_now, usage, Failure};

#[derive(Args)]
pub(crate) struct CheckPolicy {
    /// The URL or path asked about, e.g. `https://app.example.com/admin/users?x=1`.
    url: String,
    /// The method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The wrangler config whose [vars] the edge reads.
    #[arg(long, default_value = "wrangler.toml")]
    config: String,
    /// A file holding the rules to check instead of the config's ACCESS_RULES.
    #[arg(long)]
    rules: Option<String>,
    /// The user (`sub`); without it, the request has no session.
    #[arg(long)]
    user: Option<String>,
    /// Roles, comma-separated.
    #[arg(long, default_value = "", value_delimiter = ',', requires = "user")]
    roles: Vec<String>,
    /// The e-mail address.
    #[arg(long, requires = "user")]
    email: Option<String>,
    /// A claim, `name=JSON` (e.g. `groups=["eng"]`); repeatable.
    #[arg(long = "claim", requires = "user")]
    claims: Vec<String>,
    /// How the user logged in: password, sso, passkey, issuer or service_token.
    #[arg(long, requires = "user")]
    login: Option<String>,
    /// The identity provider or trusted issuer (the session's `idp`).
    #[arg(long, requires = "user")]
    idp: Option<String>,
    /// Seconds since the user logged in.
    #[arg(long, default_value_t = 0, requires = "user")]
    login_age: u64,
    /// Ask about a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`).
    #[arg(long)]
    preflight: bool,
    /// Ask about a browser's navigation (a page): refused, it is sent to log in instead of 401.
    #[arg(long)]
    navigation: bool,
}

pub(crate) fn run(args: CheckPolicy) -> Result<(), Failure> {
    let mut vars = crate::load_vars(&args.config)?;
    if let Some(file) = &args.rules {
        vars.insert("ACCESS_RULES".into(), read_input(file)?);
    }
    let deployment = Deployment::from_lookup(|name| vars.get(name).cloned())
        .map_err(|e| usage(format!("{}: {e}", args.config)))?;
    let (host, path, query) = parts_of(&args.url);
    // With several apps the URL's host picks the app, as at the edge.
    let (config, rules_text) = match deployment.site(host) {
        Ok(Site::Single(config)) => (config, vars.get("ACCESS_RULES").cloned()),
        Ok(Site::App(app)) => (&app.config, app_rules_text(vars.get("APPS"), &app.id)),
        Ok(Site::Auth(_)) => {
            println!("request: {} {}", args.method, args.url);
            println!("decision: deny (404): the auth host only logs users in and forwards nothing");
            return Err(refused());
        }
        Ok(Site::Unknown) => {
            println!("request: {} {}", args.method, args.url);
            println!("decision: deny (421): no app is served on this host");
            return Err(refused());
        }
        Err(e) => {
            println!("request: {} {}", args.method, args.url);
            println!(
                "decision: deny (400): {} (give an absolute URL naming an app's host)",
                e.code()
            );
            return Err(refused());
        }
    };
    if let Some(link) = &config.app {
        println!("app: {}", link.id);
    }
    let rule_texts: Vec<Value> = rules_text
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();

    let method = if args.preflight {
        "OPTIONS".to_owned()
    } else {
        args.method.clone()
    };
    let inbound = Inbound {
        method: &method,
        path,
        query,
        host: "",
        origin: args.preflight.then_some("https://origin.example"),
        cors_request_method: args.preflight.then_some(args.method.as_str()),
        accept: args.navigation.then_some("text/html"),
        fetch_mode: args.navigation.then_some("navigate"),
        ..Inbound::default()
    };
    let now = unix_now();
    let mut claims = Map::new();
    for pair in &args.claims {
        let (name, json) = pair
            .split_once('=')
            .ok_or_else(|| usage(format!("--claim {pair:?}: name=JSON")))?;
        let value: Value = serde_json::from_str(json)
            .map_err(|e| usage(format!("--claim {name}: not JSON: {e}")))?;
        claims.insert(name.to_owned(), value);
    }
    // As each login writes it; an `amr` or `machine` given with --claim is kept as given.
    let (name, value) = match args.login.as_deref() {
        None => (None, Value::Null),
        Some(method) if !LOGIN_METHODS.contains(&method) => {
            return Err(usage(format!(
                "--login {method:?}: one of {}",
                LOGIN_METHODS.join(", ")
            )))
        }
        Some("password") => (Some("amr"), serde_json::json!(["pwd"])),
        Some("sso") => (Some("amr"), serde_json::json!(["fed"])),
        Some("passkey") => (Some("amr"), serde_json::json!(["hwk", "mfa"])),
        Some(machine) => (Some("machine"), Value::from(machine)),
    };
    if let Some(name) = name {
        claims.entry(name).or_insert(value);
    }
    if let Some(idp) = &args.idp {
        claims.insert("idp".into(), Value::from(idp.as_str()));
    }
    let roles: Vec<String> = args
        .roles
        .iter()
        .filter(|r| !r.is_empty())
        .cloned()
        .collect();
    let subject = args.user.as_deref().map(|sub| Subject {
        sub,
        roles: &roles,
        email: args.email.as_deref(),
        claims: &claims,
        login_time: Some(now.saturating_sub(args.login_age)),
    });

    let plan = match gateway::plan(config, &inbound) {
        Ok(plan) => plan,
        Err(denied) => {
            println!("request: {method} {}", args.url);
            println!(
                "decision: deny ({}): {}",
                denied.refusal.http().0,
                denied.reason
            );
            return Err(refused());
        }
    };
    println!(
        "request: {method} {} (canonical path {})",
        args.url,
        plan.path()
    );
    println!(
        "identity: {}",
        match &subject {
            Some(subject) => format!("{} (roles: {})", subject.sub, roles.join(",")),
            None => "none (no session)".into(),
        }
    );
    let decision = plan.explain(subject.as_ref(), now);
    match decision.rule {
        Some(index) => println!(
            "rule: ACCESS_RULES[{index}] {}",
            rule_texts
                .get(index)
                .map(Value::to_string)
                .unwrap_or_default()
        ),
        None => println!("rule: none matches; the default: any session"),
    }
    let (allowed, what) = match decision.verdict {
        Verdict::Pass => (true, "allow".to_owned()),
        Verdict::Preflight => (
            true,
            "allow: a CORS preflight, forwarded anonymously without credentials".into(),
        ),
        Verdict::NeedsSession if plan.is_navigation() => (
            false,
            "deny: a session is needed (a browser is sent to log in)".into(),
        ),
        Verdict::NeedsSession => (false, "deny (401): a session is needed".into()),
        Verdict::LoginTooOld => (
            false,
            "deny (401): the login is older than the rule's max_auth_age_secs; log in again".into(),
        ),
        Verdict::Refused(reason) => (false, format!("deny (403): {reason}")),
    };
    println!("decision: {what}");
    if allowed {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Exit 1, with nothing more on stderr: the decision is on stdout.
fn refused() -> Failure {
    Failure {
        code: 1,
        message: "not allowed".into(),
    }
}

/// The rules of the app `id` in `APPS`, as written.
fn app_rules_text(apps: Option<&String>, id: &str) -> Option<String> {
    let apps: Vec<Value> = serde_json::from_str(apps?).ok()?;
    apps.into_iter()
        .find(|app| app.get("id").and_then(Value::as_str) == Some(id))?
        .get("rules")
        .map(Value::to_string)
}

/// The host, path and query of a URL (`https://host/p?q`, `https://host?q`) or of a path
/// (`/p?q`, no host). The path is taken as sent: the runtime's URL parser, which resolves `..`
/// before the edge sees it, is not modelled, so an odd spelling may be refused here (400) that
/// the edge reads.
fn parts_of(url: &str) -> (Option<&str>, &str, Option<&str>) {
    let (host, rest) = match url.split_once("://") {
        Some((_, rest)) => match rest.find(['/', '?', '#']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], &rest[at..]),
            Some(at) if rest[at..].starts_with('?') => {
                let query = rest[at + 1..].split('#').next();
                return (Some(&rest[..at]), "/", query);
            }
            Some(at) => (&rest[..at], "/"),
            None => (rest, "/"),
        },
        None => return split_query(url, None),
    };
    split_query(rest, Some(host))
}

fn split_query<'u>(
    rest: &'u str,
    host: Option<&'u str>,
) -> (Option<&'u str>, &'u str, Option<&'u str>) {
    let rest = rest.split('#').next().unwrap_or(rest);
    match rest.split_once('?') {
        Some((path, query)) => (host, path, Some(query)),
        None => (host, rest, None),
    }
}
