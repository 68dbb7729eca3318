//! `rotate-soracom-key`: replace the SORACOM AuthKey the tool itself logs in with.
//!
//! [`rotate_soracom_key`] generates a new AuthKey for the user the current key logs in
//! as (a SAM user, or the root user through the operator paths when the auth response
//! names no user), proves it with `POST /auth`, stores it in a [`KeyStore`] (the
//! soracom-cli profile file for the CLI, Secrets Manager for Lambda) together with the id
//! of the key it replaces, and only then deletes the old key, logged in with the new one,
//! and clears that record. At every step a failure leaves a stored key that works:
//! - generating fails → nothing changed (a key the failed call may have created is found
//!   by listing and deleted);
//! - the new key does not verify → it is deleted, the old key stays;
//! - storing fails → the store is read back: if it still holds the old key, the new key is
//!   deleted; if it cannot be read, both keys are kept and the error says so;
//! - deleting the old key fails (or the run dies first) → the run fails; the store still
//!   names the old key, and the next run deletes it before anything else.
//!
//! A key of the user that is neither stored nor recorded (a person's, or one generated
//! by a run that died before storing it, whose secret is lost) is reported, never
//! deleted: nothing proves it is the tool's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rotator_core::KeyRotation;
use serde_json::Value;

use crate::config::SoracomSettings;
use crate::error::{Error, Result};
use crate::secret::mask;
use crate::soracom::{profile, AuthKey, Dial, Endpoint, Identity, SoracomClient, Transport};

/// The member of a soracom-cli profile (and of the Lambda's secret) naming the key a
/// rotation replaced until it is deleted; soracom-cli ignores members it does not know.
pub const REPLACED_FIELD: &str = "replacedAuthKeyId";

/// Attempts to authenticate with the new key before giving up on it.
const VERIFY_ATTEMPTS: u32 = 3;

/// What a [`KeyStore`] holds: the key, and the key it replaced while that one is not yet
/// known to be deleted.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The key to log in with.
    pub key: AuthKey,
    /// The id of the key it replaced, still to be deleted.
    pub replaced: Option<String>,
}

