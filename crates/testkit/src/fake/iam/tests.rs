//! Unit tests of the fake IAM: the hook's verdicts and what they do to the world, the
//! calls each port method consults the hook for, and the rules moto does not have (the
//! STS delay, the last-use lag, assume's denials, paging). The behaviours both the fake
//! and moto have are in `tests/conformance_iam.rs`.

use std::sync::Arc;
use std::time::Duration;

use rotator::{Error, IamApi};
use rotator_core::config::AssumeRole;
use rotator_core::model::KeyStatus;
use rotator_core::secret::{AccessKeyId, NewAccessKey, Secret};
use time::macros::datetime;

use super::{FakeIam, Iam, DEFAULT_STS_DELAY};
use crate::fake::clock::PausedClock;
use crate::fake::{Action, Failure, Port, Proceed, Rule, Script, Verdict};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fake over a paused clock and a script, its helper with user `u`, and both handles.
struct Rig {
    iam: FakeIam,
    helper: Iam,
    clock: Arc<PausedClock>,
    script: Arc<Script>,
}

async fn rig(seed: u64) -> Rig {
    let clock = Arc::new(PausedClock::new(datetime!(2030-01-01 00:00 UTC)));
    let script = Arc::new(Script::new());
    let iam = FakeIam::new(seed, clock.clone(), script.clone());
    let helper = iam.helper();
    helper
        .create_user("u")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Rig {
        iam,
        helper,
        clock,
        script,
    }
}

fn on(op: &str, verdict: Verdict) -> Rule {
    Rule::on(Port::Iam, op, 1, Action::Verdict(verdict))
}

/// `verdict` for every call of `op` (a failure the SDK retries fails every attempt).
fn always(op: &str, verdict: Verdict) -> Rule {
    on(op, verdict).times(0)
}

fn code(e: &Error) -> Option<&str> {
    match e {
        Error::Aws { code, .. } => code.as_deref(),
        _ => None,
    }
}

