//! The executor's decisions, table-driven: no I/O.

use super::*;
use crate::config::Placement;
use crate::model::{link_description, CredentialSet, Holder, LastUsed, Shape};
use crate::plan::{plan, Mode};
use crate::records::Creating;
use serde_json::json;
use time::macros::datetime;
use time::Duration;

const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);
const K1: &str = "AKIAAAAAAAAAAAAAAAA1";
const K2: &str = "AKIAAAAAAAAAAAAAAAA2";

fn k(id: &str) -> AccessKeyId {
    AccessKeyId::new(id)
}

fn target() -> Target {
    Target {
        canary: None,
        role_set_id: "p-role".into(),
        account: None,
        soracom: Default::default(),
        name: "funnel".into(),
        iam_user: "u".into(),
        placement: Placement::Managed { prefix: "p".into() },
        max_key_age_days: 90,
        deadline_margin_days: 3,
        retire_after_days: 7,
        delete_after_days: 7,
        settle_minutes: 60,
        adopt: Vec::new(),
        adopt_keys: Default::default(),
    }
}

fn key(id: &str, status: KeyStatus, used: bool) -> AccessKey {
    AccessKey {
        id: k(id),
        status,
        created: NOW - Duration::days(10),
        last_used: used.then(|| LastUsed {
            at: NOW - Duration::days(1),
            service: "iot".into(),
            region: "us-east-1".into(),
        }),
    }
}

fn set(id: &str, key: &str, days_old: i64) -> CredentialSet {
    CredentialSet {
        id: id.into(),
        kind: "aws-credentials".into(),
        description: link_description(&k(key)),
        created: Some(NOW - Duration::days(days_old)),
        updated: None,
        last_used: None,
        api_key: None,
    }
}

fn funnel(group: &str, set_id: &str) -> Slot {
    Slot {
        holder: Holder::GroupKey {
            group_id: group.into(),
            group_name: Some(group.into()),
            namespace: "SoracomFunnel".into(),
            key: "credentialsId".into(),
        },
        value: json!(set_id),
        refs: vec![Ref {
            path: vec![],
            shape: Shape::String,
            set_id: set_id.into(),
        }],
    }
}

/// K1 in set p-221001 (old, inactive unless `k1_active`), K2 in p-221101 (current), both
/// referenced from a group of their own.
fn observed(k1_active: bool) -> Observed {
    let s1 = if k1_active {
        KeyStatus::Active
    } else {
        KeyStatus::Inactive
    };
    Observed {
        keys: vec![key(K1, s1, true), key(K2, KeyStatus::Active, false)],
        sets: vec![set("p-221001", K1, 60), set("p-221101", K2, 20)],
        slots: vec![funnel("g1", "p-221001"), funnel("g2", "p-221101")],
        records: Records::default(),
        auth_failures: Vec::new(),
        held_elsewhere: Vec::new(),
    }
}

#[test]
fn a_key_check_reads_what_iam_lists() {
    let listed = vec![(k(K1), KeyStatus::Active), (k(K2), KeyStatus::Inactive)];
    for (key, want, after) in [
        (K1, KeyCheck::Active, AfterCheck::GoOn),
        (K2, KeyCheck::Inactive, AfterCheck::Back),
        ("AKIAAAAAAAAAAAAAAAA3", KeyCheck::Gone, AfterCheck::Back),
    ] {
        let check = key_check(&listed, &k(key));
        assert_eq!(check, want, "{key}");
        assert_eq!(after_check(Some(check)), after, "{key}");
    }
    // IAM could not be read: neither on nor back.
    assert_eq!(after_check(None), AfterCheck::Unknown);
}

#[test]
fn only_a_clean_definite_rejection_of_a_run_s_own_key_undoes_it() {
    for (moved, definite, rotated, want) in [
        (0, true, true, FailedCutover::Undo),
        (0, false, true, FailedCutover::HandOver),
        (1, true, true, FailedCutover::HandOver),
        (0, true, false, FailedCutover::HandOver),
        (3, false, false, FailedCutover::HandOver),
    ] {
        assert_eq!(
            failed_cutover(moved, definite, rotated),
            want,
            "{moved} moved, definite {definite}, rotated {rotated}"
        );
    }
}

