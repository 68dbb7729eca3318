//! The planner: a pure function from observed state, policy and time to actions.
//!
//! [`plan`] decides, for one target, what a command must do now (DESIGN §3): delete a key
//! orphaned by a crashed run, repoint references left on older sets, make room in IAM's
//! two key slots, rotate, and retire old keys on evidence — deactivate once the cutover is
//! `retire_after_days` old and no use after it shows, delete `delete_after_days` after
//! deactivation. [`resolve`] is the shared first step: which key each set holds and which
//! set is current; `status` reports from it too. Nothing here performs I/O, so every rule
//! is tested table-driven below; [`crate::apply`] carries the actions out.

use std::collections::BTreeSet;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::{Strategy, Target};
use crate::model::{
    AccessKey, CredentialSet, KeyStatus, LastUsed, ManagedId, Mark, Observed, Slot,
};
use crate::records::{creating_key, lease_key, KeyRecord};
use crate::secret::AccessKeyId;

/// The longest a run can take (verification may take up to an hour, then the cutover): a
/// key this tool has in flight, or a run announcing it is creating one, younger than this
/// is a run at work — the target is left to it; older, that run died and its key is an
/// orphan (deleted: its secret died with the run).
pub const IN_FLIGHT_LIMIT: Duration = Duration::hours(2);

/// How much earlier than its run's announcement a key may be dated and still be that run's
/// (the clocks of IAM and of the run may differ a little).
const CREATE_SKEW: Duration = Duration::minutes(5);
/// How much later than its run's announcement a key may be dated and still be that run's:
/// the run creates it right after announcing.
const CREATE_WINDOW: Duration = Duration::minutes(15);

/// The only credential set type that holds an access key this tool rotates.
pub const AWS_CREDENTIALS: &str = "aws-credentials";

/// What the planner was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Repair, rotate if due, retire what is due.
    Reconcile,
    /// Repair and rotate now, due or not.
    Rotate,
    /// Only the retire steps that are due.
    Retire,
    /// Undo the last cutover while the previous set's key is still active.
    Rollback,
}

/// How the planner knows which key a credential set holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "key", rename_all = "camelCase")]
pub enum Link {
    /// The description written by this tool names the key.
    Description(AccessKeyId),
    /// The configuration's `adopt_keys` names the key.
    Adopted(AccessKeyId),
    /// Unambiguous evidence: the only unlinked set and the only unclaimed key.
    Evidence(AccessKeyId),
    /// SORACOM reports the key id (`credentials.accessKeyId`).
    Api(AccessKeyId),
    /// Not known.
    Unknown,
}

impl Link {
    /// The key, when known.
    pub fn key(&self) -> Option<&AccessKeyId> {
        match self {
            Link::Api(k) | Link::Description(k) | Link::Adopted(k) | Link::Evidence(k) => Some(k),
            Link::Unknown => None,
        }
    }

    /// The key, when the link is certain enough to retire it (not mere evidence).
    pub fn certain(&self) -> Option<&AccessKeyId> {
        match self {
            Link::Api(k) | Link::Description(k) | Link::Adopted(k) => Some(k),
            Link::Evidence(_) | Link::Unknown => None,
        }
    }
}

/// The state of the key a set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyState {
    /// The key exists and is active.
    Active,
    /// The key exists and is inactive.
    Inactive,
    /// The key no longer exists.
    Missing,
    /// Which key the set holds is not known.
    Unknown,
}

/// One owned credential set with what is known about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetView {
    /// The set as listed.
    pub set: CredentialSet,
    /// Which key it holds.
    pub link: Link,
    /// That key's state.
    pub key_state: KeyState,
    /// In-place sets: the key held before the last rotation, still to be retired.
    pub previous: Option<AccessKeyId>,
    /// References to it, as `Holder` descriptions.
    pub references: Vec<String>,
}

/// What is known about a target before deciding anything.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Owned sets, oldest first.
    pub sets: Vec<SetView>,
    /// Index in `sets` of the current set: the newest whose key is active (or unknown).
    pub current: Option<usize>,
    /// Keys this tool recorded as in flight (or announced) for a run that died: deleted.
    pub orphans: Vec<AccessKeyId>,
    /// Tag keys of announcements and leases of runs that are long over (or leftovers):
    /// they are removed.
    pub stale_creating: Vec<String>,
    /// Since when a run is rotating this target (a key in flight, or announced, younger
    /// than [`IN_FLIGHT_LIMIT`]); nothing else may change it meanwhile.
    pub busy: Option<OffsetDateTime>,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

