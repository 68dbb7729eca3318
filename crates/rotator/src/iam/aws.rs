//! [`AwsIam`]: the [`IamApi`] port over the official AWS SDK (IAM and STS).
//!
//! The new key is verified with `sts:GetCallerIdentity` signed by that key, through a client
//! built from the same SDK configuration, so an endpoint override (`AWS_ENDPOINT_URL`)
//! applies to it. Policy documents come back URL-encoded from IAM; the adapter decodes
//! them, so the port deals in JSON text. Every listing reads every page, bounded
//! ([`every_page`]).

use std::future::Future;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::StatusType;
use rotator_core::config::AssumeRole;
use rotator_core::model::{AccessKey, KeyStatus, LastUsed};
use rotator_core::role::{AttachedPolicy, InlinePolicy, Role, UserPolicies};
use rotator_core::secret::{AccessKeyId, NewAccessKey, Secret};
use time::OffsetDateTime;

use super::{IamApi, MAX_USER_PAGES};
use crate::error::{aws_error_text, aws_retryable, causes, Error, Result};

/// Bound on one attempt of an IAM or STS call when none is given.
pub const DEFAULT_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Pages of user tags read at most (a user has at most 50 tags).
const MAX_TAG_PAGES: usize = 10;
/// Pages of a policy or group listing read at most (IAM's default page is 100 items; a
/// user or role has at most 10 attached policies by default, 20 on request).
const MAX_POLICY_PAGES: usize = 20;

/// [`IamApi`] over `aws-sdk-iam` and `aws-sdk-sts`.
#[derive(Clone, Debug)]
pub struct AwsIam {
    sdk: SdkConfig,
    iam: aws_sdk_iam::Client,
}

impl AwsIam {
    /// Loads the SDK's default configuration chain (environment, profiles, SSO, container,
    /// instance metadata; `AWS_ENDPOINT_URL` honoured), with a rustls/ring HTTPS client.
    /// IAM is global, so a missing region falls back to `us-east-1`.
    pub async fn from_env() -> AwsIam {
        AwsIam::from_env_with_timeout(DEFAULT_ATTEMPT_TIMEOUT).await
    }

    /// As [`AwsIam::from_env`], with each attempt of a call (connecting included) bounded
    /// by `attempt`: without a bound, an endpoint that accepts the connection and never
    /// answers would hold the run for as long as it keeps the connection open.
    pub async fn from_env_with_timeout(attempt: std::time::Duration) -> AwsIam {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(attempt.min(std::time::Duration::from_secs(10)))
            .operation_attempt_timeout(attempt)
            .build();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        // Every provider of the chain must get this client: a separately built region chain
        // would lack it and fail at run time, so the fallback region is applied afterwards.
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .load()
            .await;
        let sdk = match sdk.region() {
            Some(_) => sdk,
            None => sdk
                .into_builder()
                .region(aws_config::Region::new("us-east-1"))
                .build(),
        };
        AwsIam::new(sdk)
    }

    /// Wraps an SDK configuration.
    pub fn new(sdk: SdkConfig) -> AwsIam {
        let iam = aws_sdk_iam::Client::new(&sdk);
        AwsIam { sdk, iam }
    }

    /// The SDK configuration, for other AWS clients of the same run (SNS, Secrets Manager).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }
}

