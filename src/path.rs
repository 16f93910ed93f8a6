//! The canonical request path: the one path that is both checked against the rules and sent to
//! the origin, so no origin can read the forwarded path as another one.
//!
//! [`normalize`] decides it once, per segment:
//! - one spelling per byte: what may stand raw in a segment (unreserved, sub-delimiters, `:`,
//!   `@`) stands raw (`%61` → `a`, `%2e` → `.`, `%3A` → `:`), everything else is escaped with
//!   upper-case hex (`|` → `%7C`, `%c3%a9` → `%C3%A9`); the decoded bytes must be UTF-8 (no
//!   overlong `%C0%AE`);
//! - refused with 400: invalid `%`; escapes of delimiters and controls that origins decode into
//!   something else (`%2F`, `%5C`, `%3B`, `%25`, `%00`–`%1F`, `%7F`); raw `\`, controls, spaces
//!   and non-ASCII; a segment ending in `.` or an encoded space (`%20`), or holding `::$`, which
//!   Windows/IIS strip or read as a file stream;
//! - `;parameters` (which Tomcat, Jetty and Spring cut from each segment before resolving dot
//!   segments): refused ([`Parameters::Refuse`], the default) or cut here first
//!   ([`Parameters::Strip`]), so that `..;x` is `..` for the edge exactly as for such an origin;
//! - empty segments (`//`) collapsed, dot segments removed (never above the root).
//!
//! The result holds no escape an origin would decode into a delimiter, no dot or empty segment
//! and no parameter, and two paths an origin decodes alike are equal here: decoding it once
//! gives the path every origin family above resolves it to (`tests/path_properties.rs`).
//! The query string is not part of the path and never influences matching.

/// Why a path was refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits, or escapes that are not UTF-8.
    InvalidPercentEncoding,
    /// An escaped delimiter or control (`%2F`, `%5C`, `%3B`, `%25`, `%00`–`%1F`, `%7F`): a
    /// separator, parameter, second escape or control smuggled past the router.
    EncodedDelimiter,
    /// A raw backslash, control character, space or non-ASCII byte.
    InvalidCharacter,
    /// A `;parameter` while they are refused ([`Parameters::Refuse`]).
    Parameter,
    /// A segment that Windows/IIS origins read as another one: a trailing `.` or `%20`, `::$`.
    AmbiguousSegment,
}

/// What to do with `;parameters` in path segments (`PATH_PARAMETERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parameters {
    /// Any `;` in the path is refused with 400.
    #[default]
    Refuse,
    /// Each segment is cut at its first `;` before dot segments are resolved; the origin
    /// receives the path without them.
    Strip,
}

/// The canonical form of `raw` (the path as received, without query or fragment).
pub fn normalize(raw: &str, parameters: Parameters) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = canonical_encoding(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    // Whether the path names a directory: it ends in `/`, `.` or `..`.
    let mut ends_in_directory = false;
    for segment in decoded.split('/').skip(1) {
        let name = match (segment.split_once(';'), parameters) {
            (None, _) => segment,
            (Some(_), Parameters::Refuse) => return Err(PathError::Parameter),
            (Some((name, _)), Parameters::Strip) => name,
        };
        match name {
            "" | "." => ends_in_directory = true,
            ".." => {
                segments.pop();
                ends_in_directory = true;
            }
            name if is_ambiguous_on_windows(name) => return Err(PathError::AmbiguousSegment),
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
    if path.is_empty() || ends_in_directory {
        path.push('/');
    }
    Ok(path)
}

/// Windows file systems drop trailing dots and spaces (`admin.` and `admin%20` are `admin`) and
/// read `name::$DATA` as the file `name`.
fn is_ambiguous_on_windows(name: &str) -> bool {
    name.ends_with('.') || name.ends_with("%20") || name.contains("::$")
}

/// Percent-encoding in its one canonical spelling: every byte that may stand raw in a path
/// segment (unreserved, sub-delimiters, `:`, `@`) raw, every other byte escaped with upper-case
/// hex, so two spellings an origin decodes alike (`/a:b`, `/a%3Ab`; `/a|b`, `/a%7Cb`) are one
/// path here too. The refusals are [`PathError`]'s.
fn canonical_encoding(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    // Every byte once decoded: they must form UTF-8 (so no overlong form of `.` or `/`).
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let c = if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(PathError::InvalidPercentEncoding);
            };
            i += 3;
            match hi << 4 | lo {
                b'/' | b'\\' | b';' | b'%' | 0..=0x1f | 0x7f => {
                    return Err(PathError::EncodedDelimiter)
                }
                c => c,
            }
        } else {
            i += 1;
            match b {
                b'\\' | b'?' | b'#' | 0..=b' ' | 0x7f.. => return Err(PathError::InvalidCharacter),
                b => b,
            }
        };
        decoded.push(c);
        if stands_raw(c) || c == b'/' {
            out.push(char::from(c));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(c >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(c & 0x0f)]));
        }
    }
    std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidPercentEncoding)?;
    Ok(out)
}