/// Where the tool's SORACOM AuthKey is kept.
pub trait KeyStore: Send + Sync {
    /// A name for messages (a path or a secret id; never the content).
    fn name(&self) -> String;
    /// The stored key, and the id of the key it replaced if that is still to be deleted.
    fn load(&self) -> impl Future<Output = Result<Stored>> + Send;
    /// Replaces the stored key; `replaced` names the key still to be deleted, if any.
    fn store(
        &self,
        key: &AuthKey,
        replaced: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
}

fn describe(who: &Identity) -> String {
    match &who.user_name {
        Some(u) => format!("SAM user {u} of operator {}", who.operator_id),
        None => format!("the root user of operator {}", who.operator_id),
    }
}

/// Rotates the AuthKey held by `store`; see the module documentation for the safety rules.
pub async fn rotate_soracom_key<K: KeyStore, D: Dial>(
    dial: &D,
    endpoint: &Endpoint,
    settings: &SoracomSettings,
    store: &K,
) -> Result<KeyRotation> {
    let stored = store.load().await?;
    let old = stored.key;
    let client = dial.dial(endpoint, old.clone(), settings)?;
    let who = client.identify(&old).await?;
    tracing::info!(user = %describe(&who), key = %mask(&old.id), "rotating the SORACOM AuthKey");

    let earlier = match stored.replaced.filter(|id| *id != old.id) {
        Some(id) => Some(delete_earlier(&client, store, &who, &old, &id).await?),
        None => None,
    };

    let before = client.list_auth_key_ids(&who).await?;
    let other_keys: Vec<String> = before
        .iter()
        .filter(|id| **id != old.id)
        .map(|id| mask(id))
        .collect();
    let new = generate(&client, &who, &before).await?;

    if let Err(e) = verify(&client, &who, &new, settings.retry_base).await {
        discard(&client, &who, &new).await;
        return Err(e);
    }

    let done = |old_key_deleted, warning| KeyRotation {
        user: describe(&who),
        store: store.name(),
        old_key: mask(&old.id),
        new_key: mask(&new.id),
        old_key_deleted,
        earlier_key_deleted: earlier.clone(),
        other_keys: other_keys.clone(),
        warning,
    };
    if let Err(e) = store.store(&new, Some(&old.id)).await {
        return match store.load().await {
            Ok(k) if k.key.id == new.id => {
                tracing::warn!(error = %e, "storing reported an error, but the store holds the new key");
                let (deleted, warning) =
                    finish((dial, endpoint, settings), store, &who, &old, &new).await;
                Ok(done(deleted, warning))
            }
            Ok(_) => {
                discard(&client, &who, &new).await;
                Err(e)
            }
            Err(read) => Err(Error::KeyStore {
                store: store.name(),
                message: format!(
                    "storing the new key failed ({e}) and the store cannot be read back ({read}); \
                     both AuthKeys ({} and {}) were kept: check which one the store holds, then \
                     delete the other",
                    mask(&old.id),
                    mask(&new.id)
                ),
                retryable: false,
            }),
        };
    }
    let (deleted, warning) = finish((dial, endpoint, settings), store, &who, &old, &new).await;
    Ok(done(deleted, warning))
}

/// An earlier rotation stored `old` but did not get to delete the key `id` it replaced:
/// deletes it, then clears the record of it. The deleted key, masked.
async fn delete_earlier<T: Transport, K: KeyStore>(
    client: &SoracomClient<T>,
    store: &K,
    who: &Identity,
    old: &AuthKey,
    id: &str,
) -> Result<String> {
    client.delete_auth_key(who, id).await?;
    store.store(old, None).await?;
    tracing::info!(key = %mask(id), "deleted the AuthKey an earlier rotation replaced");
    Ok(mask(id))
}

/// A new AuthKey for `who`, whose keys were `before`. A call that failed without a definite
/// rejection may have created a key whose secret was never seen: any key not in `before`
/// is deleted.
async fn generate<T: Transport>(
    client: &SoracomClient<T>,
    who: &Identity,
    before: &[String],
) -> Result<AuthKey> {
    match client.generate_auth_key(who).await {
        Ok(k) => Ok(k),
        Err(e) => {
            if !e.is_definite_rejection() {
                if let Ok(after) = client.list_auth_key_ids(who).await {
                    for id in after.iter().filter(|id| !before.contains(id)) {
                        let r = client.delete_auth_key(who, id).await;
                        tracing::warn!(key = %mask(id), deleted = r.is_ok(), "removing an AuthKey left by the failed call");
                    }
                }
            }
            Err(e)
        }
    }
}

/// The new key is stored: delete the old one, logged in with the new key, then clear the
/// record of it. Returns whether the old key is gone, and what the operator should know
/// if it is not.
async fn finish<K: KeyStore, D: Dial>(
    (dial, endpoint, settings): (&D, &Endpoint, &SoracomSettings),
    store: &K,
    who: &Identity,
    old: &AuthKey,
    new: &AuthKey,
) -> (bool, Option<String>) {
    let deleted = match dial.dial(endpoint, new.clone(), settings) {
        Ok(c) => c.delete_auth_key(who, &old.id).await,
        Err(e) => Err(e),
    };
    if let Err(e) = deleted {
        return (
            false,
            Some(format!(
                "the new key is stored and works, but deleting the old AuthKey {} failed ({e}); \
                 the next rotate-soracom-key deletes it first",
                mask(&old.id)
            )),
        );
    }
    // A record left behind is harmless: the next run finds the key gone and clears it.
    if let Err(e) = store.store(new, None).await {
        tracing::warn!(error = %e, "the old AuthKey is deleted; clearing its record failed");
    }
    (true, None)
}

/// Authenticates with `new` until it works, at most [`VERIFY_ATTEMPTS`] times, and checks
/// that it logs in as the same user.
async fn verify<T: Transport>(
    client: &SoracomClient<T>,
    who: &Identity,
    new: &AuthKey,
    delay: Duration,
) -> Result<()> {
    let mut last = None;
    for attempt in 1..=VERIFY_ATTEMPTS {
        match client.identify(new).await {
            Ok(w) if &w == who => return Ok(()),
            Ok(w) => {
                return Err(Error::Unconfirmed(format!(
                    "the new AuthKey {} logs in as {}, not {}",
                    mask(&new.id),
                    describe(&w),
                    describe(who)
                )))
            }
            Err(e) => last = Some(e),
        }
        if attempt < VERIFY_ATTEMPTS {
            client.clock().sleep(delay).await;
        }
    }
    Err(last.unwrap_or_else(|| Error::Unconfirmed("the new AuthKey did not verify".into())))
}

/// Deletes a new key that will not be used.
async fn discard<T: Transport>(client: &SoracomClient<T>, who: &Identity, new: &AuthKey) {
    match client.delete_auth_key(who, &new.id).await {
        Ok(()) => tracing::info!(key = %mask(&new.id), "deleted the unused new AuthKey"),
        Err(e) => {
            tracing::warn!(key = %mask(&new.id), error = %e, "could not delete the unused new AuthKey; delete it by hand")
        }
    }
}

/// The soracom-cli profile file (`~/.soracom/<name>.json`, see `crate::soracom::profile`),
/// written atomically with mode 0600; other fields of the profile are kept.
#[derive(Clone, Debug)]
pub struct ProfileStore {
    path: PathBuf,
}

impl ProfileStore {
    /// The store at `path`.
    pub(crate) fn new(path: impl Into<PathBuf>) -> ProfileStore {
        ProfileStore { path: path.into() }
    }

