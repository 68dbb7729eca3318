//! The planner: a pure function from observed state, policy and time to actions.
//!
//! [`plan`] decides, for one target, what `reconcile` (or a forced `rotate`) must do now:
//! delete a key orphaned by a crashed run, make room in IAM's two key slots, rotate, and
//! repoint references (DESIGN §3, steps 2–3). It performs no I/O, so every rule is tested
//! table-driven below; the executor in [`crate::apply`] carries the actions out.

use std::collections::BTreeSet;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::Target;
use crate::model::{AccessKey, CredentialSet, KeyStatus, ManagedId, Observed, Slot};
use crate::secret::AccessKeyId;

/// How long after its creation a key's only use may be our own STS verification for the
/// key to still count as an orphan (last-used data is coarse and may lag by hours).
const ORPHAN_USE_WINDOW: Duration = Duration::days(1);

/// What the planner was asked.
#[derive(Clone, Copy, Debug)]
pub struct Intent {
    /// Rotate even if the current key is not yet due (`rotate`).
    pub force_rotate: bool,
}

/// How the planner knows which key a credential set holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "key", rename_all = "camelCase")]
pub enum Link {
    /// The description written by this tool names the key.
    Description(AccessKeyId),
    /// Unambiguous evidence: the only unlinked set and the only unclaimed key.
    Evidence(AccessKeyId),
    /// Not known.
    Unknown,
}

impl Link {
    /// The key, when known.
    pub fn key(&self) -> Option<&AccessKeyId> {
        match self {
            Link::Description(k) | Link::Evidence(k) => Some(k),
            Link::Unknown => None,
        }
    }
}

/// The credential set the target currently uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Current {
    /// Set id.
    pub set_id: String,
    /// How its key is known.
    pub link: Link,
    /// Age in whole days of the key (or of the set when the key is unknown).
    pub age_days: Option<i64>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Delete a key left by a crashed run: unlinked, newer than the current set, and used
    /// at most by our own verification. Its secret is lost, so nothing else can use it.
    #[serde(rename_all = "camelCase")]
    DeleteOrphanKey {
        /// The key.
        key: AccessKeyId,
    },
    /// Free a key slot: delete an inactive key this tool retired, then its unused set.
    #[serde(rename_all = "camelCase")]
    MakeRoom {
        /// The inactive key.
        key: AccessKeyId,
        /// Its credential set, referenced by nothing.
        set_id: String,
    },
    /// Create a key, verify it, and register it as a new credential set.
    #[serde(rename_all = "camelCase")]
    Rotate {
        /// Id of the set to create.
        new_set_id: String,
    },
    /// Point one slot's references at `to`.
    #[serde(rename_all = "camelCase")]
    Repoint {
        /// The slot, as read.
        slot: Slot,
        /// The set ids it references now.
        from: Vec<String>,
        /// The set it will reference.
        to: String,
    },
}

/// Whether rotation is due, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Due {
    /// Rotation is due now.
    pub now: bool,
    /// Why (or why not).
    pub reason: String,
    /// When the current key becomes due, if known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next: Option<OffsetDateTime>,
}

/// The plan for one target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Target name.
    pub target: String,
    /// The set in use, if any.
    pub current: Option<Current>,
    /// The rotation decision.
    pub due: Due,
    /// Actions in execution order.
    pub actions: Vec<Action>,
    /// Set when a safety rule forbids what is due; the operator must act (exit 3).
    pub refusal: Option<String>,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

/// An owned credential set with the key its description names.
struct Candidate<'a> {
    set: &'a CredentialSet,
    described: Option<AccessKeyId>,
}

