//! The executor's recovery decisions, in-process: [`rotator::invoke`], as both
//! binaries run it, over the in-memory fakes (the fake IAM, the real SORACOM client over
//! the emulator in memory) on a [`testkit::world::World`] in simulated time, with a fault or a person acting in the
//! middle of a run. Each test asserts the report's typed fields (outcome, steps' success,
//! references moved, the plan's steps) and the state the run left in IAM and SORACOM;
//! every world ends with the contract and no-secret checks (the reports are searched).
//!
//! The subprocess fault sweep (`crates/cli/tests/fault_sweep.rs`) reaches these paths
//! too, but sees only the binary's exit code and the state after it; here each decision
//! is named: undo after a definite rejection, a key deleted before the first move or
//! after the last, a destructive step that a fresh observation no longer calls for, and
//! an unclear `CreateAccessKey`.
//!
//! A person acts while a latency fault holds the run at a known call: the test waits
//! (bounded) until the emulator reports the fault fired, acts, and the run goes on when
//! the latency ends.

use std::time::Duration;

use rotator::{invoke, Clients, Command, NoProgress, Outcome as Ran, Request};
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::plan::{Repair, Retire};
use rotator_core::report::{Outcome, TargetReport};
use rotator_core::{Config, Secret};
use soracom_emulator::{Fault, FaultBody, FaultKind};
use testkit::aws_proxy::{AwsFault, AwsFaultKind};
use testkit::fake::iam::FakeIam;
use testkit::world::{eventually, funnel, Moto, Options, World, PREFIX};

use crate::clients::{Operator, Silent};

const AUTH_KEY_ID: &str = "keyId-apply-test";
const AUTH_KEY: &str = "secret-apply-soracom-auth-key-0123456789";
/// How long a latency fault holds the run while the test acts.
const HOLD: Duration = Duration::from_secs(3);
/// How long the test waits for the run to reach the held call.
const REACH: Duration = Duration::from_secs(30);
/// Days after the rotation when the old key's grace period (`retire_after_days`, 7) is over.
const DEACTIVATE_AT: i64 = 8;
/// Days after the rotation when the old key's quiet period (`delete_after_days`, 7, after
/// the deactivation) is over.
const DELETE_AT: i64 = 16;

/// A world seeded with a first key `k1` in set `<PREFIX>-220810` (adopted, so that it may
/// be retired), used by groups test-1 and test-2, and the run's IAM port and operator.
struct Rig {
    w: World,
    old: String,
    k1: String,
    config: Config,
    iam: FakeIam,
    operator: Operator,
}

