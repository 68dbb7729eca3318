//! [`FakeIam`]: the [`IamApi`] port over an in-memory IAM and STS, in the run's clock, with
//! every call going through a [`Hook`]; and [`Iam`], the helper a test arranges and
//! inspects that IAM with (as [`crate::moto::Iam`] does moto's), without the hook.
//!
//! # What it keeps
//! Accounts by 12-digit id ([`DEFAULT_ACCOUNT`] to start with, more by [`Iam::add_account`]).
//! Per account: users (ARN, permissions boundary, tags in order, inline policies with their
//! documents, attached managed policies, groups), their access keys (id `AKIA` and 16
//! upper-case letters and digits, a 40-character secret, status, creation time, uses),
//! roles (ARN, trust policy, description, boundary, tags, inline and attached policies),
//! customer managed policies and groups. Ids and secrets come from the seed; every time
//! from the clock.
//!
//! # The rules it applies, as real IAM and STS do
//! - At most two keys per user (`LimitExceeded`); an unknown user, key, role, policy or
//!   group is `NoSuchEntity`; a user, role, group or policy name taken (IAM names are
//!   unique regardless of case) is `EntityAlreadyExists`.
//! - Tags: at most 50 per user (`LimitExceeded`); a key of 1 to 128 characters, a value of
//!   at most 256, both of letters, digits, spaces and `_ . : / = + - @`: otherwise
//!   `ValidationError`, the code real IAM answers for its input constraints (it is not
//!   `InvalidInput`, which IAM gives for duplicate keys in one request). Keys compare
//!   regardless of case (IAM's own duplicate-key message says so); a key set again keeps
//!   its place and first spelling. Untagging absent keys is fine.
//! - Policy documents must be JSON objects (`MalformedPolicyDocument`); a managed policy
//!   attached must exist (AWS managed ones, `arn:aws:iam::aws:policy/…`, always do);
//!   attaching one again changes nothing; at most 10 per role.
//! - Listings in IAM's order: users and inline policies by name, keys by creation, tags
//!   and attached policies as they came. `ListUsers` pages of 1000, by marker.
//! - Times are reported to the second, as IAM reports them.
//! - STS (`GetCallerIdentity`): a key works once it exists, is active, and is older than
//!   the STS delay ([`DEFAULT_STS_DELAY`]; a new key fails STS for a few seconds), and only
//!   with its own secret. An unknown, inactive or too new key is `InvalidClientTokenId`, a
//!   wrong secret `SignatureDoesNotMatch` (both 403, never retryable).
//! - A successful `GetCallerIdentity` counts as a use of the key by service `sts` in the
//!   fake's region, as in real IAM (and moto): the engine sees its own verification as
//!   such a use and the planner leaves STS uses out of a canary's evidence
//!   (`rotator_core::plan`), so the fake must show them. [`Iam::set_sts_records_use`]
//!   turns that off. A failed call is no use (moto records one even then: it marks the
//!   key as seen before it checks the signature).
//! - Last use is reported once it is older than a lag ([`Iam::set_last_used_lag`], 0 by
//!   default; AWS's lags by hours): the latest use that old.
//! - `AssumeRole`: the role must exist in the ARN's account and its trust policy must
//!   allow `sts:AssumeRole` with the external id given (a statement that demands none
//!   takes any). The principal is not checked.
//!
//! # Calls and the hook
//! Every port call consults the hook once per IAM request the real adapter
//! ([`rotator::AwsIam`]) sends, with `Call { port: Iam, op: <action>, subject }`: the
//! subject is the user or role the request is about (`GetCallerIdentity`: the key's user,
//! or its id when it has none; `ListUsers`: the account id). `list_keys` is a
//! `ListAccessKeys` and a `GetAccessKeyLastUsed` per key; `role` and `create_role` add
//! `ListRolePolicies` and `ListAttachedRolePolicies`; `user_policies` is `GetUser`,
//! `ListUserPolicies`, a `GetUserPolicy` per policy, `ListAttachedUserPolicies` and
//! `ListGroupsForUser`; `untag` of no keys sends nothing. A failure the SDK retries (a
//! timeout, throttling, a 5xx) is tried again as the SDK's standard mode does, up to
//! [`SDK_ATTEMPTS`] in all, each attempt a call of the hook; `CreateAccessKey` is sent once,
//! as the adapter sends it.
//!
//! Errors have the adapter's shapes: [`Error::Aws`] with the action, IAM's code and
//! `"<code>: <message>"`, retryable as [`rotator::aws_retryable`] judges the same
//! SDK error. The adapter's own turns apply to natural and injected answers alike: a
//! `NoSuchEntity` of `DeleteAccessKey` is success, of `GetRole` is no role, a
//! `LimitExceeded` of `TagUser` gets the adapter's explanation, and `AssumeRole` errors
//! carry no code (the SDK's credentials provider drops it) and are retryable only for a
//! timeout.

mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_sdk_iam::error::{ErrorMetadata, SdkError};
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysError;
use rotator::{aws_retryable, Clock, Error, IamApi, Result, MAX_USER_PAGES};
use rotator_core::config::AssumeRole;
use rotator_core::model::{AccessKey, KeyStatus, LastUsed};
use rotator_core::role::{AttachedPolicy, InlinePolicy, Role, UserPolicies};
use rotator_core::secret::{AccessKeyId, NewAccessKey, Secret};
use time::OffsetDateTime;

use self::state::{Answer, Reject, RoleRec, RoleSpec, Settings, World};
use super::{Call, Failure, Hook, Port, Verdict};
use crate::moto::KeyInfo;

pub use self::state::{MAX_KEYS_PER_USER, MAX_ROLE_POLICIES, MAX_TAGS};

/// The account a new fake acts in (moto's default account).
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// How long a new key fails STS by default.
pub const DEFAULT_STS_DELAY: Duration = Duration::from_secs(5);
/// The region STS calls are made in by default (the one reported as their use).
pub const DEFAULT_REGION: &str = "us-east-1";
/// Attempts the SDK makes of a request whose failure it may retry (its standard mode).
pub const SDK_ATTEMPTS: u32 = 3;
/// Users per `ListUsers` page (the adapter asks for 1000).
pub const USER_PAGE: usize = 1000;

/// The world every handle of one fake shares, and its clock.
struct Shared {
    world: Mutex<World>,
    clock: Arc<dyn Clock>,
}

impl Shared {
    /// Runs `f` on the world at the clock's time now.
    fn with<T>(&self, f: impl FnOnce(&mut World, OffsetDateTime) -> T) -> T {
        let now = self.clock.now();
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut world, now)
    }
}

/// The [`IamApi`] port over the in-memory IAM, acting in one account; see the
/// [module documentation](self). Clones share the world.
#[derive(Clone)]
pub struct FakeIam {
    shared: Arc<Shared>,
    hook: Arc<dyn Hook>,
    account: String,
}

impl std::fmt::Debug for FakeIam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIam")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// IAM's answer `r` to `op` as the adapter returns it.
fn rejected(op: &'static str, r: Reject) -> Error {
    Error::Aws {
        op,
        code: Some(r.code.to_string()),
        message: format!("{}: {}", r.code, r.message),
        retryable: false,
    }
}

/// Whether the adapter would call a service error with `code` worth a retry.
fn code_retryable(code: &str) -> bool {
    let meta = ErrorMetadata::builder().code(code).build();
    let err: SdkError<ListAccessKeysError, ()> =
        SdkError::service_error(ListAccessKeysError::generic(meta), ());
    aws_retryable(&err)
}

