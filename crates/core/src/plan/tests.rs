//! The planner's rules, table-driven: no I/O.

use super::*;
use crate::config::Placement;
use crate::model::{link_description, Holder, LastUsed, Ref, Seg, Shape};
use crate::model::{AccessKey, CredentialSet, KeyStatus};
use crate::plan::resolve::resolve;
use crate::records::KeyRecord;
use crate::words::{fmt_time, Words};
use serde_json::json;
use time::macros::datetime;
use time::Duration;

const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

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
        adopt: vec!["hand".into()],
        adopt_keys: Default::default(),
    }
}

fn key(id: &str, days_old: i64, status: KeyStatus, used: Option<(&str, i64)>) -> AccessKey {
    let created = NOW - Duration::days(days_old);
    AccessKey {
        id: AccessKeyId::new(id),
        status,
        created,
        last_used: used.map(|(service, minutes_after)| LastUsed {
            at: created + Duration::minutes(minutes_after),
            service: service.into(),
            region: "us-east-1".into(),
        }),
    }
}

/// K2, created a minute after a run announced it `hours` ago, never used.
fn announced_key(hours: i64) -> AccessKey {
    let mut k = key(K2, 0, KeyStatus::Active, None);
    k.created = NOW - Duration::hours(hours) + Duration::minutes(1);
    k
}

fn set(id: &str, days_old: i64, linked: Option<&str>) -> CredentialSet {
    CredentialSet {
        id: id.into(),
        kind: "aws-credentials".into(),
        description: linked
            .map(|k| link_description(&AccessKeyId::new(k)))
            .unwrap_or_default(),
        created: Some(NOW - Duration::days(days_old) + Duration::minutes(1)),
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

const K1: &str = "AKIAAAAAAAAAAAAAAAA1";
const K2: &str = "AKIAAAAAAAAAAAAAAAA2";

/// A compact rendering of a plan's actions for table comparison.
fn summary(p: &Plan) -> Vec<String> {
    let tail = |k: &AccessKeyId| k.as_str()[16..].to_string();
    p.steps()
        .map(|step| match step {
            Step::Repair(Repair::DeleteOrphanKey { key }) => format!("orphan {}", tail(key)),
            Step::Repair(Repair::MakeRoom { key, set_id }) => {
                format!("room {} {}", tail(key), set_id.as_deref().unwrap_or("-"))
            }
            Step::Repair(Repair::Rotate { new_set_id }) => format!("rotate {new_set_id}"),
            Step::Repair(Repair::RotateInPlace { set_id, previous }) => format!(
                "in-place {set_id} prev {}",
                previous.as_ref().map(tail).unwrap_or("-".into())
            ),
            Step::Repoint(Repoint { slot, from, to }) => {
                let g = match &slot.holder {
                    Holder::GroupKey { group_id, .. } => group_id.clone(),
                    Holder::EventHandler { handler_id, .. } => handler_id.clone(),
                    Holder::VpgInspection { vpg_id, .. } => vpg_id.clone(),
                };
                format!("repoint {g} {}>{to}", from.join(","))
            }
            Step::Retire(Retire::Forget { key }) => format!("forget {}", tail(key)),
            Step::Retire(Retire::Unrecord { key, mark }) => {
                format!("unrecord {mark:?} {}", tail(key))
            }
            Step::Retire(Retire::ForgetRun { tag }) => {
                format!("forget-run {}", tag.rsplit(':').next().unwrap_or(tag))
            }
            Step::Retire(Retire::MarkHeld { key, set_id }) => {
                format!("held {} {set_id}", tail(key))
            }
            Step::Retire(Retire::Deactivate { key, set_id }) => {
                format!("deactivate {} {set_id}", tail(key))
            }
            Step::Retire(Retire::DeleteRetired { key, set_id }) => {
                format!("delete {} {}", tail(key), set_id.as_deref().unwrap_or("-"))
            }
            Step::Retire(Retire::DeleteSet { set_id, .. }) => format!("delete-set {set_id}"),
            Step::Retire(Retire::Record { key, mark }) => {
                format!("record {mark:?} {}", tail(key))
            }
            Step::Repair(Repair::ForgetCutover { key }) => format!("forget-cutover {}", tail(key)),
            Step::Repair(Repair::StartCanary { key }) => format!("start-canary {}", tail(key)),
            Step::Repair(Repair::FailCanary { key }) => format!("fail-canary {}", tail(key)),
            Step::Retire(Retire::DropCanary { key, set_id }) => {
                format!("drop {} {set_id}", tail(key))
            }
            Step::Repair(Repair::StartRoleCanary { kind }) => format!("record-role-canary {kind}"),
            Step::Repair(Repair::RefuseRole { kind }) => format!("refuse-role {kind}"),
            Step::Retire(Retire::EndRoleCanary { kind }) => format!("end-role-canary {kind}"),
        })
        .collect()
}

struct Case {
    name: &'static str,
    keys: Vec<AccessKey>,
    sets: Vec<CredentialSet>,
    slots: Vec<Slot>,
    force: bool,
    due: bool,
    current: Option<&'static str>,
    actions: &'static [&'static str],
    refused: bool,
    records: crate::records::Records,
}

/// Records: K2 in flight since `hours` ago.
fn in_flight(hours: i64) -> crate::records::Records {
    let mut r = crate::records::Records::default();
    r.keys.insert(
        AccessKeyId::new(K2),
        KeyRecord::InFlight {
            since: NOW - Duration::hours(hours),
            set_id: "p-261128".into(),
        },
    );
    r
}

/// Records: a run announced a key a minute ago and has not listed the keys yet; K1's own
/// record (held by its set) was written since.
fn unlisted_with_a_newer_record() -> crate::records::Records {
    let mut records = unlisted(0);
    records.creating[0].since = NOW - Duration::minutes(1);
    records.keys.insert(
        AccessKeyId::new(K1),
        KeyRecord::HeldBy {
            set_id: "p-220810".into(),
            since: NOW,
        },
    );
    records
}

/// Records: a run announced a key `hours` ago and died before it listed the user's keys.
fn unlisted(hours: i64) -> crate::records::Records {
    let mut records = announced(hours);
    records.creating[0].existing = None;
    records
}

/// Records: a run announced a key `hours` ago, when the user had only K1.
fn announced(hours: i64) -> crate::records::Records {
    crate::records::Records {
        creating: vec![crate::records::Creating {
            run: "r1".into(),
            since: NOW - Duration::hours(hours),
            existing: Some(vec![AccessKeyId::new(K1)]),
        }],
        ..Default::default()
    }
}

#[test]
fn plans_match_the_rules() {
    let cases = vec![
        Case {
            name: "hand-made set linked by evidence, key young: nothing due",
            keys: vec![key(K1, 10, KeyStatus::Active, Some(("iot", 60)))],
            sets: vec![set("p-220810", 20, None)],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: false,
            current: Some("p-220810"),
            actions: &[],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "key past max age: rotate and repoint every reference",
            keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 60)))],
            sets: vec![set("p-220810", 120, None)],
            slots: vec![funnel("g1", "p-220810"), funnel("g2", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &["rotate p-261128", "repoint g1 p-220810>p-261128", "repoint g2 p-220810>p-261128"],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "forced rotation on a day whose ids are taken gets -3",
            keys: vec![key(K1, 1, KeyStatus::Active, None)],
            sets: vec![set("p-261128", 0, Some(K1)), set("p-261128-2", 0, Some("AKIAGONEGONEGONEGONE"))],
            slots: vec![funnel("g1", "p-261128")],
            force: true,
            due: true,
            current: Some("p-261128"),
            actions: &["rotate p-261128-3", "repoint g1 p-261128>p-261128-3", "record Released AAA1"],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "both slots active, other key used elsewhere: refuse, touch nothing",
            keys: vec![
                key(K1, 100, KeyStatus::Active, Some(("iot", 60))),
                key(K2, 50, KeyStatus::Active, Some(("s3", 60))),
            ],
            sets: vec![set("p-220810", 100, Some(K1))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &[],
            refused: true,
            records: Default::default(),
        },
        Case {
            name: "inactive key retired by the tool makes room once its delete delay passed",
            keys: vec![key(K1, 200, KeyStatus::Inactive, None), key(K2, 100, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("p-220510", 200, Some(K1)), set("p-220810", 100, Some(K2))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &[
                "room AAA1 p-220510",
                "rotate p-261128",
                "repoint g1 p-220810>p-261128",
                "record Released AAA2",
            ],
            refused: false,
            records: crate::records::Records {
                deactivated: [(AccessKeyId::new(K1), NOW - Duration::days(8))].into_iter().collect(),
                ..Default::default()
            },
        },
        Case {
            name: "making room never deletes a key sooner than delete_after_days after deactivation",
            keys: vec![key(K1, 200, KeyStatus::Inactive, None), key(K2, 100, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("p-220510", 200, Some(K1)), set("p-220810", 100, Some(K2))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &[],
            refused: true,
            records: crate::records::Records {
                deactivated: [(AccessKeyId::new(K1), NOW - Duration::days(2))].into_iter().collect(),
                ..Default::default()
            },
        },
        Case {
            name: "an inactive key without the tool's record does not make room: its delay starts",
            keys: vec![key(K1, 200, KeyStatus::Inactive, None), key(K2, 100, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("p-220510", 200, Some(K1)), set("p-220810", 100, Some(K2))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &["record Deactivated AAA1"],
            refused: true,
            records: Default::default(),
        },
        Case {
            name: "inactive key whose set is still referenced does not make room",
            keys: vec![key(K1, 200, KeyStatus::Inactive, None), key(K2, 100, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("p-220510", 200, Some(K1)), set("p-220810", 100, Some(K2))],
            slots: vec![funnel("g1", "p-220810"), funnel("g2", "p-220510")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &["repoint g2 p-220510>p-220810", "record Released AAA1"],
            refused: true,
            records: Default::default(),
        },
        Case {
            name: "a key created by hand minutes ago, used only by STS: foreign, left alone",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, Some(("sts", 0)))],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &[],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "the tool's key in flight longer than a run can take, held by no set: orphan",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, Some(("sts", 0)))],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &["orphan AAA2"],
            refused: false,
            records: in_flight(3),
        },
        Case {
            name: "the tool's key in flight for less than a run can take: a run is at work, nothing is done",
            keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, Some(("sts", 0)))],
            sets: vec![set("p-220810", 100, Some(K1))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &[],
            refused: true,
            records: in_flight(1),
        },
        Case {
            name: "a run at work that has not listed the keys yet holds the target, whatever key record is newer",
            keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 60)))],
            sets: vec![set("p-220810", 100, Some(K1))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &[],
            refused: true,
            records: unlisted_with_a_newer_record(),
        },
        Case {
            name: "a key in flight that a person deleted (the run moved references back): a leftover, not a run at work; its set is this tool's and goes",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60)))],
            sets: vec![set("p-261029", 30, Some(K1)), {
                // SORACOM reports the key (Link::Api); the description is this tool's.
                let mut s = set("p-261128", 0, Some(K2));
                s.api_key = Some(AccessKeyId::new(K2));
                s
            }],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &["delete-set p-261128"],
            refused: false,
            records: in_flight(1),
        },
        Case {
            name: "a run that announced a key and died: the never-used new key is an orphan",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), announced_key(3)],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &["orphan AAA2", "forget-run r1"],
            refused: false,
            records: announced(3),
        },
        Case {
            name: "a dead run's announcement that never listed the keys proves no key its own",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), announced_key(3)],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &["forget-run r1"],
            refused: false,
            records: unlisted(3),
        },
        Case {
            name: "a key created long after a dead run's announcement is not that run's",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, None)],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &["forget-run r1"],
            refused: false,
            records: announced(3),
        },
        Case {
            name: "an announced run's key that has been used is not the run's: left alone",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, Some(("s3", 0)))],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &["forget-run r1"],
            refused: false,
            records: announced(3),
        },
        Case {
            name: "unlinked key used by another service is left alone",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, Some(("s3", 1)))],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &[],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "unlinked key older than the current set is not an orphan",
            keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 40, KeyStatus::Active, None)],
            sets: vec![set("p-261029", 30, Some(K1))],
            slots: vec![funnel("g1", "p-261029")],
            force: false,
            due: false,
            current: Some("p-261029"),
            actions: &[],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "crash after CreateAccessKey next to a hand-made set: orphan found, old key linked",
            keys: vec![key(K1, 100, KeyStatus::Active, None), announced_key(3)],
            sets: vec![set("p-220810", 99, None)],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &["orphan AAA2", "rotate p-261128", "repoint g1 p-220810>p-261128", "forget-run r1"],
            refused: false,
            records: announced(3),
        },
        Case {
            name: "unfinished cutover is resumed without a new key",
            keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 5))), key(K2, 0, KeyStatus::Active, Some(("sts", 1)))],
            sets: vec![set("p-220810", 100, Some(K1)), set("p-261128", 0, Some(K2))],
            slots: vec![funnel("g1", "p-261128"), funnel("g2", "p-220810")],
            force: false,
            due: false,
            current: Some("p-261128"),
            actions: &["repoint g2 p-220810>p-261128", "record Released AAA1"],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "a reference to a set whose key is gone is repaired",
            keys: vec![key(K2, 10, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("p-220810", 100, Some(K1)), set("p-261118", 10, Some(K2))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: false,
            current: Some("p-261118"),
            actions: &["repoint g1 p-220810>p-261118"],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "no set at all: nothing due, and no key is touched",
            keys: vec![key(K1, 10, KeyStatus::Active, Some(("sts", 1)))],
            sets: vec![],
            slots: vec![],
            force: false,
            due: false,
            current: None,
            actions: &[],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "sets whose ids only contain the prefix are not ours",
            keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("p-220810", 100, None), set("p-team2-220810", 100, None), set("xp-220810", 100, None)],
            slots: vec![funnel("g1", "p-220810"), funnel("g2", "p-team2-220810"), funnel("g3", "xp-220810")],
            force: false,
            due: true,
            current: Some("p-220810"),
            actions: &["rotate p-261128", "repoint g1 p-220810>p-261128"],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "an adopted set's references move with the rotation",
            keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 5)))],
            sets: vec![set("hand", 100, None)],
            slots: vec![funnel("g1", "hand")],
            force: false,
            due: true,
            current: Some("hand"),
            actions: &["rotate p-261128", "repoint g1 hand>p-261128"],
            refused: false,
            records: Default::default(),
        },
        Case {
            name: "every set's key missing while references exist: rotation repairs",
            keys: vec![],
            sets: vec![set("p-220810", 100, Some(K1))],
            slots: vec![funnel("g1", "p-220810")],
            force: false,
            due: true,
            current: None,
            actions: &["rotate p-261128", "repoint g1 p-220810>p-261128"],
            refused: false,
            records: Default::default(),
        },
    ];
    for c in cases {
        let obs = Observed {
            auth_failures: Vec::new(),
            keys: c.keys,
            sets: c.sets,
            slots: c.slots,
            records: c.records,
            held_elsewhere: Vec::new(),
        };
        let p = plan(
            &target(),
            &obs,
            NOW,
            if c.force {
                Mode::Rotate
            } else {
                Mode::Reconcile
            },
        );
        assert_eq!(
            p.due.now,
            c.due,
            "{}: due ({})",
            c.name,
            p.due.reason.words()
        );
        assert_eq!(
            p.current.as_ref().map(|c| c.set_id.as_str()),
            c.current,
            "{}: current",
            c.name
        );
        assert_eq!(summary(&p), c.actions, "{}: actions", c.name);
        assert_eq!(
            p.refusal.is_some(),
            c.refused,
            "{}: refusal {:?}",
            c.name,
            p.refusal
        );
        // Pure: the same input gives the same plan.
        let again = plan(
            &target(),
            &obs,
            NOW,
            if c.force {
                Mode::Rotate
            } else {
                Mode::Reconcile
            },
        );
        assert_eq!(p, again, "{}: not deterministic", c.name);
    }
}

