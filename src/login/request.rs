//! The password login's request: the form or JSON body of `POST /auth/login`, size-capped and
//! strictly decoded.

use crate::encoding::strict_json::{self, StrictJsonError};
use crate::login::is_valid_username;
use crate::login::next::{percent_decode, safe_next};
use serde_json::Value;
use std::fmt;
use zeroize::Zeroizing;

/// Largest login request body accepted, in bytes (8 KiB). Larger bodies are refused with
/// [`LoginError::TooLarge`] (answered 413) before any parsing.
pub const MAX_LOGIN_BODY_BYTES: usize = 8 * 1024;
/// Longest password, in bytes. Bounds the PBKDF2 input an attacker can make us hash.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// How the login was submitted, which decides how the answer looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// `application/x-www-form-urlencoded`: a browser form; answer with a redirect or the page.
    Form,
    /// `application/json`: an API client or the page's script; answer with JSON.
    Json,
}

impl LoginKind {
    /// How to answer a body that could not be parsed: JSON for a JSON content type, else the
    /// form's page.
    pub fn of(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct) if ct.to_ascii_lowercase().starts_with("application/json") => LoginKind::Json,
            _ => LoginKind::Form,
        }
    }
}

/// A login request body, decoded and checked. The password is wiped from memory on drop and
/// never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Form or JSON.
    pub kind: LoginKind,
    /// The username: 1 to [`crate::login::MAX_USERNAME_BYTES`] bytes of visible ASCII without `,` (see
    /// [`is_valid_username`]); spaces and tabs around it are trimmed.
    pub username: String,
    /// The password: 1 to [`MAX_PASSWORD_BYTES`] bytes of UTF-8, as typed (never trimmed).
    pub password: Zeroizing<String>,
    /// Where to go afterwards, already passed through [`safe_next`]: the form's `next` field,
    /// or `/` when absent (always `/` for JSON, whose clients do not follow redirects).
    pub next: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("password", &"***OMITTED***")
            .field("next", &self.next)
            .finish()
    }
}

/// Why a login request body was refused. Logs may show it; the client sees only the generic
/// answer for its status (413 for [`LoginError::TooLarge`], 415 or 400 for
/// [`LoginError::UnsupportedMediaType`], 400 for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// The body is larger than [`MAX_LOGIN_BODY_BYTES`].
    TooLarge,
    /// No `Content-Type`, or not form/JSON, or a charset other than UTF-8.
    UnsupportedMediaType,
    /// The body cannot be decoded: bad percent-encoding, not UTF-8, not a JSON object, or a
    /// field of the wrong JSON type. The detail says which.
    Malformed(&'static str),
    /// `username`, `password` or `next` appears twice.
    DuplicateField,
    /// A required field is missing.
    MissingField(&'static str),
    /// The username is empty, too long, or has a character outside visible ASCII or a comma.
    InvalidUsername,
    /// The password is empty or longer than [`MAX_PASSWORD_BYTES`].
    InvalidPassword,
}

impl LoginError {
    /// A stable, lowercase code for logs.
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::TooLarge => "too_large",
            LoginError::UnsupportedMediaType => "unsupported_media_type",
            LoginError::Malformed(_) => "malformed",
            LoginError::DuplicateField => "duplicate_field",
            LoginError::MissingField(_) => "missing_field",
            LoginError::InvalidUsername => "invalid_username",
            LoginError::InvalidPassword => "invalid_password",
        }
    }
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::TooLarge => write!(f, "body larger than {MAX_LOGIN_BODY_BYTES} bytes"),
            LoginError::UnsupportedMediaType => {
                f.write_str("content type is not form or JSON in UTF-8")
            }
            LoginError::Malformed(why) => write!(f, "malformed body: {why}"),
            LoginError::DuplicateField => f.write_str("a field appears twice"),
            LoginError::MissingField(name) => write!(f, "field {name} is missing"),
            LoginError::InvalidUsername => f.write_str("username is not acceptable"),
            LoginError::InvalidPassword => f.write_str("password is empty or too long"),
        }
    }
}

impl std::error::Error for LoginError {}