#[test]
fn a_lost_create_answer_deletes_only_one_new_unused_key() {
    let before = vec![k(K1)];
    let old = key(K1, KeyStatus::Active, true);
    let fresh = key(K2, KeyStatus::Active, false);
    let used = key(K2, KeyStatus::Active, true);
    let third = key("AKIAAAAAAAAAAAAAAAA3", KeyStatus::Active, false);
    assert_eq!(
        failed_create(&before, std::slice::from_ref(&old)),
        FailedCreate::NoneMade
    );
    assert_eq!(
        failed_create(&before, &[old.clone(), fresh.clone()]),
        FailedCreate::Delete(k(K2))
    );
    // A used key may be a person's: not provably this run's.
    assert_eq!(
        failed_create(&before, &[old.clone(), used]),
        FailedCreate::Unclear
    );
    assert_eq!(failed_create(&[], &[fresh, third]), FailedCreate::Unclear);
}

#[test]
fn undo_keeps_a_set_others_moved_references_onto() {
    let mut fresh = observed(true);
    fresh.sets.push(set("p-221128", K2, 0));
    assert_eq!(undo(&fresh, "p-221128", &k(K2)), Undo::SetAndKey);
    fresh.slots.push(funnel("g3", "p-221128"));
    assert_eq!(undo(&fresh, "p-221128", &k(K2)), Undo::KeepReferenced);
    // Not there, or holding another key: only the key this run made goes.
    assert_eq!(undo(&fresh, "p-missing", &k(K2)), Undo::KeyOnly);
    assert_eq!(undo(&fresh, "p-221128", &k(K1)), Undo::KeyOnly);
}

#[test]
fn another_run_shows_by_a_young_record_not_by_an_old_or_our_own() {
    let own = creating_key("mine");
    let keys = vec![k(K1), k(K2)];
    let young = NOW - Duration::minutes(5);
    let old = NOW - IN_FLIGHT_LIMIT - Duration::minutes(1);
    let creating = |run: &str, since| Creating {
        run: run.into(),
        since,
        existing: Some(Vec::new()),
    };
    let cases: Vec<(&str, Records, bool)> = vec![
        ("nothing", Records::default(), false),
        (
            "our own announcement",
            Records {
                creating: vec![creating("mine", young)],
                ..Records::default()
            },
            false,
        ),
        (
            "another's announcement",
            Records {
                creating: vec![creating("theirs", young)],
                ..Records::default()
            },
            true,
        ),
        (
            "another's announcement, long over",
            Records {
                creating: vec![creating("theirs", old)],
                ..Records::default()
            },
            false,
        ),
        (
            "another's lease",
            Records {
                leases: vec![("theirs".into(), young)],
                ..Records::default()
            },
            true,
        ),
        (
            "a key in flight",
            Records {
                keys: [(
                    k(K2),
                    KeyRecord::InFlight {
                        since: young,
                        set_id: "p-x".into(),
                    },
                )]
                .into(),
                ..Records::default()
            },
            true,
        ),
        (
            "a record of a key that is gone",
            Records {
                keys: [(
                    k("AKIAAAAAAAAAAAAAAAA9"),
                    KeyRecord::InFlight {
                        since: young,
                        set_id: "p-x".into(),
                    },
                )]
                .into(),
                ..Records::default()
            },
            false,
        ),
    ];
    for (what, records, busy) in cases {
        assert_eq!(
            another_run_at_work(&records, &own, &keys, NOW),
            busy,
            "{what}"
        );
    }
}

