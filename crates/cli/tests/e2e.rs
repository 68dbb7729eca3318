//! End-to-end scenarios: the `soracom-key-rotator` binary against moto (IAM/STS, through
//! the fault proxy) and the SORACOM emulator. Each scenario ends with the shared checks:
//! docs/ARCHITECTURE.md's invariants, every SORACOM request valid under the official spec, and no
//! secret in anything the binary printed.

use crate::common::{funnel, World, PREFIX};
use serde_json::json;
use soracom_emulator::{Fault, FaultBody, FaultKind, RateLimit};
use std::time::Duration;
use testkit::aws_proxy::{AwsFault, AwsFaultKind};

/// The seed's scenario: a fresh key is not due; 91 days later reconcile rotates it,
/// registers the new set with the link, and repoints both groups, touching nothing else.
#[tokio::test(start_paused = true)]
async fn seed_scenario_rotates_end_to_end() {
    // STS checks signatures: the new key verifies only with its own secret, and `finish`
    // proves the secret SORACOM was given signs as the user.
    seed_scenario(World::authenticated().await).await;
}

/// The same through the real binary, as a process, against a moto that checks signatures
/// and the emulator on a socket: the exit codes and the output a person sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_rotates_as_a_process() {
    seed_scenario(World::process_authenticated().await).await;
}

async fn seed_scenario(w: World) {
    let old_key = w.seed().await;
    let before = w.emu.group_by_name("test-1").expect("group");

    let run = w.expect(&["plan"], 0).await;
    assert!(run.stdout.contains("not due"), "{}", run.stdout);
    // SORACOM reports the key of the hand-made set: no evidence or adopt_keys is needed.
    assert!(run.stdout.contains("reported by SORACOM"), "{}", run.stdout);

    let later = w.at(91);
    let run = w.expect(&["-vvv", "reconcile", "--now", &later], 0).await;
    let new_set = w.id_for(91);
    assert!(run.stdout.contains(&new_set), "{}", run.stdout);
    assert!(
        run.stdout.contains("2/2 references moved"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(&old_key),
        "key ids must be masked:\n{}",
        run.stdout
    );

    let set = w.emu.credential(&new_set).expect("new set");
    let new_key = w.key_of_set(&new_set).expect("new key id");
    assert_eq!(set.kind, "aws-credentials");
    assert!(
        set.description.contains(&format!("accessKeyId={new_key}")),
        "{}",
        set.description
    );
    assert_ne!(new_key, old_key);
    for g in ["test-1", "test-2"] {
        assert_eq!(w.funnel_of(g), json!(new_set), "{g}");
    }
    // Only the reference changed: the rest of the group is as it was.
    let after = w.emu.group_by_name("test-1").expect("group");
    let mut expected = before["configuration"].clone();
    expected["SoracomFunnel"]["credentialsId"] = json!(new_set);
    assert_eq!(after["configuration"], expected);
    // The old key is kept (retiring it is a separate, evidence-gated step).
    let keys = w.keys().await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.status == "Active"));
    // The new key was verified with STS signed by itself, several times.
    let sts_by_new = w
        .proxy
        .calls()
        .iter()
        .filter(|c| {
            c.action == "GetCallerIdentity" && c.access_key_id.as_deref() == Some(new_key.as_str())
        })
        .count();
    assert!(sts_by_new >= 3, "{sts_by_new} verification calls");
    w.assert_converged(&new_set).await;

    // Idempotent: reconcile again (at the real time, when the new key is fresh) does nothing.
    let writes = (w.soracom_writes(), w.iam_writes());
    let run = w.expect(&["reconcile"], 0).await;
    assert!(run.stdout.contains("nothing due"), "{}", run.stdout);
    assert_eq!((w.soracom_writes(), w.iam_writes()), writes);

    let json = w.expect(&["--output", "json", "plan"], 0).await.json();
    assert_eq!(
        json["targets"][0]["plan"]["current"]["setId"],
        json!(new_set)
    );
    assert_eq!(json["targets"][0]["outcome"], json!("nothingDue"));
    w.finish().await;
}