impl View {
    /// The current set, if any.
    pub fn current_set(&self) -> Option<&SetView> {
        self.current.and_then(|i| self.sets.get(i))
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
        /// Its credential set, referenced by nothing (`None`: an in-place set, kept).
        set_id: Option<String>,
    },
    /// Create a key, verify it, and register it as a new credential set.
    #[serde(rename_all = "camelCase")]
    Rotate {
        /// Id of the set to create.
        new_set_id: String,
    },
    /// Create a key, verify it, and put it into the existing set (in-place strategy).
    #[serde(rename_all = "camelCase")]
    RotateInPlace {
        /// The set whose key is replaced.
        set_id: String,
        /// The key it holds now, named in the description as the one to retire.
        previous: Option<AccessKeyId>,
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
    /// Deactivate an old key: its cutover is old enough and nothing used it since.
    #[serde(rename_all = "camelCase")]
    Deactivate {
        /// The key.
        key: AccessKeyId,
        /// The set that held it.
        set_id: String,
    },
    /// Delete a key deactivated long enough ago, then its set.
    #[serde(rename_all = "camelCase")]
    DeleteRetired {
        /// The inactive key.
        key: AccessKeyId,
        /// Its set, deleted after the key (`None`: an in-place set, kept).
        set_id: Option<String>,
    },
    /// Record on the IAM user when something happened to a key (the evidence retirement
    /// is timed by).
    #[serde(rename_all = "camelCase")]
    Record {
        /// The key.
        key: AccessKeyId,
        /// What happened to it, now.
        mark: Mark,
    },
    /// Delete an unreferenced set whose key no longer exists, then forget that key's records.
    #[serde(rename_all = "camelCase")]
    DeleteSet {
        /// The set.
        set_id: String,
        /// The key it named.
        key: AccessKeyId,
    },
    /// Remove the records (user tags) of a key that no longer exists and that no set of
    /// the target names: left by a run whose removal of them failed.
    #[serde(rename_all = "camelCase")]
    Forget {
        /// The key the records are about.
        key: AccessKeyId,
    },
    /// Remove one record of a key that no longer holds (a re-activated key's deactivation,
    /// a cutover undone because references came back).
    #[serde(rename_all = "camelCase")]
    Unrecord {
        /// The key.
        key: AccessKeyId,
        /// The record removed.
        mark: Mark,
    },
    /// Remove the announcement (or lease) of a run that is long over, or a leftover.
    #[serde(rename_all = "camelCase")]
    ForgetRun {
        /// The record's tag key.
        tag: String,
    },
    /// Record that a key this tool had in flight is now held by its set (a cutover that an
    /// interrupted run left, now finished).
    #[serde(rename_all = "camelCase")]
    MarkHeld {
        /// The key.
        key: AccessKeyId,
        /// The set holding it.
        set_id: String,
    },
}

impl Action {
    /// Whether the step deletes or deactivates something: it is taken only when a fresh
    /// observation still calls for it.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Action::DeleteOrphanKey { .. }
                | Action::MakeRoom { .. }
                | Action::Deactivate { .. }
                | Action::DeleteRetired { .. }
                | Action::DeleteSet { .. }
        )
    }
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

/// A step that will become due later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upcoming {
    /// What will be done.
    pub step: String,
    /// From when.
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
}

/// An old key that must not be retired: it was used after its cutover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    /// The key.
    pub key: AccessKeyId,
    /// The set that held it.
    pub set_id: String,
    /// When SORACOM stopped using it.
    #[serde(with = "time::serde::rfc3339")]
    pub cutover: OffsetDateTime,
    /// IAM's last use of the key.
    pub key_last_used: Option<LastUsed>,
    /// SORACOM's last use of the set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub set_last_used: Option<OffsetDateTime>,
    /// What happened and what to check.
    pub message: String,
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
    /// Set when a safety rule forbids the rotation that is due; the operator must act.
    pub refusal: Option<String>,
    /// Old keys used after their cutover: never touched, reported (exit 3).
    pub blocked: Vec<Blocked>,
    /// Steps that become due later, with their dates.
    pub upcoming: Vec<Upcoming>,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether a safety rule stopped something that was due.
    pub fn refused(&self) -> bool {
        self.refusal.is_some() || !self.blocked.is_empty()
    }
}