#[test]
fn a_destructive_step_goes_only_if_the_fresh_plan_still_holds_it() {
    let deactivate = |set: &str| Retire::Deactivate {
        key: k(K1),
        set_id: set.into(),
    };
    let record = Retire::Forget { key: k(K2) };
    let steps = vec![deactivate("p-221001"), record.clone()];
    let obs = observed(true);
    let mut again = plan(&target(), &obs, NOW, Mode::Reconcile);
    // (g1 still names the old set: the fresh plan moves it; that comes back below.)
    again.cutover.clear();
    // The fresh plan no longer deactivates: only the record (not destructive) goes.
    again.retire.clear();
    assert_eq!(still_called_for(&steps, &[], &again), vec![false, true]);
    // It still does: both go.
    let fresh = vec![deactivate("p-221001")];
    assert_eq!(still_called_for(&steps, &fresh, &again), vec![true, true]);
    // It does, but it moves references off that set (someone moved them onto it): not.
    again.cutover.push(Repoint {
        slot: funnel("g9", "p-221001"),
        from: vec!["p-221001".into()],
        to: "p-221101".into(),
    });
    assert_eq!(still_called_for(&steps, &fresh, &again), vec![false, true]);
    // So with every step that takes a set away: a failed canary's key and set, a retired
    // key and its set, an unused set.
    let takers = [
        Retire::DropCanary {
            key: k(K2),
            set_id: "p-221001".into(),
        },
        Retire::DeleteRetired {
            key: k(K1),
            set_id: Some("p-221001".into()),
        },
        Retire::DeleteSet {
            set_id: "p-221001".into(),
            key: k(K1),
        },
    ];
    for step in takers {
        let one = vec![step.clone()];
        assert_eq!(
            still_called_for(&one, &one, &again),
            vec![false],
            "{step:?}"
        );
    }
    let in_place = Retire::DeleteRetired {
        key: k(K1),
        set_id: None,
    };
    let one = vec![in_place];
    assert_eq!(
        still_called_for(&one, &one, &again),
        vec![true],
        "an in-place set stays"
    );
}

#[test]
fn references_go_back_to_the_newest_set_they_came_from_whose_key_works() {
    let obs = Observed {
        keys: vec![
            key(K1, KeyStatus::Active, true),
            key(K2, KeyStatus::Active, false),
        ],
        sets: vec![set("p-221001", K1, 60), set("p-221101", K2, 20)],
        slots: vec![funnel("g1", "p-221001"), funnel("g2", "p-221101")],
        records: Records::default(),
        auth_failures: Vec::new(),
        held_elsewhere: Vec::new(),
    };
    let view = resolve(&target(), &obs, NOW);
    let moved = Repoint {
        slot: funnel("g1", "p-221001"),
        from: vec!["p-221001".into()],
        to: "p-new".into(),
    };
    let back = move_back(&view, &[&moved], (&[k(K1)], &obs.sets));
    let (reverse, onto) = back[0].as_ref().expect("a way back");
    assert_eq!(onto, &k(K1));
    assert_eq!(reverse.to, "p-221001");
    assert_eq!(reverse.from, vec!["p-new".to_string()]);
    // The slot as it is now: naming the set it was moved onto.
    assert_eq!(reverse.slot.value, json!("p-new"));
    assert_eq!(reverse.slot.refs[0].set_id, "p-new");
    // The key it came from is not active: it stays (a human must look).
    assert_eq!(
        move_back(&view, &[&moved], (&[k(K2)], &obs.sets)),
        vec![None]
    );
    // The set it came from is gone now, or holds a key that is not active: it stays.
    let gone = vec![obs.sets[1].clone()];
    assert_eq!(move_back(&view, &[&moved], (&[k(K1)], &gone)), vec![None]);
    let mut rewritten = obs.sets.clone();
    rewritten[0].api_key = Some(k(K2));
    assert_eq!(
        move_back(&view, &[&moved], (&[k(K1)], &rewritten)),
        vec![None]
    );
}

#[test]
fn a_set_is_checked_as_soracom_lists_it_now() {
    let sets = vec![set("p-221001", K1, 60)];
    assert_eq!(set_check(&sets, "p-221001", &k(K1)), SetCheck::Holds);
    assert_eq!(set_check(&sets, "p-221001", &k(K2)), SetCheck::Rewritten);
    assert_eq!(set_check(&sets, "p-221101", &k(K1)), SetCheck::Gone);
    let mut unnamed = sets.clone();
    unnamed[0].api_key = None;
    unnamed[0].description = String::new();
    assert_eq!(set_check(&unnamed, "p-221001", &k(K2)), SetCheck::Holds);
}

