//! The canonical request path: the one path that is both checked against the rules and sent to
//! the origin, so no origin can read the forwarded path as another one that was not checked.
//!
//! [`normalize`] decides it once, per segment:
//! - percent-escapes: unreserved characters (RFC 3986 §2.3) are decoded (`%61` → `a`, `%2e` →
//!   `.`), every other escape is kept with upper-case hex (RFC 3986 §6.2.2); the decoded bytes
//!   must be UTF-8 (no overlong `%C0%AE`);
//! - refused with 400: invalid `%`; escapes of delimiters and controls that origins decode into
//!   something else (`%2F`, `%5C`, `%3B`, `%25`, `%00`–`%1F`, `%7F`); raw `\`, controls, spaces
//!   and non-ASCII; [`LOOKALIKES`], characters that origins fold or map onto ASCII;
//! - `;parameters` (which Tomcat, Jetty and Spring cut from each segment before resolving dot
//!   segments): refused ([`Parameters::Refuse`], the default) or cut here first
//!   ([`Parameters::Strip`]), so that `..;x` is `..` for the edge exactly as for such an origin;
//! - empty segments (`//`) collapsed, dot segments removed (never above the root).
//!
//! Origins then decode the path once; [`readings`] are the decoded forms origin families read it
//! as (as it is, and as Windows/IIS trim it), and the rules must admit every one of them
//! (`tests/path_properties.rs` checks this against models of each family).

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
    /// One of the [`LOOKALIKES`].
    Lookalike,
    /// A segment Windows reads as empty, `.` or `..` that is not spelled so (`...`, `..%20`,
    /// `..::$DATA`), or an 8.3 short name (`ADMINI~1`).
    AmbiguousSegment,
}

/// Non-ASCII characters that origins turn into ASCII ones, refused in paths (inclusive ranges):
/// those whose simple case mapping is ASCII (`İ` → `i`, the Kelvin sign → `k`: case-insensitive
/// origins); those NFKC normalization maps onto a delimiter (`.`, `/`, `\`, `;`, `%`, `?`, `#`:
/// `‥` → `..`, `℀` → `a/c`, the full-width forms U+FF01–U+FF5E); and what Windows' best-fit code
/// pages map onto `/` or `\` (`¥`, `₩`, `∕`, `⁄`). Both lists are checked against the Unicode
/// tables by the tests.
pub const LOOKALIKES: [(char, char); 28] = [
    ('\u{00A5}', '\u{00A5}'),
    ('\u{0130}', '\u{0131}'),
    ('\u{017F}', '\u{017F}'),
    ('\u{037E}', '\u{037E}'),
    ('\u{2024}', '\u{2026}'),
    ('\u{2044}', '\u{2044}'),
    ('\u{2047}', '\u{2049}'),
    ('\u{20A9}', '\u{20A9}'),
    ('\u{2100}', '\u{2101}'),
    ('\u{2105}', '\u{2106}'),
    ('\u{212A}', '\u{212A}'),
    ('\u{2215}', '\u{2215}'),
    ('\u{2488}', '\u{249B}'),
    ('\u{33C2}', '\u{33C2}'),
    ('\u{33C7}', '\u{33C7}'),
    ('\u{33D8}', '\u{33D8}'),
    ('\u{FE14}', '\u{FE14}'),
    ('\u{FE16}', '\u{FE16}'),
    ('\u{FE19}', '\u{FE19}'),
    ('\u{FE30}', '\u{FE30}'),
    ('\u{FE52}', '\u{FE52}'),
    ('\u{FE54}', '\u{FE54}'),
    ('\u{FE56}', '\u{FE56}'),
    ('\u{FE5F}', '\u{FE5F}'),
    ('\u{FE68}', '\u{FE68}'),
    ('\u{FE6A}', '\u{FE6A}'),
    ('\u{FF01}', '\u{FF5E}'),
    ('\u{1F100}', '\u{1F100}'),
];

