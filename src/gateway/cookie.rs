//! The session cookie: finding it in a `Cookie` header, removing it before forwarding, and
//! the `Set-Cookie` values that set and clear it.

/// Default session cookie name. The `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`, so no subdomain can plant or shadow it.
pub const DEFAULT_NAME: &str = "__Host-edgeauth";

/// `SESSION_COOKIE`: the session cookie's name (default [`DEFAULT_NAME`]).
pub fn name_from_vars(vars: &crate::config::Vars) -> Result<String, crate::config::ConfigError> {
    let name = vars.text("SESSION_COOKIE", DEFAULT_NAME);
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(crate::config::ConfigError(format!(
            "SESSION_COOKIE: {name:?} is not a cookie name"
        )));
    }
    Ok(name)
}

/// The `Cookie` header held the session cookie ambiguously: twice (someone planted one), or after
/// a `,`, which is how the runtime joins a second `Cookie` line and how a planted cookie's value
/// can hide one. Refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousCookie;

/// The value of the cookie called `name` in a `Cookie` header, if present exactly once.
pub fn find<'a>(header: &'a str, name: &str) -> Result<Option<&'a str>, AmbiguousCookie> {
    let mut found = None;
    for pair in header.split(';') {
        // Cookie values never hold a `,` (RFC 6265 cookie-octet): a name after one is a second
        // cookie that a parser splitting on `;` alone would not see, and so would not strip.
        if pair
            .split(',')
            .skip(1)
            .any(|part| part.split_once('=').is_some_and(|(n, _)| n.trim() == name))
        {
            return Err(AmbiguousCookie);
        }
        let Some((cookie_name, value)) = pair.split_once('=') else {
            continue;
        };
        if cookie_name.trim() == name {
            if found.is_some() {
                return Err(AmbiguousCookie);
            }
            found = Some(unquoted(value.trim()));
        }
    }
    Ok(found)
}

/// The `Cookie` header without the cookie called `name`, nor any cookie an origin could read as
/// it ([`reads_as`]); `None` when nothing is left.
pub fn without(header: &str, name: &str) -> Option<String> {
    keep_only(header, |candidate| {
        !reads_as(candidate, name) && !is_transaction(candidate)
    })
}

/// A ceremony's cookie, a single sign-on transaction (`login::oidc::transaction`), a passkey
/// challenge (`login::passkey::challenge`) or a handoff's nonce (`login::handoff`): the edge's
/// alone, never the origin's, in any case.
pub fn is_transaction(candidate: &str) -> bool {
    let candidate = candidate.trim_start();
    [
        crate::login::oidc::transaction::COOKIE_PREFIX,
        crate::login::passkey::challenge::COOKIE,
        crate::login::handoff::NONCE_COOKIE,
    ]
    .iter()
    .any(|prefix| {
        candidate
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    })
}

/// The `Cookie` header without the cookies an origin could read as `name` but that are not
/// exactly `name` (when the session cookie itself is forwarded); `None` when nothing is left.
pub fn without_lookalikes(header: &str, name: &str) -> Option<String> {
    keep_only(header, |candidate| {
        (candidate == name || !reads_as(candidate, name)) && !is_transaction(candidate)
    })
}

