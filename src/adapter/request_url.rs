//! The request's URL, split without re-parsing: the runtime hands over its WHATWG serialization
//! (`scheme://host[:port]/path[?query]`, already normalized by its own URL parser), so origin,
//! path and query are found by position. No `url` crate (and its IDNA tables) in the bundle.

use std::borrow::Cow;

use worker::Request;

/// The serialized URL of a request and where its parts begin.
pub struct RequestUrl {
    text: String,
    path_start: usize,
    query_start: Option<usize>,
    end: usize,
}

/// The URL of `req`; an error when it is not `scheme://authority…` (never from the runtime).
pub fn of(req: &Request) -> Result<RequestUrl, String> {
    split(req.inner().url())
}

fn split(text: String) -> Result<RequestUrl, String> {
    let authority = text
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| format!("not an absolute URL: {text}"))?;
    let end = text.find('#').unwrap_or(text.len());
    let path_start = text[authority..end]
        .find(['/', '?'])
        .map_or(end, |i| authority + i);
    let query_start = text[path_start..end].find('?').map(|i| path_start + i);
    Ok(RequestUrl {
        text,
        path_start,
        query_start,
        end,
    })
}

impl RequestUrl {
    /// `scheme://host[:port]`, as the runtime serialized it (lowercase, no default port).
    pub fn origin(&self) -> &str {
        &self.text[..self.path_start]
    }

    /// `host[:port]`: the authority the client asked for (its `Host`).
    pub fn host(&self) -> &str {
        self.origin().split_once("://").map_or("", |(_, host)| host)
    }

    /// The path, percent-encoded as received; `/` when empty.
    pub fn path(&self) -> &str {
        match &self.text[self.path_start..self.query_start.unwrap_or(self.end)] {
            "" => "/",
            path => path,
        }
    }

    /// The query without `?`, if there is a `?` (possibly empty).
    pub fn query(&self) -> Option<&str> {
        self.query_start.map(|q| &self.text[q + 1..self.end])
    }

    /// The query's `application/x-www-form-urlencoded` pairs, decoded.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query().unwrap_or_default().as_bytes())
    }

    /// The first value of the query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}