/// Whether `c` is one of the [`LOOKALIKES`].
pub fn is_lookalike(c: char) -> bool {
    LOOKALIKES
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
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

impl Parameters {
    /// `PATH_PARAMETERS`: `refuse` (the default) or `strip`.
    pub fn from_vars(vars: &crate::config::Vars) -> Result<Self, crate::config::ConfigError> {
        vars.choice(
            "PATH_PARAMETERS",
            &[("refuse", Parameters::Refuse), ("strip", Parameters::Strip)],
        )
    }
}

/// The canonical form of `raw` (the path as received, without query or fragment).
pub fn normalize(raw: &str, parameters: Parameters) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let encoded = canonical_encoding(raw)?;
    if parameters == Parameters::Refuse && encoded.contains(';') {
        return Err(PathError::Parameter);
    }
    let names: Vec<&str> = encoded
        .split('/')
        .skip(1)
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect();
    for name in &names {
        if is_short_name(name) {
            return Err(PathError::AmbiguousSegment);
        }
        if name.contains(['.', '%', ':']) && !matches!(*name, "." | "..") {
            let decoded = decode(name);
            if matches!(windows_name(&decoded), "" | "." | "..") {
                return Err(PathError::AmbiguousSegment);
            }
        }
    }
    Ok(resolve(names.into_iter(), encoded.len()))
}

/// A Windows 8.3 short name (`ADMINI~1`, `PROGRA~2.TXT`): `~` and a digit after the first
/// character, which IIS serves as the long name it abbreviates.
fn is_short_name(name: &str) -> bool {
    name.as_bytes()
        .windows(2)
        .skip(1)
        .any(|pair| pair[0] == b'~' && pair[1].is_ascii_digit())
}

/// The path of `segments` (without their leading `/`) with empty and dot segments resolved; it
/// ends in `/` when the last segment was empty, `.` or `..`.
fn resolve<'a>(segments: impl Iterator<Item = &'a str>, capacity: usize) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut ends_in_directory = false;
    for segment in segments {
        match segment {
            "" | "." => ends_in_directory = true,
            ".." => {
                kept.pop();
                ends_in_directory = true;
            }
            name => {
                kept.push(name);
                ends_in_directory = false;
            }
        }
    }
    let mut path = String::with_capacity(capacity);
    for segment in &kept {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || ends_in_directory {
        path.push('/');
    }
    path
}

/// Unreserved escapes decoded, the others kept with upper-case hex; the refusals are
/// [`PathError`]'s.
fn canonical_encoding(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    // Every byte once decoded: they must form UTF-8 (so no overlong form of `.` or `/`).
    let mut decoded = Vec::with_capacity(raw.len());
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
            i += 3;
            let c = hi << 4 | lo;
            if matches!(c, b'/' | b'\\' | b';' | b'%' | 0..=0x1f | 0x7f) {
                return Err(PathError::EncodedDelimiter);
            }
            decoded.push(c);
            if is_unreserved(c) {
                out.push(char::from(c));
            } else {
                out.push('%');
                out.push(char::from(HEX_UPPER[usize::from(c >> 4)]));
                out.push(char::from(HEX_UPPER[usize::from(c & 0x0f)]));
            }
        } else {
            if matches!(b, b'\\' | b'?' | b'#' | 0..=b' ' | 0x7f..) {
                return Err(PathError::InvalidCharacter);
            }
            decoded.push(b);
            out.push(char::from(b));
            i += 1;
        }
    }
    let decoded = std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidPercentEncoding)?;
    if decoded.chars().any(is_lookalike) {
        return Err(PathError::Lookalike);
    }
    Ok(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `path` (a result of [`normalize`]) with every valid escape decoded: what an origin routes on.
/// Unambiguous, since `%25` never survives [`normalize`].
pub fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(&[hi, lo])) => {
                let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
                    out.push(b'%');
                    i += 1;
                    continue;
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Never fails for what `normalize` accepted (UTF-8 checked there); anything else stays as it
    // was, escapes included.
    String::from_utf8(out).unwrap_or_else(|_| path.to_owned())
}

/// The decoded paths origin families read `path` (a result of [`normalize`]) as: as it is, and
/// as Windows/IIS read it (trailing dots and spaces trimmed from each segment, `::$` streams cut,
/// dot segments that trimming reveals resolved: `/public/..%20/admin` is `/admin` there). One
/// entry when both agree.
pub fn readings(path: &str) -> Vec<String> {
    let decoded = decode(path);
    let windows = windows_reading(&decoded);
    if windows == decoded {
        vec![decoded]
    } else {
        vec![decoded, windows]
    }
}

fn windows_reading(decoded: &str) -> String {
    resolve(decoded.split('/').skip(1).map(windows_name), decoded.len())
}

