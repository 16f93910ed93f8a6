//! Configured http(s) URLs (`ORIGIN_URL`, `UPSTREAM_AUTH_URL`), parsed strictly without the
//! `url` crate, whose IDNA tables the Worker bundle cannot afford.
//!
//! Stricter than a browser on purpose: what is configured is what is used, so anything a URL
//! parser would rewrite (non-ASCII or percent-encoded hosts, dot segments, spaces, backslashes)
//! is refused rather than normalized. Scheme and host are lowercased and a default port
//! (`:80` for http, `:443` for https) is dropped, as the WHATWG serialization does.

use core::fmt;

/// A parsed absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    scheme: &'static str,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
    fragment: bool,
    credentials: bool,
}

/// Why a text is not an acceptable http(s) URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Not an absolute URL of the accepted shape (see the module documentation).
    NotAUrl(&'static str),
    /// A scheme other than `http` or `https`.
    NotHttp,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotAUrl(why) => write!(f, "not a URL ({why})"),
            UrlError::NotHttp => f.write_str("not an http(s) URL"),
        }
    }
}

impl HttpUrl {
    /// Parses `text`: `http(s)://host[:port][/path][?query][#fragment]`, printable ASCII only.
    /// The host is a DNS name or IPv4 address (letters, digits, `-`, `.`, `_`) or a bracketed
    /// IPv6 address; the path and query may hold RFC 3986 characters and `%XX` escapes only.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            return Err(UrlError::NotAUrl("empty, non-ASCII, spaces or backslashes"));
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or(UrlError::NotAUrl("no scheme://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                return Err(UrlError::NotHttp)
            }
            _ => return Err(UrlError::NotAUrl("bad scheme")),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        let (rest, fragment) = match rest.split_once('#') {
            Some((before, _)) => (before, true),
            None => (rest, false),
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let credentials = authority.contains('@');
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = split_host_port(host_port)?;
        if !path.split('/').all(|segment| is_component(segment, b":@")) {
            return Err(UrlError::NotAUrl("bad path character or escape"));
        }
        if path.split('/').any(is_dot_segment) {
            return Err(UrlError::NotAUrl("dot segment in the path"));
        }
        if query.is_some_and(|q| !is_component(q, b":@/?")) {
            return Err(UrlError::NotAUrl("bad query character or escape"));
        }
        let default_port = if scheme == "http" { 80 } else { 443 };
        Ok(HttpUrl {
            scheme,
            host,
            port: port.filter(|p| *p != default_port),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            query: query.map(str::to_owned),
            fragment,
            credentials,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// The host, lowercased (an IPv6 address with its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the host is this machine (`localhost`, `127.0.0.1`, `[::1]`): plain `http` is
    /// acceptable for such a URL in local development only.
    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }

    /// Whether the URL is `https`, or `http` to this machine ([`HttpUrl::is_loopback`]).
    pub fn is_secure_or_loopback(&self) -> bool {
        self.scheme == "https" || self.is_loopback()
    }

    /// The origin as a browser serializes it: `scheme://host[:port]`, the default port left out.
    pub fn origin(&self) -> String {
        match self.port {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }

    /// Whether there is a query (`?…`, even empty).
    pub fn has_query(&self) -> bool {
        self.query.is_some()
    }

    /// Whether there is a fragment (`#…`, even empty).
    pub fn has_fragment(&self) -> bool {
        self.fragment
    }

    /// Whether the authority carries user information (`user[:password]@`).
    pub fn has_credentials(&self) -> bool {
        self.credentials
    }

    /// `scheme://host[:port]path[?query]` (no credentials, no fragment); the path is at least `/`.
    pub fn without_fragment(&self) -> String {
        let mut out = format!("{}://{}", self.scheme, self.host);
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        out.push_str(&self.path);
        if let Some(query) = &self.query {
            out.push('?');
            out.push_str(query);
        }
        out
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or(UrlError::NotAUrl("unclosed [IPv6]"))?;
        if inside.is_empty()
            || !inside.contains(':')
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(UrlError::NotAUrl("bad IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::NotAUrl("bad port"))?),
        };
        (format!("[{inside}]"), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        if host.is_empty() || !host.bytes().all(valid) {
            return Err(UrlError::NotAUrl("bad host"));
        }
        (host.to_owned(), port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(UrlError::NotAUrl("bad port"))?,
        ),
        Some(_) => return Err(UrlError::NotAUrl("bad port")),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// RFC 3986 unreserved, sub-delims, `extra` and well-formed `%XX` escapes only.
fn is_component(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        let ok = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) || extra.contains(&b);
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// `.` or `..`, also spelled with `%2e` (which URL parsers treat as dots).
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> String {
        HttpUrl::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .without_fragment()
    }

    #[test]
    fn accepts_and_normalizes_like_the_whatwg_serialization() {
        assert_eq!(ok("http://127.0.0.1:9000/"), "http://127.0.0.1:9000/");
        assert_eq!(ok("http://127.0.0.1:9000"), "http://127.0.0.1:9000/");
        assert_eq!(
            ok("HTTPS://Origin.Example.COM"),
            "https://origin.example.com/"
        );
        assert_eq!(ok("http://x:80/a"), "http://x/a");
        assert_eq!(ok("https://x:443/a"), "https://x/a");
        assert_eq!(ok("https://x:80/a"), "https://x:80/a");
        assert_eq!(ok("http://[::1]:8080/base/"), "http://[::1]:8080/base/");
        assert_eq!(
            ok("http://a_b.internal/p%20q?x=1&y"),
            "http://a_b.internal/p%20q?x=1&y"
        );
        assert_eq!(ok("http://x/a#frag"), "http://x/a");
        let url = HttpUrl::parse("http://x/?#").expect("valid");
        assert!(url.has_query() && url.has_fragment() && !url.has_credentials());
        assert!(HttpUrl::parse("http://u:p@x/")
            .expect("parses")
            .has_credentials());
    }

    #[test]
    fn refuses_what_a_parser_would_rewrite_or_guess() {
        assert_eq!(HttpUrl::parse("ftp://x"), Err(UrlError::NotHttp));
        for bad in [
            "",
            "not a url",
            "x",
            "//x/",
            "http:/x",
            "http://",
            "http:///a",
            "http://bücher.example/",
            "http://x y/",
            "http://x\\y/",
            "http://x/a b",
            "http://x/%zz",
            "http://x/%4",
            "http://x/a/../b",
            "http://x/a/%2E%2e/b",
            "http://x/./b",
            "http://x:/",
            "http://x:0/",
            "http://x:65536/",
            "http://x:123456/",
            "http://x:8a/",
            "http://[::1/",
            "http://[zz::1]/",
            "http://[]/",
            "http://x%41/",
            "http://x/a?b c",
            "http://x/a?<",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
