//! Many AWS accounts and SORACOM operators, one run: a target in the caller's account on
//! the world's emulator, and a target whose IAM user is in another account (reached with
//! `assume_role_arn`) and whose sets are with another operator (a second emulator, its
//! AuthKey in a soracom-cli profile). One `reconcile` does both; when one fails — its role
//! not assumed, its operator failing every call — the other is still done and the exit
//! code says a target failed.

use std::sync::Arc;

use serde_json::{json, Value};
use soracom_emulator::{Emulator, Fault, FaultBody, FaultKind};
use testkit::aws_proxy::{AwsFault, AwsFaultKind};
use testkit::fake::iam::Iam;
use testkit::moto;

use crate::common::{funnel, World, PREFIX};

const SPOKE_PREFIX: &str = "aws-spoke";
const SPOKE_KEY_ID: &str = "keyId-spoke-operator";
const SPOKE_KEY: &str = "secret-spoke-operator-auth-key-987654321";
const EXTERNAL_ID: &str = "hub-to-spoke-1";

/// The other account and operator: the spoke's IAM (as the role), its user, the role the
/// tool assumes, and the second emulator.
struct Spoke {
    emu: Arc<Emulator>,
    iam: Iam,
    user: String,
    role_arn: String,
    set: String,
}

/// An account id of this test's own, so runs of other tests never share its users.
fn account() -> String {
    let n: u64 = moto::unique("a")
        .bytes()
        .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("{:012}", n % 1_000_000_000_000)
}

/// Sets up the spoke: another account with the role the tool assumes (trusting the hub with
/// the external id), a user with one key there, registered with the second operator as
/// `<spoke prefix>-220810` and used by group `spoke-1`; the operator's AuthKey in the
/// profile `spoke` in the binary's home; and a config with both targets (the world's own
/// first).
async fn spoke(w: &World) -> Spoke {
    let acct = account();
    let iam = w
        .iam
        .fake()
        .add_account(&acct)
        .await
        .expect("spoke account");
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", w.iam.fake().account_id())},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}]});
    let role_arn = iam
        .add_role("soracom-key-rotator", &trust.to_string())
        .await
        .expect("spoke role");
    let user = moto::unique("spoke-user");
    iam.create_user(&user).await.expect("spoke user");
    let (id, secret) = iam.create_access_key(&user).await.expect("spoke key");
    w.ledger.add(secret.clone());

    let emu = Arc::new(Emulator::in_memory(7));
    w.fakes().dial.add(emu.clone());
    emu.add_auth_key(SPOKE_KEY_ID, SPOKE_KEY);
    w.ledger.add(SPOKE_KEY.to_string());
    let set = format!("{SPOKE_PREFIX}-220810");
    emu.put_credential(
        &set,
        "aws-credentials",
        "",
        json!({"accessKeyId": id, "secretAccessKey": secret}),
        testkit::world::ms(w.moto_now()),
    );
    emu.add_group("spoke-1", funnel(&set));

    let profiles = w.dir.path().join(".soracom");
    std::fs::create_dir_all(&profiles).expect("profile dir");
    let profile = profiles.join("spoke.json");
    std::fs::write(
        &profile,
        json!({"authKeyId": SPOKE_KEY_ID, "authKey": SPOKE_KEY, "endpoint": emu.endpoint()})
            .to_string(),
    )
    .expect("profile");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o600))
            .expect("profile mode");
    }
    let spoke = Spoke {
        emu,
        iam,
        user,
        role_arn,
        set,
    };
    write_config(w, &spoke);
    spoke
}