impl Rig {
    async fn new() -> Rig {
        let w = World::start(Options {
            harness: "rotator",
            user_prefix: "apply-user",
            auth_key: (AUTH_KEY_ID, AUTH_KEY),
            sam_user: None,
            moto: Moto::Memory,
        })
        .await;
        let old = format!("{PREFIX}-220810");
        let (k1, _) = w.seed_key(&old, &["test-1", "test-2"]).await;
        let text = format!(
            "[soracom]\npage_size = 100\nretry_base_ms = 20\n\n\
             [verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n\
             adopt_keys = {{ \"{old}\" = \"{k1}\" }}\n",
            w.user
        );
        let config = Config::from_toml(&text, std::path::Path::new("recovery.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let iam = w.fakes().iam.clone();
        let key = AuthKey {
            id: AUTH_KEY_ID.into(),
            secret: Secret::new(AUTH_KEY),
        };
        let operator = Operator(Endpoint(w.emu.endpoint()), key);
        Rig {
            w,
            old,
            k1,
            config,
            iam,
            operator,
        }
    }

    /// Runs `command` for the target with the world's clock at `days` after its epoch;
    /// the target's report. The whole report is kept for the secret check.
    async fn run(&self, command: Command, days: i64) -> TargetReport {
        self.w.travel(days);
        let clients = Clients {
            iam: &self.iam,
            soracom: &self.operator,
            dial: &self.w.fakes().dial,
            notify: &Silent,
            progress: &NoProgress,
            clock: &*self.w.fakes().clock,
            ids: &*self.w.fakes().ids,
        };
        let request = Request::Run {
            command,
            dry_run: false,
        };
        let report = match invoke(&self.config, None, request, self.w.current(), clients).await {
            Ok(Ran::Run(report)) => report,
            Ok(Ran::Status(_)) => panic!("a command reports a run, not a status"),
            Err(e) => panic!("the run failed before planning: {e}"),
        };
        self.w
            .wrote(&serde_json::to_string(&report).unwrap_or_default());
        report.targets.into_iter().next().expect("one target")
    }

    /// As [`Rig::run`], with `person` acting meanwhile.
    async fn run_while(
        &self,
        command: Command,
        days: i64,
        person: impl std::future::Future<Output = ()>,
    ) -> TargetReport {
        tokio::join!(self.run(command, days), person).0
    }

    /// Waits until the emulator fired a fault on `op`: the run is held at that call.
    async fn held_at(&self, op: &str) {
        let fired = eventually(REACH, || async {
            self.w.emu.fired().iter().any(|(o, _)| o == op)
        })
        .await;
        assert!(fired, "the run never reached {op}");
    }

    /// Holds the next call of `op` (after `nth - 1` others) for [`HOLD`].
    fn hold(&self, op: &str, nth: u32) {
        self.w.emu.add_fault(Fault {
            operation: op.into(),
            nth,
            times: 1,
            kind: FaultKind::Latency(HOLD),
        });
    }

    /// The user's access keys: (id, status).
    async fn keys(&self) -> Vec<(String, String)> {
        self.w
            .keys()
            .await
            .into_iter()
            .map(|k| (k.id, k.status))
            .collect()
    }

    /// The one key of the user that is not `k1`.
    async fn new_key(&self) -> String {
        let others: Vec<String> = self
            .keys()
            .await
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id != self.k1)
            .collect();
        assert_eq!(others.len(), 1, "one new key: {others:?}");
        others[0].clone()
    }

    /// Deletes the run's new key, as a person would; its id.
    async fn delete_new_key(&self) -> String {
        let new = self.new_key().await;
        self.w
            .iam
            .delete_access_key(&self.w.user, &new)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        new
    }

    /// Only the first key and its set are left, every reference is on it, active, and no
    /// record of the run is left on the user.
    async fn assert_back_to_the_seed(&self) {
        assert_eq!(self.keys().await, [(self.k1.clone(), "Active".to_string())]);
        assert_eq!(self.w.emu.credential_ids(), std::slice::from_ref(&self.old));
        assert_eq!(self.w.referenced(), [self.old.clone(), self.old.clone()]);
        assert_eq!(self.w.user_tags().await, []);
    }

    /// Sets the user's key `id` active or inactive, as a person would.
    async fn set_active(&self, id: &str, active: bool) {
        self.w
            .iam
            .set_key_status(&self.w.user, id, active)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The world's checks: the contract, and no secret in any report.
    fn finish(&self) {
        self.w.assert_contract();
        self.w.assert_no_secret();
    }
}

/// Whether each step succeeded, in order.
fn oks(t: &TargetReport) -> Vec<bool> {
    t.steps.iter().map(|s| s.ok).collect()
}

/// A failed run whose steps all succeeded but the last, the failure that stopped it (the
/// rollback steps before it succeeded).
fn assert_failed_at_the_end(t: &TargetReport) {
    let steps: Vec<String> = t.steps.iter().map(ToString::to_string).collect();
    assert_eq!(t.outcome, Outcome::Failed, "{steps:#?}");
    assert!(t.error.is_some(), "{steps:#?}");
    let (last, before) = oks(t)
        .split_last()
        .map(|(l, b)| (*l, b.to_vec()))
        .expect("steps");
    assert!(!last && before.iter().all(|ok| *ok), "{steps:#?}");
}

/// The rotation's first reference write is definitely rejected (400): nothing moved, so
/// the run deletes the new set and the new key it created, and a rerun rotates.
#[tokio::test(start_paused = true)]
async fn a_rejected_first_move_deletes_the_new_set_and_key() {
    let r = Rig::new().await;
    r.w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 1,
        times: 1,
        kind: FaultKind::Status {
            status: 400,
            body: FaultBody::Json,
        },
    });
    let t = r.run(Command::Rotate, 0).await;
    assert_failed_at_the_end(&t);
    assert_eq!((t.references.total, t.references.moved), (2, 0));
    let plan = t.plan.as_ref().expect("plan");
    assert!(plan
        .repair
        .iter()
        .any(|a| matches!(a, Repair::Rotate { .. })));
    // Rolled back: created, then deleted (set first, then key).
    let counts = r.w.emu.call_counts();
    assert_eq!(counts.get("createCredential"), Some(&1));
    assert_eq!(counts.get("deleteCredential"), Some(&1));
    assert_eq!(r.w.proxy.call_counts().get("DeleteAccessKey"), Some(&1));
    r.assert_back_to_the_seed().await;