#[test]
fn refusal_names_both_keys_masked() {
    let obs = Observed {
        held_elsewhere: Vec::new(),
        auth_failures: Vec::new(),
        keys: vec![
            key(K1, 100, KeyStatus::Active, Some(("iot", 60))),
            key(K2, 50, KeyStatus::Active, Some(("s3", 9))),
        ],
        sets: vec![set("p-220810", 100, Some(K1))],
        slots: vec![],
        records: crate::records::Records {
            deactivated: Default::default(),
            released: Default::default(),
            ..Default::default()
        },
    };
    let p = plan(&target(), &obs, NOW, Mode::Reconcile);
    let r = p.refusal.as_ref().map(Words::words).unwrap_or_default();
    assert!(
        r.contains("AKIA************AAA1") && r.contains("AKIA************AAA2"),
        "{r}"
    );
    assert!(!r.contains(K1), "{r}");
    assert!(
        p.notes
            .iter()
            .any(|n| matches!(n, Note::ForeignKey { key, .. } if key.as_str() == K2)),
        "{:?}",
        p.notes
    );
}

#[test]
fn evidence_link_names_the_only_key_and_dates_the_next_rotation() {
    let obs = Observed {
        held_elsewhere: Vec::new(),
        auth_failures: Vec::new(),
        keys: vec![key(K1, 10, KeyStatus::Active, None)],
        sets: vec![set("p-220810", 500, None)],
        slots: vec![],
        records: crate::records::Records {
            deactivated: Default::default(),
            released: Default::default(),
            ..Default::default()
        },
    };
    let p = plan(&target(), &obs, NOW, Mode::Reconcile);
    let cur = p.current.unwrap_or_else(|| panic!("no current"));
    assert_eq!(cur.link, Link::Evidence(AccessKeyId::new(K1)));
    assert_eq!(cur.age_days, Some(10));
    // Rotation starts 90 - 7 (retire_after_days) - 3 (deadline_margin_days) days in.
    assert_eq!(
        p.due.next,
        Some(NOW - Duration::days(10) + Duration::days(80))
    );
}

/// A retire scenario: an old set (K1) replaced `cutover_days` ago by a new set (K2)
/// that every reference uses.
struct RetireCase {
    name: &'static str,
    cutover_days: i64,
    k1: AccessKey,
    old_desc: Option<&'static str>,
    old_last_used_days: Option<i64>,
    deactivated_days: Option<i64>,
    adopt_keys: bool,
    mode: Mode,
    actions: &'static [&'static str],
    blocked: bool,
    upcoming: usize,
}