/// Which key each owned set holds, which set is current, which keys are orphans of a
/// crashed run (deleted) and which are foreign (reported, never touched), and whether a
/// run is rotating the target right now.
pub fn resolve(target: &Target, obs: &Observed, now: OffsetDateTime) -> View {
    let prefix = target.credential_prefix.as_str();
    let mut notes = Vec::new();
    // Only `aws-credentials` sets are the tool's, whatever their id.
    for s in obs
        .sets
        .iter()
        .filter(|s| target.owns(&s.id) && s.kind != AWS_CREDENTIALS)
    {
        notes.push(format!(
            "credential set {} is of type {}: only {AWS_CREDENTIALS} sets are managed; it is left alone",
            s.id, s.kind
        ));
    }
    let mut owned: Vec<&CredentialSet> = obs
        .sets
        .iter()
        .filter(|s| target.owns(&s.id) && s.kind == AWS_CREDENTIALS)
        .collect();
    owned.sort_by(|a, b| {
        // A set whose creation time is missing is placed by the date in its id.
        let order = |s: &CredentialSet| {
            let managed = ManagedId::parse(prefix, &s.id);
            let dated = managed.map(|m| m.date.midnight().assume_utc());
            (s.created.or(dated), managed)
        };
        order(a).cmp(&order(b)).then_with(|| a.id.cmp(&b.id))
    });
    let key = |id: &AccessKeyId| obs.keys.iter().find(|k| &k.id == id);
    // What SORACOM reports wins; then what this tool wrote; adopt_keys speaks for the rest.
    let explicit = |s: &CredentialSet| -> Option<Link> {
        s.api_key
            .clone()
            .map(Link::Api)
            .or_else(|| s.linked_key().map(Link::Description))
            .or_else(|| {
                target
                    .adopt_keys
                    .get(&s.id)
                    .map(|k| Link::Adopted(AccessKeyId::new(k.clone())))
            })
    };
    // The key an in-place set held before counts only when the description is this tool's
    // and agrees with what SORACOM reports the set holds.
    let previous = |s: &CredentialSet| {
        let consistent = s.api_key.is_none() || s.api_key == s.linked_key();
        s.previous_key().filter(|_| consistent)
    };
    let links: Vec<Option<Link>> = owned.iter().map(|s| explicit(s)).collect();
    let mut claimed: BTreeSet<AccessKeyId> = links
        .iter()
        .flatten()
        .filter_map(|l| l.key().cloned())
        .collect();
    claimed.extend(owned.iter().filter_map(|s| previous(s)));

    // Keys no set claims: a crashed run's (deleted), a running rotation's (wait), or
    // someone else's (reported).
    let young = |since: OffsetDateTime| now < since.saturating_add(IN_FLIGHT_LIMIT);
    let mut orphans = Vec::new();
    let mut busy: Option<OffsetDateTime> = None;
    let mut hold = |since: OffsetDateTime| busy = Some(busy.map_or(since, |b| b.min(since)));
    let mut foreign: Vec<&AccessKey> = Vec::new();
    let mut stale_creating: Vec<String> = Vec::new();
    let mut matched_creating: BTreeSet<&str> = BTreeSet::new();
    let mut unclaimed: Vec<&AccessKey> = obs
        .keys
        .iter()
        .filter(|k| !claimed.contains(&k.id))
        .collect();
    unclaimed.sort_by_key(|k| k.created);
    // A dead run's key is the one key the user did not have when the run announced it,
    // created just after the announcement, never used (only that run knew its secret), and
    // not described by a person.
    let candidates = |c: &crate::records::Creating| -> Vec<&AccessKey> {
        obs.keys
            .iter()
            .filter(|k| {
                !claimed.contains(&k.id)
                    && !c.existing.contains(&k.id)
                    && k.last_used.is_none()
                    && !obs.records.keys.contains_key(&k.id)
                    && !obs.records.described.contains(&k.id)
                    && k.created >= c.since.saturating_sub(CREATE_SKEW)
                    && k.created <= c.since.saturating_add(CREATE_WINDOW)
            })
            .collect()
    };
    let announced_key = |k: &AccessKey| {
        obs.records.creating.iter().find(|c| {
            let found = candidates(c);
            found.len() == 1 && found[0].id == k.id
        })
    };
    for k in unclaimed {
        match (obs.records.keys.get(&k.id), announced_key(k)) {
            (Some(KeyRecord::InFlight { since, .. }), _) if young(*since) => hold(*since),
            (Some(KeyRecord::InFlight { .. } | KeyRecord::Abandoned { .. }), _) => {
                orphans.push(k.id.clone())
            }
            (None, Some(c)) => {
                matched_creating.insert(c.run.as_str());
                if young(c.since) {
                    hold(c.since);
                } else {
                    orphans.push(k.id.clone());
                    stale_creating.push(creating_key(&c.run));
                }
            }
            _ => foreign.push(k),
        }
    }
    for c in &obs.records.creating {
        if matched_creating.contains(c.run.as_str()) {
            continue;
        }
        // The run got its key and recorded it: the announcement is only a leftover.
        let recorded = obs.records.keys.iter().any(|(k, r)| {
            let since = match r {
                KeyRecord::InFlight { since, .. }
                | KeyRecord::Abandoned { since }
                | KeyRecord::HeldBy { since, .. } => *since,
            };
            !c.existing.contains(k) && since >= c.since && obs.keys.iter().any(|x| &x.id == k)
        });
        // A run announced a key and nothing came of it yet: running, or long dead.
        if !recorded && young(c.since) {
            hold(c.since);
        } else {
            stale_creating.push(creating_key(&c.run));
        }
    }
    for (run, since) in &obs.records.leases {
        if young(*since) {
            hold(*since);
        } else {
            stale_creating.push(lease_key(run));
        }
    }

    let unlinked: Vec<usize> = (0..owned.len()).filter(|i| links[*i].is_none()).collect();
    let evidence = match (unlinked.as_slice(), foreign.as_slice()) {
        ([i], [k]) => Some((*i, k.id.clone())),
        _ => None,
    };
    for k in &foreign {
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
            "key {} of {} ({} days old, {used}) is not held by any credential set of this target and \
             was not created by a run of soracom-key-rotator; it is left alone",
            k.id,
            target.iam_user,
            (now - k.created).whole_days()
        ));
    }
    let sets: Vec<SetView> = owned
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let link = match (&links[i], &evidence) {
                (Some(l), _) => l.clone(),
                (None, Some((j, k))) if *j == i => Link::Evidence(k.clone()),
                (None, _) => Link::Unknown,
            };
            if link == Link::Unknown {
                notes.push(format!(
                    "credential set {} names no access key and the evidence is ambiguous; record its key in adopt_keys",
                    s.id
                ));
            }
            let key_state = match link.key().map(&key) {
                None => KeyState::Unknown,
                Some(None) => KeyState::Missing,
                Some(Some(k)) if k.status == KeyStatus::Active => KeyState::Active,
                Some(Some(_)) => KeyState::Inactive,
            };
            let references = obs.slots.iter().filter(|sl| sl.references(&s.id)).map(|sl| sl.holder.to_string()).collect();
            SetView { set: (*s).clone(), link, key_state, previous: previous(s), references }
        })
        .collect();
    // A set whose key a running rotation has not finished moving onto is not current yet.
    for s in &sets {
        if let Some(KeyRecord::InFlight { since, .. }) =
            s.link.key().and_then(|k| obs.records.keys.get(k))
        {
            if young(*since) {
                hold(*since);
            }
        }
    }
    let current = (0..sets.len())
        .rev()
        .find(|i| matches!(sets[*i].key_state, KeyState::Active | KeyState::Unknown));
    View {
        sets,
        current,
        orphans,
        stale_creating,
        busy,
        notes,
    }
}