    let again = r.run(Command::Rotate, 0).await;
    assert_eq!(again.outcome, Outcome::Done, "{:#?}", again.steps);
    assert_eq!(again.references.moved, 2);
    let new = r.w.current_id();
    assert_eq!(r.w.referenced(), [new.clone(), new]);
    r.finish();
}

/// A person deletes the new key after the run created its set and before the first move:
/// the check right before the first move sees it gone, nothing moves, and the new set
/// (and the key's records) are removed.
#[tokio::test(start_paused = true)]
async fn a_new_key_deleted_before_the_first_move_moves_nothing_and_removes_the_set() {
    let r = Rig::new().await;
    r.hold("createCredential", 1);
    let person = async {
        r.held_at("createCredential").await;
        r.delete_new_key().await;
    };
    let t = r.run_while(Command::Rotate, 0, person).await;
    assert_failed_at_the_end(&t);
    assert_eq!((t.references.total, t.references.moved), (2, 0));
    assert_eq!(
        r.w.emu.call_counts().get("putConfigurationParameters"),
        None
    );
    assert_eq!(r.w.emu.call_counts().get("deleteCredential"), Some(&1));
    r.assert_back_to_the_seed().await;
    r.finish();
}

/// A person deletes the new key while the last reference moves onto its set: the check
/// after the last move sees it gone and every moved reference goes back to the old set,
/// whose key is still active. The run fails, and the new set, holding the deleted key, is
/// left unreferenced.
#[tokio::test(start_paused = true)]
async fn a_new_key_deleted_after_the_last_move_sends_the_references_back() {
    let r = Rig::new().await;
    // The first move is the canary alone; the second is the last.
    r.hold("putConfigurationParameters", 2);
    let person = async {
        r.held_at("putConfigurationParameters").await;
        r.delete_new_key().await
    };
    let (t, deleted) = tokio::join!(r.run(Command::Rotate, 0), person);
    assert_failed_at_the_end(&t);
    assert_eq!((t.references.total, t.references.moved), (2, 2));
    // Two moves there, two back.
    assert_eq!(
        r.w.emu.call_counts().get("putConfigurationParameters"),
        Some(&4)
    );
    assert_eq!(r.w.funnel_of("test-1"), r.old.as_str());
    assert_eq!(r.w.funnel_of("test-2"), r.old.as_str());
    assert_eq!(r.w.referenced(), [r.old.clone(), r.old.clone()]);
    assert_eq!(r.keys().await, [(r.k1.clone(), "Active".to_string())]);
    // The new set is left, unreferenced, holding the deleted key.
    let new_set = r.w.current_id();
    assert_eq!(r.w.emu.credential_ids(), [r.old.clone(), new_set.clone()]);
    assert_eq!(r.w.key_of_set(&new_set).as_deref(), Some(deleted.as_str()));
    // The next run, at once, is not held back by the deleted key's record (no run is at
    // work) and removes the leftover set and every record.
    let next = r.run(Command::Reconcile, 0).await;
    assert_eq!(next.outcome, Outcome::Done, "{:#?}", next.steps);
    r.assert_back_to_the_seed().await;
    r.finish();
}

/// The old key's grace period is over and the plan deactivates it; while the run observes,
/// a person points a new group at the old set. The re-check before retiring sees the
/// reference, so the deactivation is not done and the run says so (failed: the state
/// changed).
#[tokio::test(start_paused = true)]
async fn a_deactivation_is_skipped_when_a_reference_came_back_to_the_old_set() {
    let r = Rig::new().await;
    let rotated = r.run(Command::Rotate, 0).await;
    assert_eq!(rotated.outcome, Outcome::Done, "{:#?}", rotated.steps);
    // The first observation lists groups, then event handlers: held there, it has seen
    // the groups already.
    r.hold("listEventHandlers", 1);
    let person = async {
        r.held_at("listEventHandlers").await;
        r.w.emu.add_group("test-3", funnel(&r.old));
    };
    let t = r.run_while(Command::Reconcile, DEACTIVATE_AT, person).await;
    let plan = t.plan.as_ref().expect("plan");
    assert!(
        plan.retire.iter().any(
            |a| matches!(a, Retire::Deactivate { key, set_id } if key.as_str() == r.k1 && *set_id == r.old)
        ),
        "the plan deactivates the old key: {:?}",
        plan.retire
    );
    assert_eq!(t.outcome, Outcome::Failed, "{:#?}", t.steps);
    assert!(
        !t.steps.is_empty() && oks(&t).iter().all(|ok| !ok),
        "{:#?}",
        t.steps
    );
    assert_eq!(r.w.proxy.call_counts().get("UpdateAccessKey"), None);
    assert!(r
        .keys()
        .await
        .contains(&(r.k1.clone(), "Active".to_string())));
    assert!(r.w.emu.credential_ids().contains(&r.old));
    r.finish();
}

