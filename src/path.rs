//! Request path normalization: the one path that is both checked against the rules and sent
//! to the origin.
//!
//! Steps: percent-decode unreserved characters (RFC 3986 §2.3) and upper-case the hex of the
//! rest; refuse encoded `/`, `\` and NUL, invalid percent-encoding, raw `\`, controls and
//! non-ASCII; collapse empty segments (`//`); remove dot segments (never above the root).
//! The query string is not part of the path and never influences matching.

/// Why a path was refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    InvalidPercentEncoding,
    /// `%2F`, `%5C` or `%00`: a separator or NUL smuggled past the router.
    EncodedSeparator,
    /// A raw backslash, control character, space or non-ASCII byte.
    InvalidCharacter,
}

/// Normalizes `raw` (the path as received, without query or fragment).
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(raw)?;
    let trailing_slash = decoded.ends_with('/');
    let mut segments: Vec<&str> = Vec::new();
    let mut ends_in_directory = trailing_slash;
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." => ends_in_directory = true,
            ".." => {
                segments.pop();
                ends_in_directory = true;
            }
            name => {
                segments.push(name);
                ends_in_directory = false;
            }
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || ends_in_directory || trailing_slash {
        path.push('/');
    }
    Ok(path)
}

fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(PathError::InvalidPercentEncoding);
            };
            let decoded = hi << 4 | lo;
            match decoded {
                b'/' | b'\\' | 0 => return Err(PathError::EncodedSeparator),
                c if is_unreserved(c) => out.push(c as char),
                c => {
                    out.push('%');
                    out.push(HEX_UPPER[usize::from(c >> 4)] as char);
                    out.push(HEX_UPPER[usize::from(c & 0x0f)] as char);
                }
            }
            i += 3;
        } else if b == b'\\' || b <= b' ' || b >= 0x7f {
            return Err(PathError::InvalidCharacter);
        } else {
            out.push(b as char);
            i += 1;
        }
    }
    Ok(out)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dot_segments_empty_segments_and_unreserved_escapes() {
        for (raw, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("//admin", "/admin"),
            ("///admin//panel", "/admin/panel"),
            ("/a/./b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/..", "/"),
            ("/%61dmin", "/admin"),
            ("/%7euser", "/~user"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/%252e%252e/admin", "/%252e%252e/admin"),
            ("/admin;x", "/admin;x"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_smuggled_separators_and_bad_encoding() {
        for (raw, why) in [
            ("/admin%2f..", PathError::EncodedSeparator),
            ("/admin%2F..", PathError::EncodedSeparator),
            ("/public%5c..%5cadmin", PathError::EncodedSeparator),
            ("/admin%00.html", PathError::EncodedSeparator),
            ("/admin%", PathError::InvalidPercentEncoding),
            ("/admin%4", PathError::InvalidPercentEncoding),
            ("/admin%zz", PathError::InvalidPercentEncoding),
            ("/public\\..\\admin", PathError::InvalidCharacter),
            ("/a b", PathError::InvalidCharacter),
            ("/a\tb", PathError::InvalidCharacter),
            ("/caf\u{e9}", PathError::InvalidCharacter),
            ("admin", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(normalize(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn normalization_is_idempotent() {
        for raw in ["/a/../b//c/./d/", "/%41%2e/x", "/x/%7E/..", "/a%3Fb/c"] {
            let once = normalize(raw).expect("valid");
            assert_eq!(normalize(&once).as_deref(), Ok(once.as_str()), "{raw}");
        }
    }
}