/// A new key registered with a wrong secret would break every reference it is moved to:
/// with STS checking signatures, verification catches it before SORACOM sees anything, and
/// the key is deleted.
#[tokio::test(start_paused = true)]
async fn a_wrong_secret_fails_verification_and_nothing_is_registered() {
    let w = World::authenticated().await;
    let old_key = w.seed().await;
    let groups = w.emu.groups();
    // IAM's answer reaches the tool with another secret of the same shape.
    w.proxy.add_fault(AwsFault::next(
        "CreateAccessKey",
        1,
        AwsFaultKind::AlterSecret,
    ));
    let run = w.run(&["rotate"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("did not verify") || run.stderr.contains("did not verify"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        w.emu.credential(&w.id_for(0)).is_none(),
        "no set is registered with the wrong secret"
    );
    assert_eq!(w.emu.groups(), groups, "no reference moved");
    let keys = w.keys().await;
    assert_eq!(keys.len(), 1, "the unverified key is deleted: {keys:?}");
    assert_eq!(keys[0].id, old_key);
    assert!(!w.emu.call_counts().contains_key("createCredential"));
    w.finish().await;
}

/// Without signature checks (moto's default) the same wrong secret verifies, which is why
/// the process-level scenarios that create keys turn them on (and the fake IAM always
/// checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_without_checks_accepts_a_wrong_secret() {
    let w = World::process().await;
    w.seed().await;
    w.proxy.add_fault(AwsFault::next(
        "CreateAccessKey",
        1,
        AwsFaultKind::AlterSecret,
    ));
    let run = w.run(&["rotate"]).await;
    assert_eq!(run.code, 0, "moto without checks accepts any secret");
}

/// Ids that merely contain the prefix belong to someone else and are never touched.
#[tokio::test(start_paused = true)]
async fn decoy_ids_are_untouched() {
    let w = World::new().await;
    w.seed().await;
    for decoy in [
        format!("{PREFIX}-team2-220810"),
        format!("x{PREFIX}-220810"),
    ] {
        w.emu.put_credential(
            &decoy,
            "aws-credentials",
            "",
            json!({"accessKeyId": "AKIADECOYDECOYDECOY1", "secretAccessKey": "s"}),
            1,
        );
        w.emu.add_group(&format!("g-{decoy}"), funnel(&decoy));
    }
    w.expect(&["rotate", "--target", "funnel"], 0).await;
    for decoy in [
        format!("{PREFIX}-team2-220810"),
        format!("x{PREFIX}-220810"),
    ] {
        assert_eq!(w.funnel_of(&format!("g-{decoy}")), json!(decoy));
        assert!(w.emu.credential(&decoy).is_some());
    }
    assert_eq!(w.funnel_of("test-1"), json!(w.id_for(0)));
    w.finish().await;
}

/// Every page of groups is read (the seed read one), with `limit` and the next key.
#[tokio::test(start_paused = true)]
async fn every_page_of_groups_is_repointed() {
    let w = World::new().await;
    w.seed().await;
    w.emu.set_page_size(2);
    for i in 0..5 {
        w.emu
            .add_group(&format!("extra-{i}"), funnel(&format!("{PREFIX}-220810")));
        w.emu.add_group(
            &format!("other-{i}"),
            json!({"SoracomAir": {"metadata": {"enabled": true}}}),
        );
    }
    w.expect(&["rotate"], 0).await;
    let new_set = w.id_for(0);
    for i in 0..5 {
        assert_eq!(w.funnel_of(&format!("extra-{i}")), json!(new_set));
    }
    let pages = w.emu.call_counts().get("listGroups").copied().unwrap_or(0);
    assert_eq!(
        pages, 12,
        "12 groups at 2 per page, observed and listed again before the first move"
    );
    assert!(w.emu.requests().iter().any(|r| r
        .query
        .as_deref()
        .is_some_and(|q| q.contains("last_evaluated_key="))));
    assert_eq!(
        w.emu
            .call_counts()
            .get("putConfigurationParameters")
            .copied(),
        Some(7)
    );
    w.assert_converged(&new_set).await;
    w.finish().await;
}

/// Funk's object shape and an event handler's action are rewritten in the shape read.
#[tokio::test(start_paused = true)]
async fn funk_object_and_event_handler_references_move_in_their_shape() {
    let w = World::new().await;
    w.seed().await;
    let old = format!("{PREFIX}-220810");
    w.emu.add_group(
        "funk",
        json!({"SoracomFunk": {"credentialsId": {"$credentialsId": old}, "enabled": true,
               "destination": {"provider": "aws", "service": "lambda", "resourceUrl": "arn:aws:lambda:ap-northeast-1:1:function:f"}}}),
    );
    let handler = w.emu.add_event_handler(json!({
        "name": "lambda-on-usage", "status": "active", "targetOperatorId": "OP0012345678",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "100"}},
        "actionConfigList": [
            {"type": "SendMailToOperatorAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "title": "t", "message": "m"}},
            {"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": old}}
        ]
    }));
    w.expect(&["rotate"], 0).await;
    let new_set = w.id_for(0);
    let funk = &w.emu.group_by_name("funk").expect("funk")["configuration"]["SoracomFunk"];
    assert_eq!(funk["credentialsId"], json!({"$credentialsId": new_set}));
    assert_eq!(funk["destination"]["service"], json!("lambda"));
    let h = w
        .emu
        .event_handlers()
        .into_iter()
        .find(|h| h["handlerId"] == json!(handler))
        .expect("handler");
    assert_eq!(
        h["actionConfigList"][1]["properties"]["credentialsId"],
        json!(new_set)
    );
    assert_eq!(
        h["actionConfigList"][1]["properties"]["functionName"],
        json!("f")
    );
    assert_eq!(h["actionConfigList"][0]["properties"]["title"], json!("t"));
    w.assert_converged(&new_set).await;
    w.finish().await;
}