/// An injected failure of `op` as the adapter returns it.
fn injected(op: &'static str, failure: &Failure) -> Error {
    match failure {
        Failure::Timeout => Error::Aws {
            op,
            code: None,
            message: "timeout: the request timed out (injected by the fake's hook)".into(),
            retryable: aws_retryable(&SdkError::<ListAccessKeysError, ()>::timeout_error(
                "injected",
            )),
        },
        // An answer the SDK could not read a code from, as the adapter words it.
        Failure::Status { status, code } if code.is_empty() => Error::Aws {
            op,
            code: None,
            message: format!("HTTP {status}, an error body the SDK could not read"),
            retryable: false,
        },
        Failure::Status { status, code } => Error::Aws {
            op,
            code: Some(code.clone()),
            message: format!("{code}: injected by the fake's hook (HTTP {status})"),
            retryable: code_retryable(code),
        },
    }
}

/// Whether `e` is an AWS error with code `code`.
fn has_code(e: &Error, code: &str) -> bool {
    matches!(e, Error::Aws { code: Some(c), .. } if c == code)
}

impl FakeIam {
    /// A fake with one empty account ([`DEFAULT_ACCOUNT`]), ids and secrets drawn from
    /// `seed`, times from `clock`, every call put to `hook`.
    pub fn new(seed: u64, clock: Arc<dyn Clock>, hook: Arc<dyn Hook>) -> FakeIam {
        let settings = Settings {
            sts_delay: DEFAULT_STS_DELAY,
            last_used_lag: Duration::ZERO,
            sts_records_use: true,
            region: DEFAULT_REGION.to_string(),
        };
        FakeIam {
            shared: Arc::new(Shared {
                world: Mutex::new(World::new(seed, DEFAULT_ACCOUNT, settings)),
                clock,
            }),
            hook,
            account: DEFAULT_ACCOUNT.to_string(),
        }
    }

    /// The helper over the same world, in this port's account.
    pub fn helper(&self) -> Iam {
        Iam {
            shared: Arc::clone(&self.shared),
            account: self.account.clone(),
        }
    }

    /// The same port (same world, same account) with another hook.
    pub fn with_hook(&self, hook: Arc<dyn Hook>) -> FakeIam {
        FakeIam {
            hook,
            ..self.clone()
        }
    }

    /// The account this port acts in.
    pub fn account_id(&self) -> &str {
        &self.account
    }

    /// One IAM request as the adapter sends it: the SDK's attempts (at most
    /// [`SDK_ATTEMPTS`], the standard retry mode's, none again for `CreateAccessKey`, which
    /// the adapter sends without retries), each the hook's verdict, then `act` on the world
    /// (or not), and the answer as the adapter would give it.
    async fn call<T>(
        &self,
        op: &'static str,
        subject: &str,
        act: impl Fn(&mut World, OffsetDateTime) -> Answer<T> + Send,
    ) -> Result<T> {
        self.signed_call(op, subject, None, act).await
    }

    /// [`FakeIam::call`] of a request signed with `signer` rather than the port's own key.
    async fn signed_call<T>(
        &self,
        op: &'static str,
        subject: &str,
        signer: Option<&str>,
        act: impl Fn(&mut World, OffsetDateTime) -> Answer<T> + Send,
    ) -> Result<T> {
        self.attempts(op, subject, signer, act)
            .await
            .map(|(t, _)| t)
    }

    /// [`FakeIam::call`], and whether the hook had the answer altered
    /// ([`Verdict::ActThenAlter`]).
    async fn altering_call<T>(
        &self,
        op: &'static str,
        subject: &str,
        act: impl Fn(&mut World, OffsetDateTime) -> Answer<T> + Send,
    ) -> Result<(T, bool)> {
        self.attempts(op, subject, None, act).await
    }

