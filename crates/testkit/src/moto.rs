//! Reach moto (the AWS IAM/STS emulator from PyPI) with the real AWS SDK.
//!
//! `scripts/with-moto` starts one `moto_server` for a whole test run and exports its address
//! as `MOTO_ENDPOINT`. Tests share that server without resetting it, so each test names its
//! IAM users with [`unique`] and only looks at its own users.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_iam::error::DisplayErrorContext;
use aws_sdk_iam::types::StatusType;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::Provider;

/// Region every test client uses.
pub const REGION: &str = "us-east-1";
/// Access key id of the static test credentials (moto accepts any key unless auth is on,
/// and maps this one to its default account).
pub const TEST_ACCESS_KEY_ID: &str = "testing";
/// Secret of the static test credentials: of a real secret's length and distinctive, so
/// the tests' search for secrets in output would find it.
pub const TEST_SECRET_ACCESS_KEY: &str = "tkToolSecret/e2eRotatorOwnCredential0001";

/// The moto address from `MOTO_ENDPOINT`, e.g. `http://127.0.0.1:40123`.
///
/// # Panics
/// When `MOTO_ENDPOINT` is not set: a test that needs moto must not pass silently without it.
pub fn endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(v) if !v.trim().is_empty() => v.trim().trim_end_matches('/').to_string(),
        _ => {
            panic!("MOTO_ENDPOINT is not set: run the tests through scripts/test (it starts moto)")
        }
    }
}

/// A name no other test (in this or a parallel process) uses: `<prefix>-<pid>-<millis>-<n>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

/// The SDK's HTTP(S) client with rustls on ring; the workspace builds the SDK without its
/// default client, so every config must be given one (it serves plain http too).
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// SDK config for moto (or a proxy in front of it): region us-east-1, the static test
/// credentials, the given endpoint, the ring HTTP client.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_as(endpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await
}

/// As [`sdk_config`], signing with the given key (for a moto that checks signatures).
pub async fn sdk_config_as(endpoint: &str, key_id: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key_id, secret, None, None, "testkit"))
        .endpoint_url(endpoint)
        .http_client(http_client())
        .load()
        .await
}

/// A failed moto call: which operation, and the SDK's full error text.
#[derive(Debug, thiserror::Error)]
#[error("moto {operation} failed: {message}")]
pub struct MotoError {
    /// The IAM/STS operation, e.g. `CreateAccessKey`.
    pub operation: &'static str,
    /// The SDK error with its whole source chain.
    pub message: String,
}