/// A second rotation on the same UTC day gets `-2`; a taken id never fails the run.
#[tokio::test(start_paused = true)]
async fn same_day_second_rotation_takes_the_next_suffix() {
    let w = World::new().await;
    w.seed().await;
    w.expect(&["rotate"], 0).await;
    let first = w.id_for(0);
    // Retire the hand-made set's key as the tool would (inactive, unreferenced), to free a slot.
    let old = w.key_of_set(&format!("{PREFIX}-220810")).expect("old key");
    w.iam
        .set_key_status(&w.user, &old, false)
        .await
        .expect("deactivate");
    // As the tool records it, long enough ago for the delete delay to have passed.
    w.tag_user(
        &format!("soracom-key-rotator:deactivated:{old}"),
        &crate::common::rfc3339(w.time(-8)),
    )
    .await;
    // Make it a set this tool linked, so it counts as retired by the tool.
    let c = w.emu.credential(&format!("{PREFIX}-220810")).expect("set");
    w.emu.put_credential(
        &c.id,
        &c.kind,
        &format!("accessKeyId={old}"),
        c.credentials.clone(),
        c.create_ms,
    );
    let run = w.expect(&["rotate"], 0).await;
    let second = format!("{first}-2");
    assert!(run.stdout.contains(&second), "{}", run.stdout);
    assert!(
        w.emu.credential(&format!("{PREFIX}-220810")).is_none(),
        "retired set deleted to make room"
    );
    assert_eq!(w.funnel_of("test-1"), json!(second));
    assert!(
        w.emu.credential(&first).is_some(),
        "the first rotation's set is kept"
    );
    w.assert_invariants().await;
    w.finish().await;
}

/// Both key slots hold active keys in use: exit 3 naming both keys, and nothing changes.
#[tokio::test(start_paused = true)]
async fn both_slots_full_is_refused_and_nothing_changes() {
    let w = World::new().await;
    let (other, other_secret) = w.iam.create_access_key(&w.user).await.expect("other key");
    w.ledger.add(other_secret.clone());
    w.use_key(&other, &other_secret).await;
    w.seed().await;
    let groups = w.emu.groups();
    let sets = w.emu.credential_ids();
    let keys = w.keys().await;
    let later = w.at(91);
    let run = w.expect(&["reconcile", "--now", &later], 3).await;
    let masked = format!("AKIA************{}", &other[16..]);
    assert!(run.stdout.contains(&masked), "{}", run.stdout);
    assert!(run.stdout.contains("two access keys"), "{}", run.stdout);
    assert_eq!(w.emu.groups(), groups);
    assert_eq!(w.emu.credential_ids(), sets);
    assert_eq!(w.keys().await, keys);
    assert_eq!((w.soracom_writes(), w.iam_writes()), (0, 0));
    w.finish().await;
}

/// `plan` and `--dry-run` make no write call of any kind, even when rotation is due.
#[tokio::test(start_paused = true)]
async fn plan_and_dry_run_write_nothing() {
    let w = World::new().await;
    w.seed().await;
    let later = w.at(100);
    let run = w.expect(&["plan", "--now", &later], 0).await;
    assert!(run.stdout.contains("rotate:"), "{}", run.stdout);
    w.expect(&["reconcile", "--dry-run", "--now", &later], 0)
        .await;
    w.expect(&["rotate", "--dry-run"], 0).await;
    assert_eq!((w.soracom_writes(), w.iam_writes()), (0, 0));
    assert_eq!(w.keys().await.len(), 1);
    w.finish().await;
}