/// Plans one target. Pure: same input, same plan.
pub fn plan(target: &Target, obs: &Observed, now: OffsetDateTime, intent: Intent) -> Plan {
    let prefix = target.credential_prefix.as_str();
    let owned = |id: &str| target.owns(id);
    let mut candidates: Vec<Candidate> = obs
        .sets
        .iter()
        .filter(|s| owned(&s.id))
        .map(|set| Candidate {
            set,
            described: set.linked_key(),
        })
        .collect();
    candidates.sort_by(|a, b| {
        let order = |c: &Candidate| (c.set.created, ManagedId::parse(prefix, &c.set.id));
        order(a)
            .cmp(&order(b))
            .then_with(|| a.set.id.cmp(&b.set.id))
    });
    let key = |id: &AccessKeyId| obs.keys.iter().find(|k| &k.id == id);
    let active = |id: &AccessKeyId| key(id).is_some_and(|k| k.status == KeyStatus::Active);
    let mut notes = Vec::new();

    let claimed: BTreeSet<&AccessKeyId> = candidates
        .iter()
        .filter_map(|c| c.described.as_ref())
        .collect();
    let unlinked: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.described.is_none())
        .collect();
    let mut unclaimed: Vec<&AccessKey> = obs
        .keys
        .iter()
        .filter(|k| !claimed.contains(&k.id))
        .collect();
    unclaimed.sort_by_key(|k| k.created);

    // A crashed run leaves at most one key behind, the newest; it is an orphan only if
    // the other unclaimed keys still cover every unlinked set.
    let ref_time = candidates
        .iter()
        .rev()
        .find(|c| c.described.as_ref().is_none_or(active))
        .and_then(|c| c.set.created);
    let mut orphans: Vec<AccessKeyId> = Vec::new();
    if unclaimed.len() > unlinked.len() {
        if let (Some(newest), Some(t)) = (unclaimed.last(), ref_time) {
            if newest.created > t && only_our_verification(newest) {
                orphans.push(newest.id.clone());
            }
        }
    }
    unclaimed.retain(|k| !orphans.contains(&k.id));

    let evidence = match (unlinked.as_slice(), unclaimed.as_slice()) {
        ([c], [k]) => Some((c.set.id.clone(), k.id.clone())),
        _ => None,
    };
    let link_of = |c: &Candidate| -> Link {
        if let Some(k) = &c.described {
            return Link::Description(k.clone());
        }
        match &evidence {
            Some((id, k)) if *id == c.set.id => Link::Evidence(k.clone()),
            _ => Link::Unknown,
        }
    };
    for k in &unclaimed {
        if evidence.as_ref().is_some_and(|(_, e)| e == &k.id) {
            continue;
        }
        let used = match &k.last_used {
            Some(u) => format!(
                "last used {} by {} in {}",
                fmt_time(u.at),
                u.service,
                u.region
            ),
            None => "never used".to_string(),
        };
        notes.push(format!(
            "key {} of {} is not linked to any credential set of this target ({used}); it is left alone",
            k.id, target.iam_user
        ));
    }
    if evidence.is_none() {
        for c in &unlinked {
            notes.push(format!(
                "credential set {} names no access key and the evidence is ambiguous; which key it holds is unknown",
                c.set.id
            ));
        }
    }

    // The current set: the newest owned set whose key is active, or unknown.
    let current_cand = candidates
        .iter()
        .rev()
        .find(|c| link_of(c).key().is_none_or(active));
    let basis = current_cand.and_then(|c| {
        link_of(c)
            .key()
            .and_then(key)
            .map(|k| k.created)
            .or(c.set.created)
    });
    let current = current_cand.map(|c| Current {
        set_id: c.set.id.clone(),
        link: link_of(c),
        age_days: basis.map(|b| (now - b).whole_days()),
    });

    let due = decide(target, obs, current.as_ref(), basis, now, intent);
    let mut actions: Vec<Action> = orphans
        .iter()
        .map(|k| Action::DeleteOrphanKey { key: k.clone() })
        .collect();
    let mut refusal = None;
    let cur_id = current.as_ref().map(|c| c.set_id.clone());

    let mut destination = cur_id.clone();
    if due.now {
        let remaining: Vec<&AccessKey> = obs
            .keys
            .iter()
            .filter(|k| !orphans.contains(&k.id))
            .collect();
        let mut room = remaining.len() < 2;
        if !room {
            // Only an inactive key that this tool linked to an older, unreferenced set may go.
            let retired = candidates.iter().find_map(|c| {
                let k = remaining
                    .iter()
                    .find(|r| Some(&r.id) == c.described.as_ref())?;
                let unreferenced = !obs.slots.iter().any(|slot| slot.references(&c.set.id));
                (k.status == KeyStatus::Inactive
                    && unreferenced
                    && Some(&c.set.id) != cur_id.as_ref())
                .then(|| (k.id.clone(), c.set.id.clone()))
            });
            match retired {
                Some((key, set_id)) => {
                    actions.push(Action::MakeRoom { key, set_id });
                    room = true;
                }
                None => refusal = Some(slots_full_message(target, &remaining)),
            }
        }
        if room {
            let taken = |id: &str| obs.sets.iter().any(|s| s.id == id);
            match ManagedId::next_free(prefix, now.date(), taken) {
                Some(new_set_id) => {
                    actions.push(Action::Rotate {
                        new_set_id: new_set_id.clone(),
                    });
                    destination = Some(new_set_id);
                }
                None => {
                    refusal = Some(format!(
                        "no free credential set id for {prefix} on this date"
                    ))
                }
            }
        }
    }

    match destination {
        Some(to) => {
            for slot in &obs.slots {
                let from: BTreeSet<&String> = slot
                    .refs
                    .iter()
                    .map(|r| &r.set_id)
                    .filter(|id| owned(id) && **id != to)
                    .collect();
                if !from.is_empty() {
                    actions.push(Action::Repoint {
                        slot: slot.clone(),
                        from: from.into_iter().cloned().collect(),
                        to: to.clone(),
                    });
                }
            }
        }
        None if !obs.slots.is_empty() => {
            notes.push(
                "references exist but no credential set of this target has a usable key"
                    .to_string(),
            );
        }
        None => {}
    }

    Plan {
        target: target.name.clone(),
        current,
        due,
        actions,
        refusal,
        notes,
    }
}