    /// The SDK's attempts of one request; the answer, and whether it is to be altered.
    async fn attempts<T>(
        &self,
        op: &'static str,
        subject: &str,
        signer: Option<&str>,
        act: impl Fn(&mut World, OffsetDateTime) -> Answer<T> + Send,
    ) -> Result<(T, bool)> {
        let call = Call {
            port: Port::Iam,
            op: op.to_string(),
            subject: subject.to_string(),
            signer: signer.map(str::to_string),
        };
        let act = || self.shared.with(&act).map_err(|r| rejected(op, r));
        let mut attempt = 1;
        loop {
            let err = match self.hook.on_call(&call).await {
                Verdict::Proceed => return act().map(|t| (t, false)),
                Verdict::ActThenAlter => return act().map(|t| (t, true)),
                Verdict::Refuse(f) => injected(op, &f),
                Verdict::ActThenFail(f) => {
                    let _ = act();
                    injected(op, &f)
                }
                Verdict::ActThenHang => {
                    let _ = act();
                    return std::future::pending().await;
                }
            };
            if !err.is_retryable() || op == "CreateAccessKey" || attempt >= SDK_ATTEMPTS {
                return Err(err);
            }
            // The standard mode backs off exponentially (with jitter, left out here).
            self.shared
                .clock
                .sleep(Duration::from_secs(1 << (attempt - 1)))
                .await;
            attempt += 1;
        }
    }

    /// The subject of a `GetCallerIdentity` with `key`: its user, or the key id.
    fn key_subject(&self, key: &AccessKeyId) -> String {
        self.shared.with(|w, _| {
            w.find_key(key.as_str())
                .map_or_else(|| key.as_str().to_string(), |(u, _)| u.name.clone())
        })
    }

    /// A role as the adapter completes it: with its inline and attached policies listed.
    async fn complete(&self, rec: RoleRec) -> Result<Role> {
        let acct = &self.account;
        let name = rec.name.as_str();
        let inline = self
            .call("ListRolePolicies", name, |w, _| {
                Ok(w.role(acct, name)?.inline.keys().cloned().collect())
            })
            .await?;
        let attached = self
            .call("ListAttachedRolePolicies", name, |w, _| {
                Ok(w.role(acct, name)?.attached.clone())
            })
            .await?;
        Ok(Role {
            name: rec.name.clone(),
            arn: rec.arn,
            trust: Secret::new(rec.trust),
            tags: rec
                .tags
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
            inline,
            attached,
            boundary: rec.boundary,
        })
    }

    /// `AssumeRole` itself: the role's account, if its trust lets this call in.
    fn may_assume(w: &World, hub: &str, role: &AssumeRole) -> Answer<String> {
        let denied = || Reject {
            code: "AccessDenied",
            message: format!(
                "User: arn:aws:iam::{hub}:root is not authorized to perform: \
                 sts:AssumeRole on resource: {}",
                role.arn
            ),
        };
        let (account, name) = state::parse_role_arn(&role.arn).ok_or_else(denied)?;
        let rec = w.role(account, name).map_err(|_| denied())?;
        if !state::trust_allows(&rec.trust, role.external_id.as_deref()) {
            return Err(denied());
        }
        Ok(account.to_string())
    }
}

/// An `AssumeRole` error as the adapter returns it: the role ARN and the text, no code,
/// retryable only when the call timed out.
fn assume_error(arn: &str, e: Error) -> Error {
    match e {
        Error::Aws {
            code,
            message,
            retryable,
            ..
        } => Error::Aws {
            op: "AssumeRole",
            message: format!("{arn}: {message}"),
            retryable: code.is_none() && retryable,
            code: None,
        },
        other => other,
    }
}

impl IamApi for FakeIam {
    async fn list_keys(&self, user: &str) -> Result<Vec<AccessKey>> {
        let acct = &self.account;
        let metas = self
            .call("ListAccessKeys", user, |w, _| w.key_metas(acct, user))
            .await?;
        let mut keys = Vec::with_capacity(metas.len());
        for (id, status, created) in metas {
            let last_used = self
                .call("GetAccessKeyLastUsed", user, |w, now| {
                    w.reported_use(&id, now)
                })
                .await?;
            keys.push(AccessKey {
                id: AccessKeyId::new(id),
                status,
                created,
                last_used,
            });
        }
        Ok(keys)
    }

    async fn key_statuses(&self, user: &str) -> Result<Vec<(AccessKeyId, KeyStatus)>> {
        let acct = &self.account;
        let metas = self
            .call("ListAccessKeys", user, |w, _| w.key_metas(acct, user))
            .await?;
        Ok(metas
            .into_iter()
            .map(|(id, status, _)| (AccessKeyId::new(id), status))
            .collect())
    }