/// A key left by a crash between CreateAccessKey and the set's creation (used only by
/// A key that is not this tool's is never deleted, whatever its age or use: one a person
/// created seconds before a run and used only with STS, one not used yet (its use not
/// recorded by IAM yet). The report names it (masked), and it survives every later run.
#[tokio::test(start_paused = true)]
async fn keys_made_by_hand_are_never_deleted() {
    for used_by_sts in [true, false] {
        let w = World::new().await;
        let first = w.seed().await;
        let (hand, secret) = w.iam.create_access_key(&w.user).await.expect("by hand");
        w.ledger.add(secret.clone());
        if used_by_sts {
            w.use_key(&hand, &secret).await;
        }
        let masked = format!("AKIA************{}", &hand[hand.len() - 4..]);
        for hours in [0, 3, 30] {
            w.travel_hours(hours);
            let run = w.expect(&["reconcile"], 0).await;
            assert!(
                run.stdout.contains(&masked)
                    && run
                        .stdout
                        .contains("was not created by a run of soracom-key-rotator"),
                "{}",
                run.stdout
            );
            let mut keys: Vec<String> = w.keys().await.into_iter().map(|k| k.id).collect();
            keys.sort();
            let mut want = vec![first.clone(), hand.clone()];
            want.sort();
            assert_eq!(keys, want, "after {hours} h");
        }
        w.finish().await;
    }
}

/// A run killed right after IAM created its key (its secret lost with it) leaves the
/// announcement it wrote before the call: the next run within the longest a run can take
/// leaves the target alone (exit 3); a later one deletes the key as the dead run's orphan,
/// and a rotation then goes through.
#[tokio::test(start_paused = true)]
async fn the_key_of_a_run_killed_after_creating_it_is_deleted_later() {
    let w = World::new().await;
    let first = w.seed().await;
    w.proxy.add_fault(AwsFault {
        action: "CreateAccessKey".into(),
        nth: 1,
        times: 1,
        kind: AwsFaultKind::SucceedThenHang,
    });
    let (run, held) = w
        .run_and_kill(&["rotate"], crate::common::Held::Aws, true)
        .await;
    assert!(held && run.signal == Some(9), "{run:?}");
    w.proxy.clear_faults();
    assert_eq!(w.keys().await.len(), 2, "the dead run's key exists");

    let soon = w.expect(&["reconcile"], 3).await;
    assert!(
        soon.stdout.contains("another run has been rotating"),
        "{}",
        soon.stdout
    );
    assert_eq!(w.keys().await.len(), 2, "a run at work is never cleaned up");

    w.travel_hours(3);
    let later = w.expect(&["reconcile"], 0).await;
    assert!(
        later.stdout.contains("left by a run that died"),
        "{}",
        later.stdout
    );
    let keys: Vec<String> = w.keys().await.into_iter().map(|k| k.id).collect();
    assert_eq!(keys, vec![first]);
    w.expect(&["rotate"], 0).await;
    w.assert_converged(&w.current_id()).await;
    w.finish().await;
}