#[test]
fn the_cutover_moves_onto_the_run_s_key_or_the_destination_s() {
    let obs = observed(true);
    let view = resolve(&target(), &obs, NOW);
    let mut p = plan(&target(), &obs, NOW, Mode::Reconcile);
    p.cutover = vec![Repoint {
        slot: funnel("g1", "p-221001"),
        from: vec!["p-221001".into()],
        to: "p-221101".into(),
    }];
    assert_eq!(cutover_key(&p, &view, None), Some(k(K2)));
    let made = k("AKIAAAAAAAAAAAAAAAA7");
    assert_eq!(cutover_key(&p, &view, Some(&made)), Some(made));
    p.cutover.clear();
    assert_eq!(cutover_key(&p, &view, None), None);
}

#[test]
fn a_4xx_on_the_role_set_is_a_refusal_of_the_holder_s_kind() {
    let t = target();
    let onto = |to: &str| Repoint {
        slot: funnel("g1", "p-221101"),
        from: vec!["p-221101".into()],
        to: to.into(),
    };
    assert_eq!(
        role_refusal(&t, &onto("p-role"), true),
        Some(crate::plan::migrate::holder_kind(&funnel("g1", "x").holder))
    );
    assert_eq!(role_refusal(&t, &onto("p-role"), false), None);
    assert_eq!(role_refusal(&t, &onto("p-221128"), true), None);
}

#[test]
fn an_emergency_records_the_named_active_keys_or_the_current_one_once() {
    let t = target();
    let obs = observed(true);
    // Named: those the user holds active.
    assert_eq!(
        emergency_keys(&t, &obs, &[k(K1), k("AKIAAAAAAAAAAAAAAAA9")], NOW),
        vec![k(K1)]
    );
    // Not named: the current set's key.
    assert_eq!(emergency_keys(&t, &obs, &[], NOW), vec![k(K2)]);
    // Recorded already and held active: the emergency is still to finish, nothing new.
    let mut recorded = observed(true);
    recorded
        .records
        .exposed
        .insert(k(K2), NOW - Duration::days(3));
    assert!(emergency_keys(&t, &recorded, &[], NOW).is_empty());
    assert!(emergency_keys(&t, &recorded, &[k(K2)], NOW).is_empty());
    // Recorded less than a day ago, even if switched off since: a rerun makes no new key.
    let mut rerun = observed(true);
    rerun
        .records
        .exposed
        .insert(k(K1), NOW - Duration::hours(2));
    rerun.keys[0].status = KeyStatus::Inactive;
    assert!(emergency_keys(&t, &rerun, &[], NOW).is_empty());
}

#[test]
fn a_run_ends_refused_failed_done_or_with_nothing_due() {
    let obs = observed(true);
    let mut quiet = plan(&target(), &obs, NOW, Mode::Reconcile);
    // (g1 still names the old set: leave its move out, for a plan with nothing to do.)
    quiet.cutover.clear();
    quiet.retire.clear();
    quiet.repair.clear();
    let cases = [
        (Done::default(), Outcome::NothingDue),
        (
            Done {
                steps: 2,
                ..Done::default()
            },
            Outcome::Done,
        ),
        (
            Done {
                steps: 2,
                skipped: 1,
                ..Done::default()
            },
            Outcome::Failed,
        ),
        (
            Done {
                steps: 2,
                failed: Some("deleting x".into()),
                ..Done::default()
            },
            Outcome::Failed,
        ),
    ];
    for (done, want) in cases {
        let end = finish(&quiet, &done);
        assert_eq!(end.outcome, want, "{done:?}");
        assert_eq!(end.error.is_some(), want == Outcome::Failed, "{done:?}");
    }
    // What comes next is one sentence; the report puts the label `next:` before it.
    let mut later = quiet.clone();
    later.upcoming = vec![crate::plan::Upcoming {
        step: crate::plan::Next::Rotate,
        due: NOW + Duration::days(3),
    }];
    let end = finish(&later, &Done::default());
    assert_eq!(
        end.next.as_deref(),
        Some("rotate the current key, from 2026-12-01 12:00 UTC")
    );
    let mut refused = quiet.clone();
    refused.refusal = Some(crate::plan::Refusal::NoFreeSetId);
    let end = finish(&refused, &Done::default());
    assert_eq!(end.outcome, Outcome::Refused);
    assert_eq!(dry_ending(&refused).outcome, Outcome::Refused);
    assert_eq!(dry_ending(&quiet).outcome, Outcome::NothingDue);
}