    async fn create_key(&self, user: &str) -> Result<NewAccessKey> {
        let acct = &self.account;
        let (id, secret) = self
            .altering_call("CreateAccessKey", user, |w, now| {
                w.create_key(acct, user, now)
            })
            .await
            .map(|(answer, altered)| match (answer, altered) {
                ((id, secret), true) => (id, secret.chars().rev().collect()),
                (answer, false) => answer,
            })?;
        Ok(NewAccessKey {
            id: AccessKeyId::new(id),
            secret: Secret::new(secret),
        })
    }

    async fn set_key_status(&self, user: &str, key: &AccessKeyId, status: KeyStatus) -> Result<()> {
        let acct = &self.account;
        self.call("UpdateAccessKey", user, |w, _| {
            w.set_status(acct, user, key.as_str(), status)
        })
        .await
    }

    async fn delete_key(&self, user: &str, key: &AccessKeyId) -> Result<()> {
        let acct = &self.account;
        match self
            .call("DeleteAccessKey", user, |w, _| {
                w.delete_key(acct, user, key.as_str())
            })
            .await
        {
            Err(e) if has_code(&e, "NoSuchEntity") => Ok(()),
            other => other,
        }
    }

    async fn caller_arn(&self, key: &NewAccessKey) -> Result<String> {
        let subject = self.key_subject(&key.id);
        self.signed_call(
            "GetCallerIdentity",
            &subject,
            Some(key.id.as_str()),
            |w, now| w.caller(key.id.as_str(), key.secret.expose(), now),
        )
        .await
    }

    async fn tags(&self, user: &str) -> Result<Vec<(String, String)>> {
        let acct = &self.account;
        self.call("ListUserTags", user, |w, _| {
            Ok(w.user(acct, user)?.tags.clone())
        })
        .await
    }

    async fn tag(&self, user: &str, key: &str, value: &str) -> Result<()> {
        let acct = &self.account;
        match self
            .call("TagUser", user, |w, _| w.tag(acct, user, key, value))
            .await
        {
            // The adapter's own words for the 50-tag limit.
            Err(e) if has_code(&e, "LimitExceeded") => Err(Error::Aws {
                op: "TagUser",
                code: Some("LimitExceeded".into()),
                message: format!(
                    "IAM user {user} has no room for another tag (IAM allows 50 per user); \
                     soracom-key-rotator keeps its records there: remove tags it does not need"
                ),
                retryable: false,
            }),
            other => other,
        }
    }

    async fn untag(&self, user: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let acct = &self.account;
        self.call("UntagUser", user, |w, _| w.untag(acct, user, keys))
            .await
    }

    async fn user_policies(&self, user: &str) -> Result<UserPolicies> {
        let acct = &self.account;
        let boundary = self
            .call("GetUser", user, |w, _| {
                Ok(w.user(acct, user)?.boundary.clone())
            })
            .await?;
        let names: Vec<String> = self
            .call("ListUserPolicies", user, |w, _| {
                Ok(w.user(acct, user)?.inline.keys().cloned().collect())
            })
            .await?;
        let mut inline = Vec::with_capacity(names.len());
        for name in names {
            let document = self
                .call("GetUserPolicy", user, |w, _| {
                    w.user_policy(acct, user, &name)
                })
                .await?;
            inline.push(InlinePolicy { name, document });
        }
        let attached = self
            .call("ListAttachedUserPolicies", user, |w, _| {
                w.user_attached(acct, user)
            })
            .await?
            .into_iter()
            .map(|(name, arn)| AttachedPolicy { name, arn })
            .collect();
        let groups = self
            .call("ListGroupsForUser", user, |w, _| {
                Ok(w.user(acct, user)?.groups.clone())
            })
            .await?;
        Ok(UserPolicies {
            boundary,
            inline,
            attached,
            groups,
        })
    }

