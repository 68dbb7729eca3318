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
    let owned = |id: &str| ManagedId::parse(prefix, id).is_some() || target.adopt.iter().any(|a| a == id);
    let mut candidates: Vec<Candidate> = obs
        .sets
        .iter()
        .filter(|s| owned(&s.id))
        .map(|set| Candidate { set, described: set.linked_key() })
        .collect();
    candidates.sort_by(|a, b| {
        let order = |c: &Candidate| (c.set.created, ManagedId::parse(prefix, &c.set.id));
        order(a).cmp(&order(b)).then_with(|| a.set.id.cmp(&b.set.id))
    });
    let key = |id: &AccessKeyId| obs.keys.iter().find(|k| &k.id == id);
    let active = |id: &AccessKeyId| key(id).is_some_and(|k| k.status == KeyStatus::Active);
    let mut notes = Vec::new();

    let claimed: BTreeSet<&AccessKeyId> = candidates.iter().filter_map(|c| c.described.as_ref()).collect();
    let unlinked: Vec<&Candidate> = candidates.iter().filter(|c| c.described.is_none()).collect();
    let mut unclaimed: Vec<&AccessKey> = obs.keys.iter().filter(|k| !claimed.contains(&k.id)).collect();
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
            Some(u) => format!("last used {} by {} in {}", fmt_time(u.at), u.service, u.region),
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
    let current_cand = candidates.iter().rev().find(|c| link_of(c).key().is_none_or(active));
    let basis = current_cand.and_then(|c| link_of(c).key().and_then(key).map(|k| k.created).or(c.set.created));
    let current = current_cand.map(|c| Current {
        set_id: c.set.id.clone(),
        link: link_of(c),
        age_days: basis.map(|b| (now - b).whole_days()),
    });

    let due = decide(target, obs, current.as_ref(), basis, now, intent);
    let mut actions: Vec<Action> = orphans.iter().map(|k| Action::DeleteOrphanKey { key: k.clone() }).collect();
    let mut refusal = None;
    let cur_id = current.as_ref().map(|c| c.set_id.clone());

    let mut destination = cur_id.clone();
    if due.now {
        let remaining: Vec<&AccessKey> = obs.keys.iter().filter(|k| !orphans.contains(&k.id)).collect();
        let mut room = remaining.len() < 2;
        if !room {
            // Only an inactive key that this tool linked to an older, unreferenced set may go.
            let retired = candidates.iter().find_map(|c| {
                let k = remaining.iter().find(|r| Some(&r.id) == c.described.as_ref())?;
                let unreferenced = !obs.slots.iter().any(|slot| slot.references(&c.set.id));
                (k.status == KeyStatus::Inactive && unreferenced && Some(&c.set.id) != cur_id.as_ref())
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
                    actions.push(Action::Rotate { new_set_id: new_set_id.clone() });
                    destination = Some(new_set_id);
                }
                None => refusal = Some(format!("no free credential set id for {prefix} on this date")),
            }
        }
    }

    match destination {
        Some(to) => {
            for slot in &obs.slots {
                let from: BTreeSet<&String> =
                    slot.refs.iter().map(|r| &r.set_id).filter(|id| owned(id) && **id != to).collect();
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
            notes.push("references exist but no credential set of this target has a usable key".to_string());
        }
        None => {}
    }

    Plan { target: target.name.clone(), current, due, actions, refusal, notes }
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
        return Due { now: true, reason: "rotation requested".into(), next };
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
            reason: format!("key of {} is {age} days old (max {})", current.set_id, target.max_key_age_days),
            next,
        },
        _ => Due { now: false, reason: format!("the age of the key of {} is unknown", current.set_id), next: None },
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
            format!("{} ({status}, created {}, {used})", k.id, fmt_time(k.created))
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
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}
