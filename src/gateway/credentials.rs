//! Where a request's credential comes from: the session cookie, `Authorization: Bearer` (our
//! session or a trusted issuer's access token), or the two service token headers.

use crate::gateway::cookie;

/// Where the credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The session cookie (browsers).
    Cookie,
    /// `Authorization: Bearer` (API clients).
    Bearer,
    /// The service token headers (programs).
    ServiceToken,
}

/// Credentials that cannot be read unambiguously. Refused with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// More than one session cookie, or one after a `,` (a second `Cookie` line).
    AmbiguousCookie,
    /// A cookie and a bearer token that differ.
    Conflicting,
    /// `Authorization: Bearer` without a single token after it.
    MalformedBearer,
}

/// The token presented with a request, if any.
///
/// A non-Bearer `Authorization` scheme is not ours and is ignored (and forwarded untouched).
pub fn extract<'a>(
    cookie_header: Option<&'a str>,
    authorization: Option<&'a str>,
    cookie_name: &str,
) -> Result<Option<(&'a str, Source)>, CredentialError> {
    let from_cookie = match cookie_header {
        Some(header) => cookie::find(header, cookie_name)
            .map_err(|_| CredentialError::AmbiguousCookie)?
            .filter(|value| !value.is_empty()),
        None => None,
    };
    let from_bearer = authorization.map(bearer_token).transpose()?.flatten();
    match (from_cookie, from_bearer) {
        (Some(a), Some(b)) if a != b => Err(CredentialError::Conflicting),
        (_, Some(token)) => Ok(Some((token, Source::Bearer))),
        (Some(token), None) => Ok(Some((token, Source::Cookie))),
        (None, None) => Ok(None),
    }
}

/// `Some(token)` for `Bearer <token>`, `None` for another scheme.
fn bearer_token(header: &str) -> Result<Option<&str>, CredentialError> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    if token.is_empty() || token.contains([' ', '\t', ',']) {
        return Err(CredentialError::MalformedBearer);
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = cookie::DEFAULT_NAME;

    #[test]
    fn cookie_or_bearer() {
        assert_eq!(
            extract(Some("__Host-edgeauth=t1"), None, NAME),
            Ok(Some(("t1", Source::Cookie)))
        );
        assert_eq!(
            extract(None, Some("Bearer t2"), NAME),
            Ok(Some(("t2", Source::Bearer)))
        );
        assert_eq!(
            extract(None, Some("bearer  t2 "), NAME),
            Ok(Some(("t2", Source::Bearer)))
        );
        assert_eq!(
            extract(Some("__Host-edgeauth=t1"), Some("Bearer t1"), NAME),
            Ok(Some(("t1", Source::Bearer))),
            "both present and equal"
        );
        assert_eq!(extract(None, Some("Basic dXNlcjpwdw=="), NAME), Ok(None));
        assert_eq!(extract(Some("other=1"), None, NAME), Ok(None));
        assert_eq!(extract(Some("__Host-edgeauth="), None, NAME), Ok(None));
    }

    #[test]
    fn ambiguous_credentials_are_refused() {
        assert_eq!(
            extract(Some("__Host-edgeauth=t1"), Some("Bearer t2"), NAME),
            Err(CredentialError::Conflicting)
        );
        assert_eq!(
            extract(Some("__Host-edgeauth=a; __Host-edgeauth=b"), None, NAME),
            Err(CredentialError::AmbiguousCookie)
        );
        for header in ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b"] {
            assert_eq!(
                extract(None, Some(header), NAME),
                Err(CredentialError::MalformedBearer),
                "{header}"
            );
        }
    }
}