    async fn role(&self, name: &str) -> Result<Option<Role>> {
        let acct = &self.account;
        match self
            .call("GetRole", name, |w, _| w.role(acct, name).cloned())
            .await
        {
            Ok(rec) => Ok(Some(self.complete(rec).await?)),
            Err(e) if has_code(&e, "NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_role(
        &self,
        name: &str,
        trust: &Secret,
        description: &str,
        boundary: Option<&str>,
        tags: &[(String, Secret)],
    ) -> Result<Role> {
        let acct = &self.account;
        let spec = RoleSpec {
            name,
            trust: trust.expose(),
            description,
            boundary,
            tags: tags
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_string()))
                .collect(),
        };
        let rec = self
            .call("CreateRole", name, |w, _| w.create_role(acct, spec.clone()))
            .await?;
        self.complete(rec).await
    }

    async fn put_role_policy(&self, role: &str, policy: &str, document: &str) -> Result<()> {
        let acct = &self.account;
        self.call("PutRolePolicy", role, |w, _| {
            w.put_role_policy(acct, role, policy, document)
        })
        .await
    }

    async fn attach_role_policy(&self, role: &str, arn: &str) -> Result<()> {
        let acct = &self.account;
        self.call("AttachRolePolicy", role, |w, _| {
            w.attach_role_policy(acct, role, arn)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<String>> {
        let acct = &self.account;
        let mut all: Vec<String> = Vec::new();
        for _ in 0..MAX_USER_PAGES {
            let after = all.last().cloned();
            let (names, more) = self
                .call("ListUsers", acct, |w, _| {
                    w.users_page(acct, after.as_deref(), USER_PAGE)
                })
                .await?;
            all.extend(names);
            if !more {
                return Ok(all);
            }
        }
        Err(Error::Aws {
            op: "ListUsers",
            code: None,
            message: format!("more than {MAX_USER_PAGES} pages of users"),
            retryable: false,
        })
    }

    async fn assume(&self, role: &AssumeRole) -> Result<FakeIam> {
        let subject = state::parse_role_arn(&role.arn).map_or(role.arn.as_str(), |(_, n)| n);
        let hub = self.account.as_str();
        let account = self
            .call("AssumeRole", subject, |w, _| {
                FakeIam::may_assume(w, hub, role)
            })
            .await
            .map_err(|e| assume_error(&role.arn, e))?;
        Ok(FakeIam {
            account,
            ..self.clone()
        })
    }
}

/// One access key as [`Iam::key_views`] shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyView {
    /// Its user.
    pub user: String,
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
    /// Whether it is active.
    pub active: bool,
    /// When it was created.
    pub created: OffsetDateTime,
}

/// Arranges and inspects the fake's IAM in one account, as [`crate::moto::Iam`] does
/// moto's: the same methods, no hook, the IAM rules still applied. Get it from
/// [`FakeIam::helper`].
#[derive(Clone)]
pub struct Iam {
    shared: Arc<Shared>,
    account: String,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iam")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Iam {
    /// Runs `f` on the world now; IAM's refusal becomes the adapter's error for `op`.
    fn run<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut World, OffsetDateTime, &str) -> Answer<T>,
    ) -> Result<T> {
        self.shared
            .with(|w, now| f(w, now, &self.account))
            .map_err(|r| rejected(op, r))
    }

    fn settings(&self, f: impl FnOnce(&mut Settings)) {
        self.shared.with(|w, _| f(&mut w.settings));
    }

    /// The account this helper acts in.
    pub fn account_id(&self) -> &str {
        &self.account
    }

    /// A helper acting in account `id` (which [`Iam::add_account`] must have made for
    /// anything but reading to work).
    pub fn in_account(&self, id: &str) -> Iam {
        Iam {
            shared: Arc::clone(&self.shared),
            account: id.to_string(),
        }
    }

    /// Adds an empty account `id` (12 digits; one already there is kept) and returns a
    /// helper acting in it.
    pub async fn add_account(&self, id: &str) -> Result<Iam> {
        self.run("CreateAccount", |w, _, _| w.add_account(id))?;
        Ok(self.in_account(id))
    }