/// A handler with a Lambda action through `set` and a webhook `url` beside it.
fn handler(set: Value, url: &str) -> Value {
    json!({"name": "h", "actionConfigList": [
        {"type": "InvokeAWSLambdaAction", "properties": {"credentialsId": set}},
        {"type": "ExecuteWebRequestAction", "properties": {"url": url}}
    ]})
}

#[test]
fn a_move_writes_the_holder_as_it_is_now_and_leaves_a_person_s_move_alone() {
    let observed = handler(json!("p-1"), "https://a.example/one");
    let slot = Slot {
        holder: Holder::EventHandler {
            handler_id: "h1".into(),
            name: None,
        },
        refs: crate::refs::find_refs(&observed),
        value: observed,
    };
    let action = Repoint {
        slot,
        from: vec!["p-1".into()],
        to: "p-2".into(),
    };
    let cases = [
        // A person changed the webhook since: it stays, only the reference moves.
        (
            handler(json!("p-1"), "https://a.example/two"),
            Fresh::Write(handler(json!("p-2"), "https://a.example/two")),
        ),
        // Unchanged.
        (
            handler(json!("p-1"), "https://a.example/one"),
            Fresh::Write(handler(json!("p-2"), "https://a.example/one")),
        ),
        // Another run moved it already.
        (
            handler(json!("p-2"), "https://a.example/one"),
            Fresh::Already,
        ),
        // A person moved it to their own set: it stays there.
        (
            handler(json!("mine"), "https://a.example/one"),
            Fresh::Moved {
                now: vec!["mine".into()],
            },
        ),
        // The action (and its reference) is gone.
        (
            json!({"name": "h", "actionConfigList": []}),
            Fresh::Moved { now: vec![] },
        ),
    ];
    for (now, want) in cases {
        assert_eq!(refresh(&action, &now), want, "{now}");
    }
}

#[test]
fn a_reference_read_in_its_shape_or_not_at_all() {
    let v =
        json!({"a": {"credentialsId": "s-1"}, "b": {"credentialsId": {"$credentialsId": "s-2"}}});
    let refs = crate::refs::find_refs(&v);
    let ids: Vec<Option<String>> = refs.iter().map(|r| crate::refs::set_at(&v, r)).collect();
    assert_eq!(ids, vec![Some("s-1".to_string()), Some("s-2".to_string())]);
    let changed = json!({"a": {"credentialsId": {"$credentialsId": "s-1"}}, "b": {}});
    assert_eq!(
        refs.iter()
            .map(|r| crate::refs::set_at(&changed, r))
            .collect::<Vec<_>>(),
        vec![None, None],
        "another shape or nothing at the path is no reference"
    );
}

#[test]
fn a_retirement_steps_back_only_for_another_young_lease() {
    let own = lease_key("mine");
    let young = NOW - Duration::minutes(5);
    let old = NOW - IN_FLIGHT_LIMIT - Duration::minutes(1);
    let with = |leases: Vec<(&str, OffsetDateTime)>, creating: Vec<Creating>| Records {
        leases: leases
            .into_iter()
            .map(|(r, t)| (r.to_string(), t))
            .collect(),
        creating,
        ..Records::default()
    };
    let announcement = Creating {
        run: "theirs".into(),
        since: young,
        existing: Some(Vec::new()),
    };
    let cases = [
        ("nothing", with(vec![], vec![]), false),
        ("our own lease", with(vec![("mine", young)], vec![]), false),
        (
            "another's lease",
            with(vec![("theirs", young)], vec![]),
            true,
        ),
        (
            "another's lease, long over",
            with(vec![("theirs", old)], vec![]),
            false,
        ),
        (
            "a key being created",
            with(vec![], vec![announcement]),
            false,
        ),
    ];
    for (what, records, want) in cases {
        assert_eq!(another_lease(&records, &own, NOW), want, "{what}");
    }
}

