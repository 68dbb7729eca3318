//! Which key each credential set holds, which set is current, and which keys no set holds:
//! a dead run's orphans (deleted), a run's keys in flight (the target is left to it), or
//! someone else's (reported, never touched).
//!
//! The key a set holds is what SORACOM reports (`credentials.accessKeyId`), else what
//! this tool wrote into its description, else `adopt_keys`, else unambiguous evidence.
//! Only `aws-credentials` sets are the tool's. A key no set holds is an orphan only when
//! this tool recorded it in IAM ([`crate::records`]) — in flight, or announced by a run
//! before it created the key — and that record is older than [`IN_FLIGHT_LIMIT`].

use std::collections::BTreeSet;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::Target;
use crate::model::{AccessKey, CredentialSet, Holder, KeyStatus, ManagedId, Observed};
use crate::plan::{Note, Plan, Repair, Retire};
use crate::records::{creating_key, lease_key, Creating, KeyRecord};
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
    pub(crate) fn certain(&self) -> Option<&AccessKeyId> {
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
    pub(crate) set: CredentialSet,
    /// Which key it holds.
    pub(crate) link: Link,
    /// That key's state.
    pub(crate) key_state: KeyState,
    /// In-place sets: the key held before the last rotation, still to be retired.
    pub(crate) previous: Option<AccessKeyId>,
    /// What references it.
    pub(crate) references: Vec<Holder>,
}

/// What is known about a target before deciding anything.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Owned sets, oldest first.
    pub(crate) sets: Vec<SetView>,
    /// Index in `sets` of the current set: the newest whose key is active (or unknown).
    pub(crate) current: Option<usize>,
    /// Keys this tool recorded as in flight (or announced) for a run that died: deleted.
    pub(crate) orphans: Vec<AccessKeyId>,
    /// Tag keys of announcements and leases of runs that are long over (or leftovers):
    /// they are removed.
    pub(crate) stale_runs: Vec<String>,
    /// Since when a run is at work on this target (a key in flight, an announcement or a
    /// lease younger than [`IN_FLIGHT_LIMIT`]); nothing else may change it meanwhile.
    pub(crate) busy: Option<OffsetDateTime>,
    /// Things the operator should know.
    pub(crate) notes: Vec<Note>,
}

impl View {
    /// The current set, if any.
    pub(crate) fn current_set(&self) -> Option<&SetView> {
        self.current.and_then(|i| self.sets.get(i))
    }
}

/// The repairs every rotating run starts with: delete dead runs' keys, remove their
/// announcements.
pub(super) fn clean_up(view: &View, plan: &mut Plan) {
    plan.repair.extend(
        view.orphans
            .iter()
            .map(|k| Repair::DeleteOrphanKey { key: k.clone() }),
    );
    plan.retire.extend(
        view.stale_runs
            .iter()
            .map(|tag| Retire::ForgetRun { tag: tag.clone() }),
    );
}

/// Which key each owned set holds, which set is current, which keys are orphans of a
/// crashed run (deleted) and which are foreign (reported, never touched), and whether a
/// run is rotating the target right now.
pub fn resolve(target: &Target, obs: &Observed, now: OffsetDateTime) -> View {
    let mut notes = other_types(target, obs);
    let owned = owned_sets(target, obs);
    let links: Vec<Option<Link>> = owned.iter().map(|s| explicit_link(target, s)).collect();
    let claimed = claimed_keys(&owned, &links);
    let mut runs = Runs {
        now,
        orphans: Vec::new(),
        stale_runs: Vec::new(),
        busy: None,
    };
    let (foreign, answered) = runs.unclaimed_keys(obs, &claimed);
    runs.announcements(obs, &answered);
    runs.leases(obs);
    let evidence = evidence(&links, &foreign);
    notes.extend(foreign_notes(target, &foreign, evidence.as_ref(), now));
    let mut sets: Vec<SetView> = Vec::with_capacity(owned.len());
    for (i, s) in owned.iter().enumerate() {
        let link = match (&links[i], &evidence) {
            (Some(l), _) => l.clone(),
            (None, Some((j, k))) if *j == i => Link::Evidence(k.clone()),
            (None, _) => Link::Unknown,
        };
        if link == Link::Unknown {
            notes.push(Note::AmbiguousLink {
                set_id: s.id.clone(),
            });
        }
        sets.push(set_view(obs, s, link));
    }
    runs.rotations_in_flight(obs, &sets);
    let current = (0..sets.len())
        .rev()
        .find(|i| matches!(sets[*i].key_state, KeyState::Active | KeyState::Unknown));
    View {
        sets,
        current,
        orphans: runs.orphans,
        stale_runs: runs.stale_runs,
        busy: runs.busy,
        notes,
    }
}