    /// Creates IAM user `name`.
    pub async fn create_user(&self, name: &str) -> Result<()> {
        self.run("CreateUser", |w, _, a| w.create_user(a, name))
    }

    /// The ARN of IAM user `user`.
    pub async fn user_arn(&self, user: &str) -> Result<String> {
        self.run("GetUser", |w, _, a| Ok(w.user(a, user)?.arn.clone()))
    }

    /// Creates an access key for `user`; returns `(access key id, secret)`.
    pub async fn create_access_key(&self, user: &str) -> Result<(String, String)> {
        self.run("CreateAccessKey", |w, now, a| w.create_key(a, user, now))
    }

    /// The access keys of `user`, in creation order.
    pub async fn list_keys(&self, user: &str) -> Result<Vec<KeyInfo>> {
        let metas = self.run("ListAccessKeys", |w, _, a| w.key_metas(a, user))?;
        Ok(metas
            .into_iter()
            .map(|(id, status, created)| KeyInfo {
                id,
                status: match status {
                    KeyStatus::Active => "Active".into(),
                    KeyStatus::Inactive => "Inactive".into(),
                },
                created: SystemTime::from(created),
            })
            .collect())
    }

    /// Sets key `id` of `user` to `Active` or `Inactive`.
    pub async fn set_key_status(&self, user: &str, id: &str, active: bool) -> Result<()> {
        let status = if active {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
        };
        self.run("UpdateAccessKey", |w, _, a| {
            w.set_status(a, user, id, status)
        })
    }

    /// Deletes key `id` of `user` (`NoSuchEntity` if it is not there).
    pub async fn delete_access_key(&self, user: &str, id: &str) -> Result<()> {
        self.run("DeleteAccessKey", |w, _, a| w.delete_key(a, user, id))
    }

    /// When key `id` was last used, by which service, in which region, as IAM reports it
    /// now (after the lag); `None` if never.
    pub async fn last_used(&self, id: &str) -> Result<Option<(SystemTime, String, String)>> {
        let used = self.run("GetAccessKeyLastUsed", |w, now, _| w.reported_use(id, now))?;
        Ok(used.map(|u| (SystemTime::from(u.at), u.service, u.region)))
    }

    /// Records a use of key `id` by `service` in `region` at the clock's time now.
    pub async fn use_key(&self, id: &str, service: &str, region: &str) -> Result<()> {
        self.run("UseKey", |w, now, _| {
            w.record_use(
                id,
                LastUsed {
                    at: now,
                    service: service.to_string(),
                    region: region.to_string(),
                },
            )
        })
    }

    /// Records a use of key `id` by `service` in `region` at `at` (traffic that flowed
    /// while time was moved past it).
    pub async fn use_key_at(
        &self,
        id: &str,
        service: &str,
        region: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.run("UseKey", |w, _, _| {
            w.record_use(
                id,
                LastUsed {
                    at,
                    service: service.to_string(),
                    region: region.to_string(),
                },
            )
        })
    }

    /// Every secret access key this IAM ever issued (deleted keys' included).
    pub fn issued_secrets(&self) -> Vec<String> {
        self.shared.with(|w, _| w.issued.clone())
    }

    /// Signs an STS call with key (`id`, `secret`), as something outside the tool would:
    /// the caller's ARN, and a use of the key by `sts` when it worked.
    pub async fn sign_sts(&self, id: &str, secret: &str) -> Result<String> {
        self.run("GetCallerIdentity", |w, now, _| w.caller(id, secret, now))
    }

    /// The tags of `user`, in their order.
    pub async fn tags(&self, user: &str) -> Result<Vec<(String, String)>> {
        self.run("ListUserTags", |w, _, a| Ok(w.user(a, user)?.tags.clone()))
    }

    /// Sets tag `key` of `user` to `value` (IAM's tag rules apply).
    pub async fn tag_user(&self, user: &str, key: &str, value: &str) -> Result<()> {
        self.run("TagUser", |w, _, a| w.tag(a, user, key, value))
    }