/// A decoded segment as Windows names it: cut at a `::$` stream, trailing dots and spaces
/// dropped (but `.` and `..` kept).
fn windows_name(segment: &str) -> &str {
    let name = segment.split("::$").next().unwrap_or_default();
    match name {
        "." | ".." => name,
        _ => name.trim_end_matches(['.', ' ']),
    }
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
            ("/a%3ab%2B", "/a%3Ab%2B"),
            ("/a:b|c", "/a:b|c"),
            ("/admin.", "/admin."),
            ("/wiki/St.", "/wiki/St."),
            ("/a%20", "/a%20"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a.b/c.d", "/a.b/c.d"),
            ("/v1/items:batch", "/v1/items:batch"),
            ("/~1/x~", "/~1/x~"),
            ("/~user/a~b", "/~user/a~b"),
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
    fn windows_readings_trim_segments_and_resolve_what_trimming_reveals() {
        for (path, want) in [
            ("/admin", vec!["/admin"]),
            ("/admin.", vec!["/admin.", "/admin"]),
            ("/admin./users", vec!["/admin./users", "/admin/users"]),
            ("/admin%20", vec!["/admin ", "/admin"]),
            ("/admin.%20./x", vec!["/admin. ./x", "/admin/x"]),
            ("/admin::$DATA", vec!["/admin::$DATA", "/admin"]),
            (
                "/public/a..%20/admin",
                vec!["/public/a.. /admin", "/public/a/admin"],
            ),
            ("/a%3Ab", vec!["/a:b"]),
            ("/caf%C3%A9", vec!["/caf\u{e9}"]),
        ] {
            assert_eq!(readings(path), want, "{path}");
        }
    }

    #[test]
    fn refuses_segments_windows_reads_as_dot_or_empty() {
        for raw in [
            "/public/...",
            "/public/..%20/admin",
            "/public/.%20/admin",
            "/public/%20/admin",
            "/public/..::$DATA/admin",
            "/public/::$DATA/admin",
            "/public/.. . /admin",
            "/ADMINI~1/x",
            "/public/PROGRA~2.TXT",
        ] {
            let want = if raw.contains(' ') {
                PathError::InvalidCharacter
            } else {
                PathError::AmbiguousSegment
            };
            assert_eq!(canonical(raw), Err(want), "{raw}");
        }
    }

    #[test]
    fn refuses_characters_origins_map_onto_ascii() {
        for raw in [
            "/adm%C4%B0n",                              // İ: Java lower-cases it to i
            "/%E2%84%AAey",                             // Kelvin sign: k
            "/%C5%BFecret",                             // long s: S
            "/%C4%B1nternal",                           // dotless i: I
            "/public/%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin", // full-width ../
            "/public/%EF%BD%81dmin",                    // full-width a
            "/public/%C2%A5..%C2%A5admin",              // ¥ is \ in cp932
            "/public/%E2%80%A5/admin",                  // two dot leader: NFKC ..
            "/public/..%E2%88%95admin",                 // division slash
        ] {
            assert_eq!(canonical(raw), Err(PathError::Lookalike), "{raw}");
        }
        assert_eq!(canonical("/stra%C3%9Fe").as_deref(), Ok("/stra%C3%9Fe"));
    }

    /// [`LOOKALIKES`] is exactly: every character whose simple case mapping is ASCII, every one
    /// NFKC maps onto text holding a delimiter, the full-width ASCII block, and five named ones;
    /// by the Unicode tables
    /// of the standard library and of `unicode-normalization`.
    #[test]
    fn lookalikes_are_exactly_what_unicode_maps_onto_ascii_or_delimiters() {
        use unicode_normalization::UnicodeNormalization;
        let simple = |mapped: &mut dyn Iterator<Item = char>| match (mapped.next(), mapped.next()) {
            (Some(c), None) => c.is_ascii(),
            _ => false,
        };
        // Best-fit mappings, and İ, which Java's simple lower-casing maps to `i` (the standard
        // library knows only its full mapping, `i` with a combining dot).
        let named = ['\u{00A5}', '\u{20A9}', '\u{2044}', '\u{2215}', '\u{0130}'];
        for c in ('\u{80}'..=char::MAX).filter(|c| !c.is_ascii()) {
            let case = simple(&mut c.to_lowercase()) || simple(&mut c.to_uppercase());
            let nfkc = std::iter::once(c)
                .nfkc()
                .any(|n| matches!(n, '.' | '/' | '\\' | ';' | '%' | '?' | '#'));
            let full_width = ('\u{FF01}'..='\u{FF5E}').contains(&c);
            let want = case || nfkc || full_width || named.contains(&c);
            assert_eq!(is_lookalike(c), want, "U+{:04X}", u32::from(c));
        }
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
