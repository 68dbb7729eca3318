//! `discover` and `init` against a moto of their own (the account's users are the world's)
//! and the emulator: several IAM users, keys in and out of SORACOM, another account's key,
//! a set whose key SORACOM does not report, hand-made and managed sets, holders of every
//! kind; `init` writes a configuration `plan` accepts as it is, and never overwrites one.

use serde_json::{json, Value};
use testkit::moto;

use crate::common::{funnel, World, PREFIX};

/// A key id no user of the account has.
const FOREIGN: &str = "AKIAOTHERACCOUNT0001";

/// The scenario's account and SORACOM; returns (funnel key, beam user, beam key).
async fn scenario(w: &World) -> (String, String, String) {
    // The world's user: its key (100 days old by the time of discovery) in the managed set
    // `<PREFIX>-220810` (groups test-1, test-2) and in a hand-made set an event handler uses.
    let (k1, s1) = w.seed_set(&format!("{PREFIX}-220810")).await;
    w.emu.put_credential(
        "funnel-by-hand",
        "aws-credentials",
        "made in the console",
        json!({"accessKeyId": k1, "secretAccessKey": s1}),
        testkit::world::ms(w.moto_now()),
    );
    w.emu.add_event_handler(json!({
        "name": "lambda-on-usage", "status": "active", "targetOperatorId": "OP0012345678",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "100"}},
        "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": "funnel-by-hand"}}]
    }));
    w.travel(100);
    // A second user, with a young key in a hand-made set used by Funk and a VPG's
    // Junction inspection.
    // (Named to sort after the world's user, whose target comes first: the world's checks
    // read the first target.)
    let beam = moto::unique("sink-user");
    w.iam.create_user(&beam).await.expect("beam user");
    let (kb, sb) = w.iam.create_access_key(&beam).await.expect("beam key");
    w.ledger.add(sb.clone());
    // Its second key is in no set (a person's, say).
    let (_, spare) = w.iam.create_access_key(&beam).await.expect("spare key");
    w.ledger.add(spare);
    w.emu.put_credential(
        "beam-prod",
        "aws-credentials",
        "",
        json!({"accessKeyId": kb, "secretAccessKey": sb}),
        testkit::world::ms(w.moto_now()),
    );
    w.emu.add_group(
        "funk",
        json!({"SoracomFunk": {"credentialsId": {"$credentialsId": "beam-prod"}, "enabled": true,
               "destination": {"provider": "aws", "service": "lambda", "resourceUrl": "arn:aws:lambda:ap-northeast-1:1:function:f"}}}),
    );
    w.emu.add_vpg(
        "vpg-1",
        json!({"enabled": true, "report": {"enabled": true, "credentialsId": "beam-prod", "contentType": "json", "addSimId": true}}),
    );
    // A third user whose key SORACOM does not hold: not listed as an owner.
    let idle = moto::unique("idle-user");
    w.iam.create_user(&idle).await.expect("idle user");
    let (_, si) = w.iam.create_access_key(&idle).await.expect("idle key");
    w.ledger.add(si);
    // Another account's key, in a set of managed form used by a group.
    let other_secret = "other-account-secret-0123456789abcdefghij";
    w.ledger.add(other_secret);
    w.emu.put_credential(
        "partner-221001",
        "aws-credentials",
        "",
        json!({"accessKeyId": FOREIGN, "secretAccessKey": other_secret}),
        testkit::world::ms(w.moto_now()),
    );
    w.emu.add_group("partner", funnel("partner-221001"));
    // A set whose key SORACOM does not report.
    w.emu.put_credential(
        "mystery",
        "aws-credentials",
        "",
        json!({}),
        testkit::world::ms(w.moto_now()),
    );
    (k1, beam, kb)
}

fn masked(id: &str) -> String {
    rotator_core::AccessKeyId::new(id).to_string()
}