impl LoginRequest {
    /// Parses a login body by its `Content-Type`.
    ///
    /// - The size cap is checked first, before anything is decoded.
    /// - Form (`application/x-www-form-urlencoded`): `+` is a space, `%XX` a byte, every name
    ///   and value must be UTF-8 after decoding, and invalid percent-encoding is refused. Fields
    ///   `username`, `password` and optional `next`; each at most once.
    /// - JSON (`application/json`): one object, duplicate member names refused at any depth
    ///   ([`crate::encoding::strict_json`]); `username` and `password` must be strings.
    /// - Both: unknown fields are ignored, so a form may carry extra inputs and clients may add
    ///   fields, but they never influence the login.
    /// - A `charset` parameter, if any, must be `utf-8`; other parameters are ignored.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, LoginError> {
        if body.len() > MAX_LOGIN_BODY_BYTES {
            return Err(LoginError::TooLarge);
        }
        let kind = body_kind(content_type)?;
        let (username, password, next) = match kind {
            LoginKind::Form => parse_form(body)?,
            LoginKind::Json => parse_json(body)?,
        };
        let username = username.ok_or(LoginError::MissingField("username"))?;
        let password = password.ok_or(LoginError::MissingField("password"))?;
        let username = username.trim_matches([' ', '\t']).to_owned();
        if !is_valid_username(&username) {
            return Err(LoginError::InvalidUsername);
        }
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(LoginError::InvalidPassword);
        }
        Ok(LoginRequest {
            kind,
            username,
            password,
            next: safe_next(next.as_deref()),
        })
    }
}

type Fields = (Option<String>, Option<Zeroizing<String>>, Option<String>);

fn body_kind(content_type: Option<&str>) -> Result<LoginKind, LoginError> {
    let content_type = content_type.ok_or(LoginError::UnsupportedMediaType)?;
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let kind = if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        LoginKind::Form
    } else if essence.eq_ignore_ascii_case("application/json") {
        LoginKind::Json
    } else {
        return Err(LoginError::UnsupportedMediaType);
    };
    for parameter in parts {
        if let Some((name, value)) = parameter.split_once('=') {
            if name.trim().eq_ignore_ascii_case("charset")
                && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            {
                return Err(LoginError::UnsupportedMediaType);
            }
        }
    }
    Ok(kind)
}

