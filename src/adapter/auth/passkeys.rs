//! `/auth/passkeys*`: passkey sign-in, registration (from an enrollment link, or from a recent
//! browser session) and the account page that lists, renames and removes a user's passkeys.
//! Decisions are the core's (`crate::login::passkey`); this file reads the request, the
//! challenge cookie and Workers KV, claims one-time values, checks seals and signatures through
//! WebCrypto, and answers JSON.

use serde_json::json;
use worker::{Env, Request, Response};

use crate::audit::AuditEvent;
use crate::bindings;
use crate::config::GatewayConfig;
use crate::encoding::base64url;
use crate::gateway::cookie;
use crate::gateway::credentials::Source;
use crate::login::next::safe_next;
use crate::login::passkey::ceremony::{self, Expected};
use crate::login::passkey::challenge::{self, Challenge, SealedChallenge};
use crate::login::passkey::client_data::Ceremony;
use crate::login::passkey::credential::{self, Profile, Seen, StoredCredential};
use crate::login::passkey::enrollment::{Enrollment, SealedEnrollment};
use crate::login::passkey::options::{self, Descriptor};
use crate::login::passkey::request::{ManageBody, OptionsBody, RegistrationBody, SignInBody};
use crate::login::passkey::{
    may_change_passkeys, PasskeyError, Settings, MAX_BODY_BYTES, MAX_PER_USER,
};
use crate::login::{is_valid_username, Identity};
use crate::refusal::{Denied, Refusal};
use crate::token::claims::VerifiedClaims;

use super::{capped_body, client_ip, current_session, limit, now, page, same_origin, with_cookie};
use crate::adapter::login::passkey::{refused, signature_valid, Store};
use crate::adapter::login::start_session;
use crate::adapter::webcrypto;
use crate::adapter::{request_url, respond, signing, single_use, token};

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

fn json_response(body: &serde_json::Value) -> Result<Response, Denied> {
    respond::json(200, body, "no-store").map_err(|_| Denied::new(Refusal::Internal, "response"))
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
        .map(|found| {
            let (record, seen) = (&found.record, found.seen);
            json!({
                "id": record.id,
                "name": found.name,
                "created": record.created,
                "last_used": seen.map(|s| s.last_used),
                "synced": seen.map_or(record.backed_up, |s| s.backed_up),
            })
        })
        .collect();
    json_response(&json!({"credentials": listed}))
}

/// The body of a same-origin POST, at most [`MAX_BODY_BYTES`].
async fn json_body(req: &mut Request) -> Result<Vec<u8>, Denied> {
    same_origin(req)?;
    capped_body(req, MAX_BODY_BYTES).await
}

/// The origin the request came to, which the client data must name.
fn request_origin(req: &Request) -> Result<String, Denied> {
    request_url::of(req)
        .map(|url| url.origin().to_owned())
        .map_err(|_| Denied::new(Refusal::BadRequest, "bad_url"))
}

/// The browser's options, with the fresh challenge sealed in its cookie.
async fn with_challenge(
    config: &GatewayConfig,
    options: serde_json::Value,
    challenge: &Challenge,
) -> Result<Response, Denied> {
    let sealed = signing::sign(config, challenge.to_seal()).await?;
    with_cookie(json_response(&options)?, &challenge::set_cookie(&sealed))
}

fn entropy<const N: usize>() -> Result<[u8; N], Denied> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| Denied::new(Refusal::Internal, "no_randomness"))?;
    Ok(bytes)
}

fn bad_request(error: PasskeyError) -> Denied {
    Denied::new(Refusal::BadRequest, error.to_string())
}

/// `POST /auth/passkeys/sign-in/options`: username-less, or for the `username` given. Either
/// way no credential is listed (every passkey here is discoverable): the answer is the same for
/// every username, so it tells nobody which exist, and costs no KV read. The username is sealed
/// into the challenge: only that user's passkey can answer it.
async fn sign_in_options(
    req: &mut Request,
    env: &Env,
    config: &GatewayConfig,
    settings: &Settings,
    audit: &mut AuditEvent,
) -> Result<Response, Denied> {
    audit.event = "passkey_options";
    same_origin(req)?;
    limit(env, bindings::LOGIN_IP_LIMIT, client_ip(audit)).await?;
    let body = capped_body(req, MAX_BODY_BYTES).await?;
    let body = OptionsBody::parse(&body).map_err(bad_request)?;
    let user = body.username.filter(|u| !u.is_empty());
    if user.as_deref().is_some_and(|u| !is_valid_username(u)) {
        return Err(bad_request(PasskeyError("bad_username")));
    }
    let challenge = Challenge::new(Ceremony::SignIn, user, None, &entropy()?, now());
    let options = options::sign_in(settings, &challenge.bytes(), &[]);
    with_challenge(config, options, &challenge).await
}

