//! GitHub as an identity provider: OAuth 2.0 (with PKCE) but no ID tokens, so the identity is
//! read from its REST API with the access token, once, at the callback: the user (`/user`), the
//! primary verified e-mail (`/user/emails`) and, when the mapping uses groups, the teams
//! (`/user/teams`), as `<org>/<team>` and `<org>`. The answers are parsed here into the same
//! [`IdClaims`] an ID token gives, so the identity mapping is the one of every provider.

use serde_json::{Map, Value};

use super::id_token::IdClaims;
use super::OidcError;

/// GitHub's web address (authorization and token endpoints).
pub const WEB_URL: &str = "https://github.com";
/// GitHub's REST API.
pub const API_URL: &str = "https://api.github.com";
/// Largest answer of the user or e-mail endpoints accepted, in bytes.
pub const MAX_USER_BYTES: usize = 64 * 1024;
/// Largest answer of the teams endpoint accepted, in bytes (its first page).
pub const MAX_TEAMS_BYTES: usize = 512 * 1024;

/// Where a GitHub (or GitHub Enterprise) installation answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The web address, without a trailing slash.
    pub web_url: String,
    /// The REST API's address, without a trailing slash.
    pub api_url: String,
}

impl Endpoints {
    /// The endpoints of the installation at `web_url` with its API at `api_url`.
    pub fn new(web_url: &str, api_url: &str) -> Self {
        Endpoints {
            web_url: web_url.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Where the browser is sent to log in.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/login/oauth/authorize", self.web_url)
    }

    /// Where the edge exchanges the code.
    pub fn token_endpoint(&self) -> String {
        format!("{}/login/oauth/access_token", self.web_url)
    }

    /// The signed-in user.
    pub fn user_url(&self) -> String {
        format!("{}/user", self.api_url)
    }

    /// The user's e-mail addresses, with whether each is verified and primary.
    pub fn emails_url(&self) -> String {
        format!("{}/user/emails", self.api_url)
    }

    /// The user's team memberships (first page, 100 teams).
    pub fn teams_url(&self) -> String {
        format!("{}/user/teams?per_page=100", self.api_url)
    }
}

fn refuse(detail: impl std::fmt::Display) -> OidcError {
    OidcError::new("github", detail)
}

/// The access token of the token endpoint's answer. GitHub answers errors with status 200 and
/// an `error` member, so that is checked first.
pub fn access_token(answer: &[u8]) -> Result<String, OidcError> {
    let answer: Map<String, Value> =
        serde_json::from_slice(answer).map_err(|_| refuse("token_answer_not_json"))?;
    if let Some(error) = answer.get("error") {
        let code: String = error
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return Err(refuse(format!("token_error:{code}")));
    }
    if !answer
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(refuse("token_type"));
    }
    match answer.get("access_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(token.to_owned())
        }
        _ => Err(refuse("no_access_token")),
    }
}