/// The cookies of `header` whose names `keep` accepts, also among those a `,` joined (a second
/// `Cookie` line); the others as they were.
fn keep_only(header: &str, keep: impl Fn(&str) -> bool) -> Option<String> {
    let kept: Vec<String> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            if pair.split(',').all(|part| keep(name_of(part))) {
                return Some(pair.to_owned());
            }
            let parts: Vec<&str> = pair
                .split(',')
                .filter(|part| keep(name_of(part)))
                .map(str::trim)
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

fn name_of(part: &str) -> &str {
    part.split_once('=').map_or(part, |(n, _)| n).trim()
}

/// Whether an origin could read the cookie name `candidate` as `name`: ASP.NET Core compares
/// names ignoring case; PHP percent-decodes them, drops leading spaces and turns `.` and spaces
/// into `_`.
fn reads_as(candidate: &str, name: &str) -> bool {
    let candidate = candidate.trim_start();
    // Decoding only shortens a name: most cookies are ruled out without it.
    if candidate.len() < name.len() || (!candidate.contains('%') && candidate.len() != name.len()) {
        return false;
    }
    let php = |b: u8| if matches!(b, b'.' | b' ') { b'_' } else { b };
    let same = |decoded: &[u8]| {
        decoded.len() == name.len()
            && decoded
                .iter()
                .zip(name.bytes())
                .all(|(&a, b)| php(a).eq_ignore_ascii_case(&php(b)))
    };
    if candidate.contains('%') {
        same(crate::gateway::path::decode(candidate).as_bytes())
    } else {
        same(candidate.as_bytes())
    }
}

/// A `Set-Cookie` value for the session: `HttpOnly; Secure; SameSite=Lax; Path=/`.
pub fn set(name: &str, token: &str, max_age_secs: u64) -> String {
    format!("{name}={token}; Max-Age={max_age_secs}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// A `Set-Cookie` value that deletes the session cookie.
pub fn clear(name: &str) -> String {
    format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_cookies_never_reach_the_origin() {
        let header =
            "a=1; __Host-edgeauth-sso-AbCdEfGhIjKlMnOp=sealed; __HOST-EDGEAUTH-SSO-x=y; b=2; __Host-edgeauth-passkey=c; __Host-edgeauth-handoff=nonce";
        assert_eq!(without(header, DEFAULT_NAME).as_deref(), Some("a=1; b=2"));
        let with_session = format!("{header}; {DEFAULT_NAME}=tok");
        assert_eq!(
            without_lookalikes(&with_session, DEFAULT_NAME).as_deref(),
            Some("a=1; b=2; __Host-edgeauth=tok")
        );
    }

    #[test]
    fn finds_exactly_one_session_cookie() {
        assert_eq!(
            find("a=1; __Host-edgeauth=tok; b=2", DEFAULT_NAME),
            Ok(Some("tok"))
        );
        assert_eq!(
            find("a=1;__Host-edgeauth=\"tok\"", DEFAULT_NAME),
            Ok(Some("tok"))
        );
        assert_eq!(find("a=1; edgeauth=tok", DEFAULT_NAME), Ok(None));
        assert_eq!(
            find("__host-edgeauth=tok", DEFAULT_NAME),
            Ok(None),
            "names are case-sensitive"
        );
        assert_eq!(find("", DEFAULT_NAME), Ok(None));
        assert_eq!(
            find("__Host-edgeauth=a; __Host-edgeauth=b", DEFAULT_NAME),
            Err(AmbiguousCookie)
        );
        assert_eq!(
            find("__Host-edgeauth=a;x=1; __Host-edgeauth=a", DEFAULT_NAME),
            Err(AmbiguousCookie)
        );
    }

    #[test]
    fn a_session_cookie_after_a_comma_is_ambiguous() {
        for header in [
            // Two `Cookie` lines, as the runtime joins them.
            "a=1, __Host-edgeauth=tok",
            "__Host-edgeauth=tok, __Host-edgeauth=other",
            "a=1; b=2, __Host-edgeauth=tok; c=3",
            // A planted cookie whose value carries one.
            "x=a,__Host-edgeauth=tok",
            "x, __Host-edgeauth=tok",
        ] {
            assert_eq!(find(header, DEFAULT_NAME), Err(AmbiguousCookie), "{header}");
        }
        assert_eq!(find("a=1, b=2", DEFAULT_NAME), Ok(None));
        assert_eq!(
            find("a=1, b=2; __Host-edgeauth=tok", DEFAULT_NAME),
            Ok(Some("tok"))
        );
    }

    #[test]
    fn removes_only_the_session_cookie() {
        assert_eq!(
            without("a=1; __Host-edgeauth=tok; b=2", DEFAULT_NAME).as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without("__Host-edgeauth=tok", DEFAULT_NAME), None);
        assert_eq!(
            without("x__Host-edgeauth=1", DEFAULT_NAME).as_deref(),
            Some("x__Host-edgeauth=1")
        );
        for variant in [
            "__HOST-EDGEAUTH=tok",
            "__host-edgeauth=tok",
            "%5F%5FHost-edgeauth=tok",
            "__Host%2Dedgeauth=tok",
            "__Host-%65dgeauth=tok",
            "..Host-edgeauth=tok",
            "._Host-edgeauth=tok",
        ] {
            assert_eq!(
                without(&format!("a=1; {variant}"), DEFAULT_NAME).as_deref(),
                Some("a=1"),
                "{variant}"
            );
        }
    }

    #[test]
    fn lookalikes_are_stripped_even_after_a_comma_and_when_the_cookie_is_forwarded() {
        assert_eq!(
            without("a=1, __HOST-EDGEAUTH=x, b=2; c=3", DEFAULT_NAME).as_deref(),
            Some("a=1, b=2; c=3")
        );
        assert_eq!(
            without_lookalikes("__HOST-EDGEAUTH=b; __Host-edgeauth=a; x=1", DEFAULT_NAME)
                .as_deref(),
            Some("__Host-edgeauth=a; x=1")
        );
        assert_eq!(
            without("a=1,b=2; c=3", DEFAULT_NAME).as_deref(),
            Some("a=1,b=2; c=3"),
            "untouched when nothing is dropped"
        );
    }

    #[test]
    fn set_cookie_has_the_safe_attributes() {
        let value = set(DEFAULT_NAME, "t", 60);
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=60"] {
            assert!(value.contains(attribute), "{attribute}");
        }
        assert!(!value.contains("Domain"));
        assert!(clear(DEFAULT_NAME).contains("Max-Age=0"));
    }
}