fn only_our_verification(k: &AccessKey) -> bool {
    match &k.last_used {
        None => true,
        Some(u) => u.service == "sts" && u.at <= k.created + ORPHAN_USE_WINDOW,
    }
}

fn decide(
    target: &Target,
    obs: &Observed,
    current: Option<&Current>,
    basis: Option<OffsetDateTime>,
    now: OffsetDateTime,
    intent: Intent,
) -> Due {
    let max_age = Duration::days(target.max_key_age_days.into());
    let next = basis.map(|b| b + max_age);
    if intent.force_rotate {
        return Due {
            now: true,
            reason: "rotation requested".into(),
            next,
        };
    }
    let Some(current) = current else {
        return if obs.slots.is_empty() {
            Due {
                now: false,
                reason: format!(
                    "no credential set {}-<yymmdd> exists; run `rotate --target {}` to create the first, or adopt the set in use",
                    target.credential_prefix, target.name
                ),
                next: None,
            }
        } else {
            Due {
                now: true,
                reason: "references name only sets whose key is missing or inactive".into(),
                next: None,
            }
        };
    };
    match (next, current.age_days) {
        (Some(next_at), Some(age)) => Due {
            now: now >= next_at,
            reason: format!(
                "key of {} is {age} days old (max {})",
                current.set_id, target.max_key_age_days
            ),
            next,
        },
        _ => Due {
            now: false,
            reason: format!("the age of the key of {} is unknown", current.set_id),
            next: None,
        },
    }
}

fn slots_full_message(target: &Target, keys: &[&AccessKey]) -> String {
    let list: Vec<String> = keys
        .iter()
        .map(|k| {
            let used = match &k.last_used {
                Some(u) => format!("last used {} ({}, {})", fmt_time(u.at), u.service, u.region),
                None => "never used".into(),
            };
            let status = match k.status {
                KeyStatus::Active => "active",
                KeyStatus::Inactive => "inactive",
            };
            format!(
                "{} ({status}, created {}, {used})",
                k.id,
                fmt_time(k.created)
            )
        })
        .collect();
    format!(
        "IAM user {} already has two access keys: {}. Only an inactive key that soracom-key-rotator retired may be \
         deleted to make room. Check which key is unused, deactivate and delete it (aws iam update-access-key / \
         delete-access-key), then run again.",
        target.iam_user,
        list.join("; ")
    )
}

