//! The IAM port's behaviours the engine relies on, each written once over any
//! [`IamApi`] and run against both [`FakeIam`] (`conformance_iam::fake::…`, in simulated
//! time, no moto) and [`AwsIam`] over moto (`conformance_iam::moto::…`, which need
//! `scripts/with-moto`).
//!
//! Where moto differs from real IAM the fake follows IAM, and the assertion checks moto's
//! own answer instead, with the difference named: when moto changes, the check fails and
//! says which note is out of date. Nothing is skipped silently.
//!
//! Run: `scripts/with-moto cargo test -p testkit --test testkit conformance_iam`
//! (the fake's half alone: `cargo test -p testkit --test testkit conformance_iam::fake`).

use std::fmt::Debug;
use std::sync::Arc;

use rotator::{AwsIam, IamApi};
use rotator_core::config::AssumeRole;
use rotator_core::model::{AccessKey, KeyStatus};
use rotator_core::role::{self, AttachedPolicy, UserPolicies};
use rotator_core::{AccessKeyId, NewAccessKey, Secret};
use serde_json::Value;
use testkit::fake::clock::PausedClock;
use testkit::fake::iam::{FakeIam, DEFAULT_ACCOUNT, DEFAULT_STS_DELAY};
use testkit::fake::Proceed;
use testkit::moto::{unique, ClockedMoto};
use time::macros::datetime;
use time::OffsetDateTime;

type BoxError = Box<dyn std::error::Error>;
type TestResult = Result<(), BoxError>;