#[test]
fn references_wait_for_a_key_no_run_proved_until_it_is_old_enough() {
    let window = std::time::Duration::from_secs(120);
    let mut fresh = key(K1, KeyStatus::Active, false);
    fresh.created = NOW - Duration::seconds(20);
    let keys = vec![fresh, key(K2, KeyStatus::Active, false)];
    assert_eq!(
        unproved_wait(&keys, &k(K1), NOW, window),
        Some(std::time::Duration::from_secs(100))
    );
    assert_eq!(
        unproved_wait(&keys, &k(K2), NOW, window),
        None,
        "old enough"
    );
    let mut ahead = keys.clone();
    ahead[0].created = NOW + Duration::days(3);
    assert_eq!(
        unproved_wait(&ahead, &k(K1), NOW, window),
        Some(window),
        "a creation date ahead of the clock waits no longer than the window"
    );
    assert_eq!(
        unproved_wait(&keys, &k("AKIAAAAAAAAAAAAAAAA3"), NOW, window),
        None,
        "not listed"
    );
    // Moving back: the longest wait among the keys, and the whole window for a key made
    // since the observation.
    let k3 = k("AKIAAAAAAAAAAAAAAAA3");
    assert_eq!(back_wait(&keys, &[k(K2)], NOW, window), None);
    assert_eq!(
        back_wait(&keys, &[k(K2), k(K1)], NOW, window),
        Some(std::time::Duration::from_secs(100))
    );
    assert_eq!(
        back_wait(&keys, &[k(K1), k3.clone()], NOW, window),
        Some(window)
    );
    assert_eq!(back_wait(&keys, &[], NOW, window), None);
    // Read again after waiting for K1: a way back onto K1 (waited for) or K2 (old enough)
    // stands; one onto a key made during the wait stays unused.
    let way = |key: &AccessKeyId| {
        let r = Repoint {
            slot: funnel("g1", "p-new"),
            from: vec!["p-new".into()],
            to: "p-221001".into(),
        };
        Some((r, key.clone()))
    };
    let backs = vec![way(&k(K1)), way(&k(K2)), way(&k3), None];
    let ready = ready_after_wait(backs, &[k(K1)], &keys, (NOW, window));
    let onto: Vec<Option<AccessKeyId>> = ready.into_iter().map(|b| b.map(|(_, k)| k)).collect();
    assert_eq!(onto, vec![Some(k(K1)), Some(k(K2)), None, None]);
}

#[test]
fn a_set_that_appeared_since_the_observation_stops_a_move_off_it() {
    // The observation listed the sets before another run created p-221101, and read g1
    // after that run moved it there: g1 looks like it names a missing set.
    let observed = vec![set("p-221001", K1, 60)];
    let moving = vec![Repoint {
        slot: funnel("g1", "p-221101"),
        from: vec!["p-221101".into()],
        to: "p-221001".into(),
    }];
    let now = vec![set("p-221001", K1, 60), set("p-221101", K2, 0)];
    assert_eq!(appeared(&moving, &observed, &now), Some("p-221101"));
    // Still missing (a reference someone broke): it is repaired.
    assert_eq!(appeared(&moving, &observed, &observed), None);
    // Listed by the observation too: an ordinary move.
    assert_eq!(appeared(&moving, &now, &now), None);
}

#[test]
fn a_run_whose_lease_someone_removed_or_edited_no_longer_holds_it() {
    let own = lease_key("1799485939-dd4ba3d22d5bbd15");
    let held = Records::parse([(own.as_str(), "2026-11-28T12:00:00Z")]);
    assert!(lease_held(&held, Some(&own), NOW));
    assert!(lease_held(&Records::default(), None, NOW), "no lease taken");
    assert!(!lease_held(&Records::default(), Some(&own), NOW), "removed");
    let edited = Records::parse([(own.as_str(), "edited by a person")]);
    assert!(!lease_held(&edited, Some(&own), NOW), "edited");
    let later = NOW + IN_FLIGHT_LIMIT;
    assert!(
        !lease_held(&held, Some(&own), later),
        "too old: others no longer heed it"
    );
}