/// The identity from the API's answers: `user` (`/user`), `emails` (`/user/emails`) and, if
/// fetched, `teams` (`/user/teams`). `sub` is the numeric user id (a login can be renamed and
/// taken by someone else; the id cannot); the e-mail is the primary verified one only.
pub fn claims(user: &[u8], emails: &[u8], teams: Option<&[u8]>) -> Result<IdClaims, OidcError> {
    let user: Map<String, Value> =
        serde_json::from_slice(user).map_err(|_| refuse("user_not_json"))?;
    let id = user
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| refuse("user_without_id"))?;
    let login = user
        .get("login")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("user_without_login"))?;
    let emails: Vec<Value> =
        serde_json::from_slice(emails).map_err(|_| refuse("emails_not_a_list"))?;
    let flag = |entry: &Value, name: &str| entry.get(name).and_then(Value::as_bool) == Some(true);
    let email = emails
        .iter()
        .find(|entry| flag(entry, "primary") && flag(entry, "verified"))
        .and_then(|entry| entry.get("email").and_then(Value::as_str))
        .map(str::to_owned);
    let mut groups: Vec<String> = Vec::new();
    if let Some(teams) = teams {
        let teams: Vec<Value> =
            serde_json::from_slice(teams).map_err(|_| refuse("teams_not_a_list"))?;
        for team in &teams {
            let org = team
                .get("organization")
                .and_then(|o| o.get("login"))
                .and_then(Value::as_str);
            let slug = team.get("slug").and_then(Value::as_str);
            if let (Some(org), Some(slug)) = (org, slug) {
                for group in [format!("{org}/{slug}"), org.to_owned()] {
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
            }
        }
    }
    let mut all = Map::new();
    all.insert("preferred_username".into(), Value::from(login));
    all.insert(
        "groups".into(),
        Value::Array(groups.into_iter().map(Value::from).collect()),
    );
    Ok(IdClaims {
        sub: id.to_string(),
        email,
        name: user.get("name").and_then(Value::as_str).map(str::to_owned),
        sid: None,
        all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str =
        r#"{"id": 583231, "login": "octocat", "name": "The Octocat", "email": null}"#;
    const EMAILS: &str = r#"[
        {"email": "old@example.com", "primary": false, "verified": true},
        {"email": "octo@example.com", "primary": true, "verified": true}]"#;
    const TEAMS: &str = r#"[
        {"slug": "eng", "organization": {"login": "acme"}},
        {"slug": "ops", "organization": {"login": "acme"}},
        {"slug": "x", "organization": {"login": "other"}}]"#;

    #[test]
    fn the_identity_is_the_numeric_id_the_primary_verified_email_and_the_teams() {
        let found =
            claims(USER.as_bytes(), EMAILS.as_bytes(), Some(TEAMS.as_bytes())).expect("valid");
        assert_eq!(found.sub, "583231");
        assert_eq!(found.email.as_deref(), Some("octo@example.com"));
        assert_eq!(found.name.as_deref(), Some("The Octocat"));
        assert_eq!(
            found.all["groups"],
            serde_json::json!(["acme/eng", "acme", "acme/ops", "other/x", "other"])
        );
        assert_eq!(found.all["preferred_username"], "octocat");
        let unverified = r#"[{"email": "octo@example.com", "primary": true, "verified": false}]"#;
        let found = claims(USER.as_bytes(), unverified.as_bytes(), None).expect("valid");
        assert_eq!(found.email, None, "an unverified address is no e-mail");
        assert_eq!(found.all["groups"], serde_json::json!([]));
    }

    #[test]
    fn refuses_answers_it_cannot_read() {
        for (user, emails) in [
            (r#"{"login": "octocat"}"#, "[]"),
            (r#"{"id": "583231", "login": "octocat"}"#, "[]"),
            (r#"{"id": 583231}"#, "[]"),
            ("<html>", "[]"),
            (USER, "{}"),
        ] {
            assert!(
                claims(user.as_bytes(), emails.as_bytes(), None).is_err(),
                "{user} {emails}"
            );
        }
        assert!(claims(USER.as_bytes(), b"[]", Some(b"{}")).is_err());
    }

    #[test]
    fn a_token_answer_is_an_error_even_with_status_200() {
        assert_eq!(
            access_token(br#"{"access_token": "gho_x", "token_type": "bearer", "scope": ""}"#),
            Ok("gho_x".into())
        );
        for (answer, code) in [
            (
                r#"{"error": "bad_verification_code", "error_description": "x"}"#,
                "github:token_error:bad_verification_code",
            ),
            (
                r#"{"access_token": "gho_x", "token_type": "mac"}"#,
                "github:token_type",
            ),
            (r#"{"token_type": "bearer"}"#, "github:no_access_token"),
            (
                r#"{"access_token": "a b", "token_type": "bearer"}"#,
                "github:no_access_token",
            ),
            ("nope", "github:token_answer_not_json"),
        ] {
            assert_eq!(
                access_token(answer.as_bytes()).map_err(|e| e.0),
                Err(code.into())
            );
        }
    }
}