fn aws(e: &Error) -> (&'static str, Option<&str>, bool) {
    match e {
        Error::Aws {
            op,
            code,
            retryable,
            ..
        } => (op, code.as_deref(), *retryable),
        other => panic!("not an AWS error: {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_fails_without_acting() -> TestResult {
    let r = rig(1).await;
    r.script.add(on(
        "CreateAccessKey",
        Verdict::Refuse(Failure::Status {
            status: 400,
            code: "InvalidInput".into(),
        }),
    ));
    let e = r
        .iam
        .create_key("u")
        .await
        .err()
        .ok_or("refused, yet created")?;
    assert_eq!(aws(&e), ("CreateAccessKey", Some("InvalidInput"), false));
    assert!(r.helper.list_keys("u").await?.is_empty());
    // The rule fired once: the next call acts.
    r.iam.create_key("u").await?;
    assert_eq!(r.helper.list_keys("u").await?.len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_that_acts_then_fails_changes_the_world() -> TestResult {
    let r = rig(1).await;
    r.script.add(on(
        "CreateAccessKey",
        Verdict::ActThenFail(Failure::server(Port::Iam)),
    ));
    let e = r.iam.create_key("u").await.err().ok_or("no failure")?;
    // A 500 with IAM's `ServiceFailure`: worth a retry, as the adapter judges it.
    assert_eq!(aws(&e), ("CreateAccessKey", Some("ServiceFailure"), true));
    assert_eq!(r.helper.list_keys("u").await?.len(), 1);
    let key = r.iam.create_key("u").await?;
    // CreateAccessKey is sent once: the failure above was one call.
    assert_eq!(r.script.count(Port::Iam, "CreateAccessKey"), 2);
    r.script.add(always(
        "UpdateAccessKey",
        Verdict::ActThenFail(Failure::Timeout),
    ));
    let e = r
        .iam
        .set_key_status("u", &key.id, KeyStatus::Inactive)
        .await
        .err()
        .ok_or("no failure")?;
    assert_eq!(aws(&e), ("UpdateAccessKey", None, true));
    assert_eq!(r.helper.list_keys("u").await?[1].status, "Inactive");
    // The SDK tried a timed-out call again, each attempt acting, up to its limit.
    assert_eq!(
        r.script.count(Port::Iam, "UpdateAccessKey"),
        super::SDK_ATTEMPTS as usize
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_that_acts_then_hangs_never_answers() -> TestResult {
    let r = rig(1).await;
    let key = r.iam.create_key("u").await?;
    r.script.add(on("DeleteAccessKey", Verdict::ActThenHang));
    let answer =
        tokio::time::timeout(Duration::from_secs(60), r.iam.delete_key("u", &key.id)).await;
    assert!(answer.is_err(), "the call answered: {answer:?}");
    assert!(r.helper.list_keys("u").await?.is_empty());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn injected_codes_are_retryable_as_the_adapter_judges_them() -> TestResult {
    let r = rig(1).await;
    let status = |status, code: &str| {
        Verdict::Refuse(Failure::Status {
            status,
            code: code.into(),
        })
    };
    for (verdict, retryable) in [
        (status(400, "Throttling"), true),
        (status(500, "ServiceFailure"), true),
        (status(409, "LimitExceeded"), false),
        (status(403, "AccessDenied"), false),
        (Verdict::Refuse(Failure::Timeout), true),
    ] {
        r.script.clear();
        r.script.add(always("ListUserTags", verdict.clone()));
        let before = r.script.count(Port::Iam, "ListUserTags");
        let e = r.iam.tags("u").await.err().ok_or("no failure")?;
        assert_eq!(aws(&e).2, retryable, "{verdict:?}: {e}");
        // What is worth a retry is tried again, as the SDK's standard mode does.
        let attempts = if retryable { super::SDK_ATTEMPTS } else { 1 };
        assert_eq!(
            r.script.count(Port::Iam, "ListUserTags") - before,
            attempts as usize,
            "{verdict:?}"
        );
    }
    // A failure once, worth a retry, is the SDK's to absorb: the call succeeds.
    r.script.clear();
    r.script.add(on(
        "ListUserTags",
        Verdict::Refuse(Failure::server(Port::Iam)),
    ));
    assert!(r.iam.tags("u").await.is_ok());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_adapters_own_turns_apply_to_injected_answers() -> TestResult {
    let r = rig(1).await;
    let gone = |op: &str| {
        on(
            op,
            Verdict::Refuse(Failure::Status {
                status: 404,
                code: "NoSuchEntity".into(),
            }),
        )
    };
    let key = r.iam.create_key("u").await?;
    // A key the answer says is gone is deleted, as far as the adapter can tell.
    r.script.add(gone("DeleteAccessKey"));
    r.iam.delete_key("u", &key.id).await?;
    assert_eq!(
        r.helper.list_keys("u").await?.len(),
        1,
        "refused: not acted"
    );
    r.helper.add_role("r", r#"{"Statement":[]}"#).await?;
    r.script.add(gone("GetRole"));
    assert!(r.iam.role("r").await?.is_none());
    r.script.add(on(
        "TagUser",
        Verdict::Refuse(Failure::Status {
            status: 409,
            code: "LimitExceeded".into(),
        }),
    ));
    let e = r.iam.tag("u", "k", "v").await.err().ok_or("tagged")?;
    assert!(e.to_string().contains("allows 50 per user"), "{e}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn each_request_the_adapter_sends_is_one_call_of_the_hook() -> TestResult {
    let r = rig(1).await;
    r.iam.create_key("u").await?;
    r.iam.create_key("u").await?;
    r.iam.list_keys("u").await?;
    assert_eq!(r.script.count(Port::Iam, "ListAccessKeys"), 1);
    assert_eq!(r.script.count(Port::Iam, "GetAccessKeyLastUsed"), 2);
    let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
    r.helper.put_user_policy("u", "a", doc).await?;
    r.helper.put_user_policy("u", "b", doc).await?;
    r.iam.user_policies("u").await?;
    for (op, n) in [
        ("GetUser", 1),
        ("ListUserPolicies", 1),
        ("GetUserPolicy", 2),
        ("ListAttachedUserPolicies", 1),
        ("ListGroupsForUser", 1),
    ] {
        assert_eq!(r.script.count(Port::Iam, op), n, "{op}");
    }
    r.iam
        .create_role("r", &Secret::new(doc), "d", None, &[])
        .await?;
    r.iam.role("r").await?;
    assert_eq!(r.script.count(Port::Iam, "CreateRole"), 1);
    assert_eq!(r.script.count(Port::Iam, "GetRole"), 1);
    assert_eq!(r.script.count(Port::Iam, "ListRolePolicies"), 2);
    assert_eq!(r.script.count(Port::Iam, "ListAttachedRolePolicies"), 2);
    r.iam.untag("u", &[]).await?;
    assert_eq!(r.script.count(Port::Iam, "UntagUser"), 0);
    // Subjects: the user or role the request is about.
    let subjects: Vec<(String, String)> = r
        .script
        .calls()
        .into_iter()
        .map(|(c, _)| (c.op, c.subject))
        .collect();
    assert!(subjects.contains(&("GetAccessKeyLastUsed".into(), "u".into())));
    assert!(subjects.contains(&("ListRolePolicies".into(), "r".into())));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_held_call_acts_when_released_at_the_time_it_acts() -> TestResult {
    let r = rig(1).await;
    let gate = crate::fake::Gate::new();
    r.script.add(Rule::on(
        Port::Iam,
        "CreateAccessKey",
        1,
        Action::Hold(gate.clone()),
    ));
    let iam = r.iam.clone();
    let task = tokio::spawn(async move { iam.create_key("u").await.map(|k| k.id) });
    gate.reached().await;
    // A person deletes nothing and creates a key meanwhile: the held call then meets the
    // limit as it acts, not as it was made.
    r.helper.create_access_key("u").await?;
    r.helper.create_access_key("u").await?;
    r.clock.travel(time::Duration::days(1));
    gate.release();
    let e = task.await?.err().ok_or("created a third key")?;
    assert_eq!(code(&e), Some("LimitExceeded"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn ids_and_secrets_follow_the_seed() -> TestResult {
    let keys = |seed| async move {
        let r = rig(seed).await;
        let a = r.helper.create_access_key("u").await?;
        let b = r.helper.create_access_key("u").await?;
        Ok::<_, Error>(vec![a, b])
    };
    let one = keys(7).await?;
    assert_eq!(one, keys(7).await?);
    assert_ne!(one, keys(8).await?);
    for (id, secret) in &one {
        assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
        assert!(AccessKeyId::is_shaped(id), "{id}");
        assert_eq!(secret.len(), 40);
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_new_key_fails_sts_for_the_delay() -> TestResult {
    let r = rig(1).await;
    let key = r.iam.create_key("u").await?;
    let e = r
        .iam
        .caller_arn(&key)
        .await
        .err()
        .ok_or("a new key worked")?;
    assert_eq!(
        aws(&e),
        ("GetCallerIdentity", Some("InvalidClientTokenId"), false)
    );
    // The verification's own pauses pass the delay, in simulated time.
    tokio::time::sleep(DEFAULT_STS_DELAY).await;
    let arn = r.iam.caller_arn(&key).await?;
    assert_eq!(arn, r.helper.user_arn("u").await?);
    r.helper.set_sts_delay(Duration::ZERO);
    let other = r.iam.create_key("u").await?;
    r.iam.caller_arn(&other).await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn sts_answers_by_key_status_and_secret() -> TestResult {
    let r = rig(1).await;
    r.helper.set_sts_delay(Duration::ZERO);
    let key = r.iam.create_key("u").await?;
    let wrong = NewAccessKey {
        id: key.id.clone(),
        secret: Secret::new("x".repeat(40)),
    };
    let e = r.iam.caller_arn(&wrong).await.err().ok_or("wrong secret")?;
    assert_eq!(code(&e), Some("SignatureDoesNotMatch"));
    assert_eq!(r.helper.last_used(key.id.as_str()).await?, None);
    r.iam
        .set_key_status("u", &key.id, KeyStatus::Inactive)
        .await?;
    let e = r.iam.caller_arn(&key).await.err().ok_or("inactive key")?;
    assert_eq!(code(&e), Some("InvalidClientTokenId"));
    r.iam
        .set_key_status("u", &key.id, KeyStatus::Active)
        .await?;
    r.iam.caller_arn(&key).await?;
    let (_, service, region) = r
        .helper
        .last_used(key.id.as_str())
        .await?
        .ok_or("no use recorded")?;
    assert_eq!((service.as_str(), region.as_str()), ("sts", "us-east-1"));
    r.iam.delete_key("u", &key.id).await?;
    let e = r.iam.caller_arn(&key).await.err().ok_or("deleted key")?;
    assert_eq!(code(&e), Some("InvalidClientTokenId"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn sts_use_is_recorded_only_when_asked() -> TestResult {
    let r = rig(1).await;
    r.helper.set_sts_delay(Duration::ZERO);
    r.helper.set_sts_records_use(false);
    let key = r.iam.create_key("u").await?;
    r.iam.caller_arn(&key).await?;
    assert_eq!(r.iam.list_keys("u").await?[0].last_used, None);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn last_use_is_reported_after_the_lag() -> TestResult {
    let r = rig(1).await;
    let hour = Duration::from_secs(3600);
    r.helper.set_last_used_lag(hour);
    let key = r.iam.create_key("u").await?;
    r.helper
        .use_key(key.id.as_str(), "iot", "ap-northeast-1")
        .await?;
    assert_eq!(r.iam.list_keys("u").await?[0].last_used, None);
    r.clock.travel(time::Duration::hours(1));
    let first = r.iam.list_keys("u").await?[0]
        .last_used
        .clone()
        .ok_or("no use after the lag")?;
    assert_eq!(first.service, "iot");
    assert_eq!(first.at, datetime!(2030-01-01 00:00 UTC));
    // A newer use inside the lag: IAM still reports the older one.
    r.helper
        .use_key(key.id.as_str(), "kinesis", "us-west-2")
        .await?;
    assert_eq!(r.iam.list_keys("u").await?[0].last_used, Some(first));
    r.clock.travel(time::Duration::hours(1));
    let (_, service, _) = r.helper.last_used(key.id.as_str()).await?.ok_or("no use")?;
    assert_eq!(service, "kinesis");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn times_are_reported_to_the_second() -> TestResult {
    let r = rig(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let key = r.iam.create_key("u").await?;
    let listed = r.iam.list_keys("u").await?;
    assert_eq!(listed[0].id, key.id);
    assert_eq!(listed[0].created, datetime!(2030-01-01 00:00:01 UTC));
    Ok(())
}

fn role_to(account: &str, name: &str, external_id: Option<&str>) -> AssumeRole {
    AssumeRole {
        arn: format!("arn:aws:iam::{account}:role/{name}"),
        external_id: external_id.map(str::to_string),
        session_name: "test".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn assume_needs_the_role_and_its_external_id() -> TestResult {
    let r = rig(1).await;
    let spoke = r.helper.add_account("222233334444").await?;
    let trust = rotator_core::role::trust_policy(r.iam.account_id(), "ext-1").to_string();
    spoke.add_role("hub", &trust).await?;
    spoke
        .add_role(
            "open",
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"*"}}}"#,
        )
        .await?;
    spoke.create_user("there").await?;
    for denied in [
        role_to("222233334444", "hub", Some("ext-2")),
        role_to("222233334444", "hub", None),
        role_to("222233334444", "nobody", None),
        role_to("999988887777", "hub", Some("ext-1")),
        AssumeRole {
            arn: "not-an-arn".into(),
            external_id: None,
            session_name: "test".into(),
        },
    ] {
        let e = r.iam.assume(&denied).await.err().ok_or("assumed")?;
        assert_eq!(aws(&e), ("AssumeRole", None, false), "{e}");
        assert!(e.to_string().contains("AccessDenied"), "{e}");
    }
    let there = r
        .iam
        .assume(&role_to("222233334444", "hub", Some("ext-1")))
        .await?;
    assert_eq!(there.account_id(), "222233334444");
    assert_eq!(there.list_users().await?, ["there"]);
    // A role that demands no external id takes any.
    r.iam
        .assume(&role_to("222233334444", "open", Some("whatever")))
        .await?;
    assert_eq!(r.script.count(Port::Iam, "AssumeRole"), 7);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_injected_assume_failure_has_the_adapters_shape() -> TestResult {
    let r = rig(1).await;
    let role = role_to("123456789012", "r", None);
    r.script.add(always(
        "AssumeRole",
        Verdict::Refuse(Failure::Status {
            status: 400,
            code: "Throttling".into(),
        }),
    ));
    let e = r.iam.assume(&role).await.err().ok_or("assumed")?;
    assert_eq!(aws(&e), ("AssumeRole", None, false));
    r.script.clear();
    r.script
        .add(always("AssumeRole", Verdict::Refuse(Failure::Timeout)));
    let e = r.iam.assume(&role).await.err().ok_or("assumed")?;
    assert_eq!(aws(&e), ("AssumeRole", None, true));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn users_are_listed_by_name_a_thousand_a_page() -> TestResult {
    let r = rig(1).await;
    for i in (0..1500).rev() {
        r.helper.create_user(&format!("user{i:04}")).await?;
    }
    r.helper.create_user("Alpha").await?;
    let users = r.iam.list_users().await?;
    assert_eq!(users.len(), 1502);
    assert_eq!(&users[..3], ["Alpha", "u", "user0000"].map(String::from));
    // IAM's sort ignores case: "Alpha" < "u" < "user…", and no name is listed twice.
    let mut sorted = users.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), users.len());
    assert_eq!(r.script.count(Port::Iam, "ListUsers"), 2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn names_are_unique_regardless_of_case() -> TestResult {
    let r = rig(1).await;
    let e = r.helper.create_user("U").await.err().ok_or("created")?;
    assert_eq!(code(&e), Some("EntityAlreadyExists"));
    let doc = r#"{"Statement":[]}"#;
    r.iam
        .create_role("Role", &Secret::new(doc), "", None, &[])
        .await?;
    let e = r
        .iam
        .create_role("role", &Secret::new(doc), "", None, &[])
        .await
        .err()
        .ok_or("created")?;
    assert_eq!(code(&e), Some("EntityAlreadyExists"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn tag_keys_compare_regardless_of_case() -> TestResult {
    let r = rig(1).await;
    r.iam.tag("u", "Team", "a").await?;
    r.iam.tag("u", "team", "b").await?;
    assert_eq!(r.iam.tags("u").await?, [("Team".into(), "b".into())]);
    r.iam.untag("u", &["TEAM".into()]).await?;
    assert!(r.iam.tags("u").await?.is_empty());
    let dup = [
        ("k".to_string(), Secret::new("1")),
        ("K".to_string(), Secret::new("2")),
    ];
    let e = r
        .iam
        .create_role("r", &Secret::new("{}"), "", None, &dup)
        .await
        .err()
        .ok_or("created")?;
    assert_eq!(code(&e), Some("InvalidInput"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn documents_and_policies_are_checked() -> TestResult {
    let r = rig(1).await;
    let e = r
        .iam
        .create_role("r", &Secret::new("not json"), "", None, &[])
        .await
        .err()
        .ok_or("created")?;
    assert_eq!(code(&e), Some("MalformedPolicyDocument"));
    r.iam
        .create_role("r", &Secret::new("{}"), "", None, &[])
        .await?;
    let e = r
        .iam
        .put_role_policy("r", "p", "[]")
        .await
        .err()
        .ok_or("put")?;
    assert_eq!(code(&e), Some("MalformedPolicyDocument"));
    r.iam
        .attach_role_policy("r", "arn:aws:iam::aws:policy/ReadOnlyAccess")
        .await?;
    for i in 0..9 {
        let arn = r.helper.create_policy(&format!("p{i}"), "{}").await?;
        r.iam.attach_role_policy("r", &arn).await?;
    }
    let arn = r.helper.create_policy("p9", "{}").await?;
    let e = r
        .iam
        .attach_role_policy("r", &arn)
        .await
        .err()
        .ok_or("attached")?;
    assert_eq!(code(&e), Some("LimitExceeded"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_port_acting_in_an_unknown_account_finds_nothing() -> TestResult {
    let clock = Arc::new(PausedClock::new(datetime!(2030-01-01 00:00 UTC)));
    let iam = FakeIam::new(3, clock, Arc::new(Proceed));
    let e = iam.list_keys("anyone").await.err().ok_or("listed")?;
    assert_eq!(aws(&e), ("ListAccessKeys", Some("NoSuchEntity"), false));
    let nowhere = iam.helper().in_account("555566667777");
    let e = nowhere.create_user("x").await.err().ok_or("created")?;
    assert_eq!(code(&e), Some("NoSuchEntity"));
    assert!(iam.helper().add_account("12345").await.is_err());
    Ok(())
}