fn retire_world(r: &RetireCase) -> (Target, Observed) {
    let mut old = set("p-260801", 120, r.old_desc);
    old.last_used = r.old_last_used_days.map(|d| NOW - Duration::days(d));
    let new = set("p-261120", r.cutover_days, Some(K2));
    let mut t = target();
    if r.adopt_keys {
        t.adopt_keys.insert("p-260801".into(), K1.into());
    }
    let mut deactivated = std::collections::BTreeMap::new();
    if let Some(d) = r.deactivated_days {
        deactivated.insert(AccessKeyId::new(K1), NOW - Duration::days(d));
    }
    let keys = vec![
        r.k1.clone(),
        key(K2, r.cutover_days, KeyStatus::Active, Some(("iot", 5))),
    ];
    (
        t,
        Observed {
            held_elsewhere: Vec::new(),
            auth_failures: Vec::new(),
            keys,
            sets: vec![old, new],
            slots: vec![funnel("g1", "p-261120")],
            records: crate::records::Records {
                deactivated,
                // The references left the old set when the new one was created.
                released: [(AccessKeyId::new(K1), NOW - Duration::days(r.cutover_days))]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
        },
    )
}

fn k1(status: KeyStatus, used_days_ago: Option<i64>) -> AccessKey {
    let mut k = key(K1, 130, status, None);
    k.last_used = used_days_ago.map(|d| LastUsed {
        at: NOW - Duration::days(d),
        service: "iot".into(),
        region: "ap-northeast-1".into(),
    });
    k
}

#[test]
fn retirement_follows_the_evidence() {
    let cases = vec![
        RetireCase {
            name: "cutover old enough and no use since: deactivate",
            cutover_days: 8,
            k1: k1(KeyStatus::Active, Some(9)),
            old_desc: Some(K1),
            old_last_used_days: Some(9),
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &["deactivate AAA1 p-260801"],
            blocked: false,
            upcoming: 1,
        },
        RetireCase {
            name: "cutover too recent: deactivation is upcoming",
            cutover_days: 3,
            k1: k1(KeyStatus::Active, Some(4)),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &[],
            blocked: false,
            upcoming: 2,
        },
        RetireCase {
            name: "key used after cutover: kept and reported",
            cutover_days: 8,
            k1: k1(KeyStatus::Active, Some(2)),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &[],
            blocked: true,
            upcoming: 1,
        },
        RetireCase {
            name: "set used after cutover: kept and reported",
            cutover_days: 8,
            k1: k1(KeyStatus::Active, Some(9)),
            old_desc: Some(K1),
            old_last_used_days: Some(1),
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &[],
            blocked: true,
            upcoming: 1,
        },
        RetireCase {
            name: "inactive long enough: delete the key, then the set",
            cutover_days: 20,
            k1: k1(KeyStatus::Inactive, Some(21)),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: Some(8),
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &["delete AAA1 p-260801"],
            blocked: false,
            upcoming: 1,
        },
        RetireCase {
            name: "inactive recently: deletion is upcoming",
            cutover_days: 20,
            k1: k1(KeyStatus::Inactive, Some(21)),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: Some(3),
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &[],
            blocked: false,
            upcoming: 2,
        },
        RetireCase {
            name: "inactive without a record: the delay starts now",
            cutover_days: 20,
            k1: k1(KeyStatus::Inactive, None),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &["record Deactivated AAA1"],
            blocked: false,
            upcoming: 2,
        },
        RetireCase {
            name: "linked by evidence only: not retired",
            cutover_days: 8,
            k1: k1(KeyStatus::Active, Some(9)),
            old_desc: None,
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Reconcile,
            actions: &[],
            blocked: false,
            upcoming: 1,
        },
        RetireCase {
            name: "adopt_keys makes the link certain",
            cutover_days: 8,
            k1: k1(KeyStatus::Active, Some(9)),
            old_desc: None,
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: true,
            mode: Mode::Reconcile,
            actions: &["deactivate AAA1 p-260801"],
            blocked: false,
            upcoming: 1,
        },
        RetireCase {
            name: "retire mode does only retire steps",
            cutover_days: 95,
            k1: k1(KeyStatus::Active, Some(96)),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Retire,
            actions: &["deactivate AAA1 p-260801"],
            blocked: false,
            upcoming: 0,
        },
        RetireCase {
            name: "rollback before deactivation: references go back, new key off",
            cutover_days: 1,
            k1: k1(KeyStatus::Active, Some(2)),
            old_desc: Some(K1),
            old_last_used_days: None,
            deactivated_days: None,
            adopt_keys: false,
            mode: Mode::Rollback,
            actions: &["repoint g1 p-261120>p-260801", "deactivate AAA2 p-261120"],
            blocked: false,
            upcoming: 1,
        },
    ];
    for c in cases {
        let (t, obs) = retire_world(&c);
        let p = plan(&t, &obs, NOW, c.mode);
        assert_eq!(summary(&p), c.actions, "{}: actions", c.name);
        assert_eq!(
            !p.blocked.is_empty(),
            c.blocked,
            "{}: blocked {:?}",
            c.name,
            p.blocked
        );
        assert_eq!(
            p.upcoming.len(),
            c.upcoming,
            "{}: upcoming {:?}",
            c.name,
            p.upcoming
        );
        assert!(p.refusal.is_none(), "{}: {:?}", c.name, p.refusal);
    }
}

#[test]
fn a_blocked_key_is_named_with_when_and_where() {
    let c = RetireCase {
        name: "",
        cutover_days: 8,
        k1: k1(KeyStatus::Active, Some(2)),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: true,
        upcoming: 0,
    };
    let (t, obs) = retire_world(&c);
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    let m = &p.blocked[0].words();
    assert!(
        m.contains("AKIA************AAA1") && m.contains("iot") && m.contains("ap-northeast-1"),
        "{m}"
    );
    assert!(m.contains(&fmt_time(NOW - Duration::days(2))), "{m}");
    // The evidence of use stays, so the key stays blocked (as a_blocked_retirement_escalates
    // shows): the words promise no retirement once the use stops.
    assert!(
        m.contains("stays active until a person switches it off, even once that use stops"),
        "{m}"
    );
    assert!(!m.contains("until that use stops"), "{m}");
    assert!(p.refused());
}

#[test]
fn a_key_a_holder_uses_through_a_set_not_the_target_s_is_not_retired() {
    let c = RetireCase {
        name: "",
        cutover_days: 8,
        k1: k1(KeyStatus::Active, Some(9)),
        old_desc: Some(K1),
        old_last_used_days: Some(9),
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &["deactivate AAA1 p-260801"],
        blocked: false,
        upcoming: 1,
    };
    let (t, mut obs) = retire_world(&c);
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), c.actions, "without the holder: retired");
    obs.held_elsewhere = vec![(AccessKeyId::new(K1), "their-set".into())];
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert!(summary(&p).is_empty(), "{:?}", summary(&p));
    let notes: Vec<String> = p.notes.iter().map(Words::words).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("their-set") && n.contains("not retired")),
        "{notes:?}"
    );
}

#[test]
fn a_dead_run_s_key_a_holder_uses_through_another_set_is_no_orphan() {
    let mut obs = Observed {
        auth_failures: Vec::new(),
        keys: vec![
            key(K1, 30, KeyStatus::Active, Some(("iot", 60))),
            announced_key(3),
        ],
        sets: vec![set("p-261029", 30, Some(K1))],
        slots: vec![funnel("g1", "p-261029")],
        records: announced(3),
        held_elsewhere: Vec::new(),
    };
    let p = plan(&target(), &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["orphan AAA2", "forget-run r1"]);
    obs.held_elsewhere = vec![(AccessKeyId::new(K2), "their-set".into())];
    let p = plan(&target(), &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["forget-run r1"], "reported, not deleted");
}