/// The sets the target owns by id that are not `aws-credentials`: only those are the
/// tool's, whatever their id, so the others are noted and left alone.
fn other_types(target: &Target, obs: &Observed) -> Vec<Note> {
    obs.sets
        .iter()
        .filter(|s| target.owns(&s.id) && s.kind != AWS_CREDENTIALS)
        .map(|s| Note::OtherType {
            set_id: s.id.clone(),
            kind: s.kind.clone(),
        })
        .collect()
}

/// The target's `aws-credentials` sets, oldest first.
fn owned_sets<'a>(target: &Target, obs: &'a Observed) -> Vec<&'a CredentialSet> {
    let prefix = target.prefix().unwrap_or_default();
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
    owned
}

/// The key a set holds, when something says so: what SORACOM reports wins; then what this
/// tool wrote; `adopt_keys` speaks for the rest.
fn explicit_link(target: &Target, s: &CredentialSet) -> Option<Link> {
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
}

/// The key an in-place set held before. It counts only when the description is this
/// tool's and agrees with what SORACOM reports the set holds.
fn previous(s: &CredentialSet) -> Option<AccessKeyId> {
    let consistent = s.api_key.is_none() || s.api_key == s.linked_key();
    s.previous_key().filter(|_| consistent)
}

/// Every key an owned set claims: the keys they hold, and in-place sets' previous keys.
fn claimed_keys(owned: &[&CredentialSet], links: &[Option<Link>]) -> BTreeSet<AccessKeyId> {
    let mut claimed: BTreeSet<AccessKeyId> = links
        .iter()
        .flatten()
        .filter_map(|l| l.key().cloned())
        .collect();
    claimed.extend(owned.iter().filter_map(|s| previous(s)));
    claimed
}

/// What the keys no set holds and the records of runs say: a dead run's orphans and the
/// records it left (both removed), and since when a run is at work on the target.
struct Runs {
    now: OffsetDateTime,
    orphans: Vec<AccessKeyId>,
    stale_runs: Vec<String>,
    busy: Option<OffsetDateTime>,
}

impl Runs {
    /// Whether what a run recorded at `since` may still be that run at work.
    fn young(&self, since: OffsetDateTime) -> bool {
        self.now < since.saturating_add(IN_FLIGHT_LIMIT)
    }

    /// A run is at work since `since`: the target is left to it (from the earliest).
    fn hold(&mut self, since: OffsetDateTime) {
        self.busy = Some(self.busy.map_or(since, |b| b.min(since)));
    }

    /// Keys no set claims: a crashed run's (orphans), a running rotation's (the target
    /// waits), or someone else's (returned, to be reported). Also returns the runs whose
    /// announcement one of those keys answers.
    fn unclaimed_keys<'a>(
        &mut self,
        obs: &'a Observed,
        claimed: &BTreeSet<AccessKeyId>,
    ) -> (Vec<&'a AccessKey>, BTreeSet<&'a str>) {
        let mut foreign: Vec<&AccessKey> = Vec::new();
        let mut answered: BTreeSet<&str> = BTreeSet::new();
        let mut unclaimed: Vec<&AccessKey> = obs
            .keys
            .iter()
            .filter(|k| !claimed.contains(&k.id))
            .collect();
        unclaimed.sort_by_key(|k| k.created);
        for k in unclaimed {
            // A key a holder uses through a set that is not the target's is never an
            // orphan, whatever records or announcements say: it is reported.
            let elsewhere = obs.held_elsewhere.iter().any(|(h, _)| h == &k.id);
            match (
                obs.records.keys.get(&k.id),
                announcement_of(obs, claimed, k),
            ) {
                (Some(KeyRecord::InFlight { since, .. }), _) if self.young(*since) => {
                    self.hold(*since)
                }
                (Some(KeyRecord::InFlight { .. } | KeyRecord::Abandoned { .. }), _)
                    if !elsewhere =>
                {
                    self.orphans.push(k.id.clone())
                }
                (None, Some(c)) => {
                    answered.insert(c.run.as_str());
                    if self.young(c.since) {
                        self.hold(c.since);
                    } else {
                        self.stale_runs.push(creating_key(&c.run));
                        match elsewhere {
                            false => self.orphans.push(k.id.clone()),
                            true => foreign.push(k),
                        }
                    }
                }
                _ => foreign.push(k),
            }
        }
        (foreign, answered)
    }

    /// Announcements no unclaimed key answers (`answered`): a run still at work, or a
    /// leftover.
    fn announcements(&mut self, obs: &Observed, answered: &BTreeSet<&str>) {
        for c in &obs.records.creating {
            if answered.contains(c.run.as_str()) {
                continue;
            }
            // The run got its key and recorded it: the announcement is only a leftover.
            let recorded = obs.records.keys.iter().any(|(k, r)| {
                let since = match r {
                    KeyRecord::InFlight { since, .. }
                    | KeyRecord::Abandoned { since }
                    | KeyRecord::HeldBy { since, .. } => *since,
                };
                // An unlisted announcement's run has made no key yet: nothing of it is
                // recorded.
                c.existing.as_ref().is_some_and(|e| !e.contains(k))
                    && since >= c.since
                    && obs.keys.iter().any(|x| &x.id == k)
            });
            // A run announced a key and nothing came of it yet: running, or long dead.
            if !recorded && self.young(c.since) {
                self.hold(c.since);
            } else {
                self.stale_runs.push(creating_key(&c.run));
            }
        }
    }

    /// Leases of runs rolling the target back, retiring, or moving references onto a key
    /// they did not make: at work, or long over.
    fn leases(&mut self, obs: &Observed) {
        for (run, since) in &obs.records.leases {
            if self.young(*since) {
                self.hold(*since);
            } else {
                self.stale_runs.push(lease_key(run));
            }
        }
    }

    /// A set whose key a running rotation has not finished moving onto is not current
    /// yet. A record of a key that no longer exists is a leftover (a person deleted the key
    /// and the run moved the references back), not a run at work.
    fn rotations_in_flight(&mut self, obs: &Observed, sets: &[SetView]) {
        for s in sets {
            if let Some(KeyRecord::InFlight { since, .. }) =
                s.link.key().and_then(|k| obs.records.keys.get(k))
            {
                if self.young(*since) && s.key_state != KeyState::Missing {
                    self.hold(*since);
                }
            }
        }
    }
}

