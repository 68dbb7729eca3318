//! `migrate-to-role` end to end: the binary against moto (through the fault proxy) and the
//! emulator. The role is created with a trust policy naming SORACOM's account and a
//! generated external id, gets the user's inline and attached policies, and is registered
//! as an `aws-iam-role-credentials` set; a rerun adopts it, a dry run changes nothing, a
//! foreign role of the same name is reported and left alone, and a configuration without
//! SORACOM's account is a configuration error. The world's checks end each scenario (the
//! external id is among the secrets searched for in everything the binary printed).

use crate::common::{World, PREFIX};
use serde_json::{json, Value};
use testkit::moto;

const SORACOM_ACCOUNT: &str = "111122223333";
const INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:ap-northeast-1:123456789012:topic/soracom/*"}]}"#;

/// The role as moto has it: its ARN, trust policy (decoded), tags, inline policy names and
/// attached ARNs; `None` if there is none.
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
    let c = w.iam.client();
    let out = c.get_role().role_name(name).send().await.ok()?;
    let r = out.role()?;
    let raw = r.assume_role_policy_document().unwrap_or_default();
    let text = rotator::iam::decode_document(raw).unwrap_or_default();
    let trust = serde_json::from_str(&text).unwrap_or(Value::Null);
    let tags = r
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let inline = c
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map(|o| o.policy_names().to_vec())
        .unwrap_or_default();
    let attached = c
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map(|o| {
            o.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some((r.arn().to_string(), trust, tags, inline, attached))
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
    let c = w.iam.client();
    c.put_user_policy()
        .user_name(&w.user)
        .policy_name("iot")
        .policy_document(INLINE)
        .send()
        .await
        .expect("put user policy");
    let arn = c
        .create_policy()
        .policy_name(moto::unique("kinesis"))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}]}"#)
        .send()
        .await
        .expect("create policy")
        .policy()
        .and_then(|p| p.arn())
        .map(str::to_string)
        .expect("policy arn");
    c.attach_user_policy()
        .user_name(&w.user)
        .policy_arn(&arn)
        .send()
        .await
        .expect("attach user policy");
    let group = moto::unique("ops");
    c.create_group()
        .group_name(&group)
        .send()
        .await
        .expect("group");
    c.add_user_to_group()
        .user_name(&w.user)
        .group_name(&group)
        .send()
        .await
        .expect("add to group");
    (arn, group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_role_creates_the_role_and_its_set_and_a_rerun_adopts_them() {
    let w = World::new().await;
    w.seed().await;
    let (policy_arn, group) = give_policies(&w).await;
    let role_name = format!("{}-role", w.user);
    let set_id = format!("{PREFIX}-role");
    let migrate = ["migrate-to-role", "--target", "funnel"];

    // Without SORACOM's account the role cannot be made: a configuration error, naming it.
    let run = w.expect(&migrate, 2).await;
    assert!(
        run.stderr.contains("soracom.aws_account_id"),
        "{}",
        run.stderr
    );

    w.write_config_with(&format!("aws_account_id = \"{SORACOM_ACCOUNT}\""), "");
    let writes = (w.soracom_writes(), iam_writes(&w));
    let dry = w.expect(&[&migrate[..], &["--dry-run"]].concat(), 0).await;
    for needle in [
        role_name.as_str(),
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
    let json_dry = w
        .expect(
            &[
                "--output",
                "json",
                migrate[0],
                migrate[1],
                migrate[2],
                "--dry-run",
            ],
            0,
        )
        .await
        .json();
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
    let external_id = tag(rotator::role::TAG_EXTERNAL_ID).expect("external id tag");
    w.plant_secret(&external_id);
    assert_eq!(tag(rotator::role::TAG_TARGET).as_deref(), Some("funnel"));
    assert_eq!(external_id.len(), rotator::role::EXTERNAL_ID_LEN);
    assert!(
        rotator::role::trusts(&trust.to_string(), SORACOM_ACCOUNT, &external_id),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_role_of_the_same_name_is_reported_and_left_alone() {
    let w = World::new().await;
    give_policies(&w).await;
    let role_name = format!("{}-role", w.user);
    let foreign = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{SORACOM_ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    w.iam
        .client()
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(foreign.to_string())
        .send()
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
        .find(|(k, _)| k == rotator::role::TAG_EXTERNAL_ID)
    {
        w.plant_secret(id);
    }
    w.finish().await;
}