#[test]
fn rollback_is_refused_once_the_old_key_is_off() {
    let c = RetireCase {
        name: "",
        cutover_days: 10,
        k1: k1(KeyStatus::Inactive, None),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: Some(2),
        adopt_keys: false,
        mode: Mode::Rollback,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (t, obs) = retire_world(&c);
    let p = plan(&t, &obs, NOW, Mode::Rollback);
    assert!(p.is_empty());
    assert!(
        matches!(
            &p.refusal,
            Some(Refusal::Rollback {
                why: RollbackRefusal::PreviousRetired { .. }
            })
        ),
        "{:?}",
        p.refusal
    );
    // Gone entirely.
    let c = RetireCase {
        name: "",
        cutover_days: 10,
        k1: k1(KeyStatus::Active, None),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Rollback,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (t, mut obs) = retire_world(&c);
    obs.keys.retain(|k| k.id.as_str() != K1);
    let p = plan(&t, &obs, NOW, Mode::Rollback);
    assert!(p.refusal.is_some() && p.is_empty());
}

#[test]
fn in_place_rotates_the_fixed_set_and_retires_the_previous_key() {
    let mut t = target();
    t.placement = Placement::Fixed { id: "fixed".into() };
    t.adopt.clear();
    let mut fixed = set("fixed", 300, None);
    fixed.description =
        crate::model::in_place_description(&AccessKeyId::new(K2), Some(&AccessKeyId::new(K1)));
    fixed.updated = Some(NOW - Duration::days(8));
    let slots = vec![funnel("g1", "fixed")];
    let obs = Observed {
        held_elsewhere: Vec::new(),
        auth_failures: Vec::new(),
        keys: vec![
            k1(KeyStatus::Active, Some(9)),
            key(K2, 8, KeyStatus::Active, Some(("iot", 5))),
        ],
        sets: vec![fixed.clone()],
        slots: slots.clone(),
        records: crate::records::Records {
            deactivated: Default::default(),
            released: Default::default(),
            ..Default::default()
        },
    };
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["deactivate AAA1 fixed"]);
    // Due again later: the fixed set gets the new key, naming the current one as previous;
    // the inactive previous key is deleted first to make room.
    let later = NOW + Duration::days(90);
    let obs = Observed {
        held_elsewhere: Vec::new(),
        auth_failures: Vec::new(),
        keys: vec![
            k1(KeyStatus::Inactive, Some(9)),
            key(K2, 8, KeyStatus::Active, Some(("iot", 5))),
        ],
        sets: vec![fixed],
        slots,
        records: crate::records::Records {
            deactivated: [(AccessKeyId::new(K1), NOW)].into_iter().collect(),
            released: Default::default(),
            ..Default::default()
        },
    };
    let p = plan(&t, &obs, later, Mode::Reconcile);
    assert_eq!(summary(&p), ["room AAA1 -", "in-place fixed prev AAA2"]);
}

#[test]
fn the_cutover_is_when_the_last_reference_left() {
    let c = RetireCase {
        name: "",
        cutover_days: 8,
        k1: k1(KeyStatus::Active, Some(2)),
        old_desc: Some(K1),
        old_last_used_days: Some(2),
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    // The new set appeared 8 days ago, but the interrupted cutover finished only a day
    // ago: use of the old key and set 2 days ago is the cutover itself, not a stranger.
    let (t, mut obs) = retire_world(&c);
    obs.records
        .released
        .insert(AccessKeyId::new(K1), NOW - Duration::days(1));
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert!(p.blocked.is_empty(), "{:?}", p.blocked);
    assert_eq!(summary(&p), Vec::<String>::new());
    let deactivate = p
        .upcoming
        .iter()
        .find(|u| matches!(u.step, Next::Deactivate { .. }))
        .map(|u| u.due);
    assert_eq!(deactivate, Some(NOW + Duration::days(6)));
    // With no record at all, it is recorded now and the grace period starts now.
    obs.records.released.clear();
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["record Released AAA1"]);
    let deactivate = p
        .upcoming
        .iter()
        .find(|u| matches!(u.step, Next::Deactivate { .. }))
        .map(|u| u.due);
    assert_eq!(deactivate, Some(NOW + Duration::days(7)));
}

#[test]
fn references_back_on_an_old_set_leave_it_with_a_new_cutover_never_the_old_one() {
    // A rollback put a reference back on the old set and died (a crash, a timeout); the
    // next run moves it onto the current set again. The old cutover record goes before
    // that move, so a run that dies after the move leaves no record (the grace period
    // starts when the next run sees the set unreferenced), never the old time that would
    // make the key look used after its cutover (the simulator's seed 107635).
    let c = RetireCase {
        name: "",
        cutover_days: 30,
        k1: k1(KeyStatus::Active, Some(1)),
        old_desc: Some(K1),
        old_last_used_days: Some(1),
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (t, mut obs) = retire_world(&c);
    obs.slots.push(funnel("g2", "p-260801"));
    for mode in [Mode::Reconcile, Mode::Rotate] {
        let p = plan(&t, &obs, NOW, mode);
        let s = summary(&p);
        assert_eq!(
            s,
            [
                "forget-cutover AAA1",
                "repoint g2 p-260801>p-261120",
                "record Released AAA1"
            ],
            "{mode:?}"
        );
        assert!(p.blocked.is_empty(), "{:?}", p.blocked);
    }
    // Once no reference is left and no record is, the grace period starts now.
    obs.slots.pop();
    obs.records.released.clear();
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["record Released AAA1"]);
    assert!(p.blocked.is_empty(), "{:?}", p.blocked);
}

#[test]
fn a_hand_made_set_whose_key_is_gone_is_deleted_only_after_this_tool_retired_it() {
    let c = RetireCase {
        name: "",
        cutover_days: 30,
        k1: k1(KeyStatus::Active, None),
        old_desc: None,
        old_last_used_days: None,
        deactivated_days: None,
        adopt_keys: true,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (t, mut obs) = retire_world(&c);
    obs.keys.retain(|k| k.id.as_str() != K1);
    obs.records.released.clear();
    // A mistyped adopt_keys also looks like this: report, never delete.
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert!(summary(&p).is_empty(), "{:?}", summary(&p));
    assert!(
        p.notes.iter().any(|n| matches!(n, Note::KeyGone { .. })),
        "{:?}",
        p.notes
    );
    // The tool's own record of retiring that key makes it certain.
    obs.records
        .deactivated
        .insert(AccessKeyId::new(K1), NOW - Duration::days(10));
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["delete-set p-260801"]);
}

#[test]
fn deactivation_never_comes_before_the_cutover_plus_the_settle_window() {
    let c = RetireCase {
        name: "",
        cutover_days: 0,
        k1: k1(KeyStatus::Active, None),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (mut t, obs) = retire_world(&c);
    t.retire_after_days = 0;
    // Cutover a minute from NOW (when the new set appeared): the settle window (60
    // minutes) runs from there.
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert!(
        !summary(&p).iter().any(|a| a.starts_with("deactivate")),
        "{:?}",
        summary(&p)
    );
    let due = p
        .upcoming
        .iter()
        .find(|u| matches!(u.step, Next::Deactivate { .. }));
    assert_eq!(due.map(|u| u.due), Some(NOW + Duration::minutes(61)));
    let p = plan(&t, &obs, NOW + Duration::minutes(62), Mode::Reconcile);
    assert_eq!(summary(&p), ["deactivate AAA1 p-260801"]);
}

#[test]
fn people_win_and_stale_records_never_shorten_a_delay() {
    // The tool deactivated K1; a person turned it back on.
    let c = RetireCase {
        name: "",
        cutover_days: 20,
        k1: k1(KeyStatus::Active, Some(1)),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: Some(5),
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (t, obs) = retire_world(&c);
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(
        summary(&p),
        ["unrecord Deactivated AAA1", "record Released AAA1"],
        "left active, its retirement starts over"
    );
    assert!(
        p.blocked.is_empty(),
        "use before the new cutover is not held against it"
    );
    assert!(
        p.notes.iter().any(|n| n.words().contains("active again")),
        "{:?}",
        p.notes
    );
    // Inactive again, with a record older than its last use: the record is stale.
    let c = RetireCase {
        k1: k1(KeyStatus::Inactive, Some(2)),
        deactivated_days: Some(10),
        ..c
    };
    let (t, obs) = retire_world(&c);
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(
        summary(&p),
        ["record Deactivated AAA1"],
        "the delay counts from now"
    );
}

#[test]
fn what_soracom_reports_wins_and_other_types_are_never_ours() {
    let mut t = target();
    t.adopt.clear();
    // The description is forged to name K2; SORACOM says the set holds K1.
    let mut s1 = set("p-260801", 120, Some(K2));
    s1.api_key = Some(AccessKeyId::new(K1));
    let mut role = set("p-261101", 20, None);
    role.kind = "aws-iam-role-credentials".into();
    let obs = Observed {
        keys: vec![
            key(K1, 120, KeyStatus::Active, Some(("iot", 1))),
            key(K2, 30, KeyStatus::Active, Some(("s3", 1))),
        ],
        sets: vec![s1, role],
        slots: vec![funnel("g1", "p-260801")],
        ..Default::default()
    };
    let view = resolve(&t, &obs, NOW);
    assert_eq!(view.sets.len(), 1, "the role set is not ours");
    assert_eq!(view.sets[0].link, Link::Api(AccessKeyId::new(K1)));
    assert!(
        view.notes
            .iter()
            .any(|n| n.words().contains("aws-iam-role-credentials")),
        "{:?}",
        view.notes
    );
    assert!(
        view.notes
            .iter()
            .any(|n| n.words().contains("AKIA************AAA2")),
        "K2 is someone else's, reported: {:?}",
        view.notes
    );
}

/// One current set `p-260901` holding K1, created `age` ago, referenced by group g1.
fn current_only(age: Duration) -> Observed {
    let mut k = key(K1, 0, KeyStatus::Active, None);
    k.created = NOW - age;
    Observed {
        auth_failures: Vec::new(),
        keys: vec![k],
        sets: vec![set("p-260901", age.whole_days(), Some(K1))],
        slots: vec![funnel("g1", "p-260901")],
        records: Default::default(),
        held_elsewhere: Vec::new(),
    }
}

fn only_deadline(p: &Plan, k: &str) -> KeyDeadline {
    match p.deadlines.iter().find(|d| d.key.as_str() == k) {
        Some(d) => d.clone(),
        None => panic!("no deadline for {k}: {:?}", p.deadlines),
    }
}

#[test]
fn rotation_starts_early_enough_for_the_old_key_to_be_off_before_the_deadline() {
    let t = target();
    assert_eq!(rotation_age(&t), Duration::days(80));
    assert_eq!(grace(&t), Duration::days(7));
    // Two hours before the start: not due, and the schedule has three days to spare.
    let early = current_only(Duration::days(80) - Duration::hours(2));
    let p = plan(&t, &early, NOW, Mode::Reconcile);
    let created = early.keys[0].created;
    assert!(!p.due.now, "{:?}", p.due);
    assert!(summary(&p).is_empty(), "{:?}", summary(&p));
    let d = only_deadline(&p, K1);
    assert_eq!(d.role, KeyRole::Current);
    assert_eq!(d.deadline, created + Duration::days(90));
    assert_eq!(d.rotation_starts, Some(created + Duration::days(80)));
    assert_eq!(d.deactivation_due, Some(created + Duration::days(87)));
    assert_eq!((d.slack_days, d.risk), (Some(3), None));
    assert_eq!(d.days_left, 10);
    // Within the hour a daily scheduler may fire early by: due, and the rotation it plans
    // keeps the deadline.
    let due = current_only(Duration::days(80) - Duration::minutes(30));
    let p = plan(&t, &due, NOW, Mode::Reconcile);
    assert!(p.due.now);
    assert!(
        summary(&p).contains(&"rotate p-261128".to_string()),
        "{:?}",
        summary(&p)
    );
    let d = only_deadline(&p, K1);
    assert_eq!(d.deactivation_due, Some(NOW + Duration::days(7)));
    assert_eq!((d.slack_days, d.risk), (Some(3), None));
    // A command that does not rotate leaves a due rotation late: a risk.
    let p = plan(&t, &due, NOW, Mode::Retire);
    let d = only_deadline(&p, K1);
    assert_eq!(
        d.risk,
        Some(Risk {
            cause: RiskCause::RotationLate,
            severity: Severity::Warning
        })
    );
    // A key found past its deadline is rotated, and its deadline reported missed.
    let p = plan(&t, &current_only(Duration::days(120)), NOW, Mode::Reconcile);
    assert!(summary(&p).contains(&"rotate p-261128".to_string()));
    let d = only_deadline(&p, K1);
    assert_eq!(
        d.risk,
        Some(Risk {
            cause: RiskCause::DeactivationLate,
            severity: Severity::Missed
        })
    );
    assert_eq!(d.days_left, -30);
}

#[test]
fn severity_grows_as_the_deadline_nears() {
    let deadline = NOW;
    let at = |d: Duration| severity(deadline, NOW - d);
    assert_eq!(at(Duration::days(10)), Severity::Warning);
    assert_eq!(
        at(Duration::days(3) + Duration::seconds(1)),
        Severity::Warning
    );
    assert_eq!(at(Duration::days(3)), Severity::Urgent);
    assert_eq!(at(Duration::seconds(1)), Severity::Urgent);
    assert_eq!(at(Duration::ZERO), Severity::Missed);
    assert_eq!(at(-Duration::days(2)), Severity::Missed);
    assert_eq!(
        floor_days(-Duration::hours(12)),
        -1,
        "half a day past is a day past"
    );
}

/// Old K1 (created `age` ago) cut over to K2 at day 80 of its life, then used a day later.
fn blocked_at(age: Duration) -> Observed {
    let created = NOW - age;
    let cutover = created + Duration::days(80);
    let mut k1 = key(K1, 0, KeyStatus::Active, None);
    k1.created = created;
    k1.last_used = Some(LastUsed {
        at: cutover + Duration::days(1),
        service: "iot".into(),
        region: "ap-northeast-1".into(),
    });
    let mut k2 = key(K2, 0, KeyStatus::Active, None);
    k2.created = cutover;
    let mut old = set("p-260801", age.whole_days(), Some(K1));
    old.created = Some(created);
    let mut new = set("p-261020", 0, Some(K2));
    new.created = Some(cutover);
    Observed {
        held_elsewhere: Vec::new(),
        auth_failures: Vec::new(),
        keys: vec![k1, k2],
        sets: vec![old, new],
        slots: vec![funnel("g1", "p-261020")],
        records: crate::records::Records {
            released: [(AccessKeyId::new(K1), cutover)].into_iter().collect(),
            ..Default::default()
        },
    }
}

#[test]
fn a_blocked_retirement_escalates_to_urgent_then_missed() {
    for (age, want) in [
        (Duration::days(82), Severity::Warning),
        (Duration::days(87), Severity::Urgent),
        (Duration::days(89) + Duration::hours(23), Severity::Urgent),
        (Duration::days(90), Severity::Missed),
        (Duration::days(95), Severity::Missed),
    ] {
        let p = plan(&target(), &blocked_at(age), NOW, Mode::Reconcile);
        assert_eq!(p.blocked.len(), 1, "{age}");
        assert!(
            !summary(&p).iter().any(|s| s.starts_with("deactivate")),
            "{age}: never while used"
        );
        let d = only_deadline(&p, K1);
        assert_eq!(d.role, KeyRole::Old);
        assert_eq!(d.deactivation_due, None);
        assert_eq!(
            d.risk,
            Some(Risk {
                cause: RiskCause::Blocked,
                severity: want
            }),
            "{age}"
        );
        // The current key is on schedule.
        assert_eq!(only_deadline(&p, K2).risk, None);
    }
}

#[test]
fn a_late_retirement_and_a_key_nothing_retires_are_at_risk() {
    // No record of the cutover: the grace period starts now, after the deadline.
    let mut obs = blocked_at(Duration::days(85));
    obs.records.released.clear();
    obs.keys[0].last_used = None;
    let p = plan(&target(), &obs, NOW, Mode::Reconcile);
    let d = only_deadline(&p, K1);
    assert_eq!(d.deactivation_due, Some(NOW + Duration::days(7)));
    assert_eq!(d.slack_days, Some(-2));
    assert_eq!(d.risk.map(|r| r.cause), Some(RiskCause::DeactivationLate));
    // A key no set holds: at risk once past the age rotation starts at, not before.
    for (age, risk) in [(20, None), (85, Some(RiskCause::NotRetiring))] {
        let mut obs = current_only(Duration::days(10));
        let mut k3 = key("AKIAAAAAAAAAAAAAAAA3", age, KeyStatus::Active, None);
        k3.created = NOW - Duration::days(age);
        obs.keys.push(k3);
        let p = plan(&target(), &obs, NOW, Mode::Reconcile);
        let d = only_deadline(&p, "AKIAAAAAAAAAAAAAAAA3");
        assert_eq!(d.role, KeyRole::Other);
        assert_eq!(d.risk.map(|r| r.cause), risk, "{age}");
    }
}

fn exposed(obs: &mut Observed, k: &str) {
    obs.records
        .exposed
        .insert(AccessKeyId::new(k), NOW - Duration::minutes(1));
}

#[test]
fn an_emergency_rotates_and_deactivates_the_old_key_once_the_cutover_is_done() {
    let mut obs = current_only(Duration::days(10));
    // Without an exposure recorded, an emergency does what reconcile does: nothing here.
    assert!(plan(&target(), &obs, NOW, Mode::Emergency).is_empty());
    exposed(&mut obs, K1);
    let p = plan(&target(), &obs, NOW, Mode::Emergency);
    assert_eq!(
        summary(&p),
        [
            "rotate p-261128",
            "repoint g1 p-260901>p-261128",
            "record Released AAA1",
            "deactivate AAA1 p-260901"
        ]
    );
    let d = only_deadline(&p, K1);
    assert_eq!((d.deactivation_due, d.risk), (Some(NOW), None));
    // A recorded exposure is an emergency until it is finished: reconcile plans the same.
    assert_eq!(
        summary(&plan(&target(), &obs, NOW, Mode::Reconcile)),
        summary(&p)
    );
    // A plain rotate is still a plain rotate: the old key waits for its grace period.
    assert!(!summary(&plan(&target(), &obs, NOW, Mode::Rotate))
        .iter()
        .any(|s| s.starts_with("deactivate")));
}

#[test]
fn an_exposed_key_no_set_holds_is_reported_never_touched() {
    let mut obs = current_only(Duration::days(10));
    let k3 = "AKIAAAAAAAAAAAAAAAA3";
    obs.keys
        .push(key(k3, 5, KeyStatus::Active, Some(("s3", 1))));
    exposed(&mut obs, k3);
    for mode in [Mode::Emergency, Mode::Reconcile, Mode::Retire] {
        let p = plan(&target(), &obs, NOW, mode);
        assert!(p.is_empty(), "{mode:?}: {:?}", summary(&p));
        assert!(
            p.notes
                .iter()
                .any(|n| matches!(n, Note::ExposedUnmanaged { key } if key.as_str() == k3)),
            "{mode:?}: {:?}",
            p.notes
        );
    }
    // Once it is off, there is nothing to say.
    obs.keys[1].status = KeyStatus::Inactive;
    let p = plan(&target(), &obs, NOW, Mode::Emergency);
    assert!(!p
        .notes
        .iter()
        .any(|n| matches!(n, Note::ExposedUnmanaged { .. })));
}

#[test]
fn a_deactivation_due_within_the_hour_is_done_but_never_inside_the_settle_window() {
    let c = RetireCase {
        name: "",
        cutover_days: 7,
        k1: k1(KeyStatus::Active, None),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Reconcile,
        actions: &[],
        blocked: false,
        upcoming: 0,
    };
    let (t, mut obs) = retire_world(&c);
    let released = |obs: &mut Observed, at: OffsetDateTime| {
        obs.records.released.insert(AccessKeyId::new(K1), at);
        obs.sets[1].created = Some(at);
    };
    // Due in 30 minutes: a daily run that fires a little early deactivates today.
    released(&mut obs, NOW - Duration::days(7) + Duration::minutes(30));
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["deactivate AAA1 p-260801"]);
    // Due in two hours: tomorrow.
    released(&mut obs, NOW - Duration::days(7) + Duration::hours(2));
    let p = plan(&t, &obs, NOW, Mode::Reconcile);
    assert!(summary(&p).is_empty(), "{:?}", summary(&p));
    // No grace beyond the settle window (an hour): 30 minutes after the cutover the key
    // stays on, though the deactivation is "due within the hour".
    let mut t0 = t.clone();
    t0.retire_after_days = 0;
    released(&mut obs, NOW - Duration::minutes(30));
    let p = plan(&t0, &obs, NOW, Mode::Reconcile);
    assert!(summary(&p).is_empty(), "{:?}", summary(&p));
    released(&mut obs, NOW - Duration::minutes(61));
    let p = plan(&t0, &obs, NOW, Mode::Reconcile);
    assert_eq!(summary(&p), ["deactivate AAA1 p-260801"]);
}

#[test]
fn an_emergency_for_an_older_key_deactivates_it_at_once_even_if_used() {
    // K1 cut over two days ago and used a day ago; K2 holds every reference.
    let (t, mut obs) = retire_world(&RetireCase {
        name: "emergency",
        cutover_days: 2,
        k1: k1(KeyStatus::Active, Some(1)),
        old_desc: Some(K1),
        old_last_used_days: None,
        deactivated_days: None,
        adopt_keys: false,
        mode: Mode::Emergency,
        actions: &[],
        blocked: false,
        upcoming: 0,
    });
    let normal = plan(&t, &obs, NOW, Mode::Reconcile);
    assert_eq!(
        normal.blocked.len(),
        1,
        "reconcile waits for the use to stop"
    );
    assert_eq!(
        plan(&t, &obs, NOW, Mode::Emergency).blocked.len(),
        1,
        "a key not recorded exposed is retired as usual"
    );
    exposed(&mut obs, K1);
    let p = plan(&t, &obs, NOW, Mode::Emergency);
    assert_eq!(
        summary(&p),
        ["deactivate AAA1 p-260801"],
        "no new key: the old one goes"
    );
    // Any run that retires finishes an emergency cut short before the deactivation.
    for mode in [Mode::Reconcile, Mode::Retire] {
        assert_eq!(
            summary(&plan(&t, &obs, NOW, mode)),
            ["deactivate AAA1 p-260801"],
            "{mode:?}"
        );
    }
    assert!(p.blocked.is_empty());
    assert!(
        p.notes
            .iter()
            .any(|n| matches!(n, Note::UsedAfterCutover { key, .. } if key.as_str() == K1)),
        "{:?}",
        p.notes
    );
    assert!(!p.due.now);
    // Once the exposed key is inactive the emergency is over: a rerun makes no new key.
    obs.keys[0].status = KeyStatus::Inactive;
    obs.records
        .deactivated
        .insert(AccessKeyId::new(K1), NOW - Duration::minutes(1));
    let again = plan(&t, &obs, NOW, Mode::Emergency);
    assert!(!again.due.now, "{:?}", again.due);
    assert!(
        !summary(&again)
            .iter()
            .any(|s| s.starts_with("rotate") || s.starts_with("deactivate")),
        "{:?}",
        summary(&again)
    );
}

mod canary {
    use super::*;
    use crate::config::{Canary, CanaryHolders, WithoutEvidence};
    use crate::model::AuthFailure;
    use crate::plan::canary::{auth_failure, log_service};

    const OLD: &str = "p-260909";
    const NEW: &str = "p-261128";

    fn canary_target(without_evidence: WithoutEvidence) -> Target {
        Target {
            canary: Some(Canary {
                holders: CanaryHolders::First,
                min_minutes: 60,
                max_hours: 24,
                without_evidence,
            }),
            ..target()
        }
    }

    /// K1 (80 days old: rotation with a canary starts at 79) in OLD, referenced by g1 and g2; with `new`, K2 in NEW made two
    /// hours ago, with g1 on it when `g1_moved`.
    fn world(new: bool, g1_moved: bool) -> Observed {
        let mut keys = vec![key(K1, 80, KeyStatus::Active, Some(("iot", 60)))];
        let mut sets = vec![set(OLD, 80, Some(K1))];
        let mut records = crate::records::Records::default();
        if new {
            let mut k2 = key(K2, 0, KeyStatus::Active, None);
            k2.created = NOW - Duration::hours(2);
            keys.push(k2);
            let mut s = set(NEW, 0, Some(K2));
            s.created = Some(NOW - Duration::hours(2));
            sets.push(s);
            records.keys.insert(
                AccessKeyId::new(K2),
                KeyRecord::HeldBy {
                    set_id: NEW.into(),
                    since: NOW - Duration::hours(2),
                },
            );
        }
        let g1 = if g1_moved { NEW } else { OLD };
        Observed {
            keys,
            sets,
            slots: vec![funnel("g1", g1), funnel("g2", OLD)],
            records,
            auth_failures: Vec::new(),
            held_elsewhere: Vec::new(),
        }
    }

    fn since(obs: &mut Observed, minutes_ago: i64) {
        obs.records
            .canary
            .insert(AccessKeyId::new(K1), NOW - Duration::minutes(minutes_ago));
    }

    fn refused_by_logs() -> AuthFailure {
        AuthFailure {
            service: "Funnel".into(),
            at: NOW - Duration::minutes(5),
            error: "UnrecognizedClientException",
            resource_id: Some("440100000000001".into()),
        }
    }

    fn run(t: &Target, obs: &Observed, mode: Mode) -> Plan {
        let p = plan(t, obs, NOW, mode);
        assert_eq!(p, plan(t, obs, NOW, mode), "not deterministic");
        p
    }

    fn stage(p: &Plan) -> Option<CanaryStage> {
        p.canary.as_ref().map(|c| c.stage)
    }

    #[test]
    fn a_due_rotation_moves_only_the_first_holder_and_records_the_canary_before() {
        let p = run(
            &canary_target(WithoutEvidence::Hold),
            &world(false, false),
            Mode::Reconcile,
        );
        assert_eq!(
            summary(&p),
            [
                "rotate p-261128",
                "start-canary AAA1",
                "repoint g1 p-260909>p-261128"
            ]
        );
        assert_eq!(stage(&p), Some(CanaryStage::Starting));
        assert!(!p.refused());
        // The old key's deactivation is due a grace after the canary's decision at the latest.
        let d = p
            .deadlines
            .iter()
            .find(|d| d.key.as_str() == K1)
            .map(|d| d.deactivation_due);
        assert_eq!(d, Some(Some(NOW + Duration::hours(24) + Duration::days(7))));
    }

    #[test]
    fn rotation_starts_earlier_by_the_longest_canary() {
        let t = canary_target(WithoutEvidence::Hold);
        assert_eq!(rotation_age(&t), Duration::days(80) - Duration::hours(24));
    }

    #[test]
    fn without_evidence_before_max_hours_the_canary_waits() {
        let mut obs = world(true, true);
        since(&mut obs, 30);
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
        assert!(summary(&p).is_empty(), "{:?}", summary(&p));
        assert_eq!(stage(&p), Some(CanaryStage::Watching));
        assert!(p
            .upcoming
            .iter()
            .any(|u| matches!(u.step, Next::CanaryDecided { .. })
                && u.due == NOW + Duration::hours(24) - Duration::minutes(30)));
        assert!(p.at_risk().next().is_none());
    }

    #[test]
    fn positive_evidence_after_min_minutes_moves_the_rest() {
        for (minutes_ago, used_ago, moves) in [(90, 10, true), (30, 10, false), (90, 100, false)] {
            let mut obs = world(true, true);
            since(&mut obs, minutes_ago);
            obs.keys[1].last_used = Some(LastUsed {
                at: NOW - Duration::minutes(used_ago),
                service: "iot".into(),
                region: "ap-northeast-1".into(),
            });
            let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
            if moves {
                assert_eq!(
                    summary(&p),
                    [
                        "repoint g2 p-260909>p-261128",
                        "unrecord Canary AAA1",
                        "record Released AAA1"
                    ]
                );
                assert_eq!(stage(&p), Some(CanaryStage::Passed));
            } else {
                assert!(
                    summary(&p).is_empty(),
                    "{minutes_ago}/{used_ago}: {:?}",
                    summary(&p)
                );
                assert_eq!(stage(&p), Some(CanaryStage::Watching));
            }
        }
    }

    #[test]
    fn sts_use_is_not_evidence_but_the_sets_last_use_is() {
        let mut obs = world(true, true);
        since(&mut obs, 90);
        obs.keys[1].last_used = Some(LastUsed {
            at: NOW - Duration::minutes(10),
            service: "sts".into(),
            region: "us-east-1".into(),
        });
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
        assert_eq!(stage(&p), Some(CanaryStage::Watching));
        obs.sets[1].last_used = Some(NOW - Duration::minutes(3));
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
        assert_eq!(stage(&p), Some(CanaryStage::Passed));
    }

    #[test]
    fn error_logs_move_the_canary_back_and_drop_the_new_key() {
        let mut obs = world(true, true);
        since(&mut obs, 90);
        // Even with positive evidence beside it: AWS refused the new key somewhere.
        obs.sets[1].last_used = Some(NOW - Duration::minutes(3));
        obs.auth_failures = vec![refused_by_logs()];
        let p = run(
            &canary_target(WithoutEvidence::Proceed),
            &obs,
            Mode::Reconcile,
        );
        assert_eq!(
            summary(&p),
            [
                "fail-canary AAA1",
                "repoint g1 p-261128>p-260909",
                "drop AAA2 p-261128",
                "unrecord Canary AAA1"
            ]
        );
        assert_eq!(stage(&p), Some(CanaryStage::Failed));
        assert!(p.refused());
        let words = p.canary.as_ref().map(Words::words).unwrap_or_default();
        assert!(words.contains("UnrecognizedClientException"), "{words}");
        // A log entry from before the canary moved is not evidence.
        obs.auth_failures[0].at = NOW - Duration::minutes(95);
        let p = run(
            &canary_target(WithoutEvidence::Proceed),
            &obs,
            Mode::Reconcile,
        );
        assert_eq!(stage(&p), Some(CanaryStage::Passed));
    }

    #[test]
    fn a_key_a_person_put_on_the_new_set_is_moved_off_never_deleted() {
        // The canary's set now holds a key this tool has no record of making for it.
        for record in [
            None,
            Some(KeyRecord::HeldBy {
                set_id: OLD.into(),
                since: NOW - Duration::hours(2),
            }),
        ] {
            let mut obs = world(true, true);
            since(&mut obs, 90);
            obs.auth_failures = vec![refused_by_logs()];
            obs.records.keys.clear();
            if let Some(r) = record {
                obs.records.keys.insert(AccessKeyId::new(K2), r);
            }
            let p = run(
                &canary_target(WithoutEvidence::Proceed),
                &obs,
                Mode::Reconcile,
            );
            assert_eq!(
                summary(&p),
                [
                    "fail-canary AAA1",
                    "repoint g1 p-261128>p-260909",
                    "unrecord Canary AAA1",
                    // Its set is unreferenced now: it retires through the usual evidence.
                    "record Released AAA2"
                ]
            );
            assert_eq!(stage(&p), Some(CanaryStage::Failed));
        }
    }

    #[test]
    fn another_services_failures_are_not_the_canarys_evidence() {
        // The canary is a Funnel group; Funk's refusals elsewhere in the operator's logs
        // say nothing of it.
        let mut obs = world(true, true);
        since(&mut obs, 90);
        obs.sets[1].last_used = Some(NOW - Duration::minutes(3));
        obs.auth_failures = vec![AuthFailure {
            service: "Funk".into(),
            ..refused_by_logs()
        }];
        let p = run(
            &canary_target(WithoutEvidence::Proceed),
            &obs,
            Mode::Reconcile,
        );
        assert_eq!(stage(&p), Some(CanaryStage::Passed));
        assert!(!p.refused());
    }

    #[test]
    fn a_failure_already_recorded_is_finished_whatever_the_evidence_says_now() {
        // A run recorded the failure and moved g1 back, then stopped.
        let mut obs = world(true, false);
        since(&mut obs, 90);
        obs.records
            .canary_failed
            .insert(AccessKeyId::new(K1), NOW - Duration::minutes(20));
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
        assert_eq!(summary(&p), ["drop AAA2 p-261128", "unrecord Canary AAA1"]);
        assert_eq!(stage(&p), Some(CanaryStage::Failed));
    }

    #[test]
    fn after_a_failure_reconcile_refuses_and_rotate_starts_over() {
        let mut obs = world(false, false);
        obs.records
            .canary_failed
            .insert(AccessKeyId::new(K1), NOW - Duration::hours(3));
        let t = canary_target(WithoutEvidence::Hold);
        let p = run(&t, &obs, Mode::Reconcile);
        assert!(summary(&p).is_empty(), "{:?}", summary(&p));
        assert!(matches!(p.refusal, Some(Refusal::CanaryFailed { .. })));
        let risk = p.at_risk().next().map(|(_, r)| r.cause);
        assert_eq!(risk, Some(RiskCause::CanaryFailed));
        let p = run(&t, &obs, Mode::Rotate);
        assert_eq!(
            summary(&p),
            [
                "rotate p-261128",
                "start-canary AAA1",
                "repoint g1 p-260909>p-261128",
                "unrecord CanaryFailed AAA1"
            ]
        );
    }

    #[test]
    fn a_new_rotation_starts_its_own_canary_whatever_a_failed_run_left_recorded() {
        // The failure's run moved back and dropped the new key but could not remove the
        // canary's record; a person then runs `rotate`.
        let mut obs = world(false, false);
        since(&mut obs, 90);
        obs.records
            .canary_failed
            .insert(AccessKeyId::new(K1), NOW - Duration::minutes(80));
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Rotate);
        assert_eq!(
            summary(&p),
            [
                "rotate p-261128",
                "start-canary AAA1",
                "repoint g1 p-260909>p-261128",
                "unrecord CanaryFailed AAA1"
            ]
        );
        assert_eq!(stage(&p), Some(CanaryStage::Starting));
    }

    #[test]
    fn at_max_hours_without_evidence_hold_or_proceed() {
        let mut obs = world(true, true);
        since(&mut obs, 25 * 60);
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
        assert!(summary(&p).is_empty());
        assert_eq!(stage(&p), Some(CanaryStage::Held));
        assert!(p.refused());
        let risk = p
            .at_risk()
            .find(|(d, _)| d.key.as_str() == K1)
            .map(|(_, r)| r.cause);
        assert_eq!(risk, Some(RiskCause::CanaryHeld));
        let p = run(
            &canary_target(WithoutEvidence::Proceed),
            &obs,
            Mode::Reconcile,
        );
        assert_eq!(
            summary(&p),
            [
                "repoint g2 p-260909>p-261128",
                "unrecord Canary AAA1",
                "record Released AAA1"
            ]
        );
        assert_eq!(stage(&p), Some(CanaryStage::Proceeded));
        assert!(!p.refused());
    }

    #[test]
    fn a_run_that_stopped_before_or_during_the_canary_move_starts_it_again() {
        // The new set exists, nothing references it, with or without the record.
        for recorded in [false, true] {
            let mut obs = world(true, false);
            if recorded {
                since(&mut obs, 5);
            }
            let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
            assert_eq!(
                summary(&p),
                ["start-canary AAA1", "repoint g1 p-260909>p-261128"],
                "recorded: {recorded}"
            );
        }
    }

    #[test]
    fn without_a_canary_configured_or_in_an_emergency_everything_moves() {
        let mut obs = world(true, true);
        since(&mut obs, 30);
        let p = run(&target(), &obs, Mode::Reconcile);
        assert_eq!(
            summary(&p),
            [
                "repoint g2 p-260909>p-261128",
                "unrecord Canary AAA1",
                "record Released AAA1"
            ]
        );
        assert_eq!(stage(&p), None);
        obs.records
            .exposed
            .insert(AccessKeyId::new(K1), NOW - Duration::minutes(1));
        let p = run(&canary_target(WithoutEvidence::Hold), &obs, Mode::Reconcile);
        assert!(summary(&p).contains(&"repoint g2 p-260909>p-261128".to_string()));
        assert_eq!(stage(&p), None);
    }

    #[test]
    fn named_holders_are_the_canary_and_a_missing_name_falls_back_to_the_first() {
        let mut t = canary_target(WithoutEvidence::Hold);
        if let Some(c) = t.canary.as_mut() {
            c.holders = CanaryHolders::Named(vec!["g2".into()]);
        }
        let p = run(&t, &world(false, false), Mode::Reconcile);
        assert!(summary(&p).contains(&"repoint g2 p-260909>p-261128".to_string()));
        assert!(!summary(&p).contains(&"repoint g1 p-260909>p-261128".to_string()));
        if let Some(c) = t.canary.as_mut() {
            c.holders = CanaryHolders::Named(vec!["nowhere".into()]);
        }
        let p = run(&t, &world(false, false), Mode::Reconcile);
        assert!(summary(&p).contains(&"repoint g1 p-260909>p-261128".to_string()));
        assert!(p
            .notes
            .iter()
            .any(|n| matches!(n, Note::CanaryHoldersAbsent { .. })));
    }

    #[test]
    fn log_bodies_are_classified_without_being_kept() {
        let cases = [
            (
                json!({"message": "UnrecognizedClientException: The security token ..."}),
                Some("UnrecognizedClientException"),
            ),
            (
                json!({"error": {"code": "AccessDeniedException"}}),
                Some("AccessDeniedException"),
            ),
            (
                json!({"detail": ["x", {"statusCode": 403}]}),
                Some("HTTP 403"),
            ),
            (json!({"status": 401}), Some("HTTP 401")),
            (json!({"count": 403}), None),
            (json!({"message": "ThrottlingException"}), None),
            (json!(null), None),
        ];
        for (body, want) in cases {
            assert_eq!(auth_failure(&body), want, "{body}");
        }
        let group = |ns: &str| Holder::GroupKey {
            group_id: "g".into(),
            group_name: None,
            namespace: ns.into(),
            key: "k".into(),
        };
        assert_eq!(log_service(&group("SoracomFunnel")), Some("Funnel"));
        assert_eq!(log_service(&group("SoracomFunk")), Some("Funk"));
        assert_eq!(log_service(&group("SoracomAir")), Some("Air"));
        assert_eq!(log_service(&group("SoracomKrypton")), None);
    }
}

mod migration {
    use super::*;
    use crate::model::AuthFailure;

    const KEYSET: &str = "p-260909";
    const ROLE: &str = "p-role";
    const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/p-role";

    fn handler(set_id: &str) -> Slot {
        Slot {
            holder: Holder::EventHandler {
                handler_id: "h1".into(),
                name: Some("h1".into()),
            },
            value: json!({"credentialsId": set_id}),
            refs: vec![Ref {
                path: vec![Seg::Key("credentialsId".into())],
                shape: Shape::String,
                set_id: set_id.into(),
            }],
        }
    }

    /// K1 (`age` days) in KEYSET; the role set; h1, g1, g2 on the sets given.
    fn world(age: i64, h1: &str, g1: &str, g2: &str) -> Observed {
        let mut role = set(ROLE, 1, None);
        role.kind = crate::role::ROLE_CREDENTIALS.into();
        role.description = crate::role::set_description(ROLE_ARN);
        Observed {
            keys: vec![key(K1, age, KeyStatus::Active, Some(("iot", 60)))],
            sets: vec![set(KEYSET, age, Some(K1)), role],
            slots: vec![funnel("g1", g1), funnel("g2", g2), handler(h1)],
            records: Default::default(),
            auth_failures: Vec::new(),
            held_elsewhere: Vec::new(),
        }
    }

    fn stage(p: &Plan) -> Option<MigrationStage> {
        p.migration.as_ref().map(|m| m.stage)
    }

    fn run(obs: &Observed) -> Plan {
        let p = plan(&target(), obs, NOW, Mode::Reconcile);
        assert_eq!(p, plan(&target(), obs, NOW, Mode::Reconcile));
        p
    }

    #[test]
    fn the_documented_kind_goes_first_through_a_canary() {
        let p = run(&world(10, KEYSET, KEYSET, KEYSET));
        assert_eq!(
            summary(&p),
            [
                "repoint h1 p-260909>p-role",
                "record-role-canary event-handler"
            ]
            .iter()
            .rev()
            .cloned()
            .collect::<Vec<_>>()
        );
        assert_eq!(
            stage(&p),
            Some(MigrationStage::Canary(CanaryStage::Starting))
        );
    }

    #[test]
    fn positive_evidence_ends_the_kinds_canary_and_the_next_kind_starts() {
        let mut obs = world(10, ROLE, KEYSET, KEYSET);
        obs.records
            .role_canary
            .insert("event-handler".into(), NOW - Duration::minutes(90));
        obs.sets[1].last_used = Some(NOW - Duration::minutes(10));
        let p = run(&obs);
        assert_eq!(summary(&p), ["end-role-canary event-handler"]);
        assert_eq!(stage(&p), Some(MigrationStage::Canary(CanaryStage::Passed)));
        // The next run: event handlers are proven; Funnel's canary starts with g1.
        obs.records.role_canary.clear();
        let p = run(&obs);
        assert_eq!(
            summary(&p),
            [
                "record-role-canary group.SoracomFunnel",
                "repoint g1 p-260909>p-role"
            ]
        );
    }

    #[test]
    fn error_logs_send_the_kind_back_to_the_key_for_good() {
        let mut obs = world(10, ROLE, ROLE, KEYSET);
        obs.records
            .role_canary
            .insert("group.SoracomFunnel".into(), NOW - Duration::minutes(90));
        obs.auth_failures = vec![AuthFailure {
            service: "Funnel".into(),
            at: NOW - Duration::minutes(5),
            error: "AccessDeniedException",
            resource_id: None,
        }];
        let p = run(&obs);
        assert_eq!(
            summary(&p),
            [
                "refuse-role group.SoracomFunnel",
                "repoint g1 p-role>p-260909",
                "end-role-canary group.SoracomFunnel"
            ]
        );
        assert!(p.refused());
        // Recorded: the kind stays on the key; nothing else is left to move.
        obs.records.role_canary.clear();
        obs.records
            .role_refused
            .insert("group.SoracomFunnel".into(), NOW - Duration::minutes(1));
        obs.slots[0] = funnel("g1", KEYSET);
        let p = run(&obs);
        assert!(summary(&p).is_empty(), "{:?}", summary(&p));
        assert_eq!(stage(&p), Some(MigrationStage::Partial));
        assert!(!p.refused());
    }

    #[test]
    fn migrated_targets_never_rotate_and_their_keys_retire_on_evidence() {
        let mut obs = world(85, ROLE, ROLE, ROLE);
        obs.records
            .released
            .insert(AccessKeyId::new(K1), NOW - Duration::days(8));
        let p = run(&obs);
        assert!(!p.due.now);
        assert!(matches!(p.due.reason, DueReason::Migrated { .. }));
        assert_eq!(summary(&p), ["deactivate AAA1 p-260909"]);
        assert_eq!(stage(&p), Some(MigrationStage::Migrated));
        assert!(p.at_risk().next().is_none(), "{:?}", p.deadlines);
        // A person pointed g2 back at the key: it returns to the role set at once.
        let mut obs = world(85, ROLE, ROLE, KEYSET);
        obs.records
            .released
            .insert(AccessKeyId::new(K1), NOW - Duration::days(8));
        let p = plan(&target(), &obs, NOW, Mode::Rotate);
        assert!(
            summary(&p).contains(&"repoint g2 p-260909>p-role".to_string()),
            "{:?}",
            summary(&p)
        );
        assert!(!summary(&p).iter().any(|s| s.starts_with("rotate")));
    }
    #[test]
    fn a_role_set_of_our_id_made_by_hand_moves_nothing() {
        // `migrate-to-role` did not register it: its description names no role.
        let mut obs = world(10, KEYSET, KEYSET, KEYSET);
        obs.sets[1].description = "made by hand".into();
        let p = run(&obs);
        assert_eq!(stage(&p), None);
        assert!(
            !summary(&p).iter().any(|s| s.contains("p-role")),
            "{:?}",
            summary(&p)
        );
        assert!(migrate::needs_key(&target(), &obs));
    }

    #[test]
    fn an_emergency_or_retire_on_a_migrated_target_retires_its_key() {
        // Migrated, K1 still active inside its grace: exposed, it goes off at once.
        let mut obs = world(40, ROLE, ROLE, ROLE);
        obs.records
            .released
            .insert(AccessKeyId::new(K1), NOW - Duration::hours(2));
        obs.records
            .exposed
            .insert(AccessKeyId::new(K1), NOW - Duration::minutes(5));
        let p = plan(&target(), &obs, NOW, Mode::Emergency);
        assert!(
            summary(&p).contains(&"deactivate AAA1 p-260909".to_string()),
            "{:?}",
            summary(&p)
        );
        // A scheduled reconcile plans the same emergency.
        let p = plan(&target(), &obs, NOW, Mode::Reconcile);
        assert!(
            summary(&p).contains(&"deactivate AAA1 p-260909".to_string()),
            "{:?}",
            summary(&p)
        );
        // `retire` judges the key as an old one, not as the current key.
        obs.records.exposed.clear();
        obs.records
            .released
            .insert(AccessKeyId::new(K1), NOW - Duration::days(8));
        let p = plan(&target(), &obs, NOW, Mode::Retire);
        assert_eq!(summary(&p), ["deactivate AAA1 p-260909"]);
    }

    #[test]
    fn a_kind_under_its_canary_still_needs_the_key_for_those_waiting() {
        // Funnel's canary moved g1; g2 waits on the key. Funnel is the last kind left.
        let mut obs = world(85, ROLE, ROLE, KEYSET);
        obs.records
            .role_canary
            .insert("group.SoracomFunnel".into(), NOW - Duration::minutes(30));
        assert!(migrate::needs_key(&target(), &obs));
        let p = plan(&target(), &obs, NOW, Mode::Rotate);
        assert!(
            !matches!(p.due.reason, DueReason::Migrated { .. }),
            "{:?}",
            p.due
        );
        assert!(p.due.now, "an 85-day key of a holder still on it is due");
        // Once the canary is over (its record gone), the kind is proven and g2 moves.
        obs.records.role_canary.clear();
        assert!(!migrate::needs_key(&target(), &obs));
    }

    #[test]
    fn a_canary_a_person_moved_back_starts_again_from_its_move() {
        // The record is 30 hours old but nothing of the kind is on the role set.
        let mut obs = world(10, ROLE, KEYSET, KEYSET);
        obs.records
            .role_canary
            .insert("group.SoracomFunnel".into(), NOW - Duration::hours(30));
        let p = run(&obs);
        assert_eq!(
            summary(&p),
            [
                "record-role-canary group.SoracomFunnel",
                "repoint g1 p-260909>p-role"
            ]
        );
        assert_eq!(
            stage(&p),
            Some(MigrationStage::Canary(CanaryStage::Starting))
        );
    }

    #[test]
    fn references_never_move_onto_a_key_set_whose_key_is_unknown() {
        // Funnel refused the role set; g1 is still on it, and the key set's key is unknown
        // (nothing names it, and the user has two keys it could be).
        let mut obs = world(10, ROLE, ROLE, KEYSET);
        obs.records
            .role_refused
            .insert("group.SoracomFunnel".into(), NOW - Duration::minutes(1));
        obs.sets[0].description = String::new();
        obs.keys
            .push(key(K2, 5, KeyStatus::Active, Some(("iot", 60))));
        let p = run(&obs);
        assert!(
            p.notes
                .iter()
                .any(|n| matches!(n, Note::AmbiguousLink { .. })),
            "{:?}",
            p.notes
        );
        assert!(
            !summary(&p).iter().any(|s| s.starts_with("repoint g1")),
            "{:?}",
            summary(&p)
        );
    }
    #[test]
    fn references_left_on_a_deleted_role_set_go_back_to_the_key() {
        // A person deleted the role set; h1 still names it.
        let mut obs = world(10, ROLE, KEYSET, KEYSET);
        obs.sets.truncate(1);
        let p = run(&obs);
        assert_eq!(summary(&p), ["repoint h1 p-role>p-260909"]);
        assert_eq!(stage(&p), None);
        // A set of that id made by hand is someone's: nothing of it moves.
        let mut obs = world(10, ROLE, KEYSET, KEYSET);
        obs.sets[1].description = "made by hand".into();
        let p = run(&obs);
        assert!(summary(&p).is_empty(), "{:?}", summary(&p));
    }
}