    /// The profile `name` (default `default`) in `$SORACOM_PROFILE_DIR` or `~/.soracom`.
    pub fn locate(
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
        name: Option<&str>,
    ) -> Result<ProfileStore> {
        profile::locate(env, home, name).map(ProfileStore::new)
    }

    fn err(&self, e: profile::ProfileError) -> Error {
        Error::KeyStore {
            store: self.path.display().to_string(),
            message: e.to_string(),
            retryable: false,
        }
    }
}

impl KeyStore for ProfileStore {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Stored> {
        let p = profile::read(&self.path).map_err(|e| self.err(e))?;
        let Some(key) = p.key() else {
            return Err(Error::KeyStore {
                store: self.name(),
                message: "has no authKeyId/authKey".into(),
                retryable: false,
            });
        };
        Ok(Stored {
            key,
            replaced: p.member(REPLACED_FIELD).map(str::to_string),
        })
    }

    async fn store(&self, key: &AuthKey, replaced: Option<&str>) -> Result<()> {
        profile::update(&self.path, |p| {
            p.auth_key_id = Some(key.id.clone());
            p.auth_key = Some(key.secret.expose().to_string());
            match replaced {
                Some(id) => p
                    .other
                    .insert(REPLACED_FIELD.into(), Value::String(id.into())),
                None => p.other.remove(REPLACED_FIELD),
            };
        })
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[tokio::test]
    async fn profile_store_keeps_other_fields_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("default.json");
        std::fs::write(
            &path,
            r#"{"coverageType":"g","authKeyId":"keyId-old","authKey":"secret-old"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let store = ProfileStore::new(&path);
        let old = store.load().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.key.id, "keyId-old");
        assert_eq!(old.replaced, None);
        let new = AuthKey {
            id: "keyId-new".into(),
            secret: Secret::new("secret-new"),
        };
        store
            .store(&new, Some("keyId-old"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let back = store.load().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.key.id, "keyId-new");
        assert_eq!(back.key.secret.expose(), "secret-new");
        assert_eq!(back.replaced.as_deref(), Some("keyId-old"));
        store
            .store(&new, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let back = store.load().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.replaced, None);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("\"coverageType\": \"g\""), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 1, "no temporary file is left");
    }
}