fn write_config(w: &World, s: &Spoke) {
    let text = format!(
        "[soracom]\npage_size = 100\nretry_base_ms = 20\n\n[verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
         [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n\n\
         [[targets]]\nname = \"spoke\"\niam_user = \"{}\"\ncredential_prefix = \"{SPOKE_PREFIX}\"\n\
         assume_role_arn = \"{}\"\nexternal_id = \"{EXTERNAL_ID}\"\nsoracom_profile = \"spoke\"\n",
        w.user, s.user, s.role_arn
    );
    std::fs::write(w.config_path(), text).expect("write config");
}

/// Every call of `operation` (`*`: every operation) from now on answers `status`.
fn always(operation: &str, status: u16) -> Fault {
    Fault {
        operation: operation.into(),
        nth: 1,
        times: 0,
        kind: FaultKind::Status {
            status,
            body: FaultBody::Json,
        },
    }
}

/// A reconcile on day 81 (the world's key is due) that fails a target (exit 1); its report.
async fn reconcile_on_day_81_exits_1(w: &World) -> Value {
    let now = w.travel(81);
    w.expect(&["--output", "json", "reconcile", "--now", &now], 1)
        .await
        .json()
}

fn target<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["target"] == name))
        .unwrap_or_else(|| panic!("no report of target {name}: {report}"))
}

