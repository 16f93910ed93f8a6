//! The session cookie: finding it in a `Cookie` header, removing it before forwarding, and
//! the `Set-Cookie` values that set and clear it.

/// Default session cookie name. The `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`, so no subdomain can plant or shadow it.
pub const DEFAULT_NAME: &str = "__Host-edgeauth";

/// The `Cookie` header held two session cookies: someone planted one. Refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateCookie;

/// The value of the cookie called `name` in a `Cookie` header, if present exactly once.
pub fn find<'a>(header: &'a str, name: &str) -> Result<Option<&'a str>, DuplicateCookie> {
    let mut found = None;
    for (cookie_name, value) in pairs(header) {
        if cookie_name == name {
            if found.is_some() {
                return Err(DuplicateCookie);
            }
            found = Some(value);
        }
    }
    Ok(found)
}

/// The `Cookie` header without the cookie called `name`; `None` when nothing is left.
pub fn without(header: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split_once('=').map_or(*pair, |(n, _)| n.trim()) != name)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// A `Set-Cookie` value for the session: `HttpOnly; Secure; SameSite=Lax; Path=/`.
pub fn set(name: &str, token: &str, max_age_secs: u64) -> String {
    format!("{name}={token}; Max-Age={max_age_secs}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// A `Set-Cookie` value that deletes the session cookie.
pub fn clear(name: &str) -> String {
    format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some((name.trim(), value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(DuplicateCookie)
        );
        assert_eq!(
            find("__Host-edgeauth=a;x=1; __Host-edgeauth=a", DEFAULT_NAME),
            Err(DuplicateCookie)
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