/// Plans one target. Pure: same input, same plan.
pub fn plan(target: &Target, obs: &Observed, now: OffsetDateTime, mode: Mode) -> Plan {
    let view = resolve(target, obs, now);
    let key = |id: &AccessKeyId| obs.keys.iter().find(|k| &k.id == id);
    let cur = view.current_set();
    let basis = cur.and_then(|c| {
        c.link
            .key()
            .and_then(key)
            .map(|k| k.created)
            .or(c.set.created)
    });
    let current = cur.map(|c| Current {
        set_id: c.set.id.clone(),
        link: c.link.clone(),
        age_days: basis.map(|b| (now - b).whole_days()),
    });
    let due = decide(
        target,
        obs,
        &view,
        current.as_ref(),
        basis,
        now,
        mode == Mode::Rotate,
    );
    let mut plan = Plan {
        target: target.name.clone(),
        current,
        due,
        actions: Vec::new(),
        refusal: None,
        blocked: Vec::new(),
        upcoming: Vec::new(),
        notes: view.notes.clone(),
    };
    match (mode, view.busy) {
        (_, Some(since)) => {
            plan.refusal = Some(format!(
                "another run has been rotating this target since {} (a key in flight); this run \
                 changes nothing. If that run died, its key is cleaned up from {}",
                fmt_time(since),
                fmt_time(since.saturating_add(IN_FLIGHT_LIMIT))
            ));
        }
        (Mode::Rollback, None) => rollback(target, obs, &view, &mut plan),
        (Mode::Retire, None) => {
            retire(target, obs, &view, now, &mut plan);
            forget_stale(obs, &view, &mut plan);
        }
        (Mode::Rotate | Mode::Reconcile, None) => {
            plan.actions.extend(
                view.orphans
                    .iter()
                    .map(|k| Action::DeleteOrphanKey { key: k.clone() }),
            );
            plan.actions.extend(
                view.stale_creating
                    .iter()
                    .map(|tag| Action::ForgetRun { tag: tag.clone() }),
            );
            rotate_and_repoint(target, obs, &view, now, mode, &mut plan);
            if mode == Mode::Reconcile {
                retire(target, obs, &view, now, &mut plan);
                forget_stale(obs, &view, &mut plan);
            }
        }
    }
    if let Some(next) = plan.due.next.filter(|n| *n > now) {
        plan.upcoming.insert(
            0,
            Upcoming {
                step: "rotate the current key".into(),
                due: next,
            },
        );
    }
    plan
}

fn rotate_and_repoint(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    mode: Mode,
    plan: &mut Plan,
) {
    let cur_id = view.current_set().map(|c| c.set.id.clone());
    // References are only ever moved onto a set whose key is known to be active.
    let mut destination = view
        .current_set()
        .filter(|c| c.key_state == KeyState::Active)
        .map(|c| c.set.id.clone());
    let due = plan.due.now && (mode == Mode::Rotate || mode == Mode::Reconcile);
    if due {
        let remaining: Vec<&AccessKey> = obs
            .keys
            .iter()
            .filter(|k| !view.orphans.contains(&k.id))
            .collect();
        let mut room = remaining.len() < 2;
        if !room {
            // Only an inactive key that this tool retired may go: one whose certain link
            // is an older, unreferenced set, or the previous key of an in-place set — and
            // never sooner than `delete_after_days` after this tool deactivated it.
            let retired = view.sets.iter().find_map(|s| {
                let in_place = target.strategy == Strategy::InPlace;
                let (k, set_id) = if in_place {
                    (s.previous.as_ref()?, None)
                } else {
                    let unused = s.references.is_empty() && Some(&s.set.id) != cur_id.as_ref();
                    (s.link.certain().filter(|_| unused)?, Some(s.set.id.clone()))
                };
                let k = remaining.iter().find(|r| &r.id == k)?;
                (k.status == KeyStatus::Inactive).then(|| (k.id.clone(), set_id))
            });
            let delete_after = Duration::days(target.delete_after_days.into());
            // A record older than the key's last use is stale (the key was active again
            // after it): it never shortens the delay.
            let deletable_from = |k: &AccessKeyId| {
                let last_use = obs
                    .keys
                    .iter()
                    .find(|x| &x.id == k)
                    .and_then(|x| x.last_used.as_ref())
                    .map(|u| u.at);
                obs.records
                    .deactivated
                    .get(k)
                    .filter(|t| last_use.is_none_or(|u| u <= **t))
                    .map(|t| t.saturating_add(delete_after))
            };
            match retired {
                Some((key, set_id)) if deletable_from(&key).is_some_and(|t| now >= t) => {
                    plan.actions.push(Action::MakeRoom { key, set_id });
                    room = true;
                }
                Some((key, _)) => {
                    if deletable_from(&key).is_none() {
                        record(plan, &key, Mark::Deactivated);
                    }
                    let when = match deletable_from(&key) {
                        Some(t) => format!("from {}", fmt_time(t)),
                        None => format!(
                            "{} days after this tool records it inactive",
                            target.delete_after_days
                        ),
                    };
                    plan.refusal = Some(format!(
                        "{} The retired key {key} may be deleted to make room only {when} \
                         (delete_after_days).",
                        slots_full_message(target, &remaining)
                    ));
                }
                None => plan.refusal = Some(slots_full_message(target, &remaining)),
            }
        }
        if room {
            let fixed = target
                .credential_id
                .as_ref()
                .and_then(|id| view.sets.iter().find(|s| &s.set.id == id));
            match (&target.credential_id, fixed) {
                (Some(id), Some(c)) => {
                    if c.key_state != KeyState::Active {
                        plan.notes.push(format!(
                            "credential set {id} held key {}, which is {}; it gets a new key",
                            c.link
                                .key()
                                .map_or("(unknown)".to_string(), |k| k.to_string()),
                            if c.key_state == KeyState::Missing {
                                "gone"
                            } else {
                                "not active"
                            }
                        ));
                    }
                    // Named as the one to retire later, so only a certain link to a key that
                    // still exists; when the current key is gone, the one before it (still
                    // being retired) stays named.
                    let exists = |k: &&AccessKeyId| obs.keys.iter().any(|x| &x.id == *k);
                    let previous = c
                        .link
                        .certain()
                        .filter(|_| c.key_state != KeyState::Missing)
                        .or_else(|| c.previous.as_ref().filter(exists))
                        .cloned();
                    plan.actions.push(Action::RotateInPlace {
                        set_id: id.clone(),
                        previous,
                    });
                }
                (Some(id), _) => {
                    plan.refusal = Some(format!(
                        "credential set {id} does not exist or holds no usable key; create it by hand once, then rotate"
                    ));
                }
                (None, _) => {
                    let taken = |id: &str| obs.sets.iter().any(|s| s.id == id);
                    match ManagedId::next_free(&target.credential_prefix, now.date(), taken) {
                        Some(new_set_id) => {
                            plan.actions.push(Action::Rotate {
                                new_set_id: new_set_id.clone(),
                            });
                            destination = Some(new_set_id);
                        }
                        None => {
                            plan.refusal = Some("no free credential set id on this date".into())
                        }
                    }
                }
            }
        }
    }
    match destination.clone() {
        Some(to) => {
            for slot in &obs.slots {
                let from: BTreeSet<&String> = slot
                    .refs
                    .iter()
                    .map(|r| &r.set_id)
                    .filter(|id| target.owns(id) && **id != to)
                    .collect();
                if !from.is_empty() {
                    plan.actions.push(Action::Repoint {
                        slot: slot.clone(),
                        from: from.into_iter().cloned().collect(),
                        to: to.clone(),
                    });
                }
            }
        }
        None if !obs.slots.is_empty() => {
            plan.notes.push(
                "references exist but no credential set of this target has a usable key"
                    .to_string(),
            );
        }
        None => {}
    }
    // A key an interrupted run left in flight, now in use by its set: record it as held.
    if let Some(set) = destination
        .as_ref()
        .and_then(|to| view.sets.iter().find(|s| &s.set.id == to))
    {
        if let Some(k) = set.link.key() {
            if matches!(
                obs.records.keys.get(k),
                Some(KeyRecord::InFlight { .. } | KeyRecord::Abandoned { .. })
            ) {
                plan.actions.push(Action::MarkHeld {
                    key: k.clone(),
                    set_id: set.set.id.clone(),
                });
            }
        }
    }
    // Every reference to the sets left behind moves in this run: their keys' cutover is
    // now (recorded after the repointing succeeds).
    let left: BTreeSet<&String> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Repoint { from, .. } => Some(from),
            _ => None,
        })
        .flatten()
        .collect();
    let released: Vec<AccessKeyId> = view
        .sets
        .iter()
        .filter(|s| left.contains(&s.set.id) && s.key_state != KeyState::Missing)
        .filter_map(|s| s.link.certain().cloned())
        .collect();
    for k in released {
        record(plan, &k, Mark::Released);
    }
}