fn parse_form(body: &[u8]) -> Result<Fields, LoginError> {
    let (mut username, mut password, mut next) = (None, None, None);
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let name = form_decode(name)?;
        let value = Zeroizing::new(form_decode(value)?);
        match name.as_str() {
            "username" => set_once(&mut username, value.to_string())?,
            "password" => set_once(&mut password, value)?,
            "next" => set_once(&mut next, value.to_string())?,
            _ => {}
        }
    }
    Ok((username, password, next))
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), LoginError> {
    if slot.replace(value).is_some() {
        return Err(LoginError::DuplicateField);
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
fn form_decode(raw: &[u8]) -> Result<String, LoginError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes =
        percent_decode(&plus_as_space).ok_or(LoginError::Malformed("invalid percent-encoding"))?;
    String::from_utf8(bytes).map_err(|_| LoginError::Malformed("form field is not UTF-8"))
}

fn parse_json(body: &[u8]) -> Result<Fields, LoginError> {
    let object = strict_json::parse_object(body).map_err(|e| match e {
        StrictJsonError::DuplicateMember => LoginError::DuplicateField,
        StrictJsonError::Invalid => LoginError::Malformed("not a JSON object"),
    })?;
    let text = |name: &'static str| match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(LoginError::Malformed(
            "username and password must be strings",
        )),
    };
    Ok((
        text("username")?,
        text("password")?.map(Zeroizing::new),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::MAX_USERNAME_BYTES;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn parses_a_form_login() {
        let request = LoginRequest::parse(
            FORM,
            b"username=alice&password=p%C3%A4ss+word%26%3D&next=%2Fapp%3Fx%3D1",
        )
        .expect("valid form");
        assert_eq!(request.kind, LoginKind::Form);
        assert_eq!(request.username, "alice");
        assert_eq!(request.password.as_str(), "p\u{e4}ss word&=");
        assert_eq!(request.next, "/app?x=1");
        let debug = format!("{request:?}");
        assert!(
            !debug.contains("ss word"),
            "Debug leaks the password: {debug}"
        );
    }

    #[test]
    fn form_next_is_sanitized_and_defaults_to_root() {
        let parse = |body: &[u8]| LoginRequest::parse(FORM, body).expect("valid form").next;
        assert_eq!(parse(b"username=a&password=b"), "/");
        assert_eq!(parse(b"username=a&password=b&next=%2F%2Fevil.com"), "/");
        assert_eq!(
            parse(b"username=a&password=b&next=https%3A%2F%2Fevil.com"),
            "/"
        );
        assert_eq!(parse(b"username=a&password=b&next=%2F%255cevil.com"), "/");
        assert_eq!(parse(b"username=a&password=b&next="), "/");
    }

    #[test]
    fn parses_a_json_login() {
        for content_type in [
            "application/json",
            "Application/JSON; charset=UTF-8",
            "application/json;charset=\"utf-8\"",
        ] {
            let request = LoginRequest::parse(
                Some(content_type),
                br#"{"username":"bob@example.com","password":"s3cret \u00e9","remember":true}"#,
            )
            .expect(content_type);
            assert_eq!(request.kind, LoginKind::Json);
            assert_eq!(request.username, "bob@example.com");
            assert_eq!(request.password.as_str(), "s3cret \u{e9}");
            assert_eq!(request.next, "/");
        }
        let request = LoginRequest::parse(
            JSON,
            br#"{"username":" carol ","password":" pw ","next":"/x"}"#,
        )
        .expect("valid");
        assert_eq!(request.username, "carol", "username is trimmed");
        assert_eq!(request.password.as_str(), " pw ", "password is not");
        assert_eq!(request.next, "/", "JSON has no next");
    }

    #[test]
    fn refuses_bad_content_types_and_sizes() {
        let big = format!("username=a&password={}", "x".repeat(MAX_LOGIN_BODY_BYTES));
        assert_eq!(
            LoginRequest::parse(FORM, big.as_bytes()),
            Err(LoginError::TooLarge)
        );
        let body = b"username=a&password=b";
        for content_type in [
            None,
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("application/x-www-form-urlencoded; charset=iso-8859-1"),
            Some("application/jsonx"),
            Some("application/json-patch+json"),
        ] {
            assert_eq!(
                LoginRequest::parse(content_type, body),
                Err(LoginError::UnsupportedMediaType),
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_form_bodies() {
        use LoginError::*;
        let long_user = format!("username={}&password=b", "u".repeat(MAX_USERNAME_BYTES + 1));
        let long_password = format!("username=a&password={}", "p".repeat(MAX_PASSWORD_BYTES + 1));
        let cases: [(LoginError, &[&str]); 7] = [
            (
                DuplicateField,
                &[
                    "username=a&username=b&password=c",
                    "username=a&password=b&password=c",
                    "username=a&password=b&next=%2F&next=%2Fx",
                    "username=a&user%6Eame=b&password=c",
                ],
            ),
            (
                Malformed("invalid percent-encoding"),
                &["username=a%zz&password=b", "username=a&password=%"],
            ),
            (
                Malformed("form field is not UTF-8"),
                &["username=a&password=%FF"],
            ),
            (MissingField("username"), &["password=b", ""]),
            (MissingField("password"), &["username=a"]),
            (
                InvalidUsername,
                &[
                    "username=&password=b",
                    "username=++&password=b",
                    "username=a%2Cadmin&password=b",
                    "username=a%0D%0AX-Auth-User:+admin&password=b",
                    "username=a+b&password=c",
                    "username=jos%C3%A9&password=c",
                    &long_user,
                ],
            ),
            (InvalidPassword, &["username=a&password=", &long_password]),
        ];
        for (expected, bodies) in cases {
            for body in bodies {
                assert_eq!(
                    LoginRequest::parse(FORM, body.as_bytes()),
                    Err(expected),
                    "{body}"
                );
            }
        }
        assert_eq!(
            LoginRequest::parse(FORM, b"username=a&password=\xff"),
            Err(Malformed("form field is not UTF-8")),
            "raw bytes must be UTF-8 too"
        );
    }

    #[test]
    fn refuses_bad_json_bodies() {
        use LoginError::*;
        let not_strings = Malformed("username and password must be strings");
        let cases: [(LoginError, &[&str]); 4] = [
            (
                DuplicateField,
                &[
                    r#"{"username":"a","password":"b","username":"c"}"#,
                    r#"{"username":"a","password":"b","\u0075sername":"c"}"#,
                    r#"{"username":"a","password":"b","x":{"y":1,"y":2}}"#,
                ],
            ),
            (
                Malformed("not a JSON object"),
                &[
                    r#"["a","b"]"#,
                    r#"{"username":"a""#,
                    "username=a&password=b",
                    "",
                ],
            ),
            (
                not_strings,
                &[
                    r#"{"username":"a","password":123}"#,
                    r#"{"username":null,"password":"b"}"#,
                    r#"{"username":["a"],"password":"b"}"#,
                ],
            ),
            (MissingField("password"), &[r#"{"username":"a"}"#]),
        ];
        for (expected, bodies) in cases {
            for body in bodies {
                assert_eq!(
                    LoginRequest::parse(JSON, body.as_bytes()),
                    Err(expected),
                    "{body}"
                );
            }
        }
    }
    #[test]
    fn form_ignores_unknown_and_empty_fields() {
        let request =
            LoginRequest::parse(FORM, b"&username=a&&submit=Sign+in&password=b&").expect("valid");
        assert_eq!(
            (request.username.as_str(), request.password.as_str()),
            ("a", "b")
        );
    }
}
