//! The canonical path against models of how origin families read a path: whatever the raw
//! spelling, the path the edge forwards is read by every model as exactly the path the edge
//! matched, so it falls under the same rule. Raw paths are drawn from the pieces path tricks are
//! made of (`;`, dots, slashes, escapes of both, spaces, case).

use edgeauth::gateway::path::{self, Parameters};
use edgeauth::gateway::rules::{Access, AccessRules};
use proptest::prelude::*;

const RULES: &str = r#"[
    {"path": "/", "access": "public"},
    {"path": "/public/*", "access": "public"},
    {"path": "/admin/*", "roles": ["admin"]},
    {"path": "/admin/status", "access": "authenticated"},
    {"path": "/a:b", "roles": ["colon"]}
]"#;

/// Percent-decodes every escape (what an origin does before it routes).
fn decode(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at..at + 2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        match (bytes[i], hex(i + 1)) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Removes dot and empty segments from `/`-separated, already decoded segments.
fn resolve<'a>(segments: impl Iterator<Item = &'a [u8]>, trailing: bool) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut directory = trailing;
    for segment in segments {
        match segment {
            b"" | b"." => directory = true,
            b".." => {
                kept.pop();
                directory = true;
            }
            name => {
                kept.push(name);
                directory = false;
            }
        }
    }
    let mut out = Vec::new();
    for segment in kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() || directory {
        out.push(b'/');
    }
    out
}

/// Tomcat, Jetty, Spring: `;parameters` cut from each raw segment, then decoded, then dot and
/// empty segments resolved.
fn tomcat(path: &str) -> Vec<u8> {
    let decoded: Vec<Vec<u8>> = path
        .split('/')
        .skip(1)
        .map(|segment| decode(segment.split(';').next().unwrap_or_default()))
        .collect();
    resolve(decoded.iter().map(Vec::as_slice), path.ends_with('/'))
}

/// IIS on NTFS: decoded, `\` is `/`, trailing dots and spaces and `::$` streams dropped from each
/// segment, dot segments resolved, case ignored.
fn iis(path: &str) -> Vec<u8> {
    let decoded: Vec<u8> = decode(path)
        .into_iter()
        .map(|b| if b == b'\\' { b'/' } else { b })
        .collect();
    let names: Vec<Vec<u8>> = decoded
        .split(|&b| b == b'/')
        .skip(1)
        .map(|segment| {
            let mut name = segment.to_vec();
            if let Some(at) = name.windows(3).position(|w| w == b"::$") {
                name.truncate(at);
            }
            if name != b"." && name != b".." {
                while name.last().is_some_and(|&b| b == b'.' || b == b' ') {
                    name.pop();
                }
            }
            name.to_ascii_lowercase()
        })
        .collect();
    resolve(
        names.iter().map(Vec::as_slice),
        decoded.ends_with(b"/") || decoded.ends_with(b"\\"),
    )
}

/// An RFC 3986 server (nginx with `merge_slashes`): decoded, dot and empty segments resolved;
/// `;` is an ordinary character.
fn rfc3986(path: &str) -> Vec<u8> {
    let decoded = decode(path);
    let segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').skip(1).collect();
    resolve(segments.into_iter(), decoded.ends_with(b"/"))
}