/// Rollback: every reference on the current set goes back to the set before it, then
/// the current key is deactivated — only while that previous set's key is still active.
fn rollback(target: &Target, obs: &Observed, view: &View, plan: &mut Plan) {
    let refuse =
        |plan: &mut Plan, why: String| plan.refusal = Some(format!("rollback refused: {why}"));
    if target.strategy == Strategy::InPlace {
        return refuse(
            plan,
            "an in-place set cannot go back: SORACOM never returns the previous secret".into(),
        );
    }
    let Some(ci) = view.current else {
        return refuse(plan, "there is no current credential set".into());
    };
    let cur = &view.sets[ci];
    // Run again after it finished (or after a crash right at its end): the set after the
    // current one is unreferenced and its key inactive — that is the rolled-back state.
    if let Some(newer) = view.sets.get(ci + 1) {
        if newer.references.is_empty()
            && newer.key_state == KeyState::Inactive
            && newer.link.certain().is_some()
        {
            plan.notes.push(format!(
                "already rolled back: references are on {} and the key of {} is inactive",
                cur.set.id, newer.set.id
            ));
            return;
        }
    }
    let Some(cur_key) = cur.link.certain() else {
        return refuse(
            plan,
            format!(
                "the current set {} was not made by soracom-key-rotator",
                cur.set.id
            ),
        );
    };
    let Some(prev) = ci.checked_sub(1).and_then(|i| view.sets.get(i)) else {
        return refuse(plan, format!("there is no set older than {}", cur.set.id));
    };
    match prev.key_state {
        KeyState::Active if prev.link.key() != Some(cur_key) => {}
        KeyState::Inactive | KeyState::Missing => {
            return refuse(
                plan,
                format!(
                    "the key of the previous set {} is already inactive or deleted; rotate instead",
                    prev.set.id
                ),
            );
        }
        _ => {
            return refuse(
                plan,
                format!(
                    "which key the previous set {} holds is not known",
                    prev.set.id
                ),
            )
        }
    }
    for slot in obs.slots.iter().filter(|s| s.references(&cur.set.id)) {
        plan.actions.push(Action::Repoint {
            slot: slot.clone(),
            from: vec![cur.set.id.clone()],
            to: prev.set.id.clone(),
        });
    }
    plan.actions.push(Action::Deactivate {
        key: cur_key.clone(),
        set_id: cur.set.id.clone(),
    });
}