/// The account assumed into by the multi-account behaviour.
const SPOKE: &str = "222233334444";
/// SORACOM's account, as a role's trust names it.
const SORACOM_ACCOUNT: &str = "111122223333";
const INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:ap-northeast-1:123456789012:topic/soracom/*"}]}"#;
const KINESIS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}]}"#;

/// What a test arranges beside the port, and the facts of its backend.
trait Backend {
    /// The port under test.
    type Port: IamApi + Debug;
    /// Whether this is moto: the assertions where moto differs from IAM check moto's answer.
    const MOTO: bool;
    fn port(&self) -> &Self::Port;
    /// The backend's time now.
    fn now(&self) -> OffsetDateTime;
    async fn create_user(&self, name: &str) -> TestResult;
    async fn user_arn(&self, name: &str) -> Result<String, BoxError>;
    async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> TestResult;
    async fn create_policy(&self, name: &str, document: &str) -> Result<String, BoxError>;
    async fn attach_user_policy(&self, user: &str, arn: &str) -> TestResult;
    /// Creates group `group` and puts `user` in it.
    async fn add_to_new_group(&self, user: &str, group: &str) -> TestResult;
    /// Gives `user` a permissions boundary (moto keeps none: not called for moto).
    async fn set_user_boundary(&self, user: &str, arn: &str) -> TestResult;
    /// Makes role `name` with trust policy `trust` in account `account`.
    async fn add_role(&self, account: &str, name: &str, trust: &str) -> TestResult;
    /// Waits until a key created now works in STS.
    async fn settle(&self);
}

/// [`FakeIam`] over a paused clock, every call proceeding.
struct Fake {
    iam: FakeIam,
    helper: testkit::fake::iam::Iam,
    clock: Arc<PausedClock>,
}

impl Fake {
    fn new() -> Fake {
        let clock = Arc::new(PausedClock::new(datetime!(2030-01-01 00:00 UTC)));
        let iam = FakeIam::new(42, clock.clone(), Arc::new(Proceed));
        Fake {
            helper: iam.helper(),
            iam,
            clock,
        }
    }
}

impl Backend for Fake {
    type Port = FakeIam;
    const MOTO: bool = false;

    fn port(&self) -> &FakeIam {
        &self.iam
    }

    fn now(&self) -> OffsetDateTime {
        rotator::Clock::now(self.clock.as_ref())
    }

    async fn create_user(&self, name: &str) -> TestResult {
        Ok(self.helper.create_user(name).await?)
    }

    async fn user_arn(&self, name: &str) -> Result<String, BoxError> {
        Ok(self.helper.user_arn(name).await?)
    }

    async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> TestResult {
        Ok(self.helper.put_user_policy(user, name, document).await?)
    }

    async fn create_policy(&self, name: &str, document: &str) -> Result<String, BoxError> {
        Ok(self.helper.create_policy(name, document).await?)
    }

    async fn attach_user_policy(&self, user: &str, arn: &str) -> TestResult {
        Ok(self.helper.attach_user_policy(user, arn).await?)
    }

    async fn add_to_new_group(&self, user: &str, group: &str) -> TestResult {
        self.helper.create_group(group).await?;
        Ok(self.helper.add_user_to_group(user, group).await?)
    }

    async fn set_user_boundary(&self, user: &str, arn: &str) -> TestResult {
        Ok(self.helper.set_user_boundary(user, arn).await?)
    }

    async fn add_role(&self, account: &str, name: &str, trust: &str) -> TestResult {
        let there = self.helper.add_account(account).await?;
        there.add_role(name, trust).await?;
        Ok(())
    }

    async fn settle(&self) {
        tokio::time::sleep(DEFAULT_STS_DELAY).await;
    }
}

/// [`AwsIam`] over moto: the shared one (`MOTO_ENDPOINT`) or one of the test's own that
/// checks every signature.
struct Moto {
    port: AwsIam,
    helper: testkit::moto::Iam,
    _own: Option<ClockedMoto>,
}

impl Moto {
    async fn shared() -> Moto {
        testkit::install_crypto_provider();
        let endpoint = testkit::moto::endpoint();
        Moto {
            port: AwsIam::new(testkit::moto::sdk_config(&endpoint).await),
            helper: testkit::moto::Iam::connect(&endpoint).await,
            _own: None,
        }
    }

    async fn authenticated() -> Moto {
        testkit::install_crypto_provider();
        let own = ClockedMoto::start_authenticated().await;
        let (id, secret) = own.credentials();
        let endpoint = own.endpoint();
        Moto {
            port: AwsIam::new(testkit::moto::sdk_config_as(&endpoint, &id, &secret).await),
            helper: testkit::moto::Iam::connect_as(&endpoint, &id, &secret).await,
            _own: Some(own),
        }
    }
}

impl Backend for Moto {
    type Port = AwsIam;
    const MOTO: bool = true;

    fn port(&self) -> &AwsIam {
        &self.port
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn create_user(&self, name: &str) -> TestResult {
        Ok(self.helper.create_user(name).await?)
    }

    async fn user_arn(&self, name: &str) -> Result<String, BoxError> {
        Ok(self.helper.user_arn(name).await?)
    }

    async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> TestResult {
        let c = self.helper.client();
        let put = c.put_user_policy().user_name(user).policy_name(name);
        put.policy_document(document).send().await?;
        Ok(())
    }

    async fn create_policy(&self, name: &str, document: &str) -> Result<String, BoxError> {
        let c = self.helper.client();
        let out = c
            .create_policy()
            .policy_name(name)
            .policy_document(document)
            .send()
            .await?;
        let arn = out.policy().and_then(|p| p.arn()).ok_or("no policy ARN")?;
        Ok(arn.to_string())
    }

    async fn attach_user_policy(&self, user: &str, arn: &str) -> TestResult {
        let c = self.helper.client();
        c.attach_user_policy()
            .user_name(user)
            .policy_arn(arn)
            .send()
            .await?;
        Ok(())
    }

    async fn add_to_new_group(&self, user: &str, group: &str) -> TestResult {
        let c = self.helper.client();
        c.create_group().group_name(group).send().await?;
        c.add_user_to_group()
            .user_name(user)
            .group_name(group)
            .send()
            .await?;
        Ok(())
    }

    async fn set_user_boundary(&self, _: &str, _: &str) -> TestResult {
        Err("moto does not emulate PutUserPermissionsBoundary".into())
    }

    async fn add_role(&self, account: &str, name: &str, trust: &str) -> TestResult {
        // moto lets any role of any account be assumed (see `assume_…` below): a role
        // that does not exist gets into the account to make the real one.
        let bootstrap = AssumeRole {
            arn: format!("arn:aws:iam::{account}:role/{}", unique("cf-bootstrap")),
            external_id: None,
            session_name: "conformance".into(),
        };
        let there = self.port.assume(&bootstrap).await?;
        there
            .create_role(name, &Secret::new(trust), "", None, &[])
            .await?;
        Ok(())
    }

    async fn settle(&self) {
        // moto has no propagation delay: a new key works at once.
    }
}

/// The parts of an [`rotator::Error::Aws`] a behaviour checks.
#[derive(Debug)]
struct Aws {
    op: &'static str,
    code: Option<String>,
    retryable: bool,
    message: String,
}

impl Aws {
    fn parts(&self) -> (&'static str, Option<&str>, bool) {
        (self.op, self.code.as_deref(), self.retryable)
    }
}

/// The AWS error `r` is; panics if it is a success or another error.
#[track_caller]
fn aws<T: Debug>(r: rotator::Result<T>) -> Aws {
    match r {
        Err(rotator::Error::Aws {
            op,
            code,
            message,
            retryable,
        }) => Aws {
            op,
            code,
            retryable,
            message,
        },
        other => panic!("expected an AWS error, got {other:?}"),
    }
}

fn ids(keys: &[AccessKey]) -> Vec<AccessKeyId> {
    keys.iter().map(|k| k.id.clone()).collect()
}

fn json(text: &str) -> Result<Value, BoxError> {
    Ok(serde_json::from_str(text)?)
}

async fn keys_are_created_listed_and_limited_to_two<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-keys");
    b.create_user(&user).await?;
    let start = b.now() - time::Duration::seconds(2);
    let k1 = iam.create_key(&user).await?;
    let k2 = iam.create_key(&user).await?;
    for k in [&k1, &k2] {
        let id = k.id.as_str();
        assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
        assert!(AccessKeyId::is_shaped(id), "{id}");
        assert_eq!(k.secret.expose().len(), 40);
    }
    assert_ne!(k1.id, k2.id);
    let third = aws(iam.create_key(&user).await);
    assert_eq!(
        third.parts(),
        ("CreateAccessKey", Some("LimitExceeded"), false)
    );
    let keys = iam.list_keys(&user).await?;
    assert_eq!(ids(&keys), [k1.id.clone(), k2.id.clone()]);
    let end = b.now() + time::Duration::seconds(2);
    for k in &keys {
        assert_eq!(k.status, KeyStatus::Active);
        assert!(start <= k.created && k.created <= end, "{}", k.created);
        // IAM reports times to the second. moto differs: it reports microseconds (a
        // moto time may fall on a whole second, so its side has nothing to assert).
        if !B::MOTO {
            assert_eq!(k.created.nanosecond(), 0, "{}", k.created);
        }
        assert_eq!(k.last_used, None);
    }
    let statuses = iam.key_statuses(&user).await?;
    assert_eq!(
        statuses,
        [(k1.id, KeyStatus::Active), (k2.id, KeyStatus::Active)]
    );
    let ghost = unique("cf-ghost");
    let e = aws(iam.create_key(&ghost).await);
    assert_eq!(e.parts(), ("CreateAccessKey", Some("NoSuchEntity"), false));
    let e = aws(iam.list_keys(&ghost).await);
    assert_eq!(e.parts(), ("ListAccessKeys", Some("NoSuchEntity"), false));
    Ok(())
}

async fn keys_are_deactivated_and_reactivated<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-status");
    b.create_user(&user).await?;
    let k = iam.create_key(&user).await?;
    iam.set_key_status(&user, &k.id, KeyStatus::Inactive)
        .await?;
    let statuses = iam.key_statuses(&user).await?;
    assert_eq!(statuses, [(k.id.clone(), KeyStatus::Inactive)]);
    assert_eq!(iam.list_keys(&user).await?[0].status, KeyStatus::Inactive);
    iam.set_key_status(&user, &k.id, KeyStatus::Active).await?;
    let statuses = iam.key_statuses(&user).await?;
    assert_eq!(statuses, [(k.id.clone(), KeyStatus::Active)]);
    let ghost_key = AccessKeyId::new("AKIA0000000000000000");
    let e = aws(iam
        .set_key_status(&user, &ghost_key, KeyStatus::Inactive)
        .await);
    assert_eq!(e.parts(), ("UpdateAccessKey", Some("NoSuchEntity"), false));
    let ghost = unique("cf-ghost");
    let e = aws(iam.set_key_status(&ghost, &k.id, KeyStatus::Active).await);
    assert_eq!(e.parts(), ("UpdateAccessKey", Some("NoSuchEntity"), false));
    Ok(())
}

async fn keys_are_deleted_and_a_gone_key_is_no_error<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-delete");
    b.create_user(&user).await?;
    let k1 = iam.create_key(&user).await?;
    let k2 = iam.create_key(&user).await?;
    iam.delete_key(&user, &k1.id).await?;
    let statuses = iam.key_statuses(&user).await?;
    assert_eq!(statuses, [(k2.id.clone(), KeyStatus::Active)]);
    // Gone already, never there, or a user that is not: all deleted as far as it goes.
    iam.delete_key(&user, &k1.id).await?;
    iam.delete_key(&user, &AccessKeyId::new("AKIA0000000000000000"))
        .await?;
    iam.delete_key(&unique("cf-ghost"), &k2.id).await?;
    // The deleted key's room is free again.
    let k3 = iam.create_key(&user).await?;
    assert_eq!(ids(&iam.list_keys(&user).await?), [k2.id, k3.id]);
    Ok(())
}

async fn tags_are_set_replaced_and_removed<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-tags");
    b.create_user(&user).await?;
    assert!(iam.tags(&user).await?.is_empty());
    let (a, b_key) = ("soracom-key-rotator:a", "soracom-key-rotator:b");
    iam.tag(&user, a, "2030-01-01T00:00:00Z").await?;
    iam.tag(&user, b_key, "AKIA0000000000000000 p-300101")
        .await?;
    iam.tag(&user, a, "replaced").await?;
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    // A key set again keeps its place (in IAM's listing as in the fake's and moto's).
    assert_eq!(
        iam.tags(&user).await?,
        [
            pair(a, "replaced"),
            pair(b_key, "AKIA0000000000000000 p-300101")
        ]
    );
    iam.untag(&user, &[a.to_string(), "absent".to_string()])
        .await?;
    assert_eq!(
        iam.tags(&user).await?,
        [pair(b_key, "AKIA0000000000000000 p-300101")]
    );
    iam.untag(&user, &[]).await?;
    let ghost = unique("cf-ghost");
    let e = aws(iam.tags(&ghost).await);
    assert_eq!(e.parts(), ("ListUserTags", Some("NoSuchEntity"), false));
    let e = aws(iam.tag(&ghost, a, "v").await);
    assert_eq!(e.parts(), ("TagUser", Some("NoSuchEntity"), false));
    Ok(())
}

async fn tags_are_limited_as_iam_limits_them<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-tag-limit");
    b.create_user(&user).await?;
    for i in 0..50 {
        iam.tag(&user, &format!("k{i:02}"), "v").await?;
    }
    let over = iam.tag(&user, "k50", "v").await;
    if B::MOTO {
        // moto differs: its TagUser goes through its generic tagger, which has no limit.
        assert!(
            over.is_ok(),
            "moto now limits tags per user: update this note: {over:?}"
        );
        iam.untag(&user, &["k50".to_string()]).await?;
    } else {
        let e = aws(over);
        assert_eq!(e.parts(), ("TagUser", Some("LimitExceeded"), false));
        assert!(e.message.contains("50 per user"), "{}", e.message);
    }
    // At the limit, a tag already there still takes a new value.
    iam.tag(&user, "k00", "replaced").await?;
    assert_eq!(iam.tags(&user).await?.len(), 50);
    let fresh = unique("cf-tag-rules");
    b.create_user(&fresh).await?;
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for (key, value) in [
        ("bad#key", "v"),
        (long_key.as_str(), "v"),
        ("ok", long_value.as_str()),
        ("ok", "bad|value"),
    ] {
        let r = iam.tag(&fresh, key, value).await;
        if B::MOTO {
            // moto differs: its TagUser checks neither length nor characters.
            assert!(
                r.is_ok(),
                "moto now checks user tags: update this note: {r:?}"
            );
        } else {
            let e = aws(r);
            assert_eq!(e.parts(), ("TagUser", Some("ValidationError"), false));
        }
    }
    // Every allowed character, including a space and a non-ASCII letter.
    iam.tag(&fresh, "a-z A-Z 0-9 _.:/=+-@ é", "_.:/=+-@ é")
        .await?;
    Ok(())
}

async fn sts_accepts_only_a_working_key<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-sts");
    b.create_user(&user).await?;
    let key = iam.create_key(&user).await?;
    let early = iam.caller_arn(&key).await;
    if B::MOTO {
        // moto differs: it has no propagation delay; IAM's new key fails for seconds.
        assert!(early.is_ok(), "moto now delays new keys: {early:?}");
    } else {
        let e = aws(early);
        let want = ("GetCallerIdentity", Some("InvalidClientTokenId"), false);
        assert_eq!(e.parts(), want);
    }
    b.settle().await;
    assert_eq!(iam.caller_arn(&key).await?, b.user_arn(&user).await?);
    // The verification is a use of the key, by STS.
    let used = iam.list_keys(&user).await?[0].last_used.clone();
    let used = used.ok_or("GetCallerIdentity was not recorded as a use")?;
    assert_eq!(
        (used.service.as_str(), used.region.as_str()),
        ("sts", "us-east-1")
    );

    let other = iam.create_key(&user).await?;
    b.settle().await;
    let wrong = NewAccessKey {
        id: other.id.clone(),
        secret: Secret::new("x".repeat(40)),
    };
    let e = aws(iam.caller_arn(&wrong).await);
    check_sts_refusal::<B>(&e, "SignatureDoesNotMatch");
    let seen = iam.list_keys(&user).await?[1].last_used.clone();
    // moto differs: it records a use of every key it sees, before checking the signature.
    assert_eq!(seen.is_some(), B::MOTO, "a refused call as a use: {seen:?}");

    iam.set_key_status(&user, &key.id, KeyStatus::Inactive)
        .await?;
    let inactive = iam.caller_arn(&key).await;
    if B::MOTO {
        // moto differs: it authenticates inactive keys.
        assert!(
            inactive.is_ok(),
            "moto now refuses inactive keys: {inactive:?}"
        );
    } else {
        check_sts_refusal::<B>(&aws(inactive), "InvalidClientTokenId");
    }
    iam.delete_key(&user, &key.id).await?;
    check_sts_refusal::<B>(&aws(iam.caller_arn(&key).await), "InvalidClientTokenId");
    Ok(())
}

/// A refused `GetCallerIdentity`: never worth a retry, with IAM's `code`. Over moto the
/// adapter gets no code (the SDK does not parse moto's auth errors; the adapter puts the
/// HTTP status in the message instead).
#[track_caller]
fn check_sts_refusal<B: Backend>(e: &Aws, code: &str) {
    if B::MOTO {
        assert_eq!(e.parts(), ("GetCallerIdentity", None, false), "{e:?}");
        assert!(e.message.contains("HTTP 403"), "{e:?}");
    } else {
        assert_eq!(e.parts(), ("GetCallerIdentity", Some(code), false), "{e:?}");
    }
}

async fn roles_are_created_read_and_given_policies<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let name = unique("cf-role");
    assert!(iam.role(&name).await?.is_none());
    let policy = b.create_policy(&unique("cf-kinesis"), KINESIS).await?;
    let boundary = b.create_policy(&unique("cf-boundary"), KINESIS).await?;
    let trust = role::trust_policy(SORACOM_ACCOUNT, "ext-0123").to_string();
    let tags = [
        (role::TAG_TARGET.to_string(), Secret::new("funnel")),
        (role::TAG_EXTERNAL_ID.to_string(), Secret::new("ext-0123")),
    ];
    let trust = Secret::new(trust);
    let made = iam
        .create_role(&name, &trust, "conformance", Some(&boundary), &tags)
        .await?;
    assert_eq!(made.name, name);
    assert!(made.arn.ends_with(&format!(":role/{name}")), "{}", made.arn);
    assert_eq!(made.boundary.as_deref(), Some(boundary.as_str()));
    assert_eq!(made.tags, tags);
    assert!(made.inline.is_empty() && made.attached.is_empty());
    assert!(role::trusts(
        made.trust.expose(),
        SORACOM_ACCOUNT,
        "ext-0123"
    ));
    iam.put_role_policy(&name, "iot", INLINE).await?;
    iam.put_role_policy(&name, "iot", INLINE).await?;
    iam.attach_role_policy(&name, &policy).await?;
    iam.attach_role_policy(&name, &policy).await?;
    let read = iam.role(&name).await?.ok_or("the role is gone")?;
    assert_eq!(
        (read.arn.as_str(), read.name.as_str()),
        (made.arn.as_str(), name.as_str())
    );
    assert_eq!(read.inline, ["iot"]);
    assert_eq!(read.attached, std::slice::from_ref(&policy));
    assert_eq!(read.boundary, made.boundary);
    assert_eq!(read.tags, tags);
    assert_eq!(json(read.trust.expose())?, json(made.trust.expose())?);
    let again = aws(iam.create_role(&name, &trust, "again", None, &tags).await);
    assert_eq!(
        again.parts(),
        ("CreateRole", Some("EntityAlreadyExists"), false)
    );
    let ghost = unique("cf-ghost-role");
    let e = aws(iam.put_role_policy(&ghost, "iot", INLINE).await);
    assert_eq!(e.parts(), ("PutRolePolicy", Some("NoSuchEntity"), false));
    let e = aws(iam.attach_role_policy(&ghost, &policy).await);
    assert_eq!(e.parts(), ("AttachRolePolicy", Some("NoSuchEntity"), false));
    let no_policy = format!(
        "arn:aws:iam::{DEFAULT_ACCOUNT}:policy/{}",
        unique("cf-none")
    );
    let e = aws(iam.attach_role_policy(&name, &no_policy).await);
    assert_eq!(e.parts(), ("AttachRolePolicy", Some("NoSuchEntity"), false));
    Ok(())
}

async fn users_are_listed_by_name<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let tag = unique("cf-list");
    let names = ["zz", "mm", "aa"].map(|p| format!("{p}-{tag}"));
    for n in &names {
        b.create_user(n).await?;
    }
    let listed: Vec<String> = iam
        .list_users()
        .await?
        .into_iter()
        .filter(|n| n.ends_with(&tag))
        .collect();
    if B::MOTO {
        // moto differs: it lists users in the order they were created; IAM by name.
        assert_eq!(listed, names, "moto now sorts users: update this note");
    } else {
        let mut sorted = names.to_vec();
        sorted.sort();
        assert_eq!(listed, sorted);
    }
    Ok(())
}

async fn user_policies_are_read<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let user = unique("cf-policies");
    b.create_user(&user).await?;
    assert_eq!(iam.user_policies(&user).await?, UserPolicies::default());
    b.put_user_policy(&user, "iot", INLINE).await?;
    b.put_user_policy(&user, "alpha", KINESIS).await?;
    let policy_name = unique("cf-kinesis");
    let arn = b.create_policy(&policy_name, KINESIS).await?;
    b.attach_user_policy(&user, &arn).await?;
    let group = unique("cf-ops");
    b.add_to_new_group(&user, &group).await?;
    if !B::MOTO {
        // moto differs: it does not emulate PutUserPermissionsBoundary.
        b.set_user_boundary(&user, &arn).await?;
    }
    let got = iam.user_policies(&user).await?;
    let names: Vec<&str> = got.inline.iter().map(|p| p.name.as_str()).collect();
    if B::MOTO {
        // moto differs: it lists inline policies in the order they were put; IAM by name.
        assert_eq!(
            names,
            ["iot", "alpha"],
            "moto now sorts policies: update this note"
        );
        assert_eq!(got.boundary, None);
    } else {
        assert_eq!(names, ["alpha", "iot"]);
        assert_eq!(got.boundary.as_deref(), Some(arn.as_str()));
    }
    for p in &got.inline {
        let want = if p.name == "iot" { INLINE } else { KINESIS };
        assert_eq!(json(&p.document)?, json(want)?, "{}", p.name);
    }
    let attached = AttachedPolicy {
        name: policy_name,
        arn,
    };
    assert_eq!(got.attached, [attached]);
    assert_eq!(got.groups, [group]);
    let e = aws(iam.user_policies(&unique("cf-ghost")).await);
    assert_eq!(e.parts(), ("GetUser", Some("NoSuchEntity"), false));
    Ok(())
}

fn assume_role(name: &str, external_id: &str) -> AssumeRole {
    AssumeRole {
        arn: format!("arn:aws:iam::{SPOKE}:role/{name}"),
        external_id: Some(external_id.to_string()),
        session_name: "conformance".into(),
    }
}

async fn assume_acts_in_the_roles_account<B: Backend>(b: &B) -> TestResult {
    let iam = b.port();
    let name = unique("cf-hub");
    let trust = role::trust_policy(DEFAULT_ACCOUNT, "ext-cf").to_string();
    b.add_role(SPOKE, &name, &trust).await?;
    let spoke = iam.assume(&assume_role(&name, "ext-cf")).await?;
    let inner = unique("cf-inner");
    let made = spoke
        .create_role(&inner, &Secret::new(trust.as_str()), "", None, &[])
        .await?;
    assert!(
        made.arn.starts_with(&format!("arn:aws:iam::{SPOKE}:role/")),
        "{}",
        made.arn
    );
    assert!(spoke.role(&inner).await?.is_some());
    assert!(
        iam.role(&inner).await?.is_none(),
        "the spoke's role is in the hub"
    );
    let wrong_id = iam.assume(&assume_role(&name, "other")).await;
    let no_role = iam
        .assume(&assume_role(&unique("cf-nobody"), "ext-cf"))
        .await;
    if B::MOTO {
        // moto differs: it checks no trust across accounts (nor that the role exists).
        assert!(
            wrong_id.is_ok() && no_role.is_ok(),
            "moto now checks the trust"
        );
    } else {
        for e in [aws(wrong_id), aws(no_role)] {
            assert_eq!(e.parts(), ("AssumeRole", None, false));
            assert!(e.message.contains("AccessDenied"), "{}", e.message);
        }
    }
    Ok(())
}

/// One test per behaviour and backend: `fake::<behaviour>` and `moto::<behaviour>`, the
/// latter on the shared moto or on an authenticated one of its own.
macro_rules! conformance {
    ($($name:ident: $moto:ident),* $(,)?) => {
        /// Each behaviour against [`FakeIam`], in simulated time.
        mod fake {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() -> super::TestResult {
                    super::$name(&super::Fake::new()).await
                }
            )*
        }
        /// Each behaviour against [`AwsIam`] over moto.
        mod moto {
            $(
                #[tokio::test]
                async fn $name() -> super::TestResult {
                    super::$name(&super::Moto::$moto().await).await
                }
            )*
        }
    };
}

conformance! {
    keys_are_created_listed_and_limited_to_two: shared,
    keys_are_deactivated_and_reactivated: shared,
    keys_are_deleted_and_a_gone_key_is_no_error: shared,
    tags_are_set_replaced_and_removed: shared,
    tags_are_limited_as_iam_limits_them: shared,
    sts_accepts_only_a_working_key: authenticated,
    roles_are_created_read_and_given_policies: shared,
    users_are_listed_by_name: shared,
    user_policies_are_read: shared,
    assume_acts_in_the_roles_account: shared,
}
