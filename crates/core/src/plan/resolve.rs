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
    /// What references it.
    pub references: Vec<Holder>,
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
    pub stale_runs: Vec<String>,
    /// Since when a run is at work on this target (a key in flight, an announcement or a
    /// lease younger than [`IN_FLIGHT_LIMIT`]); nothing else may change it meanwhile.
    pub busy: Option<OffsetDateTime>,
    /// Things the operator should know.
    pub notes: Vec<Note>,
}

impl View {
    /// The current set, if any.
    pub fn current_set(&self) -> Option<&SetView> {
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
    let prefix = target.prefix().unwrap_or_default();
    let mut notes = Vec::new();
    // Only `aws-credentials` sets are the tool's, whatever their id.
    for s in obs
        .sets
        .iter()
        .filter(|s| target.owns(&s.id) && s.kind != AWS_CREDENTIALS)
    {
        notes.push(Note::OtherType {
            set_id: s.id.clone(),
            kind: s.kind.clone(),
        });
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
    let mut stale_runs: Vec<String> = Vec::new();
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
                    stale_runs.push(creating_key(&c.run));
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
            stale_runs.push(creating_key(&c.run));
        }
    }
    for (run, since) in &obs.records.leases {
        if young(*since) {
            hold(*since);
        } else {
            stale_runs.push(lease_key(run));
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
        notes.push(Note::ForeignKey {
            key: k.id.clone(),
            iam_user: target.iam_user.clone(),
            age_days: (now - k.created).whole_days(),
            last_used: k.last_used.clone(),
        });
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
                notes.push(Note::AmbiguousLink {
                    set_id: s.id.clone(),
                });
            }
            let key_state = match link.key().map(&key) {
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
                set: (*s).clone(),
                link,
                key_state,
                previous: previous(s),
                references,
            }
        })
        .collect();
    // A set whose key a running rotation has not finished moving onto is not current yet.
    // A record of a key that no longer exists is a leftover (a person deleted the key and
    // the run moved the references back), not a run at work.
    for s in &sets {
        if let Some(KeyRecord::InFlight { since, .. }) =
            s.link.key().and_then(|k| obs.records.keys.get(k))
        {
            if young(*since) && s.key_state != KeyState::Missing {
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
        stale_runs,
        busy,
        notes,
    }
}
