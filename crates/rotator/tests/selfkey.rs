//! `rotate-soracom-key` against the emulator, with a failure injected at each step: after
//! every one, the key the store holds still authenticates, the emulator holds no stray
//! key, and every request conformed to the official spec.

use std::sync::atomic::{AtomicBool, Ordering};

use rotator::soracom::{Dial, HttpDial};
use rotator::{rotate_soracom_key, Error, KeyStore, ProfileStore, Stored};
use rotator_core::config::SoracomSettings;
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::Config;
use soracom_emulator::{Emulator, Fault, FaultBody, FaultKind};
use testkit::contract::{assert_conforms, recorded, Spec};

const OLD_ID: &str = "keyId-old-0001";
const OLD_SECRET: &str = "secret-old-soracom-auth-key-0123456789";

fn settings() -> SoracomSettings {
    let text = "[soracom]\nretry_base_ms = 5\nretry_attempts = 3\n[[targets]]\nname = \"t\"\niam_user = \"u\"\ncredential_prefix = \"p\"\n";
    match Config::from_toml(text, std::path::Path::new("test.toml")) {
        Ok(c) => c.soracom,
        Err(e) => panic!("{e}"),
    }
}

/// Clients over HTTP, waiting on the system clock.
fn dial() -> HttpDial {
    HttpDial {
        clock: std::sync::Arc::new(rotator::SystemClock::new()),
    }
}

/// A profile store whose writes (and, optionally, reads after a failed write) fail.
struct Faulty {
    inner: ProfileStore,
    fail_store: bool,
    fail_reads_after_store: bool,
    stored: AtomicBool,
}

impl KeyStore for Faulty {
    fn name(&self) -> String {
        self.inner.name()
    }
    async fn load(&self) -> Result<Stored, Error> {
        if self.fail_reads_after_store && self.stored.load(Ordering::SeqCst) {
            return Err(Error::KeyStore {
                store: self.name(),
                message: "injected read failure".into(),
                retryable: true,
            });
        }
        self.inner.load().await
    }
    async fn store(&self, key: &AuthKey, replaced: Option<&str>) -> Result<(), Error> {
        if self.fail_store {
            self.stored.store(true, Ordering::SeqCst);
            return Err(Error::KeyStore {
                store: self.name(),
                message: "injected write failure".into(),
                retryable: true,
            });
        }
        self.inner.store(key, replaced).await
    }
}

struct World {
    emu: Emulator,
    dir: tempfile::TempDir,
}

