//! `/auth/passkeys*`: passkey sign-in, registration (from a session or an enrollment link) and
//! the account page that lists, renames and removes a user's passkeys. Decisions are the
//! core's (`crate::login::passkey`); this file reads the request, the challenge cookie and
//! Workers KV, checks seals and signatures through WebCrypto, and answers JSON.

use serde_json::json;
use worker::{Env, Request, Response};

use crate::audit::AuditEvent;
use crate::bindings;
use crate::config::GatewayConfig;
use crate::encoding::base64url;
use crate::gateway::cookie;
use crate::login::is_valid_username;
use crate::login::next::safe_next;
use crate::login::passkey::ceremony::{self, Expected};
use crate::login::passkey::challenge::{self, Challenge, SealedChallenge};
use crate::login::passkey::client_data::Ceremony;
use crate::login::passkey::credential::{self, Profile, StoredCredential};
use crate::login::passkey::enrollment::{Enrollment, SealedEnrollment};
use crate::login::passkey::options::{self, Descriptor};
use crate::login::passkey::request::{ManageBody, OptionsBody, RegistrationBody, SignInBody};
use crate::login::passkey::{PasskeyError, Settings, MAX_BODY_BYTES, MAX_PER_USER};
use crate::refusal::{Denied, Refusal};
use crate::token::claims::VerifiedClaims;

use super::{capped_body, client_ip, current_session, limit, now, page, same_origin, with_cookie};
use crate::adapter::login::passkey::{refused, signature_valid, Store};
use crate::adapter::login::start_session;
use crate::adapter::{respond, single_use, token};

/// The account page's path.
pub const PAGE: &str = "/auth/passkeys";

/// Serves `path` (under [`PAGE`]).
pub async fn handle(
    req: &mut Request,
    path: &str,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    let Some(settings) = &config.passkeys else {
        return Err(Denied::new(Refusal::NotFound, "passkeys_off"));
    };
    let method = audit.method.clone();
    match (method.as_str(), &path[PAGE.len()..]) {
        ("GET" | "HEAD", "") => account_page(req, env, config, audit).await,
        ("GET" | "HEAD", "/enroll") => {
            audit.event = "passkey_enroll_page";
            serve_page(env).await
        }
        ("GET", "/credentials") => list(req, env, config, audit).await,
        ("POST", "/sign-in/options") => sign_in_options(req, env, config, settings, audit).await,
        ("POST", "/sign-in") => sign_in(req, env, config, settings, audit).await,
        ("POST", "/register/options") => register_options(req, env, config, settings, audit).await,
        ("POST", "/register") => register(req, env, config, settings, audit).await,
        ("POST", "/rename") => manage(req, env, config, audit, false).await,
        ("POST", "/remove") => manage(req, env, config, audit, true).await,
        (
            _,
            "" | "/enroll" | "/credentials" | "/sign-in/options" | "/sign-in" | "/register/options"
            | "/register" | "/rename" | "/remove",
        ) => Err(Denied::new(Refusal::MethodNotAllowed, "method_not_allowed")),
        _ => Err(Denied::new(Refusal::NotFound, "unknown_auth_path")),
    }
}

/// `GET /auth/passkeys`: the page for a signed-in user; the login page (returning here) for
/// anyone else.
async fn account_page(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_page";
    match current_session(req, env, config, now()).await {
        Ok((session, _)) => {
            audit.session(&session);
            serve_page(env).await
        }
        Err(_) => Ok(super::redirect("/auth/login?next=%2Fauth%2Fpasskeys")),
    }
}

async fn serve_page(env: &Env) -> Result<Response, Denied> {
    let html = page::asset(env, "/passkeys.html")
        .await?
        .bytes()
        .await
        .map_err(|_| Denied::new(Refusal::Internal, "asset_read_failed"))?;
    Ok(page::html_response(html, 200))
}

/// `GET /auth/passkeys/credentials`: the signed-in user's passkeys.
async fn list(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_list";
    let (session, _) = current_session(req, env, config, now()).await?;
    audit.session(&session);
    let credentials = Store::of(env)?.list(&session.claims().sub).await?;
    let listed: Vec<_> = credentials
        .iter()
        .map(|(id, record)| {
            json!({
                "id": base64url::encode(id),
                "name": record.name,
                "created": record.created,
                "last_used": record.last_used,
                "synced": record.backed_up,
            })
        })
        .collect();
    respond::json(200, &json!({"credentials": listed}), "no-store")
        .map_err(|_| Denied::new(Refusal::Internal, "response"))
}

/// Reads a JSON body of a same-origin POST.
async fn json_body(req: &mut Request) -> Result<Vec<u8>, Denied> {
    same_origin(req)?;
    capped_body(req, MAX_BODY_BYTES).await
}

