//! `next`: where the browser goes after logging in (only ever a path on this origin), and the
//! login URL that brings it back to where it was going.

/// Longest `next` accepted, in bytes (2 KiB); longer values become `/`.
pub const MAX_NEXT_BYTES: usize = 2048;

/// Where to go after logging in: `raw` when it is a path on this origin, else `/`.
///
/// Accepted: at most [`MAX_NEXT_BYTES`] of visible ASCII (no spaces, controls or non-ASCII:
/// browsers send paths percent-encoded), starting with exactly one `/` (so `//host` and
/// `/\host`, which browsers read as another host, are refused), with no backslash anywhere.
/// Then the value is percent-decoded once and checked again: invalid percent-encoding, a
/// decoded `/` or `\` right after the first `/` (`/%2f/host`, `/%5chost`), a decoded backslash
/// anywhere, or any decoded control character (`%0d%0a`, `%09`, `%00`, `%7f`, C1 controls) is
/// refused. An encoded `/` further in (`/a%2fb`) is an ordinary path and kept. Schemes
/// (`https:`, `javascript:`) cannot pass: nothing that starts with a single `/` has one.
///
/// The returned value is `raw` unchanged (not the decoded form), ready for a `Location` header.
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(raw) if is_safe_next(raw) => raw.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_safe_next(raw: &str) -> bool {
    if raw.len() > MAX_NEXT_BYTES
        || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        || !starts_with_one_slash(raw.as_bytes())
    {
        return false;
    }
    let Some(decoded) = percent_decode(raw.as_bytes()) else {
        return false;
    };
    starts_with_one_slash(&decoded)
        && !decoded.iter().any(|&b| b == b'\\' || b.is_ascii_control())
        && !String::from_utf8_lossy(&decoded)
            .chars()
            .any(char::is_control)
}

fn starts_with_one_slash(path: &[u8]) -> bool {
    path.first() == Some(&b'/') && !matches!(path.get(1), Some(b'/' | b'\\'))
}

/// Decodes every `%XX` once; `None` on a `%` not followed by two hex digits.
pub(crate) fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        if b == b'%' {
            let high = hex_value(*bytes.next()?)?;
            let low = hex_value(*bytes.next()?)?;
            out.push(high << 4 | low);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The login page URL that returns to `path` (and `query`) afterwards.
pub fn login_location(path: &str, query: Option<&str>) -> String {
    let mut next = path.to_owned();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        next.push('?');
        next.push_str(query);
    }
    format!("/auth/login?next={}", encode_component(&next))
}

/// Where a browser whose login is too old for `path` goes: the login page, asking every method
/// to authenticate afresh (`reauth=1`: single sign-on with `prompt=login`), then back.
pub fn reauthentication_location(path: &str, query: Option<&str>) -> String {
    format!("{}&reauth=1", login_location(path, query))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_next_keeps_same_origin_paths() {
        let longest = format!("/{}", "a".repeat(MAX_NEXT_BYTES - 1));
        for good in [
            "/",
            "/app",
            "/app/page?x=1&y=two#frag",
            "/a%2fb",
            "/a/%2F/b",
            "/caf%C3%A9",
            "/search?q=%20x%20",
            "/.well-known/x",
            "/..//x",
            "/javascript:alert(1)",
            // Decoded once it is `/%2f%2fevil.com`: still a path here.
            "/%252f%252fevil.com",
            longest.as_str(),
        ] {
            assert_eq!(safe_next(Some(good)), good, "{good:?} should be kept");
        }
    }

    #[test]
    fn safe_next_refuses_every_trick() {
        let too_long = format!("/{}", "a".repeat(MAX_NEXT_BYTES));
        for (attack, bad) in [
            ("empty", ""),
            ("relative", "app"),
            ("dot relative", "./app"),
            ("protocol-relative", "//evil.com"),
            ("triple slash", "///evil.com"),
            ("slash backslash", "/\\evil.com"),
            ("backslashes", "\\\\evil.com"),
            ("slash backslash slash", "/\\/evil.com"),
            ("backslash inside", "/a\\b"),
            ("https scheme", "https://evil.com"),
            ("scheme without slashes", "http:evil.com"),
            ("javascript", "javascript:alert(1)"),
            ("mixed-case javascript", "JaVaScRiPt:alert(1)"),
            ("data", "data:text/html,<script>alert(1)</script>"),
            ("encoded slashes", "%2f%2fevil.com"),
            ("slash then encoded slash", "/%2f/evil.com"),
            ("slash then encoded slashes", "/%2F%2Fevil.com"),
            ("slash then encoded backslash", "/%5cevil.com"),
            ("slash then encoded backslash upper", "/%5Cevil.com"),
            ("encoded backslash inside", "/a%5cb"),
            ("encoded CRLF at start", "/%0d%0aSet-Cookie:x=1"),
            ("encoded CRLF inside", "/app%0D%0ALocation:%20//evil.com"),
            ("encoded tab", "/%09/evil.com"),
            ("encoded NUL", "/app%00"),
            ("encoded DEL", "/app%7f"),
            ("encoded C1 control (NEL)", "/app%C2%85"),
            ("raw CRLF", "/app\r\nSet-Cookie: x=1"),
            ("raw LF", "/\n/evil.com"),
            ("raw tab", "/\t/evil.com"),
            ("raw space", "/ /evil.com"),
            ("leading space", " /app"),
            ("raw non-ASCII", "/caf\u{e9}"),
            ("raw line separator", "/a\u{2028}b"),
            ("invalid percent-encoding", "/%zz"),
            ("truncated percent-encoding", "/%2"),
            ("lone percent", "/%"),
            ("over 2 KiB", too_long.as_str()),
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{attack}: {bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
