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

use crate::adapter::{deadline, webcrypto};

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
        deadline::kv_record(&self.0, key)
            .await
            .map_err(|e| unavailable(e.as_str()))
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), Denied> {
        self.0
            .put(key, value)
            .map_err(|_| unavailable("write_failed"))?
            .execute()
            .await
            .map_err(|_| unavailable("write_failed"))
    }

    /// The record of credential `id`, what its sign-ins recorded and its name, if it is
    /// registered: its record *and* its owner's index key must be there (an index key is
    /// deleted first on removal and is the only key a rename writes, so a record written back by
    /// a stale read is never a usable passkey). A record that cannot be read refuses.
    pub async fn credential(&self, id: &[u8]) -> Result<Option<Found>, Denied> {
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
        let Some(name) = self
            .text(&credential::user_index_key(&record.user, &reference))
            .await?
        else {
            return Ok(None);
        };
        let seen = seen?
            .map(|json| Seen::parse(&json))
            .transpose()
            .map_err(refused)?;
        Ok(Some(Found {
            name: credential::stored_name(&name, &record),
            record,
            seen,
        }))
    }

    /// Records a sign-in of credential `id`. Only this key is written: the record itself never
    /// is after registration, so a sign-in cannot write back a passkey removed meanwhile.
    pub async fn save_seen(&self, id: &[u8], seen: &Seen) -> Result<(), Denied> {
        let key = credential::seen_key(&credential::reference(id));
        self.put(&key, &seen.to_json()).await
    }

    /// Renames a passkey: only its index key is written (the record never is after
    /// registration), so a rename racing a removal can at worst leave an index key whose record
    /// is gone, which neither lists nor signs in.
    pub async fn rename(&self, record: &StoredCredential, name: &str) -> Result<(), Denied> {
        let reference = reference_of(record)?;
        self.put(&credential::user_index_key(&record.user, &reference), name)
            .await
    }

    /// Registers a credential: its index key (holding its name) first, then its record. Two
    /// registrations of one user never write the same key.
    pub async fn add(&self, record: &StoredCredential) -> Result<(), Denied> {
        let reference = reference_of(record)?;
        self.put(
            &credential::user_index_key(&record.user, &reference),
            &record.name,
        )
        .await?;
        self.put(&credential::credential_key(&reference), &record.to_json())
            .await
    }

    /// Removes `record` of `sub`: its index key first (from then on it neither lists nor signs
    /// in), then its record and what was seen of it.
    pub async fn remove(&self, sub: &str, record: &StoredCredential) -> Result<(), Denied> {
        let reference = reference_of(record)?;
        for key in [
            credential::user_index_key(sub, &reference),
            credential::credential_key(&reference),
            credential::seen_key(&reference),
        ] {
            self.0
                .delete(&key)
                .await
                .map_err(|_| unavailable("delete_failed"))?;
        }
        Ok(())
    }

    /// `sub`'s passkeys. Index keys whose record is gone, or belongs to someone else, are
    /// skipped.
    pub async fn list(&self, sub: &str) -> Result<Vec<Found>, Denied> {
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
            let (record, seen, name) = futures_util::future::join3(
                self.text(&credential::credential_key(reference)),
                self.text(&credential::seen_key(reference)),
                self.text(&key.name),
            )
            .await;
            let (Some(record), Some(name)) = (record?, name?) else {
                continue;
            };
            let record = StoredCredential::parse(&record).map_err(refused)?;
            if record.user == sub && credential::reference(&id_of(&record)?) == reference {
                let seen = seen?
                    .map(|json| Seen::parse(&json))
                    .transpose()
                    .map_err(refused)?;
                found.push(Found {
                    name: credential::stored_name(&name, &record),
                    record,
                    seen,
                });
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
    /// current roles), else the profile their enrollment stored (`enrolled`, when the caller
    /// holds it already); neither refuses, and so does `disabled` in either.
    pub async fn identity(
        &self,
        sub: &str,
        password_store: &PasswordStore,
        user_verified: bool,
        enrolled: Option<Profile>,
    ) -> Result<Identity, Denied> {
        let (record, stored) = match enrolled {
            Some(profile) => (self.user_record(sub, password_store).await?, Some(profile)),
            None => {
                let (record, profile) = futures_util::future::join(
                    self.user_record(sub, password_store),
                    self.profile(sub),
                )
                .await;
                (record?, profile?)
            }
        };
        if record.as_ref().is_some_and(|r| r.disabled)
            || stored.as_ref().is_some_and(|p| p.disabled)
        {
            return Err(refused(PasskeyError("user_disabled")));
        }
        let profile = match (record, stored) {
            (Some(record), _) => Profile {
                roles: record.roles,
                name: record.name,
                email: record.email,
                disabled: false,
                enrollments_after: None,
            },
            (None, Some(profile)) => profile,
            (None, None) => return Err(refused(PasskeyError("no_profile"))),
        };
        Ok(profile.identity(sub, user_verified))
    }
}

/// A registered passkey as read from KV.
pub struct Found {
    /// Its record.
    pub record: StoredCredential,
    /// What its sign-ins recorded, if any did.
    pub seen: Option<Seen>,
    /// Its current name.
    pub name: String,
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