impl World {
    async fn new(sam_user: Option<&str>) -> World {
        testkit::install_crypto_provider();
        let emu = Emulator::start().await.unwrap_or_else(|e| panic!("{e}"));
        match sam_user {
            Some(u) => emu.add_sam_auth_key(OLD_ID, OLD_SECRET, u),
            None => emu.add_auth_key(OLD_ID, OLD_SECRET),
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("default.json");
        std::fs::write(
            &path,
            format!(r#"{{"coverageType":"jp","authKeyId":"{OLD_ID}","authKey":"{OLD_SECRET}"}}"#),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        World { emu, dir }
    }

    /// The soracom-cli profile `default` in the world's profile directory.
    fn store(&self) -> ProfileStore {
        let dir = self.dir.path().display().to_string();
        let env = move |k: &str| (k == "SORACOM_PROFILE_DIR").then(|| dir.clone());
        ProfileStore::locate(&env, None, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn faulty(&self, fail_store: bool, fail_reads_after_store: bool) -> Faulty {
        Faulty {
            inner: self.store(),
            fail_store,
            fail_reads_after_store,
            stored: AtomicBool::new(false),
        }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint(self.emu.endpoint())
    }

    fn fault(&self, operation: &str, nth: u32, times: u32, kind: FaultKind) {
        self.emu.add_fault(Fault {
            operation: operation.into(),
            nth,
            times,
            kind,
        });
    }

    /// The stored key logs in, and it is the only key left unless `keys` says otherwise.
    async fn assert_stored_key_works(&self, keys: usize) -> AuthKey {
        self.emu.clear_faults();
        let key = self
            .store()
            .load()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .key;
        let client = dial()
            .dial(&self.endpoint(), key.clone(), &settings())
            .unwrap_or_else(|e| panic!("{e}"));
        client
            .login()
            .await
            .unwrap_or_else(|e| panic!("stored key does not log in: {e}"));
        assert_eq!(
            self.emu.auth_key_ids().len(),
            keys,
            "{:?}",
            self.emu.auth_key_ids()
        );
        let reqs = self.emu.requests();
        assert_conforms(Spec::load_default(), recorded(&reqs));
        key
    }
}

fn status(code: u16) -> FaultKind {
    FaultKind::Status {
        status: code,
        body: FaultBody::Json,
    }
}

#[tokio::test]
async fn rotates_a_sam_users_key_and_deletes_the_old_one() {
    let w = World::new(Some("rotator")).await;
    let done = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.store())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(done.old_key_deleted, "{done:?}");
    assert!(done.user.contains("SAM user rotator"), "{done:?}");
    let text = format!("{done:?}{}", done.render_text());
    assert!(
        !text.contains(OLD_ID) && !text.contains(OLD_SECRET),
        "{text}"
    );
    let key = w.assert_stored_key_works(1).await;
    assert_ne!(key.id, OLD_ID);
    assert!(w.emu.call_counts().contains_key("generateUserAuthKey"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.dir.path().join("default.json"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn rotates_a_root_key_through_the_operator_paths() {
    let w = World::new(None).await;
    let done = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.store())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        done.old_key_deleted && done.user.contains("root user"),
        "{done:?}"
    );
    w.assert_stored_key_works(1).await;
    assert!(w.emu.call_counts().contains_key("generateOperatorAuthKey"));
}

#[tokio::test]
async fn a_failed_generate_changes_nothing() {
    for kind in [status(500), FaultKind::SucceedThenDrop, status(403)] {
        let w = World::new(Some("rotator")).await;
        w.fault("generateUserAuthKey", 1, 1, kind.clone());
        let r = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.store()).await;
        assert!(r.is_err(), "{kind:?}: {r:?}");
        let key = w.assert_stored_key_works(1).await;
        assert_eq!(key.id, OLD_ID, "{kind:?}");
    }
}

#[tokio::test]
async fn a_new_key_that_does_not_authenticate_is_deleted() {
    let w = World::new(Some("rotator")).await;
    // auth #1 identifies the old key, #2 is the session's login, #3.. verify the new key.
    w.fault("auth", 3, 3, status(401));
    let r = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.store()).await;
    assert!(r.is_err(), "{r:?}");
    let key = w.assert_stored_key_works(1).await;
    assert_eq!(key.id, OLD_ID);
}

#[tokio::test]
async fn a_failed_store_keeps_the_old_key() {
    let w = World::new(Some("rotator")).await;
    let r = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.faulty(true, false)).await;
    assert!(r.is_err(), "{r:?}");
    let key = w.assert_stored_key_works(1).await;
    assert_eq!(key.id, OLD_ID);
}

#[tokio::test]
async fn an_unreadable_store_after_a_failed_write_keeps_both_keys() {
    let w = World::new(Some("rotator")).await;
    let r = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.faulty(true, true)).await;
    let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("both AuthKeys"), "{msg}");
    assert!(!msg.contains(OLD_ID), "key ids are masked: {msg}");
    let key = w.assert_stored_key_works(2).await;
    assert_eq!(key.id, OLD_ID);
}

#[tokio::test]
async fn a_failed_delete_of_the_old_key_is_finished_by_the_next_rotation() {
    let w = World::new(Some("rotator")).await;
    w.fault("deleteUserAuthKey", 1, 0, status(500));
    let done = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.store())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!done.old_key_deleted);
    assert!(
        done.warning
            .as_deref()
            .is_some_and(|m| m.contains("the next rotate-soracom-key deletes it first")),
        "{done:?}"
    );
    let key = w.assert_stored_key_works(2).await;
    assert_ne!(key.id, OLD_ID);
    // The store remembers the key it replaced: the next rotation deletes it first.
    let record = w.store().load().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.replaced.as_deref(), Some(OLD_ID));
    let again = rotate_soracom_key(&dial(), &w.endpoint(), &settings(), &w.store())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.old_key_deleted, "{again:?}");
    assert!(again.earlier_key_deleted.is_some(), "{again:?}");
    assert!(again.other_keys.is_empty(), "{again:?}");
    w.assert_stored_key_works(1).await;
    let record = w.store().load().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.replaced, None);
}