/// The browser's options with a fresh challenge sealed in its cookie.
fn with_challenge(
    config: &GatewayConfig,
    options: serde_json::Value,
    challenge: &Challenge,
) -> Result<Response, Denied> {
    let response = respond::json(200, &options, "no-store")
        .map_err(|_| Denied::new(Refusal::Internal, "response"))?;
    with_cookie(
        response,
        &challenge::set_cookie(&challenge.seal(config.signing_key())),
    )
}

fn entropy<const N: usize>() -> Result<[u8; N], Denied> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| Denied::new(Refusal::Internal, "no_randomness"))?;
    Ok(bytes)
}

/// `POST /auth/passkeys/sign-in/options`: username-less, or for the `username` given (its
/// passkeys, or, for a user without any, stand-in ids derived with our key, so the answer does
/// not tell which usernames exist).
async fn sign_in_options(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    settings: &Settings,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_options";
    let body = json_body(req).await?;
    limit(env, bindings::LOGIN_IP_LIMIT, client_ip(audit)).await?;
    let body = OptionsBody::parse(&body).map_err(bad_request)?;
    let user = body.username.filter(|u| !u.is_empty());
    if user.as_deref().is_some_and(|u| !is_valid_username(u)) {
        return Err(bad_request(PasskeyError("bad_username")));
    }
    let challenge = Challenge::new(Ceremony::SignIn, user.clone(), None, &entropy()?, now());
    let mut known = Vec::new();
    if let Some(user) = &user {
        known = Store::of(env)?.list(user).await?;
    }
    // No transports: they would tell real credentials from stand-ins.
    let mut allowed: Vec<Descriptor<'_>> = known
        .iter()
        .map(|(id, _)| Descriptor {
            id,
            transports: &[],
        })
        .collect();
    let stand_ins = user
        .as_deref()
        .map(|u| stand_in_ids(config, u))
        .unwrap_or_default();
    if allowed.is_empty() {
        allowed.extend(stand_ins.iter().map(|id| Descriptor {
            id,
            transports: &[],
        }));
    }
    let options = options::sign_in(settings, &challenge.bytes(), &allowed);
    with_challenge(config, options, &challenge)
}

/// One or two credential ids no authenticator holds, the same for a username every time (as
/// many as most users have: a user with more passkeys is still told apart by the count).
fn stand_in_ids(config: &GatewayConfig, username: &str) -> Vec<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let signature = config
        .signing_key()
        .sign(format!("edgeauth passkey-stand-in-v1.{username}").as_bytes());
    let seed = Sha256::digest(signature);
    let count = 1 + usize::from(seed[0] & 1);
    (0..count)
        .map(|i| {
            Sha256::new()
                .chain_update(seed)
                .chain_update([i as u8])
                .finalize()
                .to_vec()
        })
        .collect()
}

fn bad_request(error: PasskeyError) -> Denied {
    Denied::new(Refusal::BadRequest, error.to_string())
}

/// The challenge in the request's cookie, its seal checked (WebCrypto), for `ceremony`, then
/// claimed ([`single_use`]): every challenge is used once, even by a failed ceremony, and of two
/// requests that bring the same one at once exactly one gets it.
async fn take_challenge(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    ceremony: Ceremony,
) -> Result<Challenge, Denied> {
    let value = respond::header(req, "cookie")
        .and_then(|header| {
            cookie::find(&header, challenge::COOKIE)
                .ok()
                .flatten()
                .map(str::to_owned)
        })
        .ok_or_else(|| refused(PasskeyError("challenge_missing")))?;
    let sealed = SealedChallenge::parse(&value).map_err(refused)?;
    let key = config.signing_key().verifying_key();
    let ok = token::ed25519::verify(key, sealed.signing_input(), sealed.signature()).await;
    let now = now();
    let challenge = sealed.open(ok, ceremony, now).map_err(refused)?;
    let marker = credential::challenge_marker(&challenge.challenge);
    if !single_use::claim(env, &marker, challenge.remaining_secs(now)).await? {
        return Err(refused(PasskeyError("challenge_replayed")));
    }
    Ok(challenge)
}

