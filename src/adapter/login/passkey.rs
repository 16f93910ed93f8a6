//! Passkeys' I/O: the credential records, the per-user index, profiles and single-use markers
//! in Workers KV (layout: [`crate::login::passkey::credential`]), and the assertion's signature
//! through WebCrypto. Every KV failure refuses (fail closed): 503, nothing registered or signed in.

use worker::kv::KvStore;
use worker::Env;

use crate::bindings;
use crate::encoding::base64url;
use crate::login::kv_passwords::{user_key, UserRecord};
use crate::login::passkey::ceremony::PendingSignIn;
use crate::login::passkey::credential::{self, Profile, Seen, StoredCredential};
use crate::login::passkey::{PasskeyError, MAX_PER_USER};
use crate::login::{Identity, PasswordStore};
use crate::refusal::{Denied, Refusal};

use crate::adapter::webcrypto;

/// The `USERS` namespace, read and written for passkeys.
pub struct Store(KvStore);

fn unavailable(what: &'static str) -> Denied {
    Denied::new(Refusal::StoreUnavailable, format!("passkey_store:{what}"))
}

/// A refused ceremony: the generic sign-in failure, the precise reason in the log.
pub fn refused(error: PasskeyError) -> Denied {
    Denied::new(Refusal::SignInFailed, error.to_string())
}

impl Store {
    /// The store; 500 without the binding.
    pub fn of(env: &Env) -> Result<Store, Denied> {
        env.kv(bindings::USERS)
            .map(Store)
            .map_err(|_| Denied::new(Refusal::Internal, "kv_binding_missing"))
    }

    async fn text(&self, key: &str) -> Result<Option<String>, Denied> {
        self.0
            .get(key)
            .text()
            .await
            .map_err(|_| unavailable("read_failed"))
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), Denied> {
        self.0
            .put(key, value)
            .map_err(|_| unavailable("write_failed"))?
            .execute()
            .await
            .map_err(|_| unavailable("write_failed"))
    }

    /// The record of credential `id` and what its sign-ins recorded, if it is registered; a
    /// record that cannot be read refuses.
    pub async fn credential(
        &self,
        id: &[u8],
    ) -> Result<Option<(StoredCredential, Option<Seen>)>, Denied> {
        let reference = credential::reference(id);
        let (record, seen) = futures_util::future::join(
            self.text(&credential::credential_key(&reference)),
            self.text(&credential::seen_key(&reference)),
        )
        .await;
        let Some(record) = record? else {
            return Ok(None);
        };
        let record = StoredCredential::parse(&record).map_err(refused)?;
        if record.id != base64url::encode(id) {
            return Err(refused(PasskeyError("credential_record_malformed")));
        }
        let seen = seen?
            .map(|json| Seen::parse(&json))
            .transpose()
            .map_err(refused)?;
        Ok(Some((record, seen)))
    }

    /// Records a sign-in of credential `id`. Only this key is written: the record itself never
    /// is after registration, so a sign-in cannot write back a passkey removed meanwhile.
    pub async fn save_seen(&self, id: &[u8], seen: &Seen) -> Result<(), Denied> {
        let key = credential::seen_key(&credential::reference(id));
        self.put(&key, &seen.to_json()).await
    }

    /// Renames a passkey (its record, read just before by its owner).
    pub async fn rename(&self, record: &StoredCredential) -> Result<(), Denied> {
        let reference = reference_of(record)?;
        self.put(&credential::credential_key(&reference), &record.to_json())
            .await
    }

    /// Registers a credential: its index key first, then its record (an index key without a
    /// record is skipped when listing, so a failure in between leaves nothing that signs in
    /// unlisted). Two registrations of one user never write the same key.
    pub async fn add(&self, record: &StoredCredential) -> Result<(), Denied> {
        let reference = reference_of(record)?;
        self.put(&credential::user_index_key(&record.user, &reference), "")
            .await?;
        self.put(&credential::credential_key(&reference), &record.to_json())
            .await
    }

    /// Removes `record` of `sub`: the record first (it no longer signs in), then what was seen
    /// of it and its index key.
    pub async fn remove(&self, sub: &str, record: &StoredCredential) -> Result<(), Denied> {
        let reference = reference_of(record)?;
        for key in [
            credential::credential_key(&reference),
            credential::seen_key(&reference),
            credential::user_index_key(sub, &reference),
        ] {
            self.0
                .delete(&key)
                .await
                .map_err(|_| unavailable("delete_failed"))?;
        }
        Ok(())
    }

