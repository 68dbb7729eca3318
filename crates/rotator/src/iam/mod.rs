//! The AWS side: the [`IamApi`] port, and [`AwsIam`], its adapter over the official SDK.
//!
//! The port is shaped like the job (list keys with last use, create, deactivate, delete,
//! verify a new key), not like the SDK, so the workflow runs against real IAM in
//! production, moto in process-level tests and the in-memory fake (`testkit::fake::iam`)
//! everywhere else, through the same engine code.
//!
//! `migrate-to-role` (docs/ARCHITECTURE.md, *Migrating to a role*) adds reading what the
//! user may do (its inline and attached policies, its groups) and making the role that
//! replaces its key: get or create it with a trust policy and tags, put inline policies,
//! attach managed ones.

mod aws;

use std::future::Future;

use rotator_core::config::AssumeRole;
use rotator_core::model::{AccessKey, KeyStatus};
use rotator_core::role::{Role, UserPolicies};
use rotator_core::secret::{AccessKeyId, NewAccessKey, Secret};

use crate::error::Result;

pub use aws::{decode_document, AwsIam, DEFAULT_ATTEMPT_TIMEOUT};

/// The IAM and STS operations the rotator needs.
pub trait IamApi: Send + Sync {
    /// The user's access keys with their last use (IAM `ListAccessKeys` + `GetAccessKeyLastUsed`).
    fn list_keys(&self, user: &str) -> impl Future<Output = Result<Vec<AccessKey>>> + Send;
    /// The user's keys and their status only (`ListAccessKeys`, no last use): for the
    /// checks right before and after a cutover.
    fn key_statuses(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<(AccessKeyId, KeyStatus)>>> + Send;
    /// Creates an access key (never retried blindly: a retry could leave a second key).
    fn create_key(&self, user: &str) -> impl Future<Output = Result<NewAccessKey>> + Send;
    /// Activates or deactivates a key.
    fn set_key_status(
        &self,
        user: &str,
        key: &AccessKeyId,
        status: KeyStatus,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a key; a key already gone is not an error.
    fn delete_key(&self, user: &str, key: &AccessKeyId) -> impl Future<Output = Result<()>> + Send;
    /// The ARN `sts:GetCallerIdentity` returns when signed with `key`.
    fn caller_arn(&self, key: &NewAccessKey) -> impl Future<Output = Result<String>> + Send;
    /// The user's tags (`ListUserTags`, every page), where this tool keeps its records
    /// ([`crate::records`]).
    fn tags(&self, user: &str) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
    /// Sets one tag on the user (`TagUser`), replacing its value if it exists.
    fn tag(&self, user: &str, key: &str, value: &str) -> impl Future<Output = Result<()>> + Send;
    /// Removes tags from the user (`UntagUser`); absent ones are not an error.
    fn untag(&self, user: &str, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// What the user may do: its permissions boundary (`GetUser`), its inline policies with
    /// their documents (`ListUserPolicies`, `GetUserPolicy`), its attached managed policies
    /// (`ListAttachedUserPolicies`) and the groups it is in (`ListGroupsForUser`), every page.
    fn user_policies(&self, user: &str) -> impl Future<Output = Result<UserPolicies>> + Send;
    /// The role named `name` (`GetRole`, with its inline policy names and attached policy
    /// ARNs from `ListRolePolicies` and `ListAttachedRolePolicies`); `None` if there is none.
    fn role(&self, name: &str) -> impl Future<Output = Result<Option<Role>>> + Send;
    /// Creates a role with this trust policy, description, permissions boundary and tags in
    /// one call (`CreateRole`), so no role of ours ever exists without its tags or with more
    /// room than the boundary gives. A role of that name already there is an
    /// [`crate::Error::Aws`] with code `EntityAlreadyExists`.
    fn create_role(
        &self,
        name: &str,
        trust: &Secret,
        description: &str,
        boundary: Option<&str>,
        tags: &[(String, Secret)],
    ) -> impl Future<Output = Result<Role>> + Send;
    /// Puts (creates or replaces) an inline policy of a role (`PutRolePolicy`).
    fn put_role_policy(
        &self,
        role: &str,
        policy: &str,
        document: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Attaches a managed policy to a role (`AttachRolePolicy`); attaching one already
    /// attached is not an error.
    fn attach_role_policy(&self, role: &str, arn: &str) -> impl Future<Output = Result<()>> + Send;
    /// The name of every IAM user of the account (`ListUsers`, every page, at most
    /// [`MAX_USER_PAGES`] of 1000): `discover` looks for the owner of each key SORACOM holds.
    /// More pages than that, or a page that says more follow without a marker, is an error,
    /// never a short list (as every IAM listing here: tags, policies, groups).
    fn list_users(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The same port acting in another account, as `role` (`sts:AssumeRole` with this
    /// port's credentials; the session is renewed as it expires). The role is assumed once
    /// here, so a denial is this call's error, not a later one's.
    fn assume(&self, role: &AssumeRole) -> impl Future<Output = Result<Self>> + Send
    where
        Self: Sized;
}

/// The most pages of users [`IamApi::list_users`] reads (100 000 users).
pub const MAX_USER_PAGES: usize = 100;