/// `POST /auth/passkeys/sign-in`: checks the assertion and mints the session.
async fn sign_in(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    settings: &Settings,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_sign_in";
    let body = json_body(req).await?;
    limit(env, bindings::LOGIN_IP_LIMIT, client_ip(audit)).await?;
    let body = SignInBody::parse(&body).map_err(refused)?;
    let store = Store::of(env)?;
    let challenge = take_challenge(req, env, config, Ceremony::SignIn).await?;
    let mut record = store
        .credential(&body.id)
        .await?
        .ok_or_else(|| refused(PasskeyError("unknown_credential")))?;
    audit.sub = Some(record.user.clone());
    if challenge.user.as_ref().is_some_and(|u| *u != record.user) {
        return Err(refused(PasskeyError("credential_of_another_user")));
    }
    let expected = Expected {
        settings,
        challenge: &challenge.bytes(),
    };
    let pending = ceremony::sign_in(
        &expected,
        &record,
        &body.client_data_json,
        &body.authenticator_data,
        &body.signature,
        body.user_handle.as_deref(),
        challenge.user.is_some(),
    )
    .map_err(refused)?;
    let valid = signature_valid(&pending, &record).await?;
    let signed_in = pending.finish(valid, record.counter).map_err(refused)?;
    let identity = store
        .identity(
            &record.user,
            &config.password_store,
            signed_in.flags.user_verified(),
        )
        .await?;
    record.counter = signed_in.sign_count;
    record.last_used = Some(now());
    record.backed_up = signed_in.flags.backed_up();
    store.save(&body.id, &record).await?;
    let session = start_session(config, &identity, audit)?;
    audit.reason = Some("success:passkey".into());
    let next = safe_next(body.next.as_deref());
    let response = respond::json(200, &json!({"next": next}), "no-store")
        .map_err(|_| Denied::new(Refusal::Internal, "response"))?;
    let response = with_cookie(response, &session.set_cookie)?;
    with_cookie(response, &challenge::clear_cookie())
}

/// Who is registering: the enrollment link's user, or the signed-in user.
enum Registrant {
    Enrollment(Enrollment),
    Session(VerifiedClaims),
}

impl Registrant {
    fn sub(&self) -> &str {
        match self {
            Registrant::Enrollment(e) => &e.sub,
            Registrant::Session(s) => &s.claims().sub,
        }
    }

    fn display_name(&self) -> &str {
        match self {
            Registrant::Enrollment(e) => e.name.as_deref().unwrap_or(&e.sub),
            Registrant::Session(s) => s.claims().name.as_deref().unwrap_or(&s.claims().sub),
        }
    }
}

/// The registrant of a request: the enrollment token in its body when there is one (sealed
/// by us, unexpired, not used yet), else its current session.
async fn registrant(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    enrollment: Option<&str>,
) -> Result<Registrant, Denied> {
    let Some(token) = enrollment else {
        let (session, _) = current_session(req, env, config, now()).await?;
        return Ok(Registrant::Session(session));
    };
    let sealed = SealedEnrollment::parse(token).map_err(refused)?;
    let key = config.signing_key().verifying_key();
    let ok = token::ed25519::verify(key, sealed.signing_input(), sealed.signature()).await;
    let enrollment = sealed.open(ok, now()).map_err(refused)?;
    if !single_use::is_unclaimed(env, &credential::enrollment_marker(&enrollment.jti)).await? {
        return Err(refused(PasskeyError("enrollment_used")));
    }
    Ok(Registrant::Enrollment(enrollment))
}

/// `POST /auth/passkeys/register/options`.
async fn register_options(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    settings: &Settings,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_options";
    let body = json_body(req).await?;
    let body = OptionsBody::parse(&body).map_err(bad_request)?;
    let registrant = registrant(req, env, config, body.enrollment.as_deref()).await?;
    audit.sub = Some(registrant.sub().to_owned());
    let store = Store::of(env)?;
    let existing = store.list(registrant.sub()).await?;
    if existing.len() >= MAX_PER_USER {
        return Err(Denied::new(Refusal::Forbidden, "passkey:too_many"));
    }
    let enrollment = match &registrant {
        Registrant::Enrollment(e) => Some(e.jti.clone()),
        Registrant::Session(_) => None,
    };
    let challenge = Challenge::new(
        Ceremony::Register,
        Some(registrant.sub().to_owned()),
        enrollment,
        &entropy()?,
        now(),
    );
    let exclude: Vec<Descriptor<'_>> = existing
        .iter()
        .map(|(id, record)| Descriptor {
            id,
            transports: &record.transports,
        })
        .collect();
    let options = options::registration(
        settings,
        &challenge.bytes(),
        registrant.sub(),
        registrant.display_name(),
        &exclude,
    );
    with_challenge(config, options, &challenge)
}