/// A token that expires mid-run is renewed once and the run continues.
#[tokio::test(start_paused = true)]
async fn expired_token_mid_run_logs_in_again() {
    let w = World::new().await;
    w.seed().await;
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 2,
        times: 1,
        kind: FaultKind::ExpiredToken,
    });
    w.expect(&["rotate"], 0).await;
    assert_eq!(w.emu.call_counts().get("auth").copied(), Some(2));
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// A storm of 429s and an advertised rate limit slow the run down but do not fail it.
#[tokio::test(start_paused = true)]
async fn rate_limits_are_waited_out() {
    let w = World::new().await;
    w.seed().await;
    for i in 0..8 {
        w.emu
            .add_group(&format!("more-{i}"), funnel(&format!("{PREFIX}-220810")));
    }
    w.emu.add_fault(Fault {
        operation: "*".into(),
        nth: 3,
        times: 4,
        kind: FaultKind::RateLimited {
            seconds_before_refresh: 1,
        },
    });
    w.emu.set_rate_limit(Some(RateLimit {
        limit: 4,
        window: Duration::from_secs(1),
    }));
    w.expect(&["rotate"], 0).await;
    assert!(w.emu.requests().iter().any(|r| r.status == 429));
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// Configuration errors name the key and the file and exit 2.
#[tokio::test(start_paused = true)]
async fn config_errors_exit_2_naming_key_and_file() {
    let w = World::new().await;
    w.write_config("max_key_age_days = \"ninety\"");
    let run = w.expect(&["plan"], 2).await;
    assert!(
        run.stderr.contains("max_key_age_days") && run.stderr.contains("rotator.toml"),
        "{}",
        run.stderr
    );
    w.write_config("");
    let run = w.expect(&["rotate", "--target", "nope"], 2).await;
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    let run = w.expect(&["plan", "--now", "yesterday"], 2).await;
    assert!(run.stderr.contains("--now"), "{}", run.stderr);
    w.expect(&["frobnicate"], 2).await;
}

/// The SORACOM auth key can come from a soracom-cli profile; an open profile is refused.
#[tokio::test(start_paused = true)]
async fn soracom_profile_is_read_and_open_profiles_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new().await;
    w.seed().await;
    let dir = w.dir.path().join(".soracom");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let profile = dir.join("ci.json");
    std::fs::write(
        &profile,
        format!(
            r#"{{"coverageType":"jp","authKeyId":"{}","authKey":"{}"}}"#,
            crate::common::AUTH_KEY_ID,
            crate::common::AUTH_KEY
        ),
    )
    .expect("write");
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let text = std::fs::read_to_string(w.config_path()).expect("config");
    std::fs::write(
        w.config_path(),
        text.replace("[soracom]\n", "[soracom]\nprofile = \"ci\"\n"),
    )
    .expect("config");
    // The environment's auth key is ignored here because the config names a profile only
    // for the key; prove the profile works by running without the env key.
    let run = w.run_without_env_key(&["plan"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = w.run_without_env_key(&["plan"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    w.finish().await;
}

/// A SORACOM listing that fails outright changes nothing and exits 1.
#[tokio::test(start_paused = true)]
async fn failed_observation_changes_nothing() {
    let w = World::new().await;
    w.seed().await;
    w.emu.add_fault(Fault {
        operation: "listGroups".into(),
        nth: 1,
        times: 0,
        kind: FaultKind::Status {
            status: 502,
            body: FaultBody::Html,
        },
    });
    let run = w.expect(&["rotate"], 1).await;
    assert!(
        run.stderr.contains("listGroups") && run.stderr.contains("502"),
        "{}",
        run.stderr
    );
    assert_eq!((w.soracom_writes(), w.iam_writes()), (0, 0));
    w.emu.clear_faults();
    w.expect(&["rotate"], 0).await;
    w.assert_converged(&w.current_id()).await;
    w.finish().await;
}

/// One case of the fault table: where the fault is, what the first run must give.
struct FaultCase {
    name: &'static str,
    soracom: Option<Fault>,
    aws: Option<AwsFault>,
    first_exit: i32,
}

fn soracom(op: &str, nth: u32, times: u32, kind: FaultKind) -> Option<Fault> {
    Some(Fault {
        operation: op.into(),
        nth,
        times,
        kind,
    })
}

fn status(code: u16) -> FaultKind {
    FaultKind::Status {
        status: code,
        body: FaultBody::Json,
    }
}

/// A failure injected at each write call of a rotation leaves a safe state (invariants
/// hold, the exit code says what happened) and a rerun without the fault converges.
#[tokio::test(start_paused = true)]
async fn failure_at_each_write_is_safe_and_a_rerun_converges() {
    let cases = vec![
        FaultCase {
            name: "CreateAccessKey 500",
            soracom: None,
            aws: Some(AwsFault::always(
                "CreateAccessKey",
                AwsFaultKind::InternalError,
            )),
            first_exit: 1,
        },
        FaultCase {
            name: "CreateAccessKey answer lost",
            soracom: None,
            aws: Some(AwsFault::next(
                "CreateAccessKey",
                1,
                AwsFaultKind::SucceedThenDrop,
            )),
            first_exit: 1,
        },
        FaultCase {
            name: "CreateAccessKey access denied",
            soracom: None,
            aws: Some(AwsFault::always(
                "CreateAccessKey",
                AwsFaultKind::AccessDenied,
            )),
            first_exit: 1,
        },
        FaultCase {
            name: "verification fails",
            soracom: None,
            aws: Some(AwsFault::always(
                "GetCallerIdentity",
                AwsFaultKind::AccessDenied,
            )),
            first_exit: 1,
        },
        FaultCase {
            name: "createCredential 500",
            soracom: soracom("createCredential", 1, 0, status(500)),
            aws: None,
            first_exit: 1,
        },
        FaultCase {
            name: "createCredential 400",
            soracom: soracom("createCredential", 1, 0, status(400)),
            aws: None,
            first_exit: 1,
        },
        FaultCase {
            name: "createCredential answer lost",
            soracom: soracom("createCredential", 1, 1, FaultKind::SucceedThenDrop),
            aws: None,
            first_exit: 0,
        },
        FaultCase {
            name: "createCredential dropped",
            soracom: soracom("createCredential", 1, 1, FaultKind::Drop),
            aws: None,
            first_exit: 0,
        },
        FaultCase {
            name: "first repoint rejected",
            soracom: soracom("putConfigurationParameters", 1, 0, status(400)),
            aws: None,
            first_exit: 1,
        },
        FaultCase {
            name: "first repoint 500 throughout",
            soracom: soracom("putConfigurationParameters", 1, 0, status(500)),
            aws: None,
            first_exit: 1,
        },
        FaultCase {
            name: "second repoint rejected",
            soracom: soracom("putConfigurationParameters", 2, 0, status(400)),
            aws: None,
            first_exit: 1,
        },
        FaultCase {
            name: "repoint answer lost once",
            soracom: soracom(
                "putConfigurationParameters",
                2,
                1,
                FaultKind::SucceedThenDrop,
            ),
            aws: None,
            first_exit: 0,
        },
        FaultCase {
            name: "event handler update rejected",
            soracom: soracom("updateEventHandler", 1, 0, status(400)),
            aws: None,
            first_exit: 1,
        },
        FaultCase {
            name: "rollback delete fails too",
            soracom: soracom("putConfigurationParameters", 1, 0, status(403)),
            aws: Some(AwsFault::always(
                "DeleteAccessKey",
                AwsFaultKind::InternalError,
            )),
            first_exit: 1,
        },
    ];
    let mut tasks = Vec::new();
    for case in cases {
        tasks.push(tokio::spawn(async move {
            let w = World::new().await;
            w.seed().await;
            let handler_set = format!("{PREFIX}-220810");
            w.emu.add_event_handler(json!({
                "name": "h", "status": "active", "targetOperatorId": "OP0012345678",
                "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "1"}},
                "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": handler_set}}]
            }));
            if let Some(f) = case.soracom.clone() {
                w.emu.add_fault(f);
            }
            if let Some(f) = case.aws.clone() {
                w.proxy.add_fault(f);
            }
            let run = w.run(&["rotate"]).await;
            assert_eq!(run.code, case.first_exit, "{}: first run\n{}\n{}", case.name, run.stdout, run.stderr);
            w.assert_invariants().await;
            let keys = w.keys().await;
            assert!(keys.len() <= 2, "{}: {keys:?}", case.name);
            w.emu.clear_faults();
            w.proxy.clear_faults();
            // The rerun finishes the job: rotate again only if the first run undid itself.
            let resumed = w.emu.credential(&w.id_for(0)).is_some();
            let rerun = if resumed { w.run(&["reconcile"]).await } else { w.run(&["rotate"]).await };
            assert_eq!(rerun.code, 0, "{}: rerun\n{}\n{}", case.name, rerun.stdout, rerun.stderr);
            if resumed {
                assert!(!rerun.stdout.contains("created access key"), "{}: resume made a new key", case.name);
            }
            // A third run has nothing left to do.
            let third = w.run(&["reconcile"]).await;
            assert!(third.stdout.contains("nothing due"), "{}: {}", case.name, third.stdout);
            w.assert_converged(&w.id_for(0)).await;
            w.finish().await;
        }));
    }
    for t in tasks {
        t.await.expect("case");
    }
}

/// One success is not proof: a failure between successes resets the count, so a flapping
/// new key is verified only after `successes` in a row.
#[tokio::test(start_paused = true)]
async fn verification_needs_successes_in_a_row() {
    let w = World::new().await;
    w.seed().await;
    w.proxy.add_fault(AwsFault {
        action: "GetCallerIdentity".into(),
        nth: 2,
        times: 1,
        kind: AwsFaultKind::AccessDenied,
    });
    w.expect(&["rotate"], 0).await;
    let new_key = w.key_of_set(&w.id_for(0)).expect("new key");
    let by_new: Vec<u16> = w
        .proxy
        .calls()
        .iter()
        .filter(|c| {
            c.action == "GetCallerIdentity" && c.access_key_id.as_deref() == Some(new_key.as_str())
        })
        .map(|c| c.status)
        .collect();
    assert_eq!(
        by_new,
        vec![200, 403, 200, 200, 200],
        "success, failure, then three in a row"
    );
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// Large pages keep a run fast, but the API states no maximum for `limit`: a server that
/// refuses the configured size (the emulator capping `limit` at 100, as such an API would)
/// gets 100 from then on, for groups and VPGs alike, and the run completes.
#[tokio::test(start_paused = true)]
async fn a_refused_page_size_falls_back_to_100() {
    let w = World::new().await;
    w.seed().await;
    let text = std::fs::read_to_string(w.config_path()).expect("config");
    std::fs::write(
        w.config_path(),
        text.replace("page_size = 100", "page_size = 1000"),
    )
    .expect("config");
    w.emu.set_max_limit(Some(100));
    w.expect(&["rotate"], 0).await;
    let limits = |op: &str| -> Vec<String> {
        w.emu
            .requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some(op))
            .filter_map(|r| {
                r.query
                    .as_deref()?
                    .split('&')
                    .find_map(|p| p.strip_prefix("limit="))
                    .map(str::to_string)
            })
            .collect()
    };
    // Each observation (a rotation observes again before it acts) asks 1,000 once, is
    // refused, and reads every page at 100.
    let groups = limits("listGroups");
    assert_eq!(
        groups.first().map(String::as_str),
        Some("1000"),
        "{groups:?}"
    );
    assert!(
        groups.iter().all(|l| l == "1000" || l == "100"),
        "{groups:?}"
    );
    let asked_1000 = groups.iter().filter(|l| *l == "1000").count();
    let refusals = w.emu.requests().iter().filter(|r| r.status == 400).count();
    assert_eq!(
        asked_1000, refusals,
        "each 1,000 refused, nothing else: {groups:?}"
    );
    assert_eq!(
        groups.len(),
        2 * refusals,
        "one page at 100 after each: {groups:?}"
    );
    // The VPG listing of the same observation is asked with the fallback at once (the
    // groups are listed again before the first move, outside an observation).
    let vpgs = limits("listVirtualPrivateGateways");
    let observations = w
        .emu
        .call_counts()
        .get("listEventHandlers")
        .copied()
        .unwrap_or(0);
    assert_eq!(vpgs.len() as u64, observations, "{vpgs:?}");
    assert!(vpgs.iter().all(|l| l == "100"), "{vpgs:?}");
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// A long report piped into something that stops reading (`| head`) ends quietly with
/// exit 0, never a panic. Only a process has a pipe to close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_report_quietly() {
    use tokio::io::AsyncReadExt;
    let w = World::process().await;
    w.seed().await;
    for i in 0..400 {
        w.emu
            .add_group(&format!("many-{i}"), funnel(&format!("{PREFIX}-220810")));
    }
    let args = w.with_now(&["--output", "json", "plan"]);
    let before = w.snapshot().await;
    let mut cmd = w.command_raw(&args, true);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut head = [0u8; 64];
    out.read_exact(&mut head).await.expect("the report begins");
    drop(out);
    let done = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("bounded")
        .expect("ran");
    let run = w.after_run(&args, before, &done).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.is_empty() || !run.stderr.contains("Broken pipe"),
        "{}",
        run.stderr
    );
    w.finish().await;
}