/// The old key was deactivated and its quiet period is over, so the plan deletes it and
/// its set; while the run observes, a person re-activates the key. The re-check before
/// retiring sees it active: neither the key nor the set is deleted.
#[tokio::test(start_paused = true)]
async fn a_deletion_is_skipped_when_the_old_key_was_reactivated() {
    let r = Rig::new().await;
    let rotated = r.run(Command::Rotate, 0).await;
    assert_eq!(rotated.outcome, Outcome::Done, "{:#?}", rotated.steps);
    let deactivated = r.run(Command::Reconcile, DEACTIVATE_AT).await;
    assert_eq!(
        deactivated.outcome,
        Outcome::Done,
        "{:#?}",
        deactivated.steps
    );
    assert!(r
        .keys()
        .await
        .contains(&(r.k1.clone(), "Inactive".to_string())));

    // Held at the end of the SORACOM side of the first observation; the person acts once
    // the IAM side (keys, then the user's tags) has been read too.
    let tags_read = r.w.proxy.call_counts().get("ListUserTags").copied();
    r.hold("listEventHandlers", 1);
    let person = async {
        r.held_at("listEventHandlers").await;
        let iam_read = eventually(HOLD / 2, || async {
            r.w.proxy.call_counts().get("ListUserTags").copied() > tags_read
        })
        .await;
        assert!(iam_read, "the run did not read the user's tags while held");
        r.set_active(&r.k1, true).await;
    };
    let t = r.run_while(Command::Reconcile, DELETE_AT, person).await;
    let plan = t.plan.as_ref().expect("plan");
    assert!(
        plan.retire.iter().any(|a| matches!(
            a,
            Retire::DeleteRetired { key, set_id: Some(s) } if key.as_str() == r.k1 && *s == r.old
        )),
        "the plan deletes the old key and set: {:?}",
        plan.retire
    );
    assert_eq!(t.outcome, Outcome::Failed, "{:#?}", t.steps);
    assert!(oks(&t).contains(&false), "{:#?}", t.steps);
    assert_eq!(r.w.proxy.call_counts().get("DeleteAccessKey"), None);
    assert_eq!(r.w.emu.call_counts().get("deleteCredential"), None);
    assert!(r
        .keys()
        .await
        .contains(&(r.k1.clone(), "Active".to_string())));
    assert!(r.w.emu.credential_ids().contains(&r.old));
    r.finish();
}

/// `CreateAccessKey` fails unclearly (500 every time: it may or may not have created a
/// key). The run lists the keys, finds none new, and removes its announcement: no key,
/// no record left.
#[tokio::test(start_paused = true)]
async fn an_unclear_create_access_key_failure_leaves_no_key_and_no_announcement() {
    let r = Rig::new().await;
    r.w.proxy.add_fault(AwsFault::always(
        "CreateAccessKey",
        AwsFaultKind::InternalError,
    ));
    let t = r.run(Command::Rotate, 0).await;
    assert_failed_at_the_end(&t);
    assert_eq!(t.references.moved, 0);
    // The announcement was written before the call and removed after it.
    let actions: Vec<String> = r.w.proxy.calls().into_iter().map(|c| c.action).collect();
    let at = |a: &str| actions.iter().position(|x| x == a);
    let create = at("CreateAccessKey").expect("CreateAccessKey was called");
    assert!(at("TagUser").is_some_and(|i| i < create), "{actions:?}");
    assert!(
        actions[create..].iter().any(|a| a == "UntagUser"),
        "{actions:?}"
    );
    assert_eq!(r.w.emu.call_counts().get("createCredential"), None);
    r.assert_back_to_the_seed().await;
    r.finish();
}

/// `CreateAccessKey` creates a key but its answer never arrives: the run finds the one
/// new, never-used key, deletes it (its secret was never seen), and removes its
/// announcement.
#[tokio::test(start_paused = true)]
async fn a_key_created_by_an_unanswered_call_is_deleted() {
    let r = Rig::new().await;
    r.w.proxy.add_fault(AwsFault::next(
        "CreateAccessKey",
        1,
        AwsFaultKind::SucceedThenDrop,
    ));
    let t = r.run(Command::Rotate, 0).await;
    assert_failed_at_the_end(&t);
    assert_eq!(r.w.proxy.call_counts().get("DeleteAccessKey"), Some(&1));
    assert_eq!(r.w.emu.call_counts().get("createCredential"), None);
    r.assert_back_to_the_seed().await;
    r.finish();
}