impl Spoke {
    /// The set group `spoke-1` uses.
    fn referenced(&self) -> String {
        self.emu.group_by_name("spoke-1").expect("group")["configuration"]["SoracomFunnel"]
            ["credentialsId"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The spoke's invariant: its reference names an existing set whose key is active in
    /// the spoke account; every SORACOM request to the second operator conforms to the
    /// spec; its secrets are in the ledger's scan.
    async fn finish(&self, w: &World) {
        let set = self.referenced();
        let c = self
            .emu
            .credential(&set)
            .expect("the referenced set exists");
        let key = c.credentials["accessKeyId"].as_str().unwrap_or_default();
        let keys = self.iam.list_keys(&self.user).await.expect("spoke keys");
        assert!(
            keys.iter().any(|k| k.id == key && k.status == "Active"),
            "the spoke's referenced set {set} holds a key that is not active: {keys:?}"
        );
        let reqs = self.emu.requests();
        let report = testkit::contract::assert_conforms(
            testkit::contract::Spec::load_default(),
            testkit::contract::recorded(&reqs),
        );
        assert!(report.checked > 0, "no request to the second operator");
        w.ledger.harvest(&self.emu, None);
    }
}

#[tokio::test(start_paused = true)]
async fn one_reconcile_rotates_in_two_accounts_with_two_operators() {
    let w = World::new().await;
    w.seed().await;
    let s = spoke(&w).await;
    // Both keys are 81 days old by the world's clock: both rotations are due.
    let now = w.travel(81);
    let run = w
        .expect(&["--output", "json", "reconcile", "--now", &now], 0)
        .await;
    let report = run.json();
    assert_eq!(
        target(&report, "funnel")["outcome"],
        json!("done"),
        "{report}"
    );
    assert_eq!(
        target(&report, "spoke")["outcome"],
        json!("done"),
        "{report}"
    );

    // Each side in its own place: the world's sets with the first operator, the spoke's
    // with the second; the spoke's user in its account, unseen from the caller's.
    let new_set = w.id_for(81);
    w.assert_converged(&new_set).await;
    let spoke_set = s.referenced();
    assert!(
        spoke_set.starts_with(&format!("{SPOKE_PREFIX}-")) && spoke_set != s.set,
        "the spoke's group moved onto a new set: {spoke_set}"
    );
    assert!(w.emu.credential(&spoke_set).is_none());
    assert!(s.emu.credential(&new_set).is_none());
    assert_eq!(s.iam.list_keys(&s.user).await.expect("keys").len(), 2);
    assert!(w.iam.user_arn(&s.user).await.is_err());
    // The role was assumed, with the external id, through the same endpoint override.
    assert!(w
        .proxy
        .calls()
        .iter()
        .any(|c| c.action == "AssumeRole" && c.error_code.is_none()));

    s.finish(&w).await;
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_role_not_assumed_fails_its_target_only() {
    let w = World::new().await;
    w.seed().await;
    let s = spoke(&w).await;
    w.proxy
        .add_fault(AwsFault::always("AssumeRole", AwsFaultKind::AccessDenied));
    let now = w.travel(81);
    let run = w
        .expect(&["--output", "json", "reconcile", "--now", &now], 1)
        .await;
    let report = run.json();
    assert_eq!(
        target(&report, "funnel")["outcome"],
        json!("done"),
        "{report}"
    );
    let spoke = target(&report, "spoke");
    assert_eq!(spoke["outcome"], json!("failed"), "{report}");
    assert!(
        spoke["error"]
            .as_str()
            .is_some_and(|e| e.contains("AssumeRole")),
        "{report}"
    );
    w.assert_converged(&w.id_for(81)).await;
    // Nothing happened in the spoke: one key, the group on its set.
    assert_eq!(s.iam.list_keys(&s.user).await.expect("keys").len(), 1);
    assert_eq!(s.referenced(), s.set);
    assert!(!s.emu.call_counts().contains_key("createCredential"));

    // status, too, reports the target it could reach and the one it could not (exit 1).
    let status = w
        .expect(&["--output", "json", "status", "--now", &now], 1)
        .await
        .json();
    assert_eq!(status["targets"][0]["target"], json!("funnel"), "{status}");
    assert_eq!(status["errors"][0]["target"], json!("spoke"), "{status}");

    // Once the role may be assumed again, the next run does the spoke (alone: the shared
    // moto's clock does not travel, so the first target's new key would look due again).
    w.proxy.clear_faults();
    let run = w
        .expect(
            &[
                "--output",
                "json",
                "reconcile",
                "--target",
                "spoke",
                "--now",
                &now,
            ],
            0,
        )
        .await;
    let report = run.json();
    assert_eq!(
        target(&report, "spoke")["outcome"],
        json!("done"),
        "{report}"
    );
    assert_ne!(s.referenced(), s.set);
    s.finish(&w).await;
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn an_operator_failing_every_call_fails_its_target_only() {
    let w = World::new().await;
    w.seed().await;
    let s = spoke(&w).await;
    s.emu.add_fault(always("*", 500));
    let report = reconcile_on_day_81_exits_1(&w).await;
    assert_eq!(
        target(&report, "funnel")["outcome"],
        json!("done"),
        "{report}"
    );
    assert_eq!(
        target(&report, "spoke")["outcome"],
        json!("failed"),
        "{report}"
    );
    w.assert_converged(&w.id_for(81)).await;
    // The spoke's state is as it was: its key alone, its group on its set.
    assert_eq!(s.iam.list_keys(&s.user).await.expect("keys").len(), 1);
    s.emu.clear_faults();
    assert_eq!(s.referenced(), s.set);
    w.ledger.harvest(&s.emu, None);
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn policy_prints_the_hub_permission_and_the_spoke_role() {
    let w = World::new().await;
    let s = spoke(&w).await;
    let run = w
        .expect(
            &["--output", "json", "policy", "--account", "111122223333"],
            0,
        )
        .await;
    let doc = run.json();
    let statements = doc["iam"]["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        statements
            .iter()
            .any(|st| st["Action"] == json!("sts:AssumeRole")
                && st["Resource"] == json!([s.role_arn])),
        "{doc}"
    );
    let spoke = &doc["spokes"][0];
    assert_eq!(spoke["roleArn"], json!(s.role_arn));
    assert_eq!(
        spoke["trustPolicy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        json!(EXTERNAL_ID)
    );
    assert!(spoke["permissions"]["Statement"][0]["Resource"][0]
        .as_str()
        .is_some_and(|r| r.ends_with(&format!(":user/{}", s.user))));
    w.assert_no_secret();
}

/// A second target, `other`, beside the world's `funnel` in the caller's own account: a new
/// IAM user whose key (its secret in the ledger) is in set `<SPOKE_PREFIX>-220810` on `emu`,
/// used by group `group`. Writes the configuration of both targets, `extra` in `other`'s
/// table. Returns the user and the set.
async fn other_target(w: &World, emu: &Emulator, group: &str, extra: &str) -> (String, String) {
    let user = moto::unique("other-target");
    w.iam.create_user(&user).await.expect("user");
    let (id, secret) = w.iam.create_access_key(&user).await.expect("key");
    w.ledger.add(secret.clone());
    let set = format!("{SPOKE_PREFIX}-220810");
    emu.put_credential(
        &set,
        "aws-credentials",
        "",
        json!({"accessKeyId": id, "secretAccessKey": secret}),
        testkit::world::ms(w.moto_now()),
    );
    emu.add_group(group, funnel(&set));
    let text = format!(
        "[soracom]\npage_size = 100\nretry_base_ms = 20\n\n[verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
         [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n\n\
         [[targets]]\nname = \"other\"\niam_user = \"{user}\"\ncredential_prefix = \"{SPOKE_PREFIX}\"\n{extra}",
        w.user
    );
    std::fs::write(w.config_path(), text).expect("write config");
    (user, set)
}

/// `soracom_endpoint` alone: the same AuthKey, another origin (here a second emulator that
/// knows the key); the target's user in the caller's own account. Its sets are found and
/// rotated there, the world's target on the first, in one run.
#[tokio::test(start_paused = true)]
async fn an_endpoint_of_its_own_keeps_the_runs_key() {
    let w = World::new().await;
    w.seed().await;
    let emu = Arc::new(Emulator::in_memory(11));
    w.fakes().dial.add(emu.clone());
    emu.add_auth_key(crate::common::AUTH_KEY_ID, crate::common::AUTH_KEY);
    let (user, set) = other_target(
        &w,
        &emu,
        "spoke-1",
        &format!("soracom_endpoint = \"{}\"\n", emu.endpoint()),
    )
    .await;
    let now = w.travel(81);
    let run = w
        .expect(&["--output", "json", "reconcile", "--now", &now], 0)
        .await;
    let report = run.json();
    assert_eq!(
        target(&report, "other")["outcome"],
        json!("done"),
        "{report}"
    );
    let moved = emu.group_by_name("spoke-1").expect("group")["configuration"]["SoracomFunnel"]
        ["credentialsId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(moved, set);
    let key = emu.credential(&moved).expect("set").credentials["accessKeyId"].clone();
    let keys = w.iam.list_keys(&user).await.expect("keys");
    assert!(keys
        .iter()
        .any(|k| json!(k.id) == key && k.status == "Active"));
    w.assert_converged(&w.id_for(81)).await;
    let reqs = emu.requests();
    testkit::contract::assert_conforms(
        testkit::contract::Spec::load_default(),
        testkit::contract::recorded(&reqs),
    );
    w.ledger.harvest(&emu, None);
    w.finish().await;
}

/// SORACOM's error logs are read only for a target whose canary is recorded; when SORACOM
/// will not give them (here a 403, as for a SAM user without `Log:getLogs`), only that
/// target fails. Another target of the same account and operator is done as usual.
#[tokio::test(start_paused = true)]
async fn unreadable_logs_fail_only_the_target_whose_canary_needs_them() {
    let w = World::new().await;
    let k1 = w.seed().await;
    let (_, set) = other_target(&w, &w.emu, "other-1", "").await;
    // A canary off the world's key is recorded on its user: its evidence is in the logs.
    w.tag_user(
        &format!("soracom-key-rotator:canary:{k1}"),
        &testkit::world::rfc3339(w.time(80)),
    )
    .await;
    w.emu.add_fault(always("getLogs", 403));
    let report = reconcile_on_day_81_exits_1(&w).await;
    assert_eq!(
        target(&report, "funnel")["outcome"],
        json!("failed"),
        "{report}"
    );
    assert_eq!(
        target(&report, "other")["outcome"],
        json!("done"),
        "{report}"
    );
    assert_ne!(
        w.emu.group_by_name("other-1").expect("group")["configuration"]["SoracomFunnel"]
            ["credentialsId"],
        json!(set),
        "the other target rotated"
    );
    assert_eq!(
        w.funnel_of("test-1"),
        json!(format!("{PREFIX}-220810")),
        "nothing of the failed target moved"
    );
    w.emu.clear_faults();
    w.finish().await;
}
