//! The Lambda handler in-process against moto (IAM, STS, Secrets Manager, SSM, SNS) and
//! the SORACOM emulator: a scheduled reconcile, a failure that notifies, and
//! rotate-soracom-key with the key in Secrets Manager.

use crate::common::{days_from_now, invoke_as, World, AUTH_KEY_ID, PREFIX};
use rotator_lambda::aws::{RuntimeConfig, SecretsManagerStore};
use rotator_lambda::HandlerError;
use serde_json::{json, Value};
use soracom_emulator::{Fault, FaultBody, FaultKind};

async fn invoke(w: &World, event: Value) -> Result<Value, HandlerError> {
    crate::common::invoke_with(w, event, &|_: &str| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_reconcile_rotates_when_due_and_is_a_no_op_otherwise() {
    let w = World::new().await;
    w.seed().await;

    let out = invoke(&w, json!({"command": "reconcile", "target": "funnel"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["targets"][0]["outcome"], json!("nothingDue"), "{out}");
    assert_eq!(w.key_count().await, 1);
    assert!(!w.emu.call_counts().contains_key("createCredential"));

    // Time moves by the clock the function is given: an event cannot set it. Day 81: the
    // rotation is due (it starts at 80 days) and the old key can still go off in time.
    w.travel(81);
    let out = invoke(&w, json!({"command": "reconcile", "target": "funnel"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["targets"][0]["outcome"], json!("done"), "{out}");
    assert_eq!(w.key_count().await, 2);
    let group = w.emu.group_by_name("test-1").expect("group");
    let now_set = group["configuration"]["SoracomFunnel"]["credentialsId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        now_set.starts_with(PREFIX) && !now_set.ends_with("220810"),
        "{now_set}"
    );
    w.wrote(&out.to_string());
    // status answers with the CLI's status document and changes nothing.
    let status = invoke(&w, json!({"command": "status", "target": "funnel"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status["targets"][0]["currentSet"],
        json!(now_set),
        "{status}"
    );
    assert_eq!(
        status["targets"][0]["keys"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(w.key_count().await, 2);
    // Nothing needed a human: no notification (on_success is off).
    assert!(w.sns_messages().await.is_empty());
    assert!(w.webhook.texts().is_empty());
    w.wrote(&status.to_string());
    w.assert_no_secret().await;
    w.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_a_retryable_error_and_notifies_sns_and_the_webhook_without_secrets() {
    let w = World::new().await;
    let first = w.seed().await;
    w.emu.add_fault(Fault {
        operation: "createCredential".into(),
        nth: 1,
        times: 0,
        kind: FaultKind::Status {
            status: 400,
            body: FaultBody::Json,
        },
    });
    w.travel(91);
    let err = invoke(&w, json!({"command": "reconcile"}))
        .await
        .err()
        .unwrap_or_else(|| panic!("the run should fail"));
    assert_eq!(err.error_type(), "Retryable", "{err}");
    // Rolled back: only the first key is left.
    assert_eq!(w.key_count().await, 1);

    // The failure, and the deadline it puts at risk: the key is past the age no active
    // key may reach, so both carry that severity.
    let messages = w.sns_messages().await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let (subject, text) = messages
        .iter()
        .find(|(s, _)| s.contains("FAILED"))
        .unwrap_or_else(|| panic!("no failure message: {messages:?}"));
    assert!(
        subject.starts_with("[MISSED]") && subject.contains("funnel"),
        "{subject}"
    );
    assert!(
        messages
            .iter()
            .any(|(_, t)| t.contains("Notice: deadline/missed")),
        "{messages:?}"
    );
    assert!(
        text.contains(&w.user) && text.contains("What to do:"),
        "{text}"
    );
    assert!(text.contains("createCredential"), "{text}");
    assert!(!text.contains(&first), "key ids are masked: {text}");

    assert!(
        crate::common::eventually(std::time::Duration::from_secs(10), || async {
            !w.webhook.texts().is_empty()
        })
        .await,
        "the webhook got nothing"
    );
    let hook = w.webhook.texts().join("\n");
    assert!(hook.contains("FAILED") && hook.contains("funnel"), "{hook}");
    w.wrote(&err.to_string());
    w.assert_no_secret().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_failure_does_not_change_the_outcome() {
    let w = World::new().await;
    w.seed().await;
    // A topic that does not exist; the webhook still listens.
    let missing = "arn:aws:sns:us-east-1:123456789012:missing-topic";
    let text = w.config_text().replace(&w.topic_arn, missing);
    let store = SecretsManagerStore::new(&w.sdk, Some(w.secret_id.clone()));
    let config = RuntimeConfig::from_vars(&w.sdk, None, Some(text));
    // Plan at a time when the key is past its deadline: the deadline notice goes to both
    // channels, SNS refuses it, and the outcome is still the plan's.
    let out = invoke_as(
        &w,
        json!({"command": "plan", "now": days_from_now(91)}),
        &store,
        &config,
        true,
        &|_: &str| {},
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["targets"][0]["outcome"], json!("planned"), "{out}");
    let publish: Vec<_> = w
        .proxy
        .calls()
        .into_iter()
        .filter(|c| c.action == "Publish")
        .collect();
    assert!(
        !publish.is_empty() && publish.iter().all(|c| c.status >= 400),
        "SNS was tried and refused: {publish:?}"
    );
    assert!(
        crate::common::eventually(std::time::Duration::from_secs(10), || async {
            !w.webhook.texts().is_empty()
        })
        .await,
        "the webhook got nothing"
    );
    let hooks = w.webhook.texts();
    assert_eq!(hooks.len(), 1, "one notice: {hooks:?}");
    let hook = &hooks[0];
    for needle in [
        "funnel",
        &w.user,
        "deadline MISSED",
        "What to do:",
        "Notice: deadline/missed",
    ] {
        assert!(hook.contains(needle), "{needle} missing from: {hook}");
    }
    assert!(
        crate::common::logs().contains("notification not delivered"),
        "the failed channel is logged"
    );
    w.wrote(&out.to_string());
    w.assert_no_secret().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_soracom_key_replaces_the_key_in_secrets_manager() {
    let w = World::new().await;
    let out = invoke(&w, json!({"command": "rotate-soracom-key"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["oldKeyDeleted"], json!(true), "{out}");
    let stored: Value = serde_json::from_str(
        aws_sdk_secretsmanager::Client::new(&w.sdk)
            .get_secret_value()
            .secret_id(&w.secret_id)
            .send()
            .await
            .expect("secret")
            .secret_string()
            .unwrap_or_default(),
    )
    .expect("json");
    assert_ne!(stored["authKeyId"], json!(AUTH_KEY_ID));
    assert_eq!(
        w.emu.auth_key_ids(),
        vec![stored["authKeyId"].as_str().unwrap_or_default().to_string()]
    );
    w.wrote(&out.to_string());
    // The stored key works for the next invocation.
    let plan = invoke(&w, json!({"command": "plan"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.wrote(&plan.to_string());
    w.assert_no_secret().await;
    w.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_and_missing_setup_are_non_retryable() {
    let w = World::new().await;
    for event in [
        json!({"command": "nope"}),
        json!({"command": "plan", "target": "other"}),
    ] {
        let e = invoke(&w, event)
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.error_type(), "NonRetryable", "{e}");
    }
    let store = SecretsManagerStore::new(&w.sdk, None);
    let config = RuntimeConfig::from_vars(&w.sdk, None, None);
    let e = invoke_as(
        &w,
        json!({"command": "plan"}),
        &store,
        &config,
        true,
        &|_: &str| {},
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("accepted"));
    assert!(e.to_string().contains("ROTATOR_CONFIG_PARAMETER"), "{e}");
    assert_eq!(e.error_type(), "NonRetryable");
}

/// Whoever may invoke the function must not be able to skip a delay: `now` is refused for
/// every command that writes (it is fine for plan and status); and SORACOM_ENDPOINT must be
/// one of SORACOM's own origins unless the test setting allows any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_only_plans_and_the_endpoint_must_be_soracoms() {
    let w = World::new().await;
    w.seed().await;
    for event in [
        json!({"command": "reconcile", "now": days_from_now(400)}),
        json!({"command": "reconcile", "force": true, "now": days_from_now(1)}),
        json!({"command": "rotate-soracom-key", "now": days_from_now(1)}),
    ] {
        let e = invoke(&w, event.clone())
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted {event}"));
        assert_eq!(e.error_type(), "NonRetryable", "{e}");
        assert!(e.to_string().contains("now is accepted only"), "{e}");
    }
    assert_eq!(w.key_count().await, 1, "nothing was written");
    let plan = invoke(&w, json!({"command": "plan", "now": days_from_now(91)}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plan["targets"][0]["plan"]["due"]["now"],
        json!(true),
        "{plan}"
    );

    let store = SecretsManagerStore::new(&w.sdk, Some(w.secret_id.clone()));
    let config = RuntimeConfig::from_vars(&w.sdk, Some(w.parameter.clone()), None);
    let sent = w.emu.requests().len();
    let e = invoke_as(
        &w,
        json!({"command": "plan"}),
        &store,
        &config,
        false,
        &|_: &str| {},
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("an emulator endpoint was accepted in production"));
    assert!(e.to_string().contains("SORACOM's API origins"), "{e}");
    assert_eq!(w.emu.requests().len(), sent, "nothing was sent to it");
    w.wrote(&plan.to_string());
    w.assert_no_secret().await;
}

/// The AWS Health event EventBridge delivers when AWS finds an access key exposed in
/// public (the template's rule forwards it to the function).
fn exposed_event(key: &str) -> Value {
    json!({
        "version": "0",
        "source": "aws.health",
        "detail-type": "AWS Health Event",
        "detail": {
            "eventArn": "arn:aws:health:global::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/1",
            "service": "RISK",
            "eventTypeCode": rotator_lambda::EXPOSED,
            "eventTypeCategory": "issue",
            "affectedEntities": [{"entityValue": key}]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_key_event_rotates_at_once_and_takes_the_key_off() {
    let w = crate::common::World::with(testkit::world::Moto::Authenticated).await;
    let first = w.seed().await;

    // A key this function does not look after: an error a retry cannot fix, nothing done.
    let err = invoke(&w, exposed_event("AKIAZZZZZZZZZZZZZZZZ"))
        .await
        .err()
        .unwrap_or_else(|| panic!("a stranger's key is refused"));
    assert_eq!(err.error_type(), "NonRetryable", "{err}");
    assert_eq!(w.key_count().await, 1);
    // Another kind of AWS Health event is not ours to act on.
    let mut other = exposed_event(&first);
    other["detail"]["eventTypeCode"] = json!("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED");
    let err = invoke(&w, other)
        .await
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert_eq!(err.error_type(), "NonRetryable", "{err}");
    assert_eq!(w.key_count().await, 1);

    let out = invoke(&w, exposed_event(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["targets"][0]["outcome"], json!("done"), "{out}");
    w.wrote(&out.to_string());
    let keys = w.keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.id == first && k.status == "Inactive"),
        "the exposed key is off at once: {keys:?}"
    );
    let group = w.emu.group_by_name("test-1").expect("group");
    let now_set = group["configuration"]["SoracomFunnel"]["credentialsId"].clone();
    assert_eq!(now_set, json!(w.current_id()));
    // The emergency rung is on by default: one message says the exposed key went off.
    let hooks = w.webhook.texts();
    assert!(
        hooks.iter().any(|t| t.contains("Notice: emergency")),
        "{hooks:?}"
    );

    // The same event again (EventBridge may deliver twice): nothing more is made.
    let out = invoke(&w, exposed_event(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.wrote(&out.to_string());
    assert_eq!(w.key_count().await, 2, "{out}");
    assert_eq!(w.webhook.texts().len(), hooks.len(), "told once");
    w.assert_no_secret().await;
    w.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_request_rotates_the_current_key_and_only_with_rotate() {
    let w = World::new().await;
    let first = w.seed().await;
    let err = invoke(&w, json!({"command": "reconcile", "emergency": true}))
        .await
        .err()
        .unwrap_or_else(|| panic!("emergency needs rotate"));
    assert_eq!(err.error_type(), "NonRetryable", "{err}");
    for bad in [
        json!({"command": "rotate", "keys": [first]}),
        json!({"command": "rotate", "emergency": true, "keys": ["not-a-key"]}),
    ] {
        let err = invoke(&w, bad.clone())
            .await
            .err()
            .unwrap_or_else(|| panic!("refused: {bad}"));
        assert_eq!(err.error_type(), "NonRetryable", "{err}");
    }
    assert_eq!(w.key_count().await, 1);

    let out = invoke(
        &w,
        json!({"command": "rotate", "emergency": true, "keys": [first]}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["targets"][0]["outcome"], json!("done"), "{out}");
    w.wrote(&out.to_string());
    let keys = w.keys().await;
    assert!(
        keys.iter().any(|k| k.id == first && k.status == "Inactive"),
        "{keys:?}"
    );
    assert_eq!(keys.len(), 2);
    // Without keys, within a day of the recorded exposure: a rerun of the same emergency,
    // which records and makes nothing new.
    let out = invoke(&w, json!({"command": "rotate", "emergency": true}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.wrote(&out.to_string());
    assert_eq!(w.key_count().await, 2, "{out}");
    let exposed: Vec<String> = w
        .user_tags()
        .await
        .into_iter()
        .filter(|(k, _)| k.contains(":exposed:"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(exposed.len(), 1, "{exposed:?}");
    w.assert_no_secret().await;
}

/// SORACOM is down: every run fails before it can plan, and the scheduler (or a person)
/// runs again and again. What was told is still read from the IAM user, so the failure is
/// told once that day, not on every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_told_once_a_day_not_on_every_run() {
    let w = World::new().await;
    w.seed().await;
    w.emu.add_fault(Fault {
        operation: "listGroups".into(),
        nth: 1,
        times: 0,
        kind: FaultKind::Status {
            status: 500,
            body: FaultBody::Json,
        },
    });
    for run in 0..3 {
        let err = invoke(&w, json!({"command": "reconcile"}))
            .await
            .err()
            .unwrap_or_else(|| panic!("run {run}: the run should fail"));
        assert_eq!(err.error_type(), "Retryable", "{err}");
        w.wrote(&err.to_string());
    }
    assert_eq!(w.sns_messages().await.len(), 1, "told once");
    assert_eq!(w.webhook.texts().len(), 1, "told once");
    // The next day it is told again.
    w.travel(1);
    let err = invoke(&w, json!({"command": "reconcile"}))
        .await
        .err()
        .unwrap_or_else(|| panic!("the run should fail"));
    w.wrote(&err.to_string());
    assert_eq!(w.webhook.texts().len(), 2);
    w.assert_no_secret().await;
}
