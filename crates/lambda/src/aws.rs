//! The AWS adapters of the Lambda ports: the SORACOM AuthKey in Secrets Manager
//! ([`SecretsManagerStore`]) and the configuration in an SSM parameter ([`SsmConfig`]).

use aws_config::SdkConfig;
use serde::Deserialize;

use rotator::{aws_error_text, aws_retryable, Error, KeyStore, Stored};
use rotator_core::endpoint::AuthKey;
use rotator_core::Secret;

use crate::{ConfigSource, HandlerError};

/// The SORACOM AuthKey as a Secrets Manager secret `{"authKeyId": …, "authKey": …}`.
#[derive(Clone, Debug)]
pub struct SecretsManagerStore {
    client: aws_sdk_secretsmanager::Client,
    secret_id: Option<String>,
}

impl SecretsManagerStore {
    /// The store for `secret_id` (ARN or name; from `SORACOM_AUTH_SECRET_ID`). `None` makes
    /// every call fail with a message saying what to set.
    pub fn new(sdk: &SdkConfig, secret_id: Option<String>) -> SecretsManagerStore {
        SecretsManagerStore {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id: secret_id.filter(|s| !s.is_empty()),
        }
    }

    fn id(&self) -> Result<&str, Error> {
        self.secret_id.as_deref().ok_or_else(|| Error::KeyStore {
            store: "Secrets Manager".into(),
            message: "SORACOM_AUTH_SECRET_ID is not set".into(),
            retryable: false,
        })
    }

    fn err(&self, message: String, retryable: bool) -> Error {
        Error::KeyStore {
            store: self.name(),
            message,
            retryable,
        }
    }
}

/// The secret's JSON. No `Debug`: it holds the AuthKey.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    auth_key_id: String,
    auth_key: String,
    #[serde(default)]
    replaced_auth_key_id: Option<String>,
}

impl KeyStore for SecretsManagerStore {
    fn name(&self) -> String {
        format!(
            "secret {}",
            self.secret_id
                .as_deref()
                .unwrap_or("(SORACOM_AUTH_SECRET_ID unset)")
        )
    }

    async fn load(&self) -> Result<Stored, Error> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(self.id()?)
            .send()
            .await
            .map_err(|e| {
                let r = aws_retryable(&e);
                self.err(format!("GetSecretValue: {}", aws_error_text(&e).1), r)
            })?;
        let text = out.secret_string().unwrap_or_default();
        // Never quote the secret in an error.
        let key: StoredKey = serde_json::from_str(text).map_err(|_| {
            self.err(
                "the secret is not JSON {\"authKeyId\": …, \"authKey\": …}; put the SORACOM \
                 AuthKey there (see docs/deployment.md#aws-sam-quick-start)"
                    .into(),
                false,
            )
        })?;
        if key.auth_key_id.is_empty() || key.auth_key.is_empty() {
            return Err(self.err("authKeyId or authKey is empty".into(), false));
        }
        Ok(Stored {
            key: AuthKey {
                id: key.auth_key_id,
                secret: Secret::new(key.auth_key),
            },
            replaced: key.replaced_auth_key_id.filter(|r| !r.is_empty()),
        })
    }

    async fn store(&self, key: &AuthKey, replaced: Option<&str>) -> Result<(), Error> {
        let mut body = serde_json::json!({"authKeyId": key.id, "authKey": key.secret.expose()});
        if let Some(r) = replaced {
            body[rotator::REPLACED_FIELD] = serde_json::Value::String(r.to_string());
        }
        self.client
            .put_secret_value()
            .secret_id(self.id()?)
            .secret_string(body.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let r = aws_retryable(&e);
                self.err(format!("PutSecretValue: {}", aws_error_text(&e).1), r)
            })
    }
}

/// The TOML configuration in an SSM parameter (`ROTATOR_CONFIG_PARAMETER`; String or
/// SecureString).
#[derive(Clone, Debug)]
pub struct SsmConfig {
    client: aws_sdk_ssm::Client,
    parameter: String,
}

impl SsmConfig {
    /// The source reading `parameter`.
    pub fn new(sdk: &SdkConfig, parameter: impl Into<String>) -> SsmConfig {
        SsmConfig {
            client: aws_sdk_ssm::Client::new(sdk),
            parameter: parameter.into(),
        }
    }
}

impl ConfigSource for SsmConfig {
    fn name(&self) -> String {
        format!("ssm:{}", self.parameter)
    }

    async fn load(&self) -> Result<String, HandlerError> {
        let out = self
            .client
            .get_parameter()
            .name(&self.parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                let (code, message) = aws_error_text(&e);
                HandlerError::Rotator(Error::Aws {
                    op: "ssm:GetParameter",
                    code,
                    retryable: aws_retryable(&e),
                    message,
                })
            })?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| HandlerError::Config(format!("{} has no value", self.name())))
    }
}

/// Where this function's configuration comes from: SSM when `ROTATOR_CONFIG_PARAMETER`
/// is set, else `ROTATOR_CONFIG`.
#[derive(Clone, Debug)]
pub enum RuntimeConfig {
    /// An SSM parameter.
    Ssm(SsmConfig),
    /// Inline TOML (or none).
    Inline(crate::InlineConfig),
}

impl RuntimeConfig {
    /// Chooses the source from the two variables' values.
    pub fn from_vars(
        sdk: &SdkConfig,
        parameter: Option<String>,
        inline: Option<String>,
    ) -> RuntimeConfig {
        match parameter.filter(|p| !p.is_empty()) {
            Some(p) => RuntimeConfig::Ssm(SsmConfig::new(sdk, p)),
            None => RuntimeConfig::Inline(crate::InlineConfig(inline.filter(|s| !s.is_empty()))),
        }
    }
}

impl ConfigSource for RuntimeConfig {
    fn name(&self) -> String {
        match self {
            RuntimeConfig::Ssm(s) => s.name(),
            RuntimeConfig::Inline(i) => i.name(),
        }
    }

    async fn load(&self) -> Result<String, HandlerError> {
        match self {
            RuntimeConfig::Ssm(s) => s.load().await,
            RuntimeConfig::Inline(i) => i.load().await,
        }
    }
}