/// The retire rules (DESIGN §3 step 4) for every owned set but the current one.
fn retire(target: &Target, obs: &Observed, view: &View, now: OffsetDateTime, plan: &mut Plan) {
    let key = |id: &AccessKeyId| obs.keys.iter().find(|k| &k.id == id);
    let settle = Duration::minutes(target.settle_minutes.into());
    let making_room: Vec<AccessKeyId> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::MakeRoom { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    // Keys that something in use still holds are never retired, whatever set they are in.
    let in_use: BTreeSet<&AccessKeyId> = view
        .sets
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.references.is_empty() || Some(*i) == view.current)
        .filter_map(|(_, s)| s.link.key())
        .collect();

    // A cutover recorded for a key whose set is referenced again (a rollback, a person)
    // no longer holds: it would cut the next grace period short.
    for s in view.sets.iter().filter(|s| !s.references.is_empty()) {
        let released_now = |k: &AccessKeyId| {
            plan.actions.contains(&Action::Record {
                key: k.clone(),
                mark: Mark::Released,
            })
        };
        if let Some(k) = s
            .link
            .certain()
            .filter(|k| obs.records.released.contains_key(*k) && !released_now(k))
        {
            plan.actions.push(Action::Unrecord {
                key: k.clone(),
                mark: Mark::Released,
            });
        }
    }

    // Old keys and the time SORACOM stopped using them (None: not recorded yet).
    let mut olds: Vec<OldKey> = Vec::new();
    if target.strategy == Strategy::InPlace {
        if let Some(c) = view.current_set() {
            if let Some(prev) = &c.previous {
                // The update put the new key in; a later record (a retirement started over)
                // counts from its own time.
                let updated = c.set.updated.or(c.set.created);
                let recorded = obs.records.released.get(prev).copied();
                olds.push(OldKey {
                    key: prev.clone(),
                    set_id: None,
                    cutover: match (updated, recorded) {
                        (Some(u), Some(r)) => Some(u.max(r)),
                        (u, r) => u.or(r),
                    },
                    set_last_used: None,
                });
            }
        }
    } else {
        for (i, s) in view.sets.iter().enumerate() {
            if Some(i) == view.current || !s.references.is_empty() {
                continue;
            }
            let Some(k) = s.link.certain() else {
                if let Link::Evidence(k) = &s.link {
                    plan.notes.push(format!(
                        "set {} is linked to key {k} by evidence only; add it to adopt_keys to let it be retired",
                        s.set.id
                    ));
                }
                continue;
            };
            if s.key_state == KeyState::Missing {
                // A set this tool made, or one whose key this tool retired (its records are
                // still on the user: a retirement cut short). A hand-made set's key may just
                // be mistyped in adopt_keys: that is reported, never acted on.
                let retired_here =
                    obs.records.deactivated.contains_key(k) || obs.records.released.contains_key(k);
                match &s.link {
                    Link::Description(_) => {
                        plan.actions.push(Action::DeleteSet { set_id: s.set.id.clone(), key: k.clone() })
                    }
                    Link::Adopted(_) | Link::Api(_) if retired_here => {
                        plan.actions.push(Action::DeleteSet { set_id: s.set.id.clone(), key: k.clone() })
                    }
                    _ => plan.notes.push(format!(
                        "set {} names key {k}, which no longer exists; check adopt_keys, or delete the set by hand",
                        s.set.id
                    )),
                }
                continue;
            }
            // The cutover is when the last reference left (recorded), and never before the
            // set that replaced it appeared.
            let next_created = view.sets.get(i + 1).and_then(|n| n.set.created);
            let cutover = obs
                .records
                .released
                .get(k)
                .map(|r| next_created.map_or(*r, |n| n.max(*r)));
            olds.push(OldKey {
                key: k.clone(),
                set_id: Some(s.set.id.clone()),
                cutover,
                set_last_used: s.set.last_used,
            });
        }
    }

    for OldKey {
        key: k,
        set_id,
        cutover,
        set_last_used,
    } in olds
    {
        let Some(access) = key(&k) else { continue };
        if in_use.contains(&k) || making_room.contains(&k) {
            continue;
        }
        let label = set_id
            .clone()
            .unwrap_or_else(|| target.credential_id.clone().unwrap_or_default());
        match access.status {
            KeyStatus::Active => {
                // An old key is never deactivated before its cutover plus the settle window,
                // whatever retire_after_days says.
                let grace = Duration::days(target.retire_after_days.into()).max(settle);
                // People win: a key active again after this tool deactivated it stays
                // active; its retirement starts over from now.
                let reactivated = obs.records.deactivated.contains_key(&k);
                if reactivated {
                    plan.notes.push(format!(
                        "key {k} of {label} is active again after soracom-key-rotator deactivated it; \
                         it is left active and its retirement starts over"
                    ));
                    plan.actions.push(Action::Unrecord {
                        key: k.clone(),
                        mark: Mark::Deactivated,
                    });
                }
                let Some(cutover) = cutover.filter(|_| !reactivated) else {
                    // No record of when references left (an interrupted run, or a set from
                    // before this tool), or a re-activation: the grace period starts now.
                    record(plan, &k, Mark::Released);
                    plan.upcoming.push(Upcoming {
                        step: format!("deactivate key {k} of {label}"),
                        due: now.saturating_add(grace),
                    });
                    continue;
                };
                let key_after = access
                    .last_used
                    .as_ref()
                    .filter(|u| u.at > cutover.saturating_add(settle));
                let set_after = set_last_used.filter(|t| *t > cutover.saturating_add(settle));
                if key_after.is_some() || set_after.is_some() {
                    plan.blocked.push(blocked(
                        &k,
                        &label,
                        cutover,
                        access.last_used.clone(),
                        set_last_used,
                    ));
                    continue;
                }
                let due = cutover.saturating_add(grace);
                if now >= due {
                    plan.actions.push(Action::Deactivate {
                        key: k,
                        set_id: label,
                    });
                } else {
                    plan.upcoming.push(Upcoming {
                        step: format!("deactivate key {k} of {label}"),
                        due,
                    });
                }
            }
            KeyStatus::Inactive => {
                let what = match &set_id {
                    Some(s) => format!("delete key {k}, then set {s}"),
                    None => format!("delete key {k}"),
                };
                // Without the record (deactivated by hand, or the record failed), the delay
                // counts from the first run that sees the key inactive: never cut short.
                // A record older than the key's last use is stale: the key was active again
                // after it (someone re-activated it, then deactivated it again), so the delay
                // counts from now, never from the old record.
                let stale = |since: &OffsetDateTime| {
                    access.last_used.as_ref().is_some_and(|u| u.at > *since)
                };
                let recorded = obs.records.deactivated.get(&k).copied();
                let Some(since) = recorded.filter(|t| !stale(t)) else {
                    if recorded.is_some() {
                        plan.notes.push(format!(
                            "key {k} of {label} was used after it was recorded inactive; its delete \
                             delay starts over"
                        ));
                    }
                    record(plan, &k, Mark::Deactivated);
                    let due = now.saturating_add(Duration::days(target.delete_after_days.into()));
                    plan.upcoming.push(Upcoming { step: what, due });
                    continue;
                };
                let due = since.saturating_add(Duration::days(target.delete_after_days.into()));
                if now >= due {
                    plan.actions.push(Action::DeleteRetired { key: k, set_id });
                } else {
                    plan.upcoming.push(Upcoming { step: what, due });
                }
            }
        }
    }
}