fn to_time(t: &DateTime) -> Option<OffsetDateTime> {
    let nanos = i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Maps an SDK error to [`Error::Aws`], keeping AWS's code, its words
/// ([`aws_error_text`]) and whether a retry may help.
fn aws_error<E>(op: &'static str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = aws_error_text(&err);
    Error::Aws {
        op,
        code,
        message,
        retryable: aws_retryable(&err),
    }
}

/// Why the credentials of a role could not be had: STS's answer in words when the SDK's
/// error is among the causes (the provider wraps it), else the causes' own words.
fn assume_role_text(e: &(dyn std::error::Error + 'static)) -> String {
    type AssumeRoleError =
        SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, HttpResponse>;
    let mut next = Some(e);
    while let Some(cause) = next {
        if let Some(sdk) = cause.downcast_ref::<AssumeRoleError>() {
            return aws_error_text(sdk).1;
        }
        next = cause.source();
    }
    causes(e)
}

fn key_status(status: Option<&StatusType>) -> Result<KeyStatus> {
    match status {
        Some(StatusType::Active) => Ok(KeyStatus::Active),
        Some(StatusType::Inactive) => Ok(KeyStatus::Inactive),
        other => Err(Error::Aws {
            op: "ListAccessKeys",
            code: None,
            message: format!("unexpected key status {other:?}"),
            retryable: false,
        }),
    }
}

fn missing(op: &'static str, what: &str) -> Error {
    Error::Aws {
        op,
        code: None,
        message: format!("response has no {what}"),
        retryable: false,
    }
}

/// One page of an IAM listing: its items, and whether more follow (`IsTruncated`) at which
/// `Marker`.
struct Page<T> {
    items: Vec<T>,
    truncated: bool,
    marker: Option<String>,
}

impl<T> Page<T> {
    fn new(items: Vec<T>, truncated: bool, marker: Option<&str>) -> Page<T> {
        Page {
            items,
            truncated,
            marker: marker.map(str::to_string),
        }
    }
}

/// Every item of an IAM listing (`op`, of `what`), reading at most `max` pages, each fetched
/// by `page` at the marker the one before gave. A page that says more follow without a
/// marker, or at a marker already read, and a listing longer than `max` pages are
/// errors, never a short list: a tag, policy or user left unread would be taken for absent
/// (docs/ARCHITECTURE.md, *A run*). The IAM twin of SORACOM's `Pager::each`.
async fn every_page<T, F, Fut>(
    op: &'static str,
    what: &str,
    max: usize,
    mut page: F,
) -> Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let broken = |message: String| Error::Aws {
        op,
        code: None,
        message,
        retryable: false,
    };
    let mut all = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut marker: Option<String> = None;
    for _ in 0..max {
        let Page {
            items,
            truncated,
            marker: next,
        } = page(marker.take()).await?;
        all.extend(items);
        match (truncated, next) {
            (false, _) => return Ok(all),
            (true, Some(m)) if m.is_empty() => {}
            (true, Some(m)) if !seen.insert(m.clone()) => {
                return Err(broken(format!(
                    "the answer says more {what} follow at a marker already read"
                )))
            }
            (true, Some(m)) => {
                marker = Some(m);
                continue;
            }
            (true, None) => {}
        }
        return Err(broken(format!(
            "the answer says more {what} follow but gives no marker"
        )));
    }
    Err(broken(format!("more than {max} pages of {what}")))
}

/// A policy document as IAM returns it: URL-encoded (RFC 3986) JSON text, decoded. Text
/// that is already JSON (some emulations return it so) is kept as it is.
pub fn decode_document(raw: &str) -> Option<String> {
    if raw.trim_start().starts_with('{') {
        return Some(raw.to_string());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn document(op: &'static str, raw: &str) -> Result<String> {
    decode_document(raw).ok_or_else(|| Error::Aws {
        op,
        code: None,
        message: "the policy document is not URL-encoded UTF-8".into(),
        retryable: false,
    })
}

fn build_error(op: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Aws {
        op,
        code: None,
        message: e.to_string(),
        retryable: false,
    }
}

impl AwsIam {
    /// The user's inline policies with their documents (`ListUserPolicies`, every page;
    /// `GetUserPolicy` each).
    async fn inline_user_policies(&self, user: &str) -> Result<Vec<InlinePolicy>> {
        let names: Vec<String> = every_page(
            "ListUserPolicies",
            "policies",
            MAX_POLICY_PAGES,
            |marker| async move {
                let out = self
                    .iam
                    .list_user_policies()
                    .user_name(user)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListUserPolicies", e))?;
                Ok(Page::new(
                    out.policy_names().to_vec(),
                    out.is_truncated(),
                    out.marker(),
                ))
            },
        )
        .await?;
        let mut inline = Vec::with_capacity(names.len());
        for name in names {
            let out = self
                .iam
                .get_user_policy()
                .user_name(user)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| aws_error("GetUserPolicy", e))?;
            inline.push(InlinePolicy {
                document: document("GetUserPolicy", out.policy_document())?,
                name,
            });
        }
        Ok(inline)
    }

    /// The managed policies attached to the user (`ListAttachedUserPolicies`, every page).
    async fn attached_user_policies(&self, user: &str) -> Result<Vec<AttachedPolicy>> {
        every_page(
            "ListAttachedUserPolicies",
            "policies",
            MAX_POLICY_PAGES,
            |marker| async move {
                let out = self
                    .iam
                    .list_attached_user_policies()
                    .user_name(user)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListAttachedUserPolicies", e))?;
                let policies = out
                    .attached_policies()
                    .iter()
                    .map(|p| {
                        let arn = p
                            .policy_arn()
                            .ok_or_else(|| missing("ListAttachedUserPolicies", "PolicyArn"))?;
                        Ok(AttachedPolicy {
                            name: p.policy_name().unwrap_or(arn).to_string(),
                            arn: arn.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Page::new(policies, out.is_truncated(), out.marker()))
            },
        )
        .await
    }

    /// The groups the user is in (`ListGroupsForUser`, every page).
    async fn groups_for_user(&self, user: &str) -> Result<Vec<String>> {
        every_page(
            "ListGroupsForUser",
            "groups",
            MAX_POLICY_PAGES,
            |marker| async move {
                let out = self
                    .iam
                    .list_groups_for_user()
                    .user_name(user)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListGroupsForUser", e))?;
                let names = out
                    .groups()
                    .iter()
                    .map(|g| g.group_name().to_string())
                    .collect();
                Ok(Page::new(names, out.is_truncated(), out.marker()))
            },
        )
        .await
    }

    /// Names of a role's inline policies and ARNs of its attached ones, every page.
    async fn role_policies(&self, role: &str) -> Result<(Vec<String>, Vec<String>)> {
        let inline = every_page(
            "ListRolePolicies",
            "policies",
            MAX_POLICY_PAGES,
            |marker| async move {
                let out = self
                    .iam
                    .list_role_policies()
                    .role_name(role)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListRolePolicies", e))?;
                Ok(Page::new(
                    out.policy_names().to_vec(),
                    out.is_truncated(),
                    out.marker(),
                ))
            },
        )
        .await?;
        let attached = every_page(
            "ListAttachedRolePolicies",
            "policies",
            MAX_POLICY_PAGES,
            |marker| async move {
                let out = self
                    .iam
                    .list_attached_role_policies()
                    .role_name(role)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListAttachedRolePolicies", e))?;
                let arns = out
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_string))
                    .collect();
                Ok(Page::new(arns, out.is_truncated(), out.marker()))
            },
        )
        .await?;
        Ok((inline, attached))
    }

    /// A role as IAM returned it, with its policies listed.
    async fn complete(&self, op: &'static str, role: &aws_sdk_iam::types::Role) -> Result<Role> {
        let trust = match role.assume_role_policy_document() {
            Some(raw) => document(op, raw)?,
            None => return Err(missing(op, "AssumeRolePolicyDocument")),
        };
        let (inline, attached) = self.role_policies(role.role_name()).await?;
        Ok(Role {
            name: role.role_name().to_string(),
            arn: role.arn().to_string(),
            trust: Secret::new(trust),
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), Secret::new(t.value())))
                .collect(),
            inline,
            attached,
            boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
        })
    }
}