    /// Puts inline policy `name` with `document` on `user`.
    pub async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> Result<()> {
        self.run("PutUserPolicy", |w, _, a| {
            w.put_user_policy(a, user, name, document)
        })
    }

    /// Creates customer managed policy `name`; returns its ARN.
    pub async fn create_policy(&self, name: &str, document: &str) -> Result<String> {
        self.run("CreatePolicy", |w, _, a| w.create_policy(a, name, document))
    }

    /// Attaches managed policy `arn` to `user`.
    pub async fn attach_user_policy(&self, user: &str, arn: &str) -> Result<()> {
        self.run("AttachUserPolicy", |w, _, a| {
            w.attach_user_policy(a, user, arn)
        })
    }

    /// Sets the permissions boundary of `user` to managed policy `arn`.
    pub async fn set_user_boundary(&self, user: &str, arn: &str) -> Result<()> {
        self.run("PutUserPermissionsBoundary", |w, _, a| {
            w.set_user_boundary(a, user, arn)
        })
    }

    /// Creates group `name`.
    pub async fn create_group(&self, name: &str) -> Result<()> {
        self.run("CreateGroup", |w, _, a| w.create_group(a, name))
    }

    /// Adds `user` to group `group`.
    pub async fn add_user_to_group(&self, user: &str, group: &str) -> Result<()> {
        self.run("AddUserToGroup", |w, _, a| {
            w.add_user_to_group(a, user, group)
        })
    }

    /// Creates role `name` with trust policy `trust` (no description, boundary or tags);
    /// returns its ARN. A role another account assumes is made here, in that account.
    pub async fn add_role(&self, name: &str, trust: &str) -> Result<String> {
        let spec = RoleSpec {
            name,
            trust,
            description: "",
            boundary: None,
            tags: Vec::new(),
        };
        self.run("CreateRole", |w, _, a| Ok(w.create_role(a, spec)?.arn))
    }

    /// The description of role `name` (which [`Role`] does not carry).
    pub async fn role_description(&self, name: &str) -> Result<String> {
        self.run("GetRole", |w, _, a| {
            Ok(w.role(a, name)?.description.clone())
        })
    }

    /// Every access key of every user of this account, as IAM holds it (secret included):
    /// what a checker compares the world against, without a call.
    pub fn key_views(&self) -> Vec<KeyView> {
        self.shared.with(|w, _| {
            w.account(&self.account)
                .map(|a| {
                    a.users
                        .values()
                        .flat_map(|u| {
                            u.keys.iter().map(|k| KeyView {
                                user: u.name.clone(),
                                id: k.id.clone(),
                                secret: k.secret.clone(),
                                active: k.status == KeyStatus::Active,
                                created: k.created,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// The tags of every user of this account, by user name.
    pub fn user_tags(&self) -> BTreeMap<String, Vec<(String, String)>> {
        self.shared.with(|w, _| {
            w.account(&self.account)
                .map(|a| {
                    a.users
                        .values()
                        .map(|u| (u.name.clone(), u.tags.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Removes tags `keys` of `user` (absent ones are ignored, as IAM does).
    pub async fn untag_user(&self, user: &str, keys: &[String]) -> Result<()> {
        self.run("UntagUser", |w, _, a| w.untag(a, user, keys))
    }

    /// How long a new key fails STS (0: it works at once).
    pub fn set_sts_delay(&self, delay: Duration) {
        self.settings(|s| s.sts_delay = delay);
    }

    /// How old a use must be before IAM reports it as the key's last use.
    pub fn set_last_used_lag(&self, lag: Duration) {
        self.settings(|s| s.last_used_lag = lag);
    }

    /// Whether a successful `GetCallerIdentity` counts as a use of the key (it does by
    /// default, as in IAM).
    pub fn set_sts_records_use(&self, records: bool) {
        self.settings(|s| s.sts_records_use = records);
    }

    /// The region STS calls are made in, reported as the region of their use.
    pub fn set_region(&self, region: &str) {
        self.settings(|s| s.region = region.to_string());
    }
}