/// Records of keys that are gone and that no owned set names (cutover, deactivation, the
/// key's own record): nothing needs them any more.
fn forget_stale(obs: &Observed, view: &View, plan: &mut Plan) {
    let named: BTreeSet<&AccessKeyId> = view
        .sets
        .iter()
        .flat_map(|s| s.link.key().into_iter().chain(s.previous.as_ref()))
        .collect();
    let recorded: BTreeSet<&AccessKeyId> = obs
        .records
        .released
        .keys()
        .chain(obs.records.deactivated.keys())
        .chain(obs.records.keys.keys())
        .collect();
    for k in recorded {
        let exists = obs.keys.iter().any(|x| &x.id == k);
        let deleted_here = plan.actions.iter().any(|a| {
            matches!(a, Action::DeleteSet { key, .. } | Action::DeleteRetired { key, .. } | Action::MakeRoom { key, .. } if key == k)
        });
        if !exists && !named.contains(k) && !deleted_here {
            plan.actions.push(Action::Forget { key: k.clone() });
        }
    }
}

/// An old key to retire: the set that held it (none in place), when SORACOM stopped using
/// it (None: not recorded yet), and SORACOM's last use of that set.
struct OldKey {
    key: AccessKeyId,
    set_id: Option<String>,
    cutover: Option<OffsetDateTime>,
    set_last_used: Option<OffsetDateTime>,
}

/// Adds a `Record` action unless the plan already has it.
fn record(plan: &mut Plan, key: &AccessKeyId, mark: Mark) {
    let action = Action::Record {
        key: key.clone(),
        mark,
    };
    if !plan.actions.contains(&action) {
        plan.actions.push(action);
    }
}

fn blocked(
    k: &AccessKeyId,
    set_id: &str,
    cutover: OffsetDateTime,
    key_last_used: Option<LastUsed>,
    set_last_used: Option<OffsetDateTime>,
) -> Blocked {
    let mut evidence = Vec::new();
    if let Some(u) = key_last_used.as_ref().filter(|u| u.at > cutover) {
        evidence.push(format!(
            "IAM shows it used {} by {} in {}",
            fmt_time(u.at),
            u.service,
            u.region
        ));
    }
    if let Some(t) = set_last_used.filter(|t| *t > cutover) {
        evidence.push(format!("SORACOM shows set {set_id} used {}", fmt_time(t)));
    }
    Blocked {
        key: k.clone(),
        set_id: set_id.to_string(),
        cutover,
        key_last_used,
        set_last_used,
        message: format!(
            "old key {k} of {set_id} was used after the cutover at {}: {}. Something outside SORACOM may still \
             use this key (check CloudTrail for the access key id, and any group or device config not covered \
             by this target); it stays active until that use stops",
            fmt_time(cutover),
            evidence.join("; ")
        ),
    }
}

