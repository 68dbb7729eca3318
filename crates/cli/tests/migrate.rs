//! `migrate-to-role` end to end: the binary against moto (through the fault proxy) and the
//! emulator. The role is created with a trust policy naming SORACOM's account and a
//! generated external id, gets the user's inline and attached policies, and is registered
//! as an `aws-iam-role-credentials` set; a rerun adopts it, a dry run changes nothing, a
//! foreign role of the same name is reported and left alone, and without SORACOM's account
//! configured the role trusts the default of the coverage, which the dry run names. The world's checks end each scenario (the
//! external id is among the secrets searched for in everything the binary printed).

use crate::common::{World, PREFIX};
use serde_json::{json, Value};
use testkit::moto;

const SORACOM_ACCOUNT: &str = "111122223333";
const INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:ap-northeast-1:123456789012:topic/soracom/*"}]}"#;

/// The role as IAM has it: its ARN, trust policy, tags, inline policy names and attached
/// ARNs; `None` if there is none.
async fn role(
    w: &World,
    name: &str,
) -> Option<(
    String,
    Value,
    Vec<(String, String)>,
    Vec<String>,
    Vec<String>,
)> {
    use rotator::IamApi;
    let r = w.fakes().iam.role(name).await.ok()??;
    let trust = serde_json::from_str(r.trust.expose()).unwrap_or(Value::Null);
    let tags = r
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect();
    Some((r.arn, trust, tags, r.inline, r.attached))
}

/// IAM writes the proxy saw: key writes and role writes.
fn iam_writes(w: &World) -> u64 {
    let counts = w.proxy.call_counts();
    let roles: u64 = ["CreateRole", "TagRole", "PutRolePolicy", "AttachRolePolicy"]
        .iter()
        .map(|op| counts.get(*op).copied().unwrap_or(0))
        .sum();
    w.iam_writes() + roles
}

/// Gives the world's user an inline policy `iot`, a managed policy and a group; returns the
/// managed policy's ARN and the group's name.
async fn give_policies(w: &World) -> (String, String) {
    let iam = w.iam.fake();
    iam.put_user_policy(&w.user, "iot", INLINE)
        .await
        .expect("put user policy");
    let arn = iam
        .create_policy(
            &moto::unique("kinesis"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}]}"#,
        )
        .await
        .expect("create policy");
    iam.attach_user_policy(&w.user, &arn)
        .await
        .expect("attach user policy");
    let group = moto::unique("ops");
    iam.create_group(&group).await.expect("group");
    iam.add_user_to_group(&w.user, &group)
        .await
        .expect("add to group");
    (arn, group)
}

#[tokio::test(start_paused = true)]
async fn migrate_to_role_creates_the_role_and_its_set_and_a_rerun_adopts_them() {
    let w = World::new().await;
    w.seed().await;
    let (policy_arn, group) = give_policies(&w).await;
    let role_name = format!("{}-role", w.user);
    let set_id = format!("{PREFIX}-role");
    let migrate = ["migrate-to-role", "--target", "funnel"];

    // Without SORACOM's account configured, the role trusts the default of the coverage
    // (the emulator's endpoint names none, and the file none: Japan's), and the dry run
    // says which and where it comes from; nothing is written.
    let dry_run = [migrate[0], migrate[1], migrate[2], "--dry-run"];
    let json_dry_run = [&["--output", "json"][..], &dry_run].concat();
    let writes = (w.soracom_writes(), iam_writes(&w));
    let default = w.expect(&dry_run, 0).await;
    for needle in [
        "SORACOM's AWS account 762707677580: the default for Japan coverage, from SORACOM Labs'",
        "arn:aws:iam::762707677580:root",
        "docs/configuration.md#soracoms-aws-account",
    ] {
        assert!(
            default.stdout.contains(needle),
            "{needle} missing:\n{}",
            default.stdout
        );
    }
    let doc = w.expect(&json_dry_run, 0).await.json();
    assert_eq!(doc["plan"]["soracomAccountId"], json!("762707677580"));
    assert_eq!(
        doc["plan"]["soracomAccountSource"],
        json!({"default": "jp"})
    );
    w.write_config_with("coverage = \"g\"", "");
    let global = w.expect(&dry_run, 0).await;
    assert!(
        global
            .stdout
            .contains("SORACOM's AWS account 950858143650: the default for global coverage"),
        "{}",
        global.stdout
    );
    assert_eq!((w.soracom_writes(), iam_writes(&w)), writes);

    w.write_config_with(&format!("aws_account_id = \"{SORACOM_ACCOUNT}\""), "");
    let writes = (w.soracom_writes(), iam_writes(&w));
    let dry = w.expect(&dry_run, 0).await;
    for needle in [
        role_name.as_str(),
        "SORACOM's AWS account 111122223333: from the configuration ([soracom] aws_account_id)",
        "arn:aws:iam::111122223333:root",
        "sts:ExternalId",
        "[redacted]",
        "inline policy iot: put",
        "iot:Publish",
        policy_arn.as_str(),
        group.as_str(),
        set_id.as_str(),
        "(dry run)",
    ] {
        assert!(
            dry.stdout.contains(needle),
            "{needle} missing:\n{}",
            dry.stdout
        );
    }
    let json_dry = w.expect(&json_dry_run, 0).await.json();
    assert_eq!(json_dry["outcome"], "planned");
    assert_eq!(json_dry["plan"]["role"]["action"], "create");
    assert_eq!(json_dry["plan"]["credentialSet"]["action"], "create");
    assert_eq!(
        json_dry["plan"]["inlinePolicies"][0]["document"],
        serde_json::from_str::<Value>(INLINE).expect("json")
    );
    assert_eq!(
        json_dry["plan"]["attachedPolicies"][0]["arn"],
        json!(policy_arn)
    );
    // A dry run changes nothing.
    assert!(role(&w, &role_name).await.is_none());
    assert!(w.emu.credential(&set_id).is_none());
    assert_eq!((w.soracom_writes(), iam_writes(&w)), writes);

    let done = w
        .expect(&["--output", "json", migrate[0], migrate[1], migrate[2]], 0)
        .await
        .json();
    assert_eq!(done["outcome"], "done", "{done}");
    let (arn, trust, tags, inline, attached) = role(&w, &role_name).await.expect("role made");
    let tag = |k: &str| tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.clone());
    let external_id = tag(rotator_core::role::TAG_EXTERNAL_ID).expect("external id tag");
    w.plant_secret(&external_id);
    assert_eq!(
        tag(rotator_core::role::TAG_TARGET).as_deref(),
        Some("funnel")
    );
    assert_eq!(external_id.len(), rotator_core::role::EXTERNAL_ID_LEN);
    assert!(
        rotator_core::role::trusts(&trust.to_string(), SORACOM_ACCOUNT, &external_id),
        "{trust}"
    );
    assert_eq!(inline, ["iot"]);
    assert_eq!(attached, std::slice::from_ref(&policy_arn));
    let set = w.emu.credential(&set_id).expect("role set registered");
    assert_eq!(set.kind, "aws-iam-role-credentials");
    assert_eq!(
        set.credentials,
        json!({"roleArn": arn, "externalId": external_id})
    );
    assert_eq!(
        done["roleSet"],
        json!({"credentialId": set_id, "roleArn": arn})
    );
    // No reference moved: the groups still use the key's set.
    assert_eq!(w.funnel_of("test-1"), json!(format!("{PREFIX}-220810")));

    // A rerun adopts the role and its set: nothing is written, the external id stays.
    let writes = (w.soracom_writes(), iam_writes(&w));
    let again = w.expect(&migrate, 0).await;
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert!(again.stdout.contains("adopt"), "{}", again.stdout);
    assert_eq!((w.soracom_writes(), iam_writes(&w)), writes);
    let (_, _, tags_after, _, _) = role(&w, &role_name).await.expect("role");
    assert_eq!(tags_after, tags);
    assert_eq!(
        w.emu
            .credential_ids()
            .iter()
            .filter(|i| **i == set_id)
            .count(),
        1
    );

    // `policy` lists what migration called; `status` points to migrate-to-role.
    let policy = w.expect(&["--output", "json", "policy"], 0).await.json();
    let actions: Vec<String> = policy["iam"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    for a in [
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:GetUserPolicy",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    let status = w.expect(&["status"], 0).await;
    assert!(
        status.stdout.contains("migrate-to-role --target funnel"),
        "{}",
        status.stdout
    );
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_foreign_role_of_the_same_name_is_reported_and_left_alone() {
    let w = World::new().await;
    give_policies(&w).await;
    let role_name = format!("{}-role", w.user);
    let foreign = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{SORACOM_ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    w.iam
        .fake()
        .add_role(&role_name, &foreign.to_string())
        .await
        .expect("a person's role");
    w.write_config_with(&format!("aws_account_id = \"{SORACOM_ACCOUNT}\""), "");
    let writes = (w.soracom_writes(), iam_writes(&w));
    let run = w
        .expect(&["migrate-to-role", "--target", "funnel"], 3)
        .await;
    assert!(run.stdout.contains("REFUSED"), "{}", run.stdout);
    assert!(run.stdout.contains("not this tool's"), "{}", run.stdout);
    assert_eq!((w.soracom_writes(), iam_writes(&w)), writes);
    let (_, trust, tags, inline, attached) = role(&w, &role_name).await.expect("role");
    assert_eq!(trust, foreign);
    assert!(tags.is_empty() && inline.is_empty() && attached.is_empty());
    assert!(w.emu.credential(&format!("{PREFIX}-role")).is_none());

    // Named elsewhere with role_name, the migration goes ahead.
    let other = format!("{}-r2", w.user);
    w.write_config_with(
        &format!("aws_account_id = \"{SORACOM_ACCOUNT}\""),
        &format!("role_name = \"{other}\""),
    );
    let run = w
        .expect(&["migrate-to-role", "--target", "funnel"], 0)
        .await;
    assert!(run.stdout.contains("done"), "{}", run.stdout);
    let (_, _, tags, _, _) = role(&w, &other).await.expect("role made");
    if let Some((_, id)) = tags
        .iter()
        .find(|(k, _)| k == rotator_core::role::TAG_EXTERNAL_ID)
    {
        w.plant_secret(id);
    }
    w.finish().await;
}

/// A clocked world migrated by `migrate-to-role`: the seed's groups, an event handler and
/// a VPG on the hand-made set (adopted), a canary of 30 minutes to 6 hours. Returns the
/// world, the old key and the role set's id.
async fn migrating() -> (World, String, String) {
    let w = World::clocked().await;
    let k1 = w.seed().await;
    let old = format!("{PREFIX}-220810");
    w.emu.add_event_handler(json!({
        "name": "h", "status": "active", "targetOperatorId": "OP0012345678",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "1"}},
        "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": old}}]
    }));
    w.emu.add_vpg(
        "vpg-1",
        json!({"enabled": true, "report": {"enabled": true, "credentialsId": old, "contentType": "json"}}),
    );
    w.write_config_with(
        &format!("aws_account_id = \"{SORACOM_ACCOUNT}\""),
        &format!(
            "adopt_keys = {{ \"{old}\" = \"{k1}\" }}\n[targets.canary]\nmin_minutes = 30\nmax_hours = 6\n"
        ),
    );
    w.expect(&["migrate-to-role", "--target", "funnel"], 0)
        .await;
    let role_set = format!("{PREFIX}-role");
    assert!(w.emu.credential(&role_set).is_some(), "the role set exists");
    (w, k1, role_set)
}

fn handler_set(w: &World) -> Value {
    w.emu.event_handlers()[0]["actionConfigList"][0]["properties"]["credentialsId"].clone()
}

fn vpg_set(w: &World) -> Value {
    w.emu
        .vpg_inspection("vpg-1")
        .map(|i| i["report"]["credentialsId"].clone())
        .unwrap_or(Value::Null)
}

/// Runs `reconcile` `hours` after the world's epoch, after SORACOM used the role set.
async fn reconcile_after_use(w: &World, role_set: &str, hours: i64, code: i32) -> String {
    let now = w.travel_hours(hours);
    w.use_set(role_set, w.live());
    w.expect(&["reconcile", "--now", &now], code).await.stdout
}

/// Moves every holder of [`migrating`]'s world onto the role set, kind by kind through their
/// canaries (the event handler, documented as role-capable, first), as hourly reconciles
/// with SORACOM using the role set would; ends at hour 8.
async fn migrate_every_kind(w: &World, role_set: &str) {
    let old = format!("{PREFIX}-220810");
    let now = w.travel_hours(1);
    let out = w.expect(&["reconcile", "--now", &now], 0).await.stdout;
    assert!(out.contains("event-handler"), "{out}");
    assert_eq!(
        handler_set(w),
        json!(role_set),
        "the event handler is the first canary"
    );
    assert_eq!(w.funnel_of("test-1"), json!(old));
    w.assert_invariants().await;

    // The role set was used: the event handlers' canary passed; Funnel's starts with test-1.
    reconcile_after_use(w, role_set, 3, 0).await;
    let out = w.expect(&["reconcile", "--now", &w.now()], 0).await.stdout;
    assert!(out.contains("group.SoracomFunnel"), "{out}");
    assert_eq!(w.funnel_of("test-1"), json!(role_set));
    assert_eq!(w.funnel_of("test-2"), json!(old));
    reconcile_after_use(w, role_set, 5, 0).await;
    assert_eq!(w.funnel_of("test-2"), json!(role_set));
    // Then the VPG's inspection.
    let now = w.travel_hours(6);
    w.expect(&["reconcile", "--now", &now], 0).await;
    assert_eq!(vpg_set(w), json!(role_set));
    reconcile_after_use(w, role_set, 8, 0).await;
}

/// Every holder kind moves through its own canary; once no reference is on a key, the
/// target is migrated: it never rotates again, and its key is deactivated and deleted on
/// evidence.
#[tokio::test(start_paused = true)]
async fn references_move_kind_by_kind_and_the_key_retires() {
    let (w, k1, role_set) = migrating().await;
    let old = format!("{PREFIX}-220810");
    migrate_every_kind(&w, &role_set).await;

    // Migrated: no rotation, even past the age it would start at; the key retires.
    let now = w.travel(90);
    let run = w
        .expect(&["status", "--now", &now, "--output", "json"], 0)
        .await;
    let t = &run.json()["targets"][0];
    assert_eq!(t["migration"]["stage"], "migrated", "{t}");
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(
        run.stdout.contains("deactivated access key"),
        "{}",
        run.stdout
    );
    assert!(
        w.keys()
            .await
            .iter()
            .all(|k| k.id == k1 && k.status == "Inactive"),
        "no new key, the old one off: {:?}",
        w.keys().await
    );
    let now = w.travel(98);
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(
        run.stdout.contains("deleted retired access key"),
        "{}",
        run.stdout
    );
    assert!(w.keys().await.is_empty());
    assert!(
        !w.emu.credential_ids().contains(&old),
        "the key's set is gone too"
    );
    assert!(w.emu.credential(&role_set).is_some(), "the role set stays");
    w.finish().await;
}

/// An exposed key of a migrated target goes off at once, by `rotate --emergency`: no
/// reference needs it, and no new key is made for it.
#[tokio::test(start_paused = true)]
async fn an_exposed_key_of_a_migrated_target_goes_off_at_once() {
    let (w, k1, role_set) = migrating().await;
    migrate_every_kind(&w, &role_set).await;
    let now = w.travel_hours(9);
    let run = w
        .expect(&["rotate", "--emergency", "--key", &k1, "--now", &now], 0)
        .await;
    assert!(
        run.stdout.contains("deactivated access key"),
        "{}",
        run.stdout
    );
    let keys = w.keys().await;
    assert!(
        keys.len() == 1 && keys.iter().all(|k| k.id == k1 && k.status == "Inactive"),
        "no new key, the exposed one off: {keys:?}"
    );
    assert_eq!(w.funnel_of("test-1"), json!(role_set));
    w.finish().await;
}

/// A holder kind that rejects the role set (a 4xx on the write) and one whose canary AWS
/// refuses in production (SORACOM's error logs) stay on the key, and the report says
/// which; the key keeps being rotated for them.
#[tokio::test(start_paused = true)]
async fn holders_that_refuse_the_role_stay_on_the_key() {
    let (w, _k1, role_set) = migrating().await;
    let old = format!("{PREFIX}-220810");
    w.emu
        .set_role_refusals(vec![soracom_emulator::RoleRefusal::Vpg("vpg-1".into())]);
    let now = w.travel_hours(1);
    w.expect(&["reconcile", "--now", &now], 0).await;
    reconcile_after_use(&w, &role_set, 3, 0).await;
    // Funnel's canary: AWS refuses the role for a Funnel request.
    let now = w.travel_hours(4);
    w.expect(&["reconcile", "--now", &now], 0).await;
    assert_eq!(w.funnel_of("test-1"), json!(role_set));
    w.travel_hours(5);
    w.log_auth_failure("440100000000001", w.live());
    let now = w.travel_hours(6);
    let run = w.expect(&["reconcile", "--now", &now], 3).await;
    assert!(
        run.stdout.contains("FAILED") && run.stdout.contains("UnrecognizedClientException"),
        "{}",
        run.stdout
    );
    assert_eq!(
        w.funnel_of("test-1"),
        json!(old),
        "Funnel went back to the key"
    );
    // The VPG rejects the role set with a 400: recorded, it stays on the key.
    let now = w.travel_hours(7);
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(
        run.stdout.contains("refused the role set"),
        "{}",
        run.stdout
    );
    assert_eq!(vpg_set(&w), json!(old));
    assert_eq!(handler_set(&w), json!(role_set));
    let now = w.travel_hours(8);
    let run = w
        .expect(&["status", "--now", &now, "--output", "json"], 0)
        .await;
    let m = &run.json()["targets"][0]["migration"];
    assert_eq!(m["stage"], "partial", "{m}");
    let refused = m["refused"].to_string();
    assert!(
        refused.contains("group.SoracomFunnel") && refused.contains("vpg-inspection"),
        "{m}"
    );
    // The key is still needed: at its age it is rotated (through the canary: test-1
    // first), and the event handler stays on the role set.
    let now = w.travel(80);
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(run.stdout.contains("canary"), "{}", run.stdout);
    let new = w.id_for(80);
    assert_eq!(w.funnel_of("test-1"), json!(new));
    assert_eq!(vpg_set(&w), json!(old));
    assert_eq!(handler_set(&w), json!(role_set));
    w.finish().await;
}