/// Formats a timestamp for messages (RFC 3339, UTC).
pub fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;
    use crate::model::{link_description, Holder, LastUsed, Ref, Shape};
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

    fn target() -> Target {
        Target {
            name: "funnel".into(),
            iam_user: "u".into(),
            credential_prefix: "p".into(),
            max_key_age_days: 90,
            retire_after_days: 7,
            delete_after_days: 7,
            adopt: vec!["hand".into()],
            strategy: Strategy::Repoint,
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
        p.actions
            .iter()
            .map(|a| match a {
                Action::DeleteOrphanKey { key } => format!("orphan {}", &key.as_str()[16..]),
                Action::MakeRoom { key, set_id } => {
                    format!("room {} {set_id}", &key.as_str()[16..])
                }
                Action::Rotate { new_set_id } => format!("rotate {new_set_id}"),
                Action::Repoint { slot, from, to } => {
                    let g = match &slot.holder {
                        Holder::GroupKey { group_id, .. } => group_id.clone(),
                        Holder::EventHandler { handler_id, .. } => handler_id.clone(),
                    };
                    format!("repoint {g} {}>{to}", from.join(","))
                }
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
            },
            Case {
                name: "forced rotation on a day whose ids are taken gets -3",
                keys: vec![key(K1, 1, KeyStatus::Active, None)],
                sets: vec![set("p-261128", 0, Some(K1)), set("p-261128-2", 0, Some("AKIAGONEGONEGONEGONE"))],
                slots: vec![funnel("g1", "p-261128")],
                force: true,
                due: true,
                current: Some("p-261128"),
                actions: &["rotate p-261128-3", "repoint g1 p-261128>p-261128-3"],
                refused: false,
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
            },
            Case {
                name: "inactive key retired by the tool makes room",
                keys: vec![key(K1, 200, KeyStatus::Inactive, None), key(K2, 100, KeyStatus::Active, Some(("iot", 5)))],
                sets: vec![set("p-220510", 200, Some(K1)), set("p-220810", 100, Some(K2))],
                slots: vec![funnel("g1", "p-220810")],
                force: false,
                due: true,
                current: Some("p-220810"),
                actions: &["room AAA1 p-220510", "rotate p-261128", "repoint g1 p-220810>p-261128"],
                refused: false,
            },
            Case {
                name: "inactive key whose set is still referenced does not make room",
                keys: vec![key(K1, 200, KeyStatus::Inactive, None), key(K2, 100, KeyStatus::Active, Some(("iot", 5)))],
                sets: vec![set("p-220510", 200, Some(K1)), set("p-220810", 100, Some(K2))],
                slots: vec![funnel("g1", "p-220810"), funnel("g2", "p-220510")],
                force: false,
                due: true,
                current: Some("p-220810"),
                actions: &["repoint g2 p-220510>p-220810"],
                refused: true,
            },
            Case {
                name: "key newer than the current set, used only by our STS check: orphan",
                keys: vec![key(K1, 30, KeyStatus::Active, Some(("iot", 60))), key(K2, 0, KeyStatus::Active, Some(("sts", 1)))],
                sets: vec![set("p-261029", 30, Some(K1))],
                slots: vec![funnel("g1", "p-261029")],
                force: false,
                due: false,
                current: Some("p-261029"),
                actions: &["orphan AAA2"],
                refused: false,
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
            },
            Case {
                name: "crash after CreateAccessKey next to a hand-made set: orphan found, old key linked",
                keys: vec![key(K1, 100, KeyStatus::Active, None), key(K2, 0, KeyStatus::Active, Some(("sts", 1)))],
                sets: vec![set("p-220810", 99, None)],
                slots: vec![funnel("g1", "p-220810")],
                force: false,
                due: true,
                current: Some("p-220810"),
                actions: &["orphan AAA2", "rotate p-261128", "repoint g1 p-220810>p-261128"],
                refused: false,
            },
            Case {
                name: "unfinished cutover is resumed without a new key",
                keys: vec![key(K1, 100, KeyStatus::Active, Some(("iot", 5))), key(K2, 0, KeyStatus::Active, Some(("sts", 1)))],
                sets: vec![set("p-220810", 100, Some(K1)), set("p-261128", 0, Some(K2))],
                slots: vec![funnel("g1", "p-261128"), funnel("g2", "p-220810")],
                force: false,
                due: false,
                current: Some("p-261128"),
                actions: &["repoint g2 p-220810>p-261128"],
                refused: false,
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
            },
        ];
        for c in cases {
            let obs = Observed {
                keys: c.keys,
                sets: c.sets,
                slots: c.slots,
            };
            let p = plan(
                &target(),
                &obs,
                NOW,
                Intent {
                    force_rotate: c.force,
                },
            );
            assert_eq!(p.due.now, c.due, "{}: due ({})", c.name, p.due.reason);
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
                Intent {
                    force_rotate: c.force,
                },
            );
            assert_eq!(p, again, "{}: not deterministic", c.name);
        }
    }

    #[test]
    fn refusal_names_both_keys_masked() {
        let obs = Observed {
            keys: vec![
                key(K1, 100, KeyStatus::Active, Some(("iot", 60))),
                key(K2, 50, KeyStatus::Active, Some(("s3", 9))),
            ],
            sets: vec![set("p-220810", 100, Some(K1))],
            slots: vec![],
        };
        let p = plan(
            &target(),
            &obs,
            NOW,
            Intent {
                force_rotate: false,
            },
        );
        let r = p.refusal.unwrap_or_default();
        assert!(
            r.contains("AKIA************AAA1") && r.contains("AKIA************AAA2"),
            "{r}"
        );
        assert!(!r.contains(K1), "{r}");
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("AAA2") && n.contains("left alone")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn evidence_link_names_the_only_key_and_dates_the_next_rotation() {
        let obs = Observed {
            keys: vec![key(K1, 10, KeyStatus::Active, None)],
            sets: vec![set("p-220810", 500, None)],
            slots: vec![],
        };
        let p = plan(
            &target(),
            &obs,
            NOW,
            Intent {
                force_rotate: false,
            },
        );
        let cur = p.current.unwrap_or_else(|| panic!("no current"));
        assert_eq!(cur.link, Link::Evidence(AccessKeyId::new(K1)));
        assert_eq!(cur.age_days, Some(10));
        assert_eq!(
            p.due.next,
            Some(NOW - Duration::days(10) + Duration::days(90))
        );
    }
}
