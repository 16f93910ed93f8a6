//! The one error type of the core.
//!
//! Variants are precise so that callers (logs, the CLI) can tell why something was refused.
//! HTTP responses must never show them: the adapter maps every token error to one generic body.

use core::fmt;

/// Why a token, key or password hash was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The token is not a well-formed session token; the detail says which rule it broke.
    Malformed(Malformed),
    /// The header names a `kid` that is not in the key set.
    UnknownKey,
    /// The signature does not verify under the key named by `kid`.
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf`, `iat` or `auth_time` lies in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    WrongAudience,
    /// The session is older (`now - auth_time`) than the maximum session age.
    TooOld,
    /// A key (JWK, JWKS or raw bytes) could not be imported; the detail says why.
    InvalidKey(&'static str),
    /// A password hash string is not a supported PHC string; the detail says why.
    InvalidPasswordHash(&'static str),
    /// A machine credential (an external issuer's token, a service token) was refused; the
    /// code says why (`issuer_expired`, `service_token_unknown`, …).
    Credential(&'static str),
}

/// The rule a malformed token broke, in verification order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Longer than the configured size cap.
    TooLarge,
    /// Not exactly three dot-separated segments.
    Segments,
    /// A segment is not strict, unpadded, canonical base64url.
    Base64,
    /// The header is not a JSON object of the expected shape.
    Header,
    /// The payload is not a JSON object of the expected claims.
    Claims,
    /// A JSON object has two members with the same name.
    DuplicateMember,
    /// `alg` is not `EdDSA` or `Ed25519`.
    Algorithm,
    /// `typ` is present and is not `JWT`.
    Type,
    /// The header carries a parameter we refuse (`crit`, `jku`, `jwk`, `x5u`, `x5c`).
    ForbiddenHeader,
    /// The header has no usable `kid`.
    MissingKeyId,
    /// The signature is not 64 bytes.
    SignatureLength,
}

impl Error {
    /// A stable, lowercase code for logs and metrics (never for HTTP bodies).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed",
            Error::UnknownKey => "unknown_key",
            Error::BadSignature => "bad_signature",
            Error::Expired => "expired",
            Error::NotYetValid => "not_yet_valid",
            Error::WrongIssuer => "wrong_issuer",
            Error::WrongAudience => "wrong_audience",
            Error::TooOld => "too_old",
            Error::InvalidKey(_) => "invalid_key",
            Error::InvalidPasswordHash(_) => "invalid_password_hash",
            Error::Credential(code) => code,
        }
    }
}

impl Malformed {
    /// A stable, lowercase code for logs and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Malformed::TooLarge => "too_large",
            Malformed::Segments => "segments",
            Malformed::Base64 => "base64",
            Malformed::Header => "header",
            Malformed::Claims => "claims",
            Malformed::DuplicateMember => "duplicate_member",
            Malformed::Algorithm => "algorithm",
            Malformed::Type => "type",
            Malformed::ForbiddenHeader => "forbidden_header",
            Malformed::MissingKeyId => "missing_key_id",
            Malformed::SignatureLength => "signature_length",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::TooLarge => "token exceeds the size limit",
            Malformed::Segments => "token does not have exactly three segments",
            Malformed::Base64 => "segment is not strict unpadded base64url",
            Malformed::Header => "header is not a valid JOSE header",
            Malformed::Claims => "payload is not a valid claims object",
            Malformed::DuplicateMember => "JSON object has a duplicate member name",
            Malformed::Algorithm => "algorithm is not EdDSA/Ed25519",
            Malformed::Type => "typ is not JWT",
            Malformed::ForbiddenHeader => "header carries a forbidden parameter",
            Malformed::MissingKeyId => "header has no kid",
            Malformed::SignatureLength => "signature is not 64 bytes",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(m) => write!(f, "malformed token: {m}"),
            Error::UnknownKey => f.write_str("unknown key id"),
            Error::BadSignature => f.write_str("bad signature"),
            Error::Expired => f.write_str("token expired"),
            Error::NotYetValid => f.write_str("token not yet valid"),
            Error::WrongIssuer => f.write_str("wrong issuer"),
            Error::WrongAudience => f.write_str("wrong audience"),
            Error::TooOld => f.write_str("session older than the maximum session age"),
            Error::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Error::InvalidPasswordHash(why) => write!(f, "invalid password hash: {why}"),
            Error::Credential(code) => write!(f, "credential refused: {code}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Self {
        Error::Malformed(m)
    }
}