    /// `sub`'s passkeys, with what their sign-ins recorded. Index keys whose record is gone, or
    /// belongs to someone else, are skipped.
    pub async fn list(&self, sub: &str) -> Result<Vec<(StoredCredential, Option<Seen>)>, Denied> {
        let listed = self
            .0
            .list()
            .prefix(credential::user_prefix(sub))
            .limit(MAX_PER_USER as u64 + 1)
            .execute()
            .await
            .map_err(|_| unavailable("list_failed"))?;
        let mut found = Vec::new();
        for key in listed.keys {
            let Some(reference) = credential::reference_from_index_key(sub, &key.name) else {
                continue;
            };
            let (record, seen) = futures_util::future::join(
                self.text(&credential::credential_key(reference)),
                self.text(&credential::seen_key(reference)),
            )
            .await;
            let Some(record) = record? else { continue };
            let record = StoredCredential::parse(&record).map_err(refused)?;
            if record.user == sub && credential::reference(&id_of(&record)?) == reference {
                let seen = seen?
                    .map(|json| Seen::parse(&json))
                    .transpose()
                    .map_err(refused)?;
                found.push((record, seen));
            }
        }
        Ok(found)
    }

    /// `sub`'s passkey profile, if an enrollment stored one.
    pub async fn profile(&self, sub: &str) -> Result<Option<Profile>, Denied> {
        match self.text(&credential::profile_key(sub)).await? {
            None => Ok(None),
            Some(json) => Profile::parse(&json)
                .map(Some)
                .map_err(|_| refused(PasskeyError("profile_malformed"))),
        }
    }

    /// Stores `sub`'s profile.
    pub async fn put_profile(&self, sub: &str, profile: &Profile) -> Result<(), Denied> {
        self.put(&credential::profile_key(sub), &profile.to_json())
            .await
    }

    /// `sub`'s password record in the KV password store, if that store is in use and has one.
    pub async fn user_record(
        &self,
        sub: &str,
        password_store: &PasswordStore,
    ) -> Result<Option<UserRecord>, Denied> {
        if *password_store != PasswordStore::Kv {
            return Ok(None);
        }
        match self.text(&user_key(sub)).await? {
            None => Ok(None),
            Some(json) => UserRecord::parse(&json)
                .map(Some)
                .map_err(|_| refused(PasskeyError("user_record_malformed"))),
        }
    }

    /// Who `sub` signs in as: their password record when the KV password store has one (its
    /// current roles; a disabled user is refused), else the profile their enrollment stored
    /// (`enrolled`, when the caller holds it already; a disabled one is refused); neither
    /// refuses.
    pub async fn identity(
        &self,
        sub: &str,
        password_store: &PasswordStore,
        user_verified: bool,
        enrolled: Option<Profile>,
    ) -> Result<Identity, Denied> {
        let profile = match self.user_record(sub, password_store).await? {
            Some(record) => Profile {
                roles: record.roles,
                name: record.name,
                email: record.email,
                disabled: record.disabled,
                enrollments_after: None,
            },
            None => match enrolled {
                Some(profile) => profile,
                None => self
                    .profile(sub)
                    .await?
                    .ok_or_else(|| refused(PasskeyError("no_profile")))?,
            },
        };
        if profile.disabled {
            return Err(refused(PasskeyError("user_disabled")));
        }
        Ok(profile.identity(sub, user_verified))
    }
}

fn id_of(record: &StoredCredential) -> Result<Vec<u8>, Denied> {
    base64url::decode(&record.id)
        .ok_or_else(|| refused(PasskeyError("credential_record_malformed")))
}

fn reference_of(record: &StoredCredential) -> Result<String, Denied> {
    Ok(credential::reference(&id_of(record)?))
}

/// Whether the assertion's signature verifies under the credential's key, through WebCrypto.
pub async fn signature_valid(
    pending: &PendingSignIn,
    record: &StoredCredential,
) -> Result<bool, Denied> {
    webcrypto::verify(
        &record.public_key.jwk,
        pending.alg(),
        pending.signed_message(),
        pending.signature(),
    )
    .await
    .map_err(|_| refused(PasskeyError("key_import_failed")))
}