/// An access key found exposed: `rotate --emergency` rotates at once whatever the key's
/// age, records the exposure on the IAM user before anything else, and deactivates the
/// exposed key as soon as the references left it. A rerun finishes the same emergency and
/// never makes a second key; a key the target does not hold is refused (exit 3).
#[tokio::test(start_paused = true)]
async fn an_emergency_rotates_at_once_and_takes_the_exposed_key_off() {
    let w = World::authenticated().await;
    let old_key = w.seed().await;
    let old_set = format!("{PREFIX}-220810");
    let exposed_tag = format!("soracom-key-rotator:exposed:{old_key}");

    // A dry run plans the emergency and writes nothing, not even the record.
    let writes = (w.soracom_writes(), w.iam_writes());
    let run = w.expect(&["rotate", "--emergency", "--dry-run"], 0).await;
    assert!(run.stdout.contains("deactivate"), "{}", run.stdout);
    assert_eq!((w.soracom_writes(), w.iam_writes()), writes);
    assert!(w.user_tags().await.is_empty());

    // The key is a day old: nothing is due, and the emergency rotates anyway.
    let run = w.expect(&["-vvv", "rotate", "--emergency"], 0).await;
    assert!(
        !run.stdout.contains(&old_key),
        "key ids are masked:\n{}",
        run.stdout
    );
    let new_set = w.current_id();
    w.assert_converged(&new_set).await;
    let keys = w.keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .any(|k| k.id == old_key && k.status == "Inactive"),
        "the exposed key is off at once: {keys:?}"
    );
    assert_eq!(w.key_of_set(&old_set).as_deref(), Some(old_key.as_str()));
    let tags = w.user_tags().await;
    assert!(tags.iter().any(|(k, _)| *k == exposed_tag), "{tags:?}");

    // The same command again: the exposure is handled, nothing more is made.
    let writes = (w.soracom_writes(), w.iam_writes());
    let again = w
        .expect(&["--output", "json", "rotate", "--emergency"], 0)
        .await;
    assert_eq!(
        (w.soracom_writes(), w.iam_writes()),
        writes,
        "{}",
        again.stdout
    );
    assert_eq!(w.keys().await.len(), 2);

    // A key no target holds: refused, nothing changed.
    let stranger = "AKIAZZZZZZZZZZZZZZZZ";
    let run = w
        .expect(&["rotate", "--emergency", "--key", stranger], 3)
        .await;
    assert!(!run.stderr.contains(stranger), "masked: {}", run.stderr);
    assert_eq!((w.soracom_writes(), w.iam_writes()), writes);
    w.finish().await;
}