#[tokio::test(start_paused = true)]
async fn discover_reports_owners_holders_and_iam3_without_a_config() {
    let w = World::authenticated().await;
    let (k1, beam, kb) = scenario(&w).await;
    std::fs::remove_file(w.config_path()).expect("no config");

    let run = w.expect(&["discover"], 0).await;
    let out = &run.stdout;
    for want in [
        format!("{PREFIX}-220810"),
        "funnel-by-hand".into(),
        "beam-prod".into(),
        "partner-221001".into(),
        "mystery".into(),
        format!("  {}:", w.user),
        format!("  {beam}:"),
        "group test-1 SoracomFunnel.credentialsId".into(),
        "group funk SoracomFunk.credentialsId".into(),
        "event handler lambda-on-usage".into(),
        "VPG vpg-1 Junction inspection".into(),
        "another account".into(),
        "unknown (SORACOM reports none)".into(),
        "FAILS IAM.3".into(),
    ] {
        assert!(out.contains(&want), "{want:?} missing:\n{out}");
    }
    // Tables: a set's row names its key's owner; under each owner a row per key, with its
    // status (a key SORACOM does not hold says so).
    let row = |first: &str, also: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(first) && l.contains(also))
            .unwrap_or_else(|| panic!("no row of {first}:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("beam-prod", "20")[5], beam.as_str(), "{out}");
    assert_eq!(
        row(&masked(&k1), "days")[1..3],
        ["active,", "FAILS"],
        "{out}"
    );
    assert!(
        row(&masked(&kb), "days")[1] == "active"
            && out.lines().any(|l| l.contains("active, in no set")),
        "{out}"
    );
    // In a terminal of 80 columns, every line fits, and no id is cut.
    let mut narrow = w.machine(true);
    narrow.vars.insert("COLUMNS".into(), "80".into());
    let text = w.run_on(narrow, &["discover"]).await.stdout;
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line:?}:\n{text}");
    }
    for id in [format!("{PREFIX}-220810"), masked(&k1), w.user.clone()] {
        assert!(text.contains(&id), "{id} cut:\n{text}");
    }
    for raw in [&k1, &kb] {
        assert!(!out.contains(raw.as_str()), "a key id in full:\n{out}");
    }
    assert!(
        !out.contains("idle-user"),
        "a user owning no set's key:\n{out}"
    );

    let doc = w.expect(&["--output", "json", "discover"], 0).await.json();
    let targets = doc["proposal"]["targets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(targets.len(), 2, "{doc:#}");
    let of = |user: &str| -> Value {
        targets
            .iter()
            .find(|t| t["iamUser"] == json!(user))
            .cloned()
            .unwrap_or_else(|| panic!("no target for {user}: {doc:#}"))
    };
    let funnel_t = of(&w.user);
    assert_eq!(funnel_t["credentialPrefix"], json!(PREFIX));
    assert_eq!(funnel_t["managed"], json!([format!("{PREFIX}-220810")]));
    assert_eq!(funnel_t["adopt"], json!(["funnel-by-hand"]));
    let beam_t = of(&beam);
    assert_eq!(beam_t["adopt"], json!(["beam-prod"]));
    assert_eq!(beam_t["prefixInferred"], json!(false));
    assert_eq!(
        doc["proposal"]["notProposed"],
        json!([
            {"reason": "keyUnknown", "set": "mystery"},
            {"reason": "otherAccount", "set": "partner-221001", "key": masked(FOREIGN)},
        ])
    );
    let iam3: Vec<(String, bool)> = doc["users"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|u| u["keys"].as_array().cloned().unwrap_or_default())
        .map(|k| {
            (
                k["id"].as_str().unwrap_or_default().to_string(),
                k["failsIam3"] == json!(true),
            )
        })
        .collect();
    assert!(iam3.contains(&(masked(&k1), true)), "{iam3:?}");
    assert!(iam3.contains(&(masked(&kb), false)), "{iam3:?}");
    assert_eq!(w.iam_writes(), 0, "discover changes nothing in IAM");
    assert_eq!(w.soracom_writes(), 0, "discover changes nothing in SORACOM");
    // What they need is printed without a config too.
    let policy = w
        .expect(
            &[
                "--output",
                "json",
                "policy",
                "--discover",
                "--account",
                "123456789012",
            ],
            0,
        )
        .await
        .json();
    assert_eq!(
        policy["iam"]["Statement"][0]["Action"],
        json!([
            "iam:ListUsers",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed"
        ])
    );
    // The world's checks read the config: write the proposal first.
    w.expect(&["init"], 0).await;
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn init_writes_a_config_plan_accepts_and_never_overwrites() {
    let w = World::authenticated().await;
    let (k1, beam, _) = scenario(&w).await;
    let path = w.config_path();
    std::fs::remove_file(&path).expect("no config");

    let run = w.expect(&["init"], 0).await;
    assert!(run.stdout.contains("2 target(s)"), "{}", run.stdout);
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(text.contains(&format!("iam_user = \"{beam}\"")), "{text}");
    assert!(text.contains("adopt = [\"funnel-by-hand\"]"), "{text}");
    assert!(
        text.contains(&format!("adopt_keys = {{ \"funnel-by-hand\" = \"{k1}\" }}")),
        "{text}"
    );
    assert!(
        !text.contains(FOREIGN),
        "another account's key id in full:\n{text}"
    );
    assert!(
        text.contains("partner-221001"),
        "reported in a comment:\n{text}"
    );

    let plan = w.expect(&["--output", "json", "plan"], 0).await.json();
    let planned: Vec<&str> = plan["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["iamUser"].as_str())
        .collect();
    assert_eq!(planned.len(), 2, "{plan:#}");

    let again = w.expect(&["init"], 2).await;
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        text,
        "an existing config is never overwritten"
    );
    w.finish().await;
}
