//! Passkeys' I/O: the credential records, the per-user index, profiles and single-use markers
//! in Workers KV (layout: [`crate::login::passkey::credential`]), and the assertion's signature
//! through WebCrypto. Every KV failure refuses (fail closed): 503, nothing registered or signed in.

use worker::kv::KvStore;
use worker::Env;

use crate::bindings;
use crate::login::kv_passwords::{user_key, UserRecord};
use crate::login::passkey::ceremony::PendingSignIn;
use crate::login::passkey::credential::{self, Profile, StoredCredential};
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

    /// The record of credential `id`, if registered; a record that cannot be read refuses.
    pub async fn credential(&self, id: &[u8]) -> Result<Option<StoredCredential>, Denied> {
        match self.text(&credential::credential_key(id)).await? {
            None => Ok(None),
            Some(json) => StoredCredential::parse(&json).map(Some).map_err(refused),
        }
    }

    /// Writes the record of credential `id` (after a sign-in: the new counter).
    pub async fn save(&self, id: &[u8], record: &StoredCredential) -> Result<(), Denied> {
        self.put(&credential::credential_key(id), &record.to_json())
            .await
    }

    /// Registers credential `id`: its record, then its own index key (two registrations of one
    /// user never write the same key, so neither is lost).
    pub async fn add(&self, id: &[u8], record: &StoredCredential) -> Result<(), Denied> {
        self.save(id, record).await?;
        self.put(&credential::user_index_key(&record.user, id), "")
            .await
    }

    /// Removes credential `id` of `sub`: index first, so a half-done removal never lists a
    /// passkey that no longer signs in.
    pub async fn remove(&self, sub: &str, id: &[u8]) -> Result<(), Denied> {
        for key in [
            credential::user_index_key(sub, id),
            credential::credential_key(id),
        ] {
            self.0
                .delete(&key)
                .await
                .map_err(|_| unavailable("delete_failed"))?;
        }
        Ok(())
    }

    /// `sub`'s passkeys, with their ids. Index keys whose record is gone are skipped.
    pub async fn list(&self, sub: &str) -> Result<Vec<(Vec<u8>, StoredCredential)>, Denied> {
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
            let Some(id) = credential::id_from_index_key(sub, &key.name) else {
                continue;
            };
            if let Some(record) = self.credential(&id).await? {
                if record.user == sub {
                    found.push((id, record));
                }
            }
        }
        Ok(found)
    }

    /// Whether a passkey profile is stored for `sub`.
    pub async fn has_profile(&self, sub: &str) -> Result<bool, Denied> {
        Ok(self.text(&credential::profile_key(sub)).await?.is_some())
    }

    /// Stores `sub`'s profile.
    pub async fn put_profile(&self, sub: &str, profile: &Profile) -> Result<(), Denied> {
        self.put(&credential::profile_key(sub), &profile.to_json())
            .await
    }

    /// Who `sub` signs in as: their password record when the KV password store has one (a
    /// disabled user is refused), else their passkey profile; no profile refuses.
    pub async fn identity(
        &self,
        sub: &str,
        password_store: &PasswordStore,
        user_verified: bool,
    ) -> Result<Identity, Denied> {
        if *password_store == PasswordStore::Kv {
            if let Some(json) = self.text(&user_key(sub)).await? {
                let record = UserRecord::parse(&json)
                    .map_err(|_| refused(PasskeyError("user_record_malformed")))?;
                if record.disabled {
                    return Err(refused(PasskeyError("user_disabled")));
                }
                let profile = Profile {
                    roles: record.roles,
                    name: record.name,
                    email: record.email,
                    disabled: false,
                };
                return Ok(profile.identity(sub, user_verified));
            }
        }
        let json = self
            .text(&credential::profile_key(sub))
            .await?
            .ok_or_else(|| refused(PasskeyError("no_profile")))?;
        let profile =
            Profile::parse(&json).map_err(|_| refused(PasskeyError("profile_malformed")))?;
        if profile.disabled {
            return Err(refused(PasskeyError("user_disabled")));
        }
        Ok(profile.identity(sub, user_verified))
    }
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