impl IamApi for AwsIam {
    async fn assume(&self, role: &AssumeRole) -> Result<AwsIam> {
        use aws_sdk_iam::config::{ProvideCredentials, SharedCredentialsProvider};
        // `configure` takes the endpoint override, HTTP client, timeouts and region of this
        // port's configuration, so tests against moto reach moto for AssumeRole too.
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.arn.clone())
            .session_name(role.session_name.clone())
            .configure(&self.sdk);
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id.clone());
        }
        let provider = builder.build().await;
        if let Err(e) = provider.provide_credentials().await {
            let retryable = matches!(
                e,
                aws_credential_types::provider::error::CredentialsError::ProviderTimedOut(_)
            );
            return Err(Error::Aws {
                op: "AssumeRole",
                code: None,
                message: format!("{}: {}", role.arn, assume_role_text(&e)),
                retryable,
            });
        }
        let sdk = self
            .sdk
            .clone()
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        Ok(AwsIam::new(sdk))
    }

    async fn user_policies(&self, user: &str) -> Result<UserPolicies> {
        let out = self
            .iam
            .get_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| aws_error("GetUser", e))?;
        let boundary = out
            .user()
            .and_then(|u| u.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string);
        Ok(UserPolicies {
            boundary,
            inline: self.inline_user_policies(user).await?,
            attached: self.attached_user_policies(user).await?,
            groups: self.groups_for_user(user).await?,
        })
    }

    async fn role(&self, name: &str) -> Result<Option<Role>> {
        let out = match self.iam.get_role().role_name(name).send().await {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(aws_error("GetRole", e)),
        };
        let role = out.role().ok_or_else(|| missing("GetRole", "Role"))?;
        Ok(Some(self.complete("GetRole", role).await?))
    }

    async fn create_role(
        &self,
        name: &str,
        trust: &Secret,
        description: &str,
        boundary: Option<&str>,
        tags: &[(String, Secret)],
    ) -> Result<Role> {
        let tags = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v.expose())
                    .build()
                    .map_err(|e| build_error("CreateRole", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.expose())
            .description(description)
            .set_permissions_boundary(boundary.map(str::to_string))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_error("CreateRole", e))?;
        let role = out.role().ok_or_else(|| missing("CreateRole", "Role"))?;
        self.complete("CreateRole", role).await
    }

    async fn put_role_policy(&self, role: &str, policy: &str, document: &str) -> Result<()> {
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| aws_error("PutRolePolicy", e))?;
        Ok(())
    }

    async fn attach_role_policy(&self, role: &str, arn: &str) -> Result<()> {
        self.iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("AttachRolePolicy", e))?;
        Ok(())
    }

    async fn list_users(&self) -> Result<Vec<String>> {
        every_page("ListUsers", "users", MAX_USER_PAGES, |marker| async move {
            let out = self
                .iam
                .list_users()
                .max_items(1000)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| aws_error("ListUsers", e))?;
            let names = out
                .users()
                .iter()
                .map(|u| u.user_name().to_string())
                .collect();
            Ok(Page::new(names, out.is_truncated(), out.marker()))
        })
        .await
    }

    async fn key_statuses(&self, user: &str) -> Result<Vec<(AccessKeyId, KeyStatus)>> {
        let out = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| aws_error("ListAccessKeys", e))?;
        out.access_key_metadata()
            .iter()
            .map(|meta| {
                let id = meta
                    .access_key_id()
                    .ok_or_else(|| missing("ListAccessKeys", "AccessKeyId"))?;
                Ok((AccessKeyId::new(id), key_status(meta.status())?))
            })
            .collect()
    }

    async fn list_keys(&self, user: &str) -> Result<Vec<AccessKey>> {
        let out = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| aws_error("ListAccessKeys", e))?;
        let mut keys = Vec::new();
        for meta in out.access_key_metadata() {
            let id = meta
                .access_key_id()
                .ok_or_else(|| missing("ListAccessKeys", "AccessKeyId"))?;
            let created = meta
                .create_date()
                .and_then(to_time)
                .ok_or_else(|| missing("ListAccessKeys", "CreateDate"))?;
            let status = key_status(meta.status())?;
            let used = self
                .iam
                .get_access_key_last_used()
                .access_key_id(id)
                .send()
                .await
                .map_err(|e| aws_error("GetAccessKeyLastUsed", e))?;
            let last_used = used.access_key_last_used().and_then(|u| {
                Some(LastUsed {
                    at: u.last_used_date().and_then(to_time)?,
                    service: u.service_name().to_string(),
                    region: u.region().to_string(),
                })
            });
            keys.push(AccessKey {
                id: AccessKeyId::new(id),
                status,
                created,
                last_used,
            });
        }
        Ok(keys)
    }

    async fn create_key(&self, user: &str) -> Result<NewAccessKey> {
        let no_retry = aws_sdk_iam::config::Builder::default()
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled());
        let out = self
            .iam
            .create_access_key()
            .user_name(user)
            .customize()
            .config_override(no_retry)
            .send()
            .await
            .map_err(|e| aws_error("CreateAccessKey", e))?;
        let key = out
            .access_key()
            .ok_or_else(|| missing("CreateAccessKey", "AccessKey"))?;
        if key.access_key_id().is_empty() || key.secret_access_key().is_empty() {
            return Err(missing("CreateAccessKey", "key id or secret"));
        }
        Ok(NewAccessKey {
            id: AccessKeyId::new(key.access_key_id()),
            secret: Secret::new(key.secret_access_key()),
        })
    }

    async fn set_key_status(&self, user: &str, key: &AccessKeyId, status: KeyStatus) -> Result<()> {
        let status = match status {
            KeyStatus::Active => StatusType::Active,
            KeyStatus::Inactive => StatusType::Inactive,
        };
        self.iam
            .update_access_key()
            .user_name(user)
            .access_key_id(key.as_str())
            .status(status)
            .send()
            .await
            .map_err(|e| aws_error("UpdateAccessKey", e))?;
        Ok(())
    }

    async fn delete_key(&self, user: &str, key: &AccessKeyId) -> Result<()> {
        match self
            .iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(aws_error("DeleteAccessKey", e)),
        }
    }

    async fn tags(&self, user: &str) -> Result<Vec<(String, String)>> {
        every_page("ListUserTags", "tags", MAX_TAG_PAGES, |marker| async move {
            let out = self
                .iam
                .list_user_tags()
                .user_name(user)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| aws_error("ListUserTags", e))?;
            let tags = out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            Ok(Page::new(tags, out.is_truncated(), out.marker()))
        })
        .await
    }

    async fn tag(&self, user: &str, key: &str, value: &str) -> Result<()> {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| Error::Aws {
                op: "TagUser",
                code: None,
                message: e.to_string(),
                retryable: false,
            })?;
        match self.iam.tag_user().user_name(user).tags(tag).send().await {
            Ok(_) => Ok(()),
            // A user has at most 50 tags: say so, or the run would stall without a reason.
            Err(e) if e.code() == Some("LimitExceeded") => Err(Error::Aws {
                op: "TagUser",
                code: Some("LimitExceeded".into()),
                message: format!(
                    "IAM user {user} has no room for another tag (IAM allows 50 per user); \
                     soracom-key-rotator keeps its records there: remove tags it does not need"
                ),
                retryable: false,
            }),
            Err(e) => Err(aws_error("TagUser", e)),
        }
    }

    async fn untag(&self, user: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.iam
            .untag_user()
            .user_name(user)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("UntagUser", e))?;
        Ok(())
    }

    async fn caller_arn(&self, key: &NewAccessKey) -> Result<String> {
        let creds = aws_sdk_sts::config::Credentials::new(
            key.id.as_str(),
            key.secret.expose(),
            None,
            None,
            "soracom-key-rotator-new-key",
        );
        let conf = aws_sdk_sts::config::Builder::from(&self.sdk)
            .credentials_provider(creds)
            .build();
        let sts = aws_sdk_sts::Client::from_conf(conf);
        // (moto's auth errors are not parsed by the SDK: their HTTP status says it.)
        let out = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("GetCallerIdentity", e))?;
        out.arn()
            .map(str::to_string)
            .ok_or_else(|| missing("GetCallerIdentity", "Arn"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing served from `pages`: page `i` is asked for at marker `m{i}` (none for the
    /// first) and answers with the items, whether more follow and the marker it gives.
    async fn listing(
        pages: Vec<(Vec<u32>, bool, Option<&'static str>)>,
        max: usize,
    ) -> Result<Vec<u32>> {
        let asked = std::sync::Mutex::new(Vec::new());
        let pages = &pages;
        let asked_ref = &asked;
        let out = every_page("ListThings", "things", max, |marker| async move {
            let mut asked = asked_ref
                .lock()
                .map_err(|_| missing("ListThings", "lock"))?;
            let i = asked.len();
            asked.push(marker.clone());
            let expected = (i > 0).then(|| format!("m{i}"));
            assert_eq!(
                marker,
                expected,
                "page {i} asked at the marker page {} gave",
                i.max(1) - 1
            );
            let (items, truncated, next) = pages
                .get(i)
                .cloned()
                .ok_or_else(|| missing("ListThings", "page"))?;
            Ok(Page::new(items, truncated, next))
        })
        .await;
        out
    }

    fn message(r: Result<Vec<u32>>) -> String {
        match r {
            Err(Error::Aws {
                op,
                message,
                retryable,
                ..
            }) => {
                assert_eq!(op, "ListThings");
                assert!(!retryable);
                message
            }
            other => panic!("expected a paging error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_page_reads_each_page_in_turn() {
        let all = listing(
            vec![
                (vec![1, 2], true, Some("m1")),
                (vec![3], true, Some("m2")),
                (vec![4], false, None),
            ],
            3,
        )
        .await;
        assert_eq!(all.ok(), Some(vec![1, 2, 3, 4]));
        // A last page may still carry a marker: `IsTruncated` decides.
        let all = listing(vec![(vec![1], false, Some("m1"))], 1).await;
        assert_eq!(all.ok(), Some(vec![1]));
    }

    #[tokio::test]
    async fn more_without_a_marker_is_an_error_not_a_short_list() {
        let none = listing(vec![(vec![1], true, None)], 5).await;
        assert!(message(none).contains("gives no marker"));
        let empty = listing(vec![(vec![1], true, Some(""))], 5).await;
        assert!(message(empty).contains("gives no marker"));
    }

    #[tokio::test]
    async fn a_marker_read_before_is_an_error() {
        let again = listing(
            vec![(vec![1], true, Some("m1")), (vec![2], true, Some("m1"))],
            5,
        )
        .await;
        assert!(message(again).contains("already read"));
    }

    #[tokio::test]
    async fn past_the_bound_is_an_error() {
        let long = listing(
            vec![(vec![1], true, Some("m1")), (vec![2], true, Some("m2"))],
            2,
        )
        .await;
        assert_eq!(message(long), "more than 2 pages of things");
        // Exactly at the bound is whole.
        let whole = listing(vec![(vec![1], true, Some("m1")), (vec![2], false, None)], 2).await;
        assert_eq!(whole.ok(), Some(vec![1, 2]));
    }
}