/// Shell completions and manual pages come from the binary itself and need no
/// configuration or credentials.
#[tokio::test(start_paused = true)]
async fn completions_and_man_pages_need_no_configuration() {
    let w = World::new().await;
    std::fs::remove_file(w.config_path()).expect("no configuration");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = w.expect(&["completions", shell], 0).await;
        for word in ["rotate-soracom-key", "reconcile", "--emergency"] {
            assert!(run.stdout.contains(word), "{shell}: no {word}");
        }
    }
    let man = w.expect(&["man"], 0).await;
    assert!(
        man.stdout.contains(".TH soracom-key-rotator 1"),
        "{}",
        man.stdout
    );
    for cmd in [
        "plan",
        "reconcile",
        "rotate",
        "retire",
        "rollback",
        "status",
        "policy",
    ] {
        let page = w.expect(&["man", cmd], 0).await;
        assert!(
            page.stdout
                .contains(&format!(".TH soracom-key-rotator-{cmd} 1")),
            "{cmd}: {}",
            page.stdout
        );
    }
    let rotate = w.expect(&["man", "rotate"], 0).await;
    assert!(rotate.stdout.contains("emergency"), "{}", rotate.stdout);
    let unknown = w.expect(&["man", "nope"], 2).await;
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
    // Nothing was asked of SORACOM or AWS.
    assert!(w.emu.requests().is_empty());
    assert!(w.proxy.calls().is_empty());
    w.assert_no_secret();
}