/// RFC 3986 `pchar` without escapes: unreserved, sub-delimiters, `:` and `@`.
fn stands_raw(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> Result<String, PathError> {
        normalize(raw, Parameters::Refuse)
    }

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
            ("/a//", "/a/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/..", "/"),
            ("/%61dmin", "/admin"),
            ("/%7euser", "/~user"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%23b", "/a%23b"),
            (
                "/a%3Ab%40c%21%24%26%27%28%29%2A%2B%2C%3D",
                "/a:b@c!$&'()*+,=",
            ),
            (
                "/a|b^c[d]e{f}g`h\"i<j>",
                "/a%7Cb%5Ec%5Bd%5De%7Bf%7Dg%60h%22i%3Cj%3E",
            ),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a.b/c.d", "/a.b/c.d"),
            ("/v1/items:batch", "/v1/items:batch"),
        ] {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_smuggled_delimiters_and_bad_encoding() {
        for (raw, why) in [
            ("/admin%2f..", PathError::EncodedDelimiter),
            ("/admin%2F..", PathError::EncodedDelimiter),
            ("/public%5c..%5cadmin", PathError::EncodedDelimiter),
            ("/admin%00.html", PathError::EncodedDelimiter),
            ("/admin%3b/x", PathError::EncodedDelimiter),
            ("/public/..%3Bx/admin", PathError::EncodedDelimiter),
            ("/%252e%252e/admin", PathError::EncodedDelimiter),
            ("/admin%0d%0aX-Auth-User:%20x", PathError::EncodedDelimiter),
            ("/admin%7f", PathError::EncodedDelimiter),
            ("/admin%", PathError::InvalidPercentEncoding),
            ("/admin%4", PathError::InvalidPercentEncoding),
            ("/admin%zz", PathError::InvalidPercentEncoding),
            ("/%u002e%u002e/admin", PathError::InvalidPercentEncoding),
            (
                "/public/%c0%ae%c0%ae/admin",
                PathError::InvalidPercentEncoding,
            ),
            ("/public/%c0%af../admin", PathError::InvalidPercentEncoding),
            ("/public/%e0%80%ae/admin", PathError::InvalidPercentEncoding),
            ("/caf%c3", PathError::InvalidPercentEncoding),
            ("/caf%c3x", PathError::InvalidPercentEncoding),
            ("/public\\..\\admin", PathError::InvalidCharacter),
            ("/a b", PathError::InvalidCharacter),
            ("/a?b", PathError::InvalidCharacter),
            ("/a#b", PathError::InvalidCharacter),
            ("/a\tb", PathError::InvalidCharacter),
            ("/caf\u{e9}", PathError::InvalidCharacter),
            ("admin", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(canonical(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn refuses_parameters_by_default_in_every_position() {
        for raw in [
            "/admin;x",
            "/admin;",
            "/admin;x;y/users",
            "/public/..;x/admin",
            "/public/..;/admin",
            "/public/.;x/../admin",
            "/public/;x/../admin",
            "/;x/admin",
            "/public;/../admin",
            "/public/%2e%2e;x/admin",
            "/public/.%2e;x/admin",
            "/a/b;jsessionid=ABC",
        ] {
            assert_eq!(canonical(raw), Err(PathError::Parameter), "{raw}");
        }
    }

    #[test]
    fn stripped_parameters_are_cut_before_dot_segments_as_tomcat_does() {
        for (raw, want) in [
            ("/admin;x", "/admin"),
            ("/admin;x;y/users;z", "/admin/users"),
            ("/public/..;x/admin", "/admin"),
            ("/public/..;/admin", "/admin"),
            ("/public/%2e%2e;x/admin", "/admin"),
            ("/public/.;x/admin", "/public/admin"),
            ("/public/;x/../admin", "/admin"),
            ("/;x/admin", "/admin"),
            ("/public;x/", "/public/"),
            ("/a/b;jsessionid=ABC", "/a/b"),
            ("/a/..;", "/"),
        ] {
            assert_eq!(
                normalize(raw, Parameters::Strip).as_deref(),
                Ok(want),
                "{raw}"
            );
        }
        assert_eq!(
            normalize("/admin%3bx", Parameters::Strip),
            Err(PathError::EncodedDelimiter)
        );
    }

    #[test]
    fn refuses_segments_windows_reads_as_others() {
        for raw in [
            "/admin.",
            "/admin./users",
            "/admin%2e",
            "/admin..",
            "/admin%20",
            "/admin%20/users",
            "/admin.%20",
            "/...",
            "/admin::$DATA",
            "/admin::$INDEX_ALLOCATION/x",
        ] {
            assert_eq!(canonical(raw), Err(PathError::AmbiguousSegment), "{raw}");
        }
        assert_eq!(
            normalize("/admin.;x", Parameters::Strip),
            Err(PathError::AmbiguousSegment)
        );
    }

    #[test]
    fn normalization_is_idempotent() {
        for raw in [
            "/a/../b//c/./d/",
            "/%41%2e%41/x",
            "/x/%7E/..",
            "/a%3Fb/c",
            "/%c3%a9",
        ] {
            let once = canonical(raw).expect("valid");
            assert_eq!(canonical(&once).as_deref(), Ok(once.as_str()), "{raw}");
        }
    }
}