/// The challenge in the request's cookie, its seal checked (WebCrypto), for `ceremony`. It is
/// claimed ([`claim`]) only once the ceremony verified.
async fn challenge_of(
    req: &Request,
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
    sealed.open(ok, ceremony, now()).map_err(refused)
}

/// Claims a verified ceremony's challenge ([`single_use`]): of any number of requests bringing
/// the same challenge, even at the same moment, exactly one goes on. Claiming only after the
/// signature verified keeps garbage from costing a Durable Object write; a failed answer is
/// harmless to replay.
async fn claim(env: &Env, challenge: &Challenge) -> Result<(), Denied> {
    let marker = credential::challenge_marker(&challenge.challenge);
    if single_use::claim(env, &marker, challenge.marker_secs(now())).await? {
        Ok(())
    } else {
        Err(refused(PasskeyError("challenge_replayed")))
    }
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
    same_origin(req)?;
    limit(env, bindings::LOGIN_IP_LIMIT, client_ip(audit)).await?;
    let body = capped_body(req, MAX_BODY_BYTES).await?;
    let body = SignInBody::parse(&body).map_err(refused)?;
    let challenge = challenge_of(req, config, Ceremony::SignIn).await?;
    let store = Store::of(env)?;
    let found = store
        .credential(&body.id)
        .await?
        .ok_or_else(|| refused(PasskeyError("unknown_credential")))?;
    let (record, seen) = (found.record, found.seen);
    if challenge.user.as_ref().is_some_and(|u| *u != record.user) {
        return Err(refused(PasskeyError("credential_of_another_user")));
    }
    let origin = request_origin(req)?;
    let expected = Expected {
        settings,
        challenge: &challenge.bytes(),
        request_origin: &origin,
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
    let stored_counter = seen.map_or(record.counter, |s| s.counter.max(record.counter));
    let signed_in = pending.finish(valid, stored_counter).map_err(|e| {
        // Only now, with the key's owner proven, is the account named in the log.
        audit.sub = Some(record.user.clone());
        refused(e)
    })?;
    audit.sub = Some(record.user.clone());
    claim(env, &challenge).await?;
    let identity = store
        .identity(
            &record.user,
            &config.password_store,
            signed_in.flags.user_verified(),
            None,
        )
        .await?;
    refuse_reserved(config, &identity)?;
    let seen = Seen {
        counter: signed_in.sign_count,
        last_used: now(),
        backed_up: signed_in.flags.backed_up(),
    };
    store.save_seen(&body.id, &seen).await?;
    let session = start_session(req, env, config, &identity, audit).await?;
    audit.reason = Some("success:passkey".into());
    let next = safe_next(body.next.as_deref());
    let response = with_cookie(json_response(&json!({"next": next}))?, &session.set_cookie)?;
    with_cookie(response, &challenge::clear_cookie())
}

/// Who is registering: the enrollment link's user (with the profile stored for them, and
/// whether the KV password store has a record for them), or the signed-in user.
enum Registrant {
    Enrollment {
        link: Enrollment,
        profile: Option<Profile>,
        password_user: bool,
    },
    Session(VerifiedClaims),
}

impl Registrant {
    fn sub(&self) -> &str {
        match self {
            Registrant::Enrollment { link, .. } => &link.sub,
            Registrant::Session(s) => &s.claims().sub,
        }
    }

    fn display_name(&self) -> &str {
        match self {
            Registrant::Enrollment { link, .. } => link.name.as_deref().unwrap_or(&link.sub),
            Registrant::Session(s) => s.claims().name.as_deref().unwrap_or(&s.claims().sub),
        }
    }

    fn enrollment_id(&self) -> Option<&str> {
        match self {
            Registrant::Enrollment { link, .. } => Some(&link.jti),
            Registrant::Session(_) => None,
        }
    }
}

/// The registrant of a request: the enrollment token in its body when there is one (sealed by
/// us, unexpired, not used or withdrawn, not for a disabled user), else its current session,
/// which must be a recent local browser login ([`may_change_passkeys`]) of a user the edge can
/// look up at every later sign-in: a KV password user or one enrolled by a link.
async fn registrant(
    req: &Request,
    env: &Env,
    config: &GatewayConfig,
    store: &Store,
    enrollment: Option<&str>,
) -> Result<Registrant, Denied> {
    let Some(token) = enrollment else {
        let (session, source) = current_session(req, env, config, now()).await?;
        let claims = session.claims();
        may_change_passkeys(source == Source::Cookie, claims, now())
            .map_err(|e| Denied::new(Refusal::Forbidden, e.to_string()))?;
        // Their identity at a later passkey sign-in comes from their password record or
        // enrollment profile, never from this session: one of them must exist.
        match store
            .identity(&claims.sub, &config.password_store, true, None)
            .await
        {
            Ok(_) => {}
            Err(denied) if denied.refusal == Refusal::SignInFailed => {
                return Err(Denied::new(Refusal::Forbidden, "passkey:not_vouched_for"))
            }
            Err(denied) => return Err(denied),
        }
        return Ok(Registrant::Session(session));
    };
    let sealed = SealedEnrollment::parse(token).map_err(refused)?;
    let key = config.signing_key().verifying_key();
    let ok = token::ed25519::verify(key, sealed.signing_input(), sealed.signature()).await;
    let link = sealed.open(ok, now()).map_err(refused)?;
    let (profile, record) = futures_util::future::join(
        store.profile(&link.sub),
        store.user_record(&link.sub, &config.password_store),
    )
    .await;
    let (profile, record) = (profile?, record?);
    link.allowed_by(profile.as_ref()).map_err(refused)?;
    if record.as_ref().is_some_and(|r| r.disabled) {
        // A disabled password user stays disabled.
        return Err(refused(PasskeyError("user_disabled")));
    }
    let marker = credential::enrollment_marker(&link.jti);
    if !single_use::is_unclaimed(env, &marker).await? {
        return Err(refused(PasskeyError("enrollment_used")));
    }
    Ok(Registrant::Enrollment {
        link,
        profile,
        password_user: record.is_some(),
    })
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
    let store = Store::of(env)?;
    let registrant = registrant(req, env, config, &store, body.enrollment.as_deref()).await?;
    audit.sub = Some(registrant.sub().to_owned());
    let existing = store.list(registrant.sub()).await?;
    if existing.len() >= MAX_PER_USER {
        return Err(Denied::new(Refusal::Forbidden, "passkey:too_many"));
    }
    let challenge = Challenge::new(
        Ceremony::Register,
        Some(registrant.sub().to_owned()),
        registrant.enrollment_id().map(str::to_owned),
        &entropy()?,
        now(),
    );
    let ids: Vec<Vec<u8>> = existing
        .iter()
        .map(|found| base64url::decode(&found.record.id).unwrap_or_default())
        .collect();
    let exclude: Vec<Descriptor<'_>> = ids
        .iter()
        .zip(&existing)
        .map(|(id, found)| Descriptor {
            id,
            transports: &found.record.transports,
        })
        .collect();
    let options = options::registration(
        settings,
        &challenge.bytes(),
        registrant.sub(),
        registrant.display_name(),
        &exclude,
    );
    with_challenge(config, options, &challenge).await
}

/// `POST /auth/passkeys/register`: checks the new credential and stores it; for an
/// enrollment, also stores the profile, uses up the link and signs the user in.
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
    let challenge = challenge_of(req, config, Ceremony::Register).await?;
    let registrant = registrant(req, env, config, &store, body.enrollment.as_deref()).await?;
    audit.sub = Some(registrant.sub().to_owned());
    let same_ceremony = challenge.user.as_deref() == Some(registrant.sub())
        && challenge.enrollment.as_deref() == registrant.enrollment_id();
    if !same_ceremony {
        return Err(refused(PasskeyError("challenge_of_another_registrant")));
    }
    let origin = request_origin(req)?;
    let expected = Expected {
        settings,
        challenge: &challenge.bytes(),
        request_origin: &origin,
    };
    let new = ceremony::register(
        &expected,
        &body.client_data_json,
        &body.attestation_object,
        &body.id,
    )
    .map_err(refused)?;
    // A key WebCrypto cannot import (an EC point off the curve) would fail every sign-in.
    let alg = new.public_key.signature_alg().map_err(refused)?;
    if !webcrypto::can_import(&new.public_key.jwk, alg).await {
        return Err(refused(PasskeyError("cose_key_malformed")));
    }
    if store.credential(&new.id).await?.is_some() {
        return Err(refused(PasskeyError("credential_exists")));
    }
    if store.list(registrant.sub()).await?.len() >= MAX_PER_USER {
        return Err(Denied::new(Refusal::Forbidden, "passkey:too_many"));
    }
    claim(env, &challenge).await?;
    let now = now();
    // What the first session signs in as, for an enrollment: the stored profile is replaced by
    // the link's (older links withdrawn), except for a KV password user, whose record stays
    // the only source of their identity.
    let mut enrolled = None;
    if let Registrant::Enrollment {
        link,
        profile,
        password_user,
    } = &registrant
    {
        // Claimed before anything is stored: of two ceremonies from one link, one enrolls.
        let marker = credential::enrollment_marker(&link.jti);
        let lifetime = link.exp.saturating_sub(now) + 60;
        if !single_use::claim(env, &marker, lifetime).await? {
            return Err(refused(PasskeyError("enrollment_used")));
        }
        let new_profile = link.profile(profile.as_ref());
        if !password_user {
            store.put_profile(&link.sub, &new_profile).await?;
        }
        enrolled = Some(new_profile);
    }
    let name = body
        .name
        .as_deref()
        .and_then(credential::name)
        .unwrap_or_else(|| "Passkey".to_owned());
    let record = StoredCredential {
        id: base64url::encode(&new.id),
        user: registrant.sub().to_owned(),
        public_key: new.public_key,
        counter: new.sign_count,
        transports: credential::transports(&body.transports),
        name: name.clone(),
        created: now,
        backup_eligible: new.flags.backup_eligible(),
        backed_up: new.flags.backed_up(),
    };
    store.add(&record).await?;
    let answer = json_response(&json!({"id": record.id, "name": name}))?;
    let response = match &registrant {
        Registrant::Enrollment { link, .. } => {
            // The first session, as any later passkey sign-in would mint it.
            let identity = store
                .identity(
                    &link.sub,
                    &config.password_store,
                    new.flags.user_verified(),
                    enrolled,
                )
                .await?;
            refuse_reserved(config, &identity)?;
            let session = start_session(req, env, config, &identity, audit).await?;
            audit.event = "passkey_register";
            audit.reason = Some("success:enrollment".into());
            with_cookie(answer, &session.set_cookie)?
        }
        Registrant::Session(_) => {
            audit.reason = Some("success".into());
            answer
        }
    };
    with_cookie(response, &challenge::clear_cookie())
}