/// A first `plan` with no configuration file is a usage error that says how to make one
/// (discover, init) and where every setting is described, before anything is asked of AWS
/// or SORACOM.
#[tokio::test(start_paused = true)]
async fn plan_without_a_configuration_names_discover_and_init() {
    let w = World::new().await;
    std::fs::remove_file(w.config_path()).expect("no configuration");
    let run = w.expect(&["plan"], 2).await;
    for word in [
        "soracom-key-rotator discover",
        "soracom-key-rotator init",
        "docs/configuration.md",
    ] {
        assert!(run.stderr.contains(word), "{word}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("os error"), "{}", run.stderr);
    assert!(w.emu.requests().is_empty());
    assert!(w.proxy.calls().is_empty());
}

/// A VPG's Junction inspection reports to Funnel with a credential set: those references
/// are found on every page of VPGs, moved with the rest (the rest of the inspection kept),
/// and counted by retirement like any other.
#[tokio::test(start_paused = true)]
async fn vpg_inspection_reports_are_found_on_every_page_moved_and_counted() {
    let w = World::clocked().await;
    let k1 = w.seed().await;
    let old = format!("{PREFIX}-220810");
    // Two per page: three pages of VPGs.
    std::fs::write(
        w.config_path(),
        format!(
            "[soracom]\npage_size = 2\nretry_base_ms = 20\n\n[verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n",
            w.user
        ),
    )
    .expect("write config");
    let report = |set: &str| json!({"enabled": true, "report": {"enabled": true, "credentialsId": set, "contentType": "json", "addSimId": true}});
    for i in 0..3 {
        w.emu.add_vpg(&format!("vpg-{i}"), report(&old));
    }
    w.emu.add_vpg("vpg-none", serde_json::Value::Null);
    w.emu.add_vpg("vpg-other", report("someone-elses-set"));

    let now = w.travel(81);
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    let new_set = w.id_for(81);
    assert!(
        run.stdout.contains("5/5 references moved"),
        "{}",
        run.stdout
    );
    assert_eq!(
        w.emu.call_counts().get("listVirtualPrivateGateways"),
        Some(&3),
        "every page"
    );
    for i in 0..3 {
        let v = w.emu.vpg(&format!("vpg-{i}")).expect("vpg");
        let mut want = report(&new_set);
        want["enabled"] = json!(true);
        assert_eq!(v["inspection"], want, "vpg-{i}: only the reference changed");
    }
    assert_eq!(
        w.emu.vpg("vpg-other").expect("vpg")["inspection"],
        report("someone-elses-set")
    );
    w.assert_converged(&new_set).await;

    // A person points a VPG back at the old set: the old key is in use again, so its
    // retirement waits (and nothing deactivates it).
    w.emu.add_vpg("vpg-0", report(&old));
    let now = w.travel(81 + 8);
    w.expect(&["retire", "--now", &now], 0).await;
    let keys = w.keys().await;
    assert!(
        keys.iter().any(|k| k.id == k1 && k.status == "Active"),
        "{keys:?}"
    );
    let status = w
        .expect(&["--output", "json", "status", "--now", &now], 0)
        .await
        .json();
    let sets = status["targets"][0]["sets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let old_refs = sets
        .iter()
        .find(|s| s["id"] == json!(old))
        .map(|s| s["references"].clone());
    assert_eq!(
        old_refs,
        Some(json!(["VPG vpg-0 Junction inspection"])),
        "{sets:?}"
    );
    w.finish().await;
}