fn pieces() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/",
        "/",
        "/",
        ";",
        ";x",
        ";x=1",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2e%2e",
        "%3b",
        "%3B",
        "%20",
        " ",
        "%25",
        "%2f",
        "%5c",
        "\\",
        "a",
        "b",
        "admin",
        "Admin",
        "public",
        "status",
        "%61",
        "%41",
        ":",
        "%3A",
        "::$DATA",
        "|",
        "%7C",
        "%c3%a9",
        "%c0%ae",
        "~",
        "%7e",
        ".json",
        "%EF%BC%8E",
        "%C4%B0",
    ]);
    prop::collection::vec(piece, 0..14).prop_map(|pieces| format!("/{}", pieces.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// Whatever is forwarded, every origin model reads as a path whose rule the edge applied.
    #[test]
    fn every_origin_reads_the_forwarded_path_as_a_checked_one(
        raw in pieces(),
        strip in any::<bool>(),
        method in prop::sample::select(vec!["GET", "POST", "PROPFIND"]),
    ) {
        let parameters = if strip { Parameters::Strip } else { Parameters::Refuse };
        let Ok(forwarded) = path::normalize(&raw, parameters) else {
            return Ok(()); // refused with 400: nothing reaches the origin
        };
        let rules = AccessRules::from_json(RULES, false).expect("rules");
        let folded = AccessRules::from_json(RULES, true).expect("rules");
        let required = rules.access_for(method, &forwarded);
        let decoded = path::decode(&forwarded);
        // Parameter-cutting and RFC 3986 origins decode it and find nothing more to resolve:
        // they read exactly the decoded path the rules were asked about.
        for (family, read) in [("tomcat", tomcat(&forwarded)), ("rfc3986", rfc3986(&forwarded))] {
            prop_assert_eq!(&read, decoded.as_bytes(), "{} reads {:?} as another path", family, raw);
        }
        // IIS reads one of the edge's readings, case folded; what a case-insensitive rule set
        // requires of it is part of what the edge required.
        let iis = String::from_utf8(iis(&forwarded)).expect("utf-8");
        prop_assert!(
            path::readings(&forwarded).iter().any(|r| r.eq_ignore_ascii_case(&iis)),
            "iis reads {:?} as {:?}", raw, iis
        );
        for access in folded.access_for(method, &iis).accesses() {
            prop_assert!(required.accesses().contains(&access), "{:?}: {:?} not required", raw, access);
        }
    }

    /// What the edge admits, it reads as a parameter-cutting origin would have read the raw
    /// request (so matching the canonical path is matching what that origin serves).
    #[test]
    fn the_edge_reads_raw_paths_as_tomcat_does(raw in pieces(), strip in any::<bool>()) {
        let parameters = if strip { Parameters::Strip } else { Parameters::Refuse };
        if let Ok(forwarded) = path::normalize(&raw, parameters) {
            prop_assert_eq!(path::decode(&forwarded).into_bytes(), tomcat(&raw), "{:?}", raw);
        }
    }

    #[test]
    fn canonical_paths_are_fixed_points(raw in pieces(), strip in any::<bool>()) {
        let parameters = if strip { Parameters::Strip } else { Parameters::Refuse };
        if let Ok(once) = path::normalize(&raw, parameters) {
            prop_assert_eq!(path::normalize(&once, Parameters::Refuse), Ok(once.clone()));
        }
    }
}

/// The generator reaches both outcomes, and the protected paths: a property over only refused
/// paths would prove nothing.
#[test]
fn the_pieces_reach_protected_paths_and_refusals() {
    let rules = AccessRules::from_json(RULES, false).expect("rules");
    let admin = Access::AnyRole(vec!["admin".into()]);
    for (raw, parameters, want) in [
        ("/public/..;x/admin", Parameters::Strip, Some("/admin")),
        ("/public/..;x/admin", Parameters::Refuse, None),
        ("/public/%2e%2e/admin", Parameters::Refuse, Some("/admin")),
        ("/%41dmin/../admin", Parameters::Refuse, Some("/admin")),
        ("/admin%20", Parameters::Refuse, Some("/admin%20")),
        ("/a%3Ab", Parameters::Refuse, Some("/a%3Ab")),
    ] {
        let got = path::normalize(raw, parameters).ok();
        assert_eq!(got.as_deref(), want, "{raw}");
        if let Some(path) = want.filter(|p| p.starts_with("/admin")) {
            assert!(
                rules.access_for("GET", path).accesses().contains(&&admin),
                "{raw}"
            );
        }
    }
    assert_eq!(
        rules.access_for("GET", "/a:b"),
        rules.access_for("GET", "/a%3Ab")
    );
    assert!(rules
        .access_for("GET", "/ADMIN/x")
        .accesses()
        .contains(&&admin));
}