/// The announcement of the run that made `k`, if `k` is the one key that run can have
/// made (see [`made_after`]).
fn announcement_of<'a>(
    obs: &'a Observed,
    claimed: &BTreeSet<AccessKeyId>,
    k: &AccessKey,
) -> Option<&'a Creating> {
    obs.records.creating.iter().find(|c| {
        let found = made_after(obs, claimed, c);
        found.len() == 1 && found[0].id == k.id
    })
}

/// The keys that may be a run's, given its announcement `c`: a dead run's key is one the
/// user did not have when the run announced it, created just after the announcement, never
/// used (only that run knew its secret), and not described by a person. None when the run
/// had not listed the user's keys yet: a key made meanwhile may be a person's.
fn made_after<'a>(
    obs: &'a Observed,
    claimed: &BTreeSet<AccessKeyId>,
    c: &Creating,
) -> Vec<&'a AccessKey> {
    let Some(existing) = &c.existing else {
        return Vec::new();
    };
    obs.keys
        .iter()
        .filter(|k| {
            !claimed.contains(&k.id)
                && !existing.contains(&k.id)
                && k.last_used.is_none()
                && !obs.records.keys.contains_key(&k.id)
                && !obs.records.described.contains(&k.id)
                && k.created >= c.since.saturating_sub(CREATE_SKEW)
                && k.created <= c.since.saturating_add(CREATE_WINDOW)
        })
        .collect()
}

/// The one set linked by evidence, and its key: when exactly one owned set names no key
/// and exactly one key is no one's, that set holds that key.
fn evidence(links: &[Option<Link>], foreign: &[&AccessKey]) -> Option<(usize, AccessKeyId)> {
    let unlinked: Vec<usize> = (0..links.len()).filter(|i| links[*i].is_none()).collect();
    match (unlinked.as_slice(), foreign) {
        ([i], [k]) => Some((*i, k.id.clone())),
        _ => None,
    }
}

/// A note for every foreign key, but the one evidence links to a set.
fn foreign_notes(
    target: &Target,
    foreign: &[&AccessKey],
    evidence: Option<&(usize, AccessKeyId)>,
    now: OffsetDateTime,
) -> Vec<Note> {
    foreign
        .iter()
        .filter(|k| evidence.is_none_or(|(_, e)| e != &k.id))
        .map(|k| Note::ForeignKey {
            key: k.id.clone(),
            iam_user: target.iam_user.clone(),
            age_days: (now - k.created).whole_days(),
            last_used: k.last_used.clone(),
        })
        .collect()
}

/// What is known about one owned set that holds the key `link` names: that key's state,
/// an in-place set's previous key, and what references the set.
fn set_view(obs: &Observed, s: &CredentialSet, link: Link) -> SetView {
    let key_state = match link.key().map(|id| obs.keys.iter().find(|k| &k.id == id)) {
        None => KeyState::Unknown,
        Some(None) => KeyState::Missing,
        Some(Some(k)) if k.status == KeyStatus::Active => KeyState::Active,
        Some(Some(_)) => KeyState::Inactive,
    };
    let references = obs
        .slots
        .iter()
        .filter(|sl| sl.references(&s.id))
        .map(|sl| sl.holder.clone())
        .collect();
    SetView {
        set: s.clone(),
        link,
        key_state,
        previous: previous(s),
        references,
    }
}