/// `POST /auth/passkeys/register`: checks the new credential, stores it, and, for an
/// enrollment, stores the profile, uses up the link and signs the user in.
async fn register(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    settings: &Settings,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_register";
    let body = json_body(req).await?;
    let body = RegistrationBody::parse(&body).map_err(refused)?;
    let store = Store::of(env)?;
    let challenge = take_challenge(req, env, config, Ceremony::Register).await?;
    let registrant = registrant(req, env, config, body.enrollment.as_deref()).await?;
    audit.sub = Some(registrant.sub().to_owned());
    let same_ceremony = challenge.user.as_deref() == Some(registrant.sub())
        && challenge.enrollment.as_deref()
            == match &registrant {
                Registrant::Enrollment(e) => Some(e.jti.as_str()),
                Registrant::Session(_) => None,
            };
    if !same_ceremony {
        return Err(refused(PasskeyError("challenge_of_another_registrant")));
    }
    let expected = Expected {
        settings,
        challenge: &challenge.bytes(),
    };
    let new = ceremony::register(
        &expected,
        &body.client_data_json,
        &body.attestation_object,
        &body.id,
    )
    .map_err(refused)?;
    if store.credential(&new.id).await?.is_some() {
        return Err(refused(PasskeyError("credential_exists")));
    }
    if store.list(registrant.sub()).await?.len() >= MAX_PER_USER {
        return Err(Denied::new(Refusal::Forbidden, "passkey:too_many"));
    }
    let now = now();
    let name = body
        .name
        .as_deref()
        .and_then(credential::name)
        .unwrap_or_else(|| "Passkey".to_owned());
    let record = StoredCredential {
        user: registrant.sub().to_owned(),
        public_key: new.public_key,
        counter: new.sign_count,
        transports: credential::transports(&body.transports),
        name: name.clone(),
        created: now,
        last_used: None,
        backup_eligible: new.flags.backup_eligible(),
        backed_up: new.flags.backed_up(),
    };
    if let Registrant::Enrollment(enrollment) = &registrant {
        // Claimed before anything is stored: of two ceremonies from one link, one enrolls.
        let marker = credential::enrollment_marker(&enrollment.jti);
        if !single_use::claim(env, &marker, enrollment.exp.saturating_sub(now)).await? {
            return Err(refused(PasskeyError("enrollment_used")));
        }
    }
    store.add(&new.id, &record).await?;
    let answer = json!({"id": base64url::encode(&new.id), "name": name});
    let response = match registrant {
        Registrant::Enrollment(enrollment) => {
            let profile = enrollment.profile();
            store.put_profile(&enrollment.sub, &profile).await?;
            let identity = profile.identity(&enrollment.sub, new.flags.user_verified());
            let session = start_session(config, &identity, audit)?;
            audit.event = "passkey_register";
            audit.reason = Some("success:enrollment".into());
            let response = respond::json(200, &answer, "no-store")
                .map_err(|_| Denied::new(Refusal::Internal, "response"))?;
            with_cookie(response, &session.set_cookie)?
        }
        Registrant::Session(session) => {
            let claims = session.claims();
            if !store.has_profile(&claims.sub).await? {
                let profile = Profile {
                    roles: claims.roles.clone(),
                    name: claims.name.clone(),
                    email: claims.email.clone(),
                    disabled: false,
                };
                store.put_profile(&claims.sub, &profile).await?;
            }
            audit.reason = Some("success".into());
            respond::json(200, &answer, "no-store")
                .map_err(|_| Denied::new(Refusal::Internal, "response"))?
        }
    };
    with_cookie(response, &challenge::clear_cookie())
}

/// `POST /auth/passkeys/rename` and `/remove`: only the signed-in owner's passkeys; the last
/// one is never removed (a user would be locked out: see the recovery path in docs/passkeys.md).
async fn manage(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    audit: &mut AuditEvent,
    remove: bool,
) -> Result<Response, Denied> {
    audit.event = if remove {
        "passkey_remove"
    } else {
        "passkey_rename"
    };
    let body = json_body(req).await?;
    let (session, _) = current_session(req, env, config, now()).await?;
    audit.session(&session);
    let body = ManageBody::parse(&body).map_err(bad_request)?;
    let sub = &session.claims().sub;
    let store = Store::of(env)?;
    let mut record = match store.credential(&body.id).await? {
        Some(record) if record.user == *sub => record,
        _ => return Err(Denied::new(Refusal::NotFound, "passkey:unknown_credential")),
    };
    if remove {
        if store.list(sub).await?.len() <= 1 {
            return Err(Denied::new(Refusal::Forbidden, "passkey:last_passkey"));
        }
        store.remove(sub, &body.id).await?;
    } else {
        record.name = body
            .name
            .as_deref()
            .and_then(credential::name)
            .ok_or_else(|| bad_request(PasskeyError("bad_name")))?;
        store.save(&body.id, &record).await?;
    }
    audit.reason = Some("success".into());
    respond::json(200, &json!({"ok": true}), "no-store")
        .map_err(|_| Denied::new(Refusal::Internal, "response"))
}
