//! `migrate-to-role`'s building blocks against moto and the emulator: the IAM adapter's
//! role and policy calls ([`AwsIam`] over moto's IAM), and [`rotator::migrate`]
//! (as both binaries run it) in-process on a [`World`] (moto through the AWS fault proxy,
//! the emulator), including a holder that refuses the role set and a create whose answer
//! is lost.

use rotator::soracom::{Dial, HttpDial, SoracomApi, SoracomClient};
use rotator::{migrate, AwsIam, Clients, IamApi, NoProgress};
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::migration::MigrationOutcome;
use rotator_core::role::{self, PolicyAction, RoleAction, SetAction};
use rotator_core::{Config, Secret};
use serde_json::{json, Value};
use soracom_emulator::{Fault, FaultKind, RoleRefusal};
use testkit::moto;
use testkit::world::{Moto, Options, World, PREFIX};

use crate::clients::{Operator, Silent};

const AUTH_KEY_ID: &str = "keyId-role-test";
const AUTH_KEY: &str = "secret-role-soracom-auth-key-0123456789";
const SORACOM_ACCOUNT: &str = "111122223333";

const INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:ap-northeast-1:123456789012:topic/soracom/*"}]}"#;

/// A managed policy in moto, its ARN.
async fn managed_policy(iam: &moto::Iam, name: &str) -> String {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}]}"#;
    let out = iam
        .client()
        .create_policy()
        .policy_name(name)
        .policy_document(doc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create policy: {e:?}"));
    out.policy()
        .and_then(|p| p.arn())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no policy arn"))
}

/// Gives `user` an inline policy `iot`, the managed policy `arn` and group `group`.
async fn give_policies(iam: &moto::Iam, user: &str, arn: &str, group: &str) {
    let c = iam.client();
    c.put_user_policy()
        .user_name(user)
        .policy_name("iot")
        .policy_document(INLINE)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put user policy: {e:?}"));
    c.attach_user_policy()
        .user_name(user)
        .policy_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("attach: {e:?}"));
    c.create_group()
        .group_name(group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create group: {e:?}"));
    c.add_user_to_group()
        .user_name(user)
        .group_name(group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("add to group: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_reads_user_policies_and_makes_a_tagged_role() {
    testkit::install_crypto_provider();
    let helper = moto::Iam::from_env().await;
    let iam = AwsIam::new(moto::sdk_config(&moto::endpoint()).await);
    let user = moto::unique("role-user");
    helper
        .create_user(&user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let empty = iam
        .user_policies(&user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(empty, Default::default());
    let arn = managed_policy(&helper, &moto::unique("kinesis")).await;
    let group = moto::unique("ops");
    give_policies(&helper, &user, &arn, &group).await;

    // moto keeps no user permissions boundary (PutUserPermissionsBoundary is not
    // emulated): the user's side is read by GetUser and judged in role.rs's unit tests; the
    // role's is checked here.
    let boundary = managed_policy(&helper, &moto::unique("boundary")).await;
    let got = iam
        .user_policies(&user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.boundary, None);
    assert_eq!(got.inline.len(), 1);
    assert_eq!(got.inline[0].name, "iot");
    // Decoded from IAM's URL encoding into the JSON that was put.
    let doc: Value = serde_json::from_str(&got.inline[0].document)
        .unwrap_or_else(|e| panic!("{e}: {}", got.inline[0].document));
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(INLINE).unwrap_or_default()
    );
    assert_eq!(got.attached.len(), 1);
    assert_eq!(got.attached[0].arn, arn);
    assert_eq!(got.groups, [group]);

    let name = moto::unique("role");
    assert_eq!(iam.role(&name).await.map_err(|e| e.to_string()), Ok(None));
    let trust = role::trust_policy(SORACOM_ACCOUNT, "ext-0123");
    let tags = [
        (role::TAG_TARGET.to_string(), Secret::new("funnel")),
        (role::TAG_EXTERNAL_ID.to_string(), Secret::new("ext-0123")),
    ];
    let made = iam
        .create_role(
            &name,
            &Secret::new(trust.to_string()),
            "test role",
            Some(&boundary),
            &tags,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(made.arn.ends_with(&format!(":role/{name}")), "{}", made.arn);
    iam.put_role_policy(&name, "iot", INLINE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    iam.attach_role_policy(&name, &arn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Attaching twice is not an error.
    iam.attach_role_policy(&name, &arn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let read = iam
        .role(&name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("role {name} not found"));
    assert_eq!(read.arn, made.arn);
    assert_eq!(read.boundary.as_deref(), Some(boundary.as_str()));
    assert!(role::trusts(
        read.trust.expose(),
        SORACOM_ACCOUNT,
        "ext-0123"
    ));
    let tag = |k: &str| {
        read.tags
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.expose().to_string())
    };
    assert_eq!(tag(role::TAG_TARGET).as_deref(), Some("funnel"));
    assert_eq!(tag(role::TAG_EXTERNAL_ID).as_deref(), Some("ext-0123"));
    assert_eq!(read.inline, ["iot"]);
    assert_eq!(read.attached, [arn]);
    // The role's Debug shows neither its trust nor its tags' values.
    assert!(!format!("{read:?}").contains("ext-0123"));

    let again = iam
        .create_role(
            &name,
            &Secret::new(trust.to_string()),
            "test role",
            None,
            &tags,
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("a second CreateRole of {name} succeeded"));
    assert!(
        matches!(&again, rotator::Error::Aws { code: Some(c), .. } if c == "EntityAlreadyExists"),
        "{again}"
    );
}

/// A world whose user has an inline policy, a managed policy and a group, the engine's
/// adapters and a configuration that can migrate.
struct Rig {
    w: World,
    iam: AwsIam,
    /// The operator's endpoint and AuthKey, and how SORACOM is reached: what a run logs in
    /// with.
    operator: Operator,
    dial: HttpDial,
    /// A client of the same operator, acting beside the runs.
    soracom: SoracomClient,
    config: Config,
    policy_arn: String,
}

impl Rig {
    async fn new() -> Rig {
        let w = World::start(Options {
            harness: "rotator",
            user_prefix: "role-user",
            auth_key: (AUTH_KEY_ID, AUTH_KEY),
            sam_user: None,
            moto: Moto::Shared,
        })
        .await;
        let policy_arn = managed_policy(w.iam.moto(), &moto::unique("kinesis")).await;
        give_policies(w.iam.moto(), &w.user, &policy_arn, &moto::unique("ops")).await;
        let text = format!(
            "[soracom]\naws_account_id = \"{SORACOM_ACCOUNT}\"\nretry_base_ms = 20\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n",
            w.user
        );
        let config = Config::from_toml(&text, std::path::Path::new("role.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let iam = AwsIam::new(w.sdk_config().await);
        let operator = Operator(
            Endpoint(w.emu.endpoint()),
            AuthKey {
                id: AUTH_KEY_ID.into(),
                secret: Secret::new(AUTH_KEY),
            },
        );
        let dial = HttpDial {
            clock: std::sync::Arc::new(rotator::SystemClock::new()),
        };
        let soracom = dial
            .dial(&operator.0, operator.1.clone(), &config.soracom)
            .unwrap_or_else(|e| panic!("{e}"));
        Rig {
            w,
            iam,
            operator,
            dial,
            soracom,
            config,
            policy_arn,
        }
    }

    fn role_name(&self) -> String {
        format!("{}-role", self.w.user)
    }

    async fn migrate(&self, dry_run: bool) -> rotator_core::migration::MigrationReport {
        let clients = Clients {
            iam: &self.iam,
            soracom: &self.operator,
            dial: &self.dial,
            notify: &Silent,
            progress: &NoProgress,
            clock: &*self.dial.clock,
            ids: &rotator::OsIds::default(),
        };
        let report = migrate(&self.config, "funnel", dry_run, clients)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let text = report.render_text(None);
        let json = serde_json::to_string(&report).unwrap_or_default();
        self.w.wrote(&text);
        self.w.wrote(&json);
        report
    }

    async fn finish(&self) {
        self.w.assert_contract();
        self.w.assert_no_secret();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_registers_the_role_set_a_rerun_adopts_and_a_lost_answer_is_settled_by_listing() {
    let r = Rig::new().await;
    // The create's answer is lost after SORACOM made the set: the listing settles it.
    r.w.emu.add_fault(Fault {
        operation: "createCredential".into(),
        nth: 1,
        times: 1,
        kind: FaultKind::SucceedThenDrop,
    });
    let first = r.migrate(false).await;
    assert_eq!(
        first.outcome,
        MigrationOutcome::Done,
        "{}",
        first.render_text(None)
    );
    assert!(
        r.w.emu
            .fired()
            .iter()
            .any(|(op, k)| op == "createCredential" && *k == FaultKind::SucceedThenDrop),
        "the lost answer was not simulated"
    );
    let set_id = format!("{PREFIX}-role");
    let set =
        r.w.emu
            .credential(&set_id)
            .unwrap_or_else(|| panic!("no set {set_id}"));
    assert_eq!(set.kind, role::ROLE_CREDENTIALS);
    let role_now = r
        .iam
        .role(&r.role_name())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no role"));
    assert_eq!(set.credentials["roleArn"], json!(role_now.arn));
    let external_id = set.credentials["externalId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(external_id.len(), role::EXTERNAL_ID_LEN);
    r.w.plant_secret(&external_id);
    assert!(role::trusts(
        role_now.trust.expose(),
        SORACOM_ACCOUNT,
        &external_id
    ));
    assert_eq!(role_now.inline, ["iot"]);
    assert_eq!(role_now.attached, std::slice::from_ref(&r.policy_arn));
    assert_eq!(
        first
            .role_set
            .as_ref()
            .map(|s| (&s.credential_id, &s.role_arn)),
        Some((&set_id, &role_now.arn))
    );
    let plan = serde_json::to_value(&first.plan).unwrap_or_default();
    assert_eq!(plan["groupsNotCopied"].as_array().map(Vec::len), Some(1));

    // A rerun adopts everything and changes nothing.
    let writes = r.w.soracom_writes();
    let second = r.migrate(false).await;
    assert_eq!(second.outcome, MigrationOutcome::NothingToDo);
    assert!(matches!(second.plan.role, RoleAction::Adopt { .. }));
    assert_eq!(second.plan.credential_set, SetAction::Present);
    assert!(second.steps.is_empty());
    assert_eq!(r.w.soracom_writes(), writes);
    r.finish().await;
}

/// The emulator's refusal switch: a holder kind that refuses role sets answers 400 to a
/// write that would point it at one, and the write is not performed; other holders and key
/// sets are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_refuses_role_sets_answers_400_and_keeps_its_reference() {
    let r = Rig::new().await;
    let (_k, _s) = r.w.seed_key(&format!("{PREFIX}-220810"), &["test-1"]).await;
    let done = r.migrate(false).await;
    assert_eq!(
        done.outcome,
        MigrationOutcome::Done,
        "{}",
        done.render_text(None)
    );
    let set_id = format!("{PREFIX}-role");
    r.w.emu
        .set_role_refusals(vec![RoleRefusal::Namespace("SoracomFunnel".into())]);
    let group =
        r.w.emu
            .group_by_name("test-1")
            .and_then(|g| g["groupId"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no group test-1"));
    let refused = r
        .soracom
        .put_group_config(&group, "SoracomFunnel", "credentialsId", &json!(set_id))
        .await
        .err()
        .unwrap_or_else(|| panic!("a refusing holder took the role set"));
    assert!(refused.is_definite_rejection(), "{refused}");
    assert_eq!(r.w.funnel_of("test-1"), json!(format!("{PREFIX}-220810")));
    // Another namespace, and a key set in the refusing one, are written.
    r.soracom
        .put_group_config(
            &group,
            "SoracomFunk",
            "credentialsId",
            &json!({"$credentialsId": set_id}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    r.soracom
        .put_group_config(&group, "SoracomFunnel", "enabled", &json!(true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    r.w.emu.set_role_refusals(Vec::new());
    r.soracom
        .put_group_config(&group, "SoracomFunnel", "credentialsId", &json!(set_id))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.w.funnel_of("test-1"), json!(set_id));

    // Event handlers: the whole handler is written back, the refusal finds the reference.
    let handler = |set: &str| {
        json!({
            "name": "h", "status": "active", "targetGroupId": group,
            "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "100"}},
            "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": set}}]
        })
    };
    let id =
        r.w.emu
            .add_event_handler(handler(&format!("{PREFIX}-220810")));
    r.w.emu.set_role_refusals(vec![RoleRefusal::EventHandlers]);
    let refused = r
        .soracom
        .update_event_handler(&id, &handler(&set_id))
        .await
        .err()
        .unwrap_or_else(|| panic!("a refusing event handler took the role set"));
    assert!(refused.is_definite_rejection(), "{refused}");
    r.soracom
        .update_event_handler(&id, &handler(&format!("{PREFIX}-220810")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    r.w.emu.set_role_refusals(Vec::new());
    r.soracom
        .update_event_handler(&id, &handler(&set_id))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing_and_a_foreign_role_is_left_alone() {
    let r = Rig::new().await;
    let dry = r.migrate(true).await;
    assert_eq!(dry.outcome, MigrationOutcome::Planned);
    assert_eq!(dry.plan.role, RoleAction::Create);
    assert_eq!(dry.plan.inline_policies[0].action, PolicyAction::Add);
    assert_eq!(dry.plan.attached_policies[0].arn, r.policy_arn);
    assert!(r.iam.role(&r.role_name()).await.ok().flatten().is_none());
    assert!(r.w.emu.credential(&format!("{PREFIX}-role")).is_none());

    // A role of that name made by someone else: reported, never changed.
    let foreign_trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    r.w.iam
        .moto()
        .client()
        .create_role()
        .role_name(r.role_name())
        .assume_role_policy_document(foreign_trust.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let refused = r.migrate(false).await;
    assert_eq!(refused.outcome, MigrationOutcome::Refused);
    assert_eq!(refused.exit_code(), 3);
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.contains(role::TAG_TARGET)),
        "{:?}",
        refused.error
    );
    let after = r
        .iam
        .role(&r.role_name())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no role"));
    assert!(after.inline.is_empty() && after.attached.is_empty() && after.tags.is_empty());
    assert!(r.w.emu.credential(&format!("{PREFIX}-role")).is_none());
    r.finish().await;
}

/// A failure at each step of a migration (an answer lost after IAM acted, a refusal, a
/// SORACOM failure) ends the run as failed with what was done kept; the next run adopts it
/// and finishes, with the role complete and exactly one set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_any_step_converges_on_the_next_run() {
    use testkit::aws_proxy::{AwsFault, AwsFaultKind};
    enum At {
        Aws(&'static str, AwsFaultKind),
        Soracom(FaultKind),
    }
    let cases = [
        At::Aws("CreateRole", AwsFaultKind::SucceedThenDrop),
        At::Aws("PutRolePolicy", AwsFaultKind::AccessDenied),
        At::Aws("AttachRolePolicy", AwsFaultKind::AccessDenied),
        At::Aws("ListAttachedRolePolicies", AwsFaultKind::AccessDenied),
        At::Soracom(FaultKind::Status {
            status: 500,
            body: soracom_emulator::FaultBody::Json,
        }),
    ];
    for at in cases {
        let r = Rig::new().await;
        let what = match &at {
            At::Aws(action, kind) => {
                r.w.proxy.add_fault(AwsFault {
                    action: (*action).into(),
                    nth: 1,
                    times: 1,
                    kind: *kind,
                });
                format!("{action} {kind:?}")
            }
            At::Soracom(kind) => {
                r.w.emu.add_fault(Fault {
                    operation: "createCredential".into(),
                    nth: 1,
                    times: 1,
                    kind: kind.clone(),
                });
                format!("createCredential {kind:?}")
            }
        };
        let first = r.migrate(false).await;
        assert_eq!(
            first.outcome,
            MigrationOutcome::Failed,
            "{what}: {}",
            first.render_text(None)
        );
        assert_eq!(first.exit_code(), 1);
        let second = r.migrate(false).await;
        assert!(
            matches!(
                second.outcome,
                MigrationOutcome::Done | MigrationOutcome::NothingToDo
            ),
            "{what}: {}",
            second.render_text(None)
        );
        let made = r
            .iam
            .role(&r.role_name())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{what}: no role"));
        assert_eq!(made.inline, ["iot"], "{what}");
        assert_eq!(made.attached, std::slice::from_ref(&r.policy_arn), "{what}");
        let set =
            r.w.emu
                .credential(&format!("{PREFIX}-role"))
                .unwrap_or_else(|| panic!("{what}: no set"));
        let id = set.credentials["externalId"].as_str().unwrap_or_default();
        r.w.plant_secret(id);
        assert!(
            role::trusts(made.trust.expose(), SORACOM_ACCOUNT, id),
            "{what}"
        );
        assert_eq!(set.credentials["roleArn"], json!(made.arn), "{what}");
        r.finish().await;
    }
}
