//! One function, two SORACOM operators: a target of the function's own operator, and one
//! whose AuthKey is in a secret of its own (`soracom_secret`) and whose sets are with a
//! second emulator (`soracom_endpoint`). One scheduled reconcile rotates both; a secret
//! that cannot be read fails that target only.

use serde_json::{json, Value};
use soracom_emulator::Emulator;
use testkit::moto;

use crate::common::{World, PREFIX};

const OTHER_PREFIX: &str = "aws-other-operator";
const OTHER_KEY_ID: &str = "keyId-lambda-other";
const OTHER_KEY: &str = "secret-lambda-other-operator-key-24680";

/// The second operator: its emulator, its secret's name, the target's IAM user.
struct Other {
    emu: Emulator,
    secret: String,
    user: String,
    set: String,
}

async fn other(w: &World) -> Other {
    let emu = Emulator::start().await.expect("second emulator");
    emu.add_sam_auth_key(OTHER_KEY_ID, OTHER_KEY, "rotator");
    w.ledger.add(OTHER_KEY.to_string());
    let secret = moto::unique("soracom-other");
    aws_sdk_secretsmanager::Client::new(&w.sdk)
        .create_secret()
        .name(&secret)
        .secret_string(json!({"authKeyId": OTHER_KEY_ID, "authKey": OTHER_KEY}).to_string())
        .send()
        .await
        .expect("create secret");
    let user = moto::unique("lambda-other");
    w.iam.create_user(&user).await.expect("user");
    let (id, key) = w.iam.create_access_key(&user).await.expect("key");
    w.ledger.add(key.clone());
    let set = format!("{OTHER_PREFIX}-220810");
    emu.put_credential(
        &set,
        "aws-credentials",
        "",
        json!({"accessKeyId": id, "secretAccessKey": key}),
        testkit::world::ms(w.moto_now()),
    );
    emu.add_group("other-1", testkit::world::funnel(&set));
    Other {
        emu,
        secret,
        user,
        set,
    }
}

fn config(w: &World, o: &Other, secret: &str) -> String {
    format!(
        "{}\n[[targets]]\nname = \"other\"\niam_user = \"{}\"\ncredential_prefix = \"{OTHER_PREFIX}\"\n\
         soracom_endpoint = \"{}\"\nsoracom_secret = \"{secret}\"\n",
        w.config_text(),
        o.user,
        o.emu.endpoint()
    )
}

fn target<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["target"] == name))
        .unwrap_or_else(|| panic!("no report of target {name}: {report}"))
}

fn referenced(emu: &Emulator, group: &str) -> String {
    emu.group_by_name(group).expect("group")["configuration"]["SoracomFunnel"]["credentialsId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Each operator's reference names an existing set whose key is active (invariant 1).
async fn assert_invariants(w: &World, o: &Other) {
    for (emu, group, user) in [(&*w.emu, "test-1", &w.user), (&o.emu, "other-1", &o.user)] {
        let set = referenced(emu, group);
        let c = emu.credential(&set).expect("the referenced set exists");
        let key = c.credentials["accessKeyId"].as_str().unwrap_or_default();
        let keys = w.iam.list_keys(user).await.expect("keys");
        assert!(
            keys.iter().any(|k| k.id == key && k.status == "Active"),
            "{group}: set {set} holds a key that is not active"
        );
    }
}

/// The contract of the second operator's requests, and its secrets in the scan.
fn assert_other_contract(w: &World, o: &Other) {
    let reqs = o.emu.requests();
    let report = testkit::contract::assert_conforms(
        testkit::contract::Spec::load_default(),
        testkit::contract::recorded(&reqs),
    );
    assert!(report.checked > 0, "no request to the second operator");
    w.ledger.harvest(&o.emu, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_with_its_own_secret_is_rotated_with_its_own_operator() {
    let w = World::new().await;
    w.seed().await;
    let o = other(&w).await;
    w.put_config_text(&config(&w, &o, &o.secret)).await;
    w.travel(81);
    let out = crate::common::invoke_with(&w, json!({"command": "reconcile"}), &|_: &str| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(target(&out, "funnel")["outcome"], json!("done"), "{out}");
    assert_eq!(target(&out, "other")["outcome"], json!("done"), "{out}");
    let moved = referenced(&o.emu, "other-1");
    assert!(moved.starts_with(OTHER_PREFIX) && moved != o.set, "{moved}");
    assert!(
        w.emu.credential(&moved).is_none(),
        "the set is the second operator's only"
    );
    // The second operator was logged in to with its own key.
    assert!(o.emu.call_counts().get("auth").is_some_and(|n| *n >= 1));
    w.wrote(&out.to_string());
    assert_invariants(&w, &o).await;
    assert_other_contract(&w, &o);
    w.assert_no_secret().await;
    w.assert_contract();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_secret_fails_its_target_only() {
    let w = World::new().await;
    w.seed().await;
    let o = other(&w).await;
    w.put_config_text(&config(&w, &o, "no-such-secret")).await;
    w.travel(81);
    let err = crate::common::invoke_with(&w, json!({"command": "reconcile"}), &|_: &str| {})
        .await
        .err()
        .unwrap_or_else(|| panic!("a failed target fails the invocation"));
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(text.contains("target other"), "{text}");
    assert!(!text.contains("target funnel"), "{text}");
    // The function's own target was rotated; the other operator was not even logged in to.
    assert_ne!(referenced(&w.emu, "test-1"), format!("{PREFIX}-220810"));
    assert_eq!(referenced(&o.emu, "other-1"), o.set);
    assert!(!o.emu.call_counts().contains_key("auth"));
    w.wrote(&text);
    assert_invariants(&w, &o).await;
    w.ledger.harvest(&o.emu, None);
    w.assert_no_secret().await;
    w.assert_contract();
}