fn decide(
    target: &Target,
    obs: &Observed,
    view: &View,
    current: Option<&Current>,
    basis: Option<OffsetDateTime>,
    now: OffsetDateTime,
    force: bool,
) -> Due {
    let max_age = Duration::days(target.max_key_age_days.into());
    let next = basis.map(|b| b.saturating_add(max_age));
    if force {
        return Due {
            now: true,
            reason: "rotation requested".into(),
            next,
        };
    }
    let Some(current) = current else {
        // In place, a fixed set whose key is missing or inactive breaks every reference at
        // once: it gets a new key now.
        if let Some(broken) = target
            .credential_id
            .as_ref()
            .and_then(|id| view.sets.iter().find(|s| &s.set.id == id))
        {
            return Due {
                now: true,
                reason: format!(
                    "credential set {} holds a key that is {}: it gets a new, verified key",
                    broken.set.id,
                    match broken.key_state {
                        KeyState::Missing => "gone",
                        _ => "not active",
                    }
                ),
                next: None,
            };
        }
        let first = match &target.credential_id {
            Some(id) => format!("credential set {id} does not exist; create it by hand once"),
            None => format!(
                "no credential set {}-<yymmdd> exists; run `rotate --target {}` to create the first, or adopt the set in use",
                target.credential_prefix, target.name
            ),
        };
        return if obs.slots.is_empty() {
            Due {
                now: false,
                reason: first,
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
            credential_id: None,
            settle_minutes: 60,
            adopt: vec!["hand".into()],
            adopt_keys: Default::default(),
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
        p.actions
            .iter()
            .map(|a| match a {
                Action::DeleteOrphanKey { key } => format!("orphan {}", &key.as_str()[16..]),
                Action::MakeRoom { key, set_id } => {
                    format!(
                        "room {} {}",
                        &key.as_str()[16..],
                        set_id.as_deref().unwrap_or("-")
                    )
                }
                Action::Rotate { new_set_id } => format!("rotate {new_set_id}"),
                Action::Forget { key } => format!("forget {}", &key.as_str()[16..]),
                Action::Unrecord { key, mark } => {
                    format!("unrecord {mark:?} {}", &key.as_str()[16..])
                }
                Action::ForgetRun { tag } => {
                    format!("forget-run {}", tag.rsplit(':').next().unwrap_or(tag))
                }
                Action::MarkHeld { key, set_id } => {
                    format!("held {} {set_id}", &key.as_str()[16..])
                }
                Action::RotateInPlace { set_id, previous } => format!(
                    "in-place {set_id} prev {}",
                    previous.as_ref().map(|k| &k.as_str()[16..]).unwrap_or("-")
                ),
                Action::Deactivate { key, set_id } => {
                    format!("deactivate {} {set_id}", &key.as_str()[16..])
                }
                Action::DeleteRetired { key, set_id } => {
                    format!(
                        "delete {} {}",
                        &key.as_str()[16..],
                        set_id.as_deref().unwrap_or("-")
                    )
                }
                Action::DeleteSet { set_id, .. } => format!("delete-set {set_id}"),
                Action::Record { key, mark } => format!("record {mark:?} {}", &key.as_str()[16..]),
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

    /// Records: a run announced a key `hours` ago, when the user had only K1.
    fn announced(hours: i64) -> crate::records::Records {
        crate::records::Records {
            creating: vec![crate::records::Creating {
                run: "r1".into(),
                since: NOW - Duration::hours(hours),
                existing: vec![AccessKeyId::new(K1)],
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
                actions: &["orphan AAA2", "forget-run r1", "rotate p-261128", "repoint g1 p-220810>p-261128"],
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
                keys: c.keys,
                sets: c.sets,
                slots: c.slots,
                records: c.records,
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
        assert_eq!(
            p.due.next,
            Some(NOW - Duration::days(10) + Duration::days(90))
        );
    }

    /// A retire scenario: an old set (K1) replaced `cutover_days` ago by a new set (K2)
    /// that every reference uses.
    struct Retire {
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

    fn retire_world(r: &Retire) -> (Target, Observed) {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
            Retire {
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
        let c = Retire {
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
        let m = &p.blocked[0].message;
        assert!(
            m.contains("AKIA************AAA1") && m.contains("iot") && m.contains("ap-northeast-1"),
            "{m}"
        );
        assert!(m.contains(&fmt_time(NOW - Duration::days(2))), "{m}");
        assert!(p.refused());
    }

    #[test]
    fn rollback_is_refused_once_the_old_key_is_off() {
        let c = Retire {
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
        assert!(p.actions.is_empty());
        assert!(
            p.refusal
                .as_deref()
                .is_some_and(|r| r.contains("inactive or deleted")),
            "{:?}",
            p.refusal
        );
        // Gone entirely.
        let c = Retire {
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
        assert!(p.refusal.is_some() && p.actions.is_empty());
    }

    #[test]
    fn in_place_rotates_the_fixed_set_and_retires_the_previous_key() {
        let mut t = target();
        t.strategy = Strategy::InPlace;
        t.credential_prefix = String::new();
        t.credential_id = Some("fixed".into());
        t.adopt.clear();
        let mut fixed = set("fixed", 300, None);
        fixed.description =
            crate::model::in_place_description(&AccessKeyId::new(K2), Some(&AccessKeyId::new(K1)));
        fixed.updated = Some(NOW - Duration::days(8));
        let slots = vec![funnel("g1", "fixed")];
        let obs = Observed {
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
        let c = Retire {
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
            .find(|u| u.step.starts_with("deactivate"))
            .map(|u| u.due);
        assert_eq!(deactivate, Some(NOW + Duration::days(6)));
        // With no record at all, it is recorded now and the grace period starts now.
        obs.records.released.clear();
        let p = plan(&t, &obs, NOW, Mode::Reconcile);
        assert_eq!(summary(&p), ["record Released AAA1"]);
        let deactivate = p
            .upcoming
            .iter()
            .find(|u| u.step.starts_with("deactivate"))
            .map(|u| u.due);
        assert_eq!(deactivate, Some(NOW + Duration::days(7)));
    }

    #[test]
    fn a_hand_made_set_whose_key_is_gone_is_deleted_only_after_this_tool_retired_it() {
        let c = Retire {
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
            p.notes.iter().any(|n| n.contains("no longer exists")),
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
        let c = Retire {
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
        let due = p.upcoming.iter().find(|u| u.step.starts_with("deactivate"));
        assert_eq!(due.map(|u| u.due), Some(NOW + Duration::minutes(61)));
        let p = plan(&t, &obs, NOW + Duration::minutes(62), Mode::Reconcile);
        assert_eq!(summary(&p), ["deactivate AAA1 p-260801"]);
    }

    #[test]
    fn people_win_and_stale_records_never_shorten_a_delay() {
        // The tool deactivated K1; a person turned it back on.
        let c = Retire {
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
            p.notes.iter().any(|n| n.contains("active again")),
            "{:?}",
            p.notes
        );
        // Inactive again, with a record older than its last use: the record is stale.
        let c = Retire {
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
                .any(|n| n.contains("aws-iam-role-credentials")),
            "{:?}",
            view.notes
        );
        assert!(
            view.notes
                .iter()
                .any(|n| n.contains("AKIA************AAA2")),
            "K2 is someone else's, reported: {:?}",
            view.notes
        );
    }
}
