//! The cross-site check on every state-changing `/auth/*` POST.

/// Whether a state-changing request comes from this origin.
///
/// - `Origin` present: it must equal `expected_origin` (`scheme://host[:port]`) exactly, with
///   scheme and host compared case-insensitively. `Origin: null` (sandboxed frames, some
///   redirects), a trailing `/`, or an explicit default port that `expected_origin` does not
///   have are all refused.
/// - `Origin` absent: `Sec-Fetch-Site` must be `same-origin` or `none` (the user typed or
///   bookmarked it).
/// - Neither header: refused (fail closed). Current browsers send at least one of them on every
///   POST, so only old browsers and non-browser clients lack both; a script calling the JSON
///   login must send an `Origin` naming this origin.
///
/// A `Sec-Fetch-Site` of `cross-site` or `same-site` refuses the request even when `Origin`
/// matches: the two headers then disagree and neither is trusted.
pub fn is_same_origin(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    expected_origin: &str,
) -> bool {
    let site_allows = |site: &str| matches!(site.trim(), "same-origin" | "none");
    if sec_fetch_site.is_some_and(|site| !site_allows(site)) {
        return false;
    }
    match origin {
        Some(origin) => origins_equal(origin, expected_origin),
        None => sec_fetch_site.is_some(),
    }
}

fn origins_equal(received: &str, expected: &str) -> bool {
    let (Some((scheme_a, host_a)), Some((scheme_b, host_b))) =
        (received.split_once("://"), expected.split_once("://"))
    else {
        return false;
    };
    let is_authority = |host: &str| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"/?#@\\".contains(&b))
    };
    is_authority(host_a)
        && is_authority(host_b)
        && scheme_a.eq_ignore_ascii_case(scheme_b)
        && host_a.eq_ignore_ascii_case(host_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGE: &str = "https://edge.example";

    #[test]
    fn same_origin_by_origin_header() {
        for (origin, site, expected) in [
            (Some(EDGE), None, true),
            (Some("https://EDGE.Example"), None, true),
            (Some("HTTPS://edge.example"), Some("same-origin"), true),
            (Some(EDGE), Some("none"), true),
            (Some("http://edge.example"), None, false),
            (Some("https://edge.example:443"), None, false),
            (Some("https://edge.example:8443"), None, false),
            (Some("https://edge.example/"), None, false),
            (Some("https://edge.example.evil.com"), None, false),
            (Some("https://evil.com"), None, false),
            (Some("https://edge.exampl"), None, false),
            (Some("https://user@edge.example"), None, false),
            (Some("null"), None, false),
            (Some("null"), Some("same-origin"), false),
            (Some(""), Some("same-origin"), false),
            (Some("https://evil.com"), Some("same-origin"), false),
            // The headers disagree: neither is trusted.
            (Some(EDGE), Some("cross-site"), false),
            (Some(EDGE), Some("same-site"), false),
        ] {
            assert_eq!(
                is_same_origin(origin, site, EDGE),
                expected,
                "Origin {origin:?}, Sec-Fetch-Site {site:?}"
            );
        }
        assert!(is_same_origin(
            Some("http://127.0.0.1:8787"),
            None,
            "http://127.0.0.1:8787"
        ));
    }

    #[test]
    fn same_origin_by_sec_fetch_site_when_origin_is_absent() {
        assert!(is_same_origin(None, Some("same-origin"), EDGE));
        assert!(is_same_origin(None, Some("none"), EDGE));
        assert!(!is_same_origin(None, Some("same-site"), EDGE));
        assert!(!is_same_origin(None, Some("cross-site"), EDGE));
        assert!(!is_same_origin(None, Some(""), EDGE));
        assert!(!is_same_origin(None, None, EDGE), "neither header: closed");
    }
}