fn err<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> MotoError {
    move |e| MotoError {
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

fn missing(operation: &'static str, what: &str) -> MotoError {
    MotoError {
        operation,
        message: format!("response has no {what}"),
    }
}

/// One access key as `ListAccessKeys` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The access key id.
    pub id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Creation time.
    pub created: SystemTime,
}

/// Arranges and inspects IAM state in moto for a test.
#[derive(Debug, Clone)]
pub struct Iam {
    config: SdkConfig,
    iam: aws_sdk_iam::Client,
}

impl Iam {
    /// A helper talking to the moto of `MOTO_ENDPOINT` (panics if unset, see [`endpoint`]).
    pub async fn from_env() -> Iam {
        Iam::connect(&endpoint()).await
    }

    /// A helper talking to moto (or a proxy) at `endpoint`.
    pub async fn connect(endpoint: &str) -> Iam {
        Iam::connect_as(endpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY).await
    }

    /// A helper signing with the given key (for a moto that checks signatures).
    pub async fn connect_as(endpoint: &str, key_id: &str, secret: &str) -> Iam {
        let config = sdk_config_as(endpoint, key_id, secret).await;
        let iam = aws_sdk_iam::Client::new(&config);
        Iam { config, iam }
    }

    /// A helper over this SDK config (e.g. with credentials from `AssumeRole`).
    pub fn from_config(config: SdkConfig) -> Iam {
        let iam = aws_sdk_iam::Client::new(&config);
        Iam { config, iam }
    }

    /// The SDK config this helper uses.
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The underlying IAM client, for calls this helper does not wrap.
    pub fn client(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    /// Creates IAM user `name`.
    pub async fn create_user(&self, name: &str) -> Result<(), MotoError> {
        self.iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .map_err(err("CreateUser"))?;
        Ok(())
    }

    /// The ARN of IAM user `user`.
    pub async fn user_arn(&self, user: &str) -> Result<String, MotoError> {
        let out = self
            .iam
            .get_user()
            .user_name(user)
            .send()
            .await
            .map_err(err("GetUser"))?;
        out.user
            .map(|u| u.arn)
            .ok_or_else(|| missing("GetUser", "User"))
    }

    /// Creates an access key for `user`; returns `(access key id, secret)`.
    pub async fn create_access_key(&self, user: &str) -> Result<(String, String), MotoError> {
        let out = self
            .iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(err("CreateAccessKey"))?;
        let key = out
            .access_key
            .ok_or_else(|| missing("CreateAccessKey", "AccessKey"))?;
        Ok((key.access_key_id, key.secret_access_key))
    }

    /// The access keys of `user`, in moto's order.
    pub async fn list_keys(&self, user: &str) -> Result<Vec<KeyInfo>, MotoError> {
        let out = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(err("ListAccessKeys"))?;
        out.access_key_metadata
            .into_iter()
            .map(|m| {
                let id = m
                    .access_key_id
                    .ok_or_else(|| missing("ListAccessKeys", "AccessKeyId"))?;
                let status = m
                    .status
                    .map(|s| s.as_str().to_string())
                    .ok_or_else(|| missing("ListAccessKeys", "Status"))?;
                let created = m
                    .create_date
                    .and_then(|d| SystemTime::try_from(d).ok())
                    .ok_or_else(|| missing("ListAccessKeys", "CreateDate"))?;
                Ok(KeyInfo {
                    id,
                    status,
                    created,
                })
            })
            .collect()
    }

    /// Sets key `id` of `user` to `Active` or `Inactive`.
    pub async fn set_key_status(
        &self,
        user: &str,
        id: &str,
        active: bool,
    ) -> Result<(), MotoError> {
        let status = if active {
            StatusType::Active
        } else {
            StatusType::Inactive
        };
        self.iam
            .update_access_key()
            .user_name(user)
            .access_key_id(id)
            .status(status)
            .send()
            .await
            .map_err(err("UpdateAccessKey"))?;
        Ok(())
    }

    /// Deletes key `id` of `user`.
    pub async fn delete_access_key(&self, user: &str, id: &str) -> Result<(), MotoError> {
        self.iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(id)
            .send()
            .await
            .map_err(err("DeleteAccessKey"))?;
        Ok(())
    }

    /// When key `id` was last used, by which service, in which region; `None` if never.
    pub async fn last_used(
        &self,
        id: &str,
    ) -> Result<Option<(SystemTime, String, String)>, MotoError> {
        let out = self
            .iam
            .get_access_key_last_used()
            .access_key_id(id)
            .send()
            .await
            .map_err(err("GetAccessKeyLastUsed"))?;
        let Some(used) = out.access_key_last_used else {
            return Ok(None);
        };
        let Some(date) = used.last_used_date else {
            return Ok(None);
        };
        let when = SystemTime::try_from(date).map_err(|e| MotoError {
            operation: "GetAccessKeyLastUsed",
            message: format!("LastUsedDate out of range: {e}"),
        })?;
        Ok(Some((when, used.service_name, used.region)))
    }

    /// The tags of `user`.
    pub async fn tags(&self, user: &str) -> Result<Vec<(String, String)>, MotoError> {
        let out = self
            .iam
            .list_user_tags()
            .user_name(user)
            .send()
            .await
            .map_err(err("ListUserTags"))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// Sets tag `key` of `user` to `value`.
    pub async fn tag_user(&self, user: &str, key: &str, value: &str) -> Result<(), MotoError> {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(err("TagUser"))?;
        self.iam
            .tag_user()
            .user_name(user)
            .tags(tag)
            .send()
            .await
            .map_err(err("TagUser"))?;
        Ok(())
    }

    /// Calls `sts:GetCallerIdentity` signed with this key (moto then records its last use);
    /// returns the caller ARN.
    pub async fn use_key(&self, id: &str, secret: &str) -> Result<String, MotoError> {
        let conf = aws_sdk_sts::config::Builder::from(&self.config)
            .credentials_provider(Credentials::new(id, secret, None, None, "testkit-use-key"))
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(err("GetCallerIdentity"))?;
        out.arn.ok_or_else(|| missing("GetCallerIdentity", "Arn"))
    }
}

/// A moto of a test's own whose clock the test moves (`moto_clock.py`): keys created and
/// used "later" get later timestamps, as `--now` travels. Optionally it checks every
/// request's signature ([`ClockedMoto::start_authenticated`]). Stopped when dropped.
#[derive(Debug)]
pub struct ClockedMoto {
    child: std::process::Child,
    endpoint: String,
    clock: tempfile::NamedTempFile,
    credentials: (String, String),
}

impl ClockedMoto {
    /// Starts it on a free 127.0.0.1 port with the interpreter of `MOTO_PYTHON` (exported
    /// by `scripts/with-moto`) and waits, at most 30 s, until it answers.
    ///
    /// # Panics
    /// When `MOTO_PYTHON` is unset or moto does not come up: the test must not pass silently.
    pub async fn start() -> ClockedMoto {
        let python = match std::env::var("MOTO_PYTHON") {
            Ok(p) if !p.is_empty() => p,
            _ => panic!(
                "MOTO_PYTHON is not set: run the tests through scripts/test (it installs moto)"
            ),
        };
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("moto_clock.py");
        let clock = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("clock file: {e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("free port: {e}"));
        let child = std::process::Command::new(python)
            .arg(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_CLOCK_FILE", clock.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let moto = ClockedMoto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            clock,
            credentials: (
                TEST_ACCESS_KEY_ID.to_string(),
                TEST_SECRET_ACCESS_KEY.to_string(),
            ),
        };
        crate::install_crypto_provider();
        let probe = reqwest::Client::new();
        for _ in 0..150 {
            let ready = probe
                .get(format!("{}/moto-api/data.json", moto.endpoint))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return moto;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!(
            "moto_clock.py did not answer at {} within 30 s",
            moto.endpoint
        );
    }

    /// As [`ClockedMoto::start`], then with moto's request authentication on: an IAM user
    /// `rotator-admin` allowed every action is created with an access key, and from then on
    /// moto accepts only requests signed by a key it issued, with that key's secret (it
    /// still accepts inactive keys). [`ClockedMoto::credentials`] is that admin key.
    ///
    /// # Panics
    /// When moto does not come up or refuses the setup.
    pub async fn start_authenticated() -> ClockedMoto {
        let mut moto = ClockedMoto::start().await;
        let iam = Iam::connect(&moto.endpoint).await;
        let admin = "rotator-admin";
        iam.create_user(admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let everything = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        iam.client()
            .put_user_policy()
            .user_name(admin)
            .policy_name("everything")
            .policy_document(everything)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put_user_policy: {}", DisplayErrorContext(e)));
        moto.credentials = iam
            .create_access_key(admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The body is the number of unauthenticated actions still allowed (a bare number).
        let resp = reqwest::Client::new()
            .post(format!("{}/moto-api/reset-auth", moto.endpoint))
            .header("content-type", "text/plain")
            .body("0")
            .send()
            .await
            .unwrap_or_else(|e| panic!("reset-auth: {e}"));
        assert!(
            resp.status().is_success(),
            "reset-auth answered {}",
            resp.status()
        );
        moto
    }

    /// The key to sign with: the admin key when authentication is on, else the static test
    /// credentials.
    pub fn credentials(&self) -> (String, String) {
        self.credentials.clone()
    }

    /// Its address.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Moves moto's clock to real time plus `offset`.
    pub fn set_offset(&self, offset: std::time::Duration) {
        std::fs::write(self.clock.path(), offset.as_secs_f64().to_string())
            .unwrap_or_else(|e| panic!("writing the clock file: {e}"));
    }
}

impl Drop for ClockedMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