/// `POST /auth/passkeys/rename` and `/remove`: only the signed-in owner's passkeys. Removing
/// needs a recent browser login, and never removes the last one (the user would be locked out:
/// see the recovery path in docs/passkeys.md).
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
    let (session, source) = current_session(req, env, config, now()).await?;
    audit.session(&session);
    let body = ManageBody::parse(&body).map_err(bad_request)?;
    let sub = &session.claims().sub;
    let store = Store::of(env)?;
    let record = match store.credential(&body.id).await? {
        Some(found) if found.record.user == *sub => found.record,
        _ => return Err(Denied::new(Refusal::NotFound, "passkey:unknown_credential")),
    };
    if remove {
        may_change_passkeys(source == Source::Cookie, session.claims(), now())
            .map_err(|e| Denied::new(Refusal::Forbidden, e.to_string()))?;
        if store.list(sub).await?.len() <= 1 {
            return Err(Denied::new(Refusal::Forbidden, "passkey:last_passkey"));
        }
        store.remove(sub, &record).await?;
    } else {
        let name = body
            .name
            .as_deref()
            .and_then(credential::name)
            .ok_or_else(|| bad_request(PasskeyError("bad_name")))?;
        store.rename(&record, &name).await?;
    }
    audit.reason = Some("success".into());
    json_response(&json!({"ok": true}))
}

/// A passkey user named like another login's user (`corp:alice`, `service:ci`) would be that
/// user at the origin: refused.
fn refuse_reserved(config: &GatewayConfig, identity: &Identity) -> Result<(), Denied> {
    if config.reserves_sub(&identity.sub) {
        return Err(Denied::new(
            Refusal::SignInFailed,
            "passkey:sub_in_reserved_namespace",
        ));
    }
    Ok(())
}
