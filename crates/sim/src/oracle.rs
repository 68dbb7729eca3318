//! The oracles: what must hold after every step of every schedule, checked against the
//! world itself (never against what the tool says of it).
//!
//! Around each call of a run that may change something, the world is snapshotted before
//! and after, and the difference is the run's doing (nothing else acts in that step):
//!
//! - a key it deletes or deactivates is one it can prove its own (it made it, or the
//!   target started with it), never a person's;
//! - a key it deactivates is not in production use (a reference names a set holding it),
//!   except in an emergency;
//! - a set it deletes is its own and no reference names it;
//! - a holder it writes changes only references, each from one of the targets' own sets to
//!   one of them whose key exists, is active, holds the right secret and is past AWS's
//!   propagation delay; nothing beside the references changes;
//! - a set it rewrites in place, while referenced, holds such a key.
//!
//! What a person did is never the run's fault when the run could not have seen it: a
//! change is excused only if it came after the run last read that kind of object and the
//! run has since done nothing but repoint (for a holder's write) or nothing but read (for a
//! deactivation or deletion). A run that observed, then spent seconds creating, verifying
//! and registering a key, and then wrote a holder over a person's newer change is at fault
//! (docs/ARCHITECTURE.md, invariants 4 and 6).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rotator_core::refs::find_refs;
use serde_json::Value;
use time::OffsetDateTime;

use crate::world::{SimWorld, TargetSpec};

/// How long a new key fails STS (the world's setting): a reference may name its key only
/// after this.
pub const PROPAGATION: Duration = Duration::from_secs(5);

/// The kinds of object a run reads and a person touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// SORACOM groups.
    Groups,
    /// Event handlers.
    Handlers,
    /// VPGs.
    Vpgs,
    /// Credential sets.
    Sets,
    /// IAM access keys (and their use).
    Keys,
}

const KINDS: usize = 5;

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    /// The kind of holder `holder` (`group:…`, `handler:…`, `vpg:…`).
    pub fn of_holder(holder: &str) -> Kind {
        if holder.starts_with("group:") {
            Kind::Groups
        } else if holder.starts_with("handler:") {
            Kind::Handlers
        } else {
            Kind::Vpgs
        }
    }
}

/// What a call does, as the freshness rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallClass {
    /// Reads objects of a kind.
    Read(Kind),
    /// Reads or writes a holder, or logs in: part of repointing.
    Repoint,
    /// Reads something else (STS, last use, tags, logs).
    OtherRead,
    /// Writes something else (keys, sets, tags).
    OtherWrite,
}

/// The class of operation `op`.
pub fn class_of(op: &str) -> CallClass {
    match op {
        "listGroups" | "getGroup" => CallClass::Read(Kind::Groups),
        "listEventHandlers" | "getEventHandler" => CallClass::Read(Kind::Handlers),
        "listVirtualPrivateGateways" | "getVirtualPrivateGateway" => CallClass::Read(Kind::Vpgs),
        "listCredentials" => CallClass::Read(Kind::Sets),
        "ListAccessKeys" => CallClass::Read(Kind::Keys),
        "putConfigurationParameters"
        | "deleteConfigurationParameter"
        | "updateEventHandler"
        | "setInspectionConfiguration"
        | "auth" => CallClass::Repoint,
        op if op.starts_with("list") || op.starts_with("get") || op.starts_with("List") => {
            CallClass::OtherRead
        }
        "GetAccessKeyLastUsed" | "GetCallerIdentity" | "GetUser" | "GetRole" => {
            CallClass::OtherRead
        }
        _ => CallClass::OtherWrite,
    }
}

/// Whether `op` may change the world (the oracles compare around it).
pub fn may_change(op: &str) -> bool {
    !matches!(class_of(op), CallClass::Read(_) | CallClass::OtherRead) && op != "auth"
}

/// What the oracles know of one run: when it last read each kind, and whether it has
/// done something slow or changing since.
#[derive(Clone, Debug)]
pub struct RunView {
    /// `rotate --emergency`: it may deactivate a key in use.
    pub emergency: bool,
    last_read: [Option<u64>; KINDS],
    /// When it last listed each kind (its observation; a get of one holder is a read,
    /// not a listing).
    last_list: [Option<u64>; KINDS],
    /// A call other than repointing since that read (a holder write is then stale).
    stale_for_write: [bool; KINDS],
    /// A key made or proved since that read (a deactivation is then stale).
    stale_for_retire: [bool; KINDS],
    /// When it last read each holder (`group:…`, `handler:…`, `vpg:…`): the get, or the
    /// page of a listing, that showed it. A get of one holder, or a later page, says
    /// nothing of another.
    holder_read: BTreeMap<String, u64>,
    /// Holders read before its last call other than repointing.
    holder_stale: BTreeSet<String>,
}

impl RunView {
    /// A run that has read nothing yet.
    pub fn new(emergency: bool) -> RunView {
        RunView {
            emergency,
            last_read: [None; KINDS],
            last_list: [None; KINDS],
            stale_for_write: [false; KINDS],
            stale_for_retire: [false; KINDS],
            holder_read: BTreeMap::new(),
            holder_stale: BTreeSet::new(),
        }
    }

    /// Records that the run's call `op` at step `step` showed it `holders`.
    pub fn read_holders(&mut self, holders: &[String], step: u64) {
        for h in holders {
            self.holder_read.insert(h.clone(), step);
            self.holder_stale.remove(h);
        }
    }

    /// Records that the run's call `op` went through at step `step`.
    pub fn saw(&mut self, op: &str, step: u64) {
        match class_of(op) {
            CallClass::Read(k) => {
                self.last_read[k.index()] = Some(step);
                if op.starts_with("list") || op.starts_with("List") {
                    self.last_list[k.index()] = Some(step);
                }
                self.stale_for_write[k.index()] = false;
                self.stale_for_retire[k.index()] = false;
            }
            CallClass::Repoint => {}
            CallClass::OtherRead | CallClass::OtherWrite => {
                self.stale_for_write = [true; KINDS];
                self.holder_stale.extend(self.holder_read.keys().cloned());
            }
        }
        // Making and proving a key takes seconds: what was read before is old by then.
        // Retiring (deactivations, deletions, their records) follows its re-check at once.
        if matches!(
            op,
            "CreateAccessKey" | "GetCallerIdentity" | "createCredential" | "updateCredential"
        ) {
            self.stale_for_retire = [true; KINDS];
        }
    }

    /// Whether a person's change of `kind` at step `at` is one the run could not have
    /// seen before it acted as `by`.
    fn unseen(&self, kind: Kind, object: &str, at: u64, by: Acting) -> bool {
        let i = kind.index();
        let holder = matches!(kind, Kind::Groups | Kind::Handlers | Kind::Vpgs);
        let stale = match by {
            Acting::Write if holder => self.holder_stale.contains(object),
            Acting::Write => self.stale_for_write[i],
            Acting::Retire => self.stale_for_retire[i],
            Acting::Trust => false,
        };
        let read = if holder {
            self.holder_read.get(object).copied()
        } else {
            self.last_read[i]
        };
        read.is_some_and(|read| at > read) && !stale
    }
}

/// How fresh a run's reading must be for a person's change to be excused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acting {
    /// Writing a holder: only repointing since the read.
    Write,
    /// Deactivating or deleting: only reads since the read.
    Retire,
    /// Trusting that a set or key it checked is still there: anything since.
    Trust,
}

/// One key as the oracles see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    /// Its user.
    pub user: String,
    /// The secret.
    pub secret: String,
    /// Active.
    pub active: bool,
    /// Created.
    pub created: OffsetDateTime,
}

/// One credential set as the oracles see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetState {
    /// The key id it holds.
    pub key: Option<String>,
    /// The secret it holds.
    pub secret: Option<String>,
}

/// The world at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Time.
    pub now: OffsetDateTime,
    /// Keys by id.
    pub keys: BTreeMap<String, KeyState>,
    /// Users' tags.
    pub tags: BTreeMap<String, Vec<(String, String)>>,
    /// Sets by id.
    pub sets: BTreeMap<String, SetState>,
    /// Holders by `group:<id>`, `handler:<id>`, `vpg:<id>`: a group's configuration, a
    /// handler, a VPG's inspection.
    pub holders: BTreeMap<String, Value>,
}

impl Snapshot {
    /// The world now.
    pub fn take(world: &SimWorld) -> Snapshot {
        let helper = world.iam.helper();
        let keys = helper
            .key_views()
            .into_iter()
            .map(|k| {
                (
                    k.id,
                    KeyState {
                        user: k.user,
                        secret: k.secret,
                        active: k.active,
                        created: k.created,
                    },
                )
            })
            .collect();
        let sets = world
            .emu
            .credential_ids()
            .into_iter()
            .filter_map(|id| world.emu.credential(&id))
            .map(|c| {
                let field = |f: &str| {
                    c.credentials
                        .get(f)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                (
                    c.id.clone(),
                    SetState {
                        key: field("accessKeyId"),
                        secret: field("secretAccessKey"),
                    },
                )
            })
            .collect();
        let mut holders = BTreeMap::new();
        for g in world.emu.groups() {
            let id = g["groupId"].as_str().unwrap_or_default().to_string();
            holders.insert(format!("group:{id}"), g["configuration"].clone());
        }
        for h in world.emu.event_handlers() {
            let id = h["handlerId"].as_str().unwrap_or_default().to_string();
            holders.insert(format!("handler:{id}"), h);
        }
        for v in world.emu.vpgs() {
            let id = v["vpgId"].as_str().unwrap_or_default().to_string();
            holders.insert(
                format!("vpg:{id}"),
                v.get("inspection").cloned().unwrap_or(Value::Null),
            );
        }
        Snapshot {
            now: world.clock_now(),
            keys,
            tags: helper.user_tags(),
            sets,
            holders,
        }
    }

    /// Every reference: (holder, set id).
    pub fn references(&self) -> Vec<(String, String)> {
        self.holders
            .iter()
            .flat_map(|(h, v)| find_refs(v).into_iter().map(move |r| (h.clone(), r.set_id)))
            .collect()
    }

    /// Whether set `set` can carry traffic now: it exists, its key exists, is active, is
    /// past the propagation delay and the set holds the key's secret.
    pub fn usable(&self, set: &str) -> bool {
        let Some(s) = self.sets.get(set) else {
            return false;
        };
        let Some(k) = s.key.as_ref().and_then(|k| self.keys.get(k)) else {
            return false;
        };
        k.active
            && s.secret.as_deref() == Some(k.secret.as_str())
            && self.now - k.created >= time::Duration::try_from(PROPAGATION).unwrap_or_default()
    }
}

/// A change a person made.
#[derive(Clone, Debug)]
pub struct Touch {
    /// What kind of object.
    pub kind: Kind,
    /// Which (a holder key, a set id, a key id).
    pub object: String,
    /// At which step.
    pub step: u64,
}

/// Who made what: the oracles' memory of a schedule.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Keys the tool created.
    pub tool_keys: BTreeSet<String>,
    /// Keys a person created.
    pub person_keys: BTreeSet<String>,
    /// Sets a person created.
    pub person_sets: BTreeSet<String>,
    /// Keys a person put into a set of a target's names: handed to the tool.
    pub handed_over: BTreeSet<String>,
    /// Keys a person created while a run's announcement that it is creating a key stood
    /// on the user: to the tool, indistinguishable from that run's key (a known limit,
    /// docs/RELIABILITY.md).
    pub announced_over: BTreeSet<String>,
    /// The steps at which a person deleted or edited a lease (a run's, or a dead run's
    /// leftover): from then on, what keeps the runs at work apart may be gone, and a run
    /// that moves references can meet one that switches the key off (a known limit,
    /// docs/RELIABILITY.md).
    pub leases_taken: Vec<u64>,
    /// Every change a person made.
    pub touches: Vec<Touch>,
}

impl Ledger {
    /// Whether a person changed one of `objects` where `run` could not have seen it.
    fn excused(&self, run: &RunView, objects: &[(Kind, &str)], by: Acting) -> bool {
        self.touches.iter().any(|t| {
            objects
                .iter()
                .any(|(k, o)| t.kind == *k && t.object == *o && run.unseen(*k, o, t.step, by))
        })
    }
}

impl Violation {
    /// Whether the promise is one a lease keeps: no reference written onto a set whose key
    /// another run switched off meanwhile, no key switched off while another run moves
    /// references onto it.
    pub fn kept_by_a_lease(&self) -> bool {
        match self {
            Violation::InUse(_) => true,
            Violation::BadReference(what) => what.ends_with(INACTIVE),
            _ => false,
        }
    }
}

/// How a bad reference onto a set whose key is inactive ends.
const INACTIVE: &str = "whose key is inactive";

/// A broken promise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// A key deleted or deactivated that the tool cannot prove its own.
    NotOurs(String),
    /// A key in production use deactivated or deleted outside an emergency.
    InUse(String),
    /// A key another run is still at work with (made less than the in-flight limit ago,
    /// not abandoned) deleted.
    InFlight(String),
    /// A set deleted that is a person's, or that a reference still names.
    SetDeleted(String),
    /// A reference the tool wrote names a set that cannot carry traffic.
    BadReference(String),
    /// A reference a person put on another set was moved by the tool.
    MovedForeign(String),
    /// Fields beside the references of a holder were overwritten.
    OverwroteFields(String),
    /// A secret appeared in output, a log or a notice.
    Secret(String),
    /// The world did not converge after it went quiet.
    NoConvergence(String),
    /// An active key reached `max_key_age_days`.
    Deadline(String),
    /// A run failed, was refused or never ended without a cause.
    Run(String),
}

impl Violation {
    /// The oracle's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::NotOurs(_) => "not-ours",
            Violation::InUse(_) => "in-use",
            Violation::InFlight(_) => "in-flight",
            Violation::SetDeleted(_) => "set-deleted",
            Violation::BadReference(_) => "bad-reference",
            Violation::MovedForeign(_) => "moved-foreign",
            Violation::OverwroteFields(_) => "overwrote-fields",
            Violation::Secret(_) => "secret",
            Violation::NoConvergence(_) => "no-convergence",
            Violation::Deadline(_) => "deadline",
            Violation::Run(_) => "run",
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self {
            Violation::NotOurs(s)
            | Violation::InUse(s)
            | Violation::InFlight(s)
            | Violation::SetDeleted(s)
            | Violation::BadReference(s)
            | Violation::MovedForeign(s)
            | Violation::OverwroteFields(s)
            | Violation::Secret(s)
            | Violation::NoConvergence(s)
            | Violation::Deadline(s)
            | Violation::Run(s) => s,
        };
        write!(f, "{}: {what}", self.kind())
    }
}

/// The value with every reference blanked: what must not change when a holder is
/// repointed.
fn beside_references(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let blank = (k == "credentialsId" && v.is_string()) || k == "$credentialsId";
                    (
                        k.clone(),
                        if blank {
                            Value::Null
                        } else {
                            beside_references(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(beside_references).collect()),
        other => other.clone(),
    }
}

/// Each reference of a holder by where it is.
fn refs_by_path(v: &Value) -> BTreeMap<String, String> {
    find_refs(v)
        .into_iter()
        .map(|r| (format!("{:?}", r.path), r.set_id))
        .collect()
}

/// Whether `set` is one of the targets' own by name.
pub fn owned(targets: &[TargetSpec], set: &str) -> bool {
    targets.iter().any(|t| t.owns_name(set))
}

/// The checks of one call of `run` that went through, `before` → `after`.
pub struct StepCheck<'a> {
    /// The run.
    pub run: &'a RunView,
    /// The targets.
    pub targets: &'a [TargetSpec],
    /// Who made what.
    pub ledger: &'a Ledger,
    /// The keys the targets started with.
    pub seed_keys: &'a BTreeSet<String>,
    /// Before the call.
    pub before: &'a Snapshot,
    /// After it.
    pub after: &'a Snapshot,
}

impl StepCheck<'_> {
    /// The holders this step wrote that a person had changed after the run listed them
    /// (its observation): the known failures' ground (a write from the run's older copy),
    /// to count and to record when no promise broke.
    pub fn rewrote_after_a_person(&self) -> Vec<String> {
        self.before
            .holders
            .iter()
            .filter(|(h, v)| self.after.holders.get(*h).is_some_and(|a| a != *v))
            .filter(|(h, _)| {
                let kind = Kind::of_holder(h);
                self.ledger.touches.iter().any(|t| {
                    t.kind == kind
                        && t.object == **h
                        && self.run.last_list[kind.index()].is_some_and(|l| t.step > l)
                })
            })
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// Every broken promise of this step.
    pub fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        self.keys(&mut out);
        self.sets(&mut out);
        self.holders(&mut out);
        out
    }

    /// Keys deleted or deactivated.
    fn keys(&self, out: &mut Vec<Violation>) {
        for (id, k) in &self.before.keys {
            let after = self.after.keys.get(id);
            let retired = k.active && after.is_none_or(|a| !a.active);
            let deleted = after.is_none();
            if !(retired || deleted) {
                continue;
            }
            let ours = self.ledger.tool_keys.contains(id)
                || self.seed_keys.contains(id)
                || self.ledger.handed_over.contains(id)
                || self.ledger.announced_over.contains(id);
            if !ours {
                out.push(Violation::NotOurs(format!(
                    "key {id} of {} {} although a person made it",
                    k.user,
                    if deleted { "deleted" } else { "deactivated" }
                )));
                continue;
            }
            // An emergency retires the exposed key at once, in use or not; the mark it
            // writes first makes any later run finish the same emergency
            // (crates/core/src/records.rs, `exposed`).
            let exposed = self.before.tags.get(&k.user).is_some_and(|tags| {
                tags.iter().any(|(t, _)| {
                    t.strip_prefix("soracom-key-rotator:exposed:") == Some(id.as_str())
                })
            });
            if retired && !self.run.emergency && !exposed {
                self.in_use(id, out);
            }
        }
    }

    /// A retired key `id` in production use, unless a person made it so unseen.
    fn in_use(&self, id: &str, out: &mut Vec<Violation>) {
        for (holder, set) in self.after.references() {
            let holds = self
                .after
                .sets
                .get(&set)
                .is_some_and(|s| s.key.as_deref() == Some(id));
            if !holds {
                continue;
            }
            let objects = [
                (Kind::of_holder(&holder), holder.as_str()),
                (Kind::Sets, set.as_str()),
                (Kind::Keys, id),
            ];
            if !self.ledger.excused(self.run, &objects, Acting::Retire) {
                out.push(Violation::InUse(format!(
                    "key {id} retired while {holder} uses it through {set}"
                )));
            }
        }
    }

    /// Sets deleted, and sets rewritten in place.
    fn sets(&self, out: &mut Vec<Violation>) {
        let refs = self.after.references();
        for (id, before) in &self.before.sets {
            let Some(after) = self.after.sets.get(id) else {
                if self.ledger.person_sets.contains(id) || !owned(self.targets, id) {
                    out.push(Violation::SetDeleted(format!(
                        "{id}, not the tool's, deleted"
                    )));
                }
                for (holder, _) in refs.iter().filter(|(_, s)| s == id) {
                    let objects = [(Kind::of_holder(holder), holder.as_str())];
                    if !self.ledger.excused(self.run, &objects, Acting::Retire) {
                        out.push(Violation::SetDeleted(format!(
                            "{id} deleted while {holder} names it"
                        )));
                    }
                }
                continue;
            };
            if after == before || !refs.iter().any(|(_, s)| s == id) {
                continue;
            }
            let key = after.key.clone().unwrap_or_default();
            let objects = [(Kind::Sets, id.as_str()), (Kind::Keys, key.as_str())];
            if !self.after.usable(id) && !self.ledger.excused(self.run, &objects, Acting::Trust) {
                out.push(Violation::BadReference(format!(
                    "{id}, referenced, rewritten to hold a key that cannot carry traffic"
                )));
            }
        }
    }

    /// Holders written.
    fn holders(&self, out: &mut Vec<Violation>) {
        for (holder, before) in &self.before.holders {
            let Some(after) = self.after.holders.get(holder) else {
                continue;
            };
            if after == before {
                continue;
            }
            let this = [(Kind::of_holder(holder), holder.as_str())];
            let excused = self.ledger.excused(self.run, &this, Acting::Write);
            if beside_references(before) != beside_references(after) && !excused {
                out.push(Violation::OverwroteFields(format!(
                    "{holder}: fields beside its references changed"
                )));
            }
            let (old, new) = (refs_by_path(before), refs_by_path(after));
            for (path, to) in &new {
                let from = old.get(path);
                if from == Some(to) {
                    continue;
                }
                self.moved(holder, from.map(String::as_str), to, excused, out);
            }
        }
    }

    /// One reference of `holder` moved `from` → `to`.
    fn moved(
        &self,
        holder: &str,
        from: Option<&str>,
        to: &str,
        excused: bool,
        out: &mut Vec<Violation>,
    ) {
        if let Some(from) = from {
            if !owned(self.targets, from) && !excused {
                out.push(Violation::MovedForeign(format!(
                    "{holder}: moved off {from}, a set that is not the tool's, onto {to}"
                )));
            }
        }
        if !owned(self.targets, to) {
            out.push(Violation::BadReference(format!(
                "{holder}: pointed at {to}, not the tool's"
            )));
            return;
        }
        let key = self
            .after
            .sets
            .get(to)
            .and_then(|s| s.key.clone())
            .unwrap_or_default();
        let objects = [(Kind::Sets, to), (Kind::Keys, key.as_str())];
        if !self.after.usable(to) && !self.ledger.excused(self.run, &objects, Acting::Trust) {
            let inactive = self.after.keys.get(&key).is_some_and(|k| !k.active);
            out.push(Violation::BadReference(if inactive {
                format!("{holder}: pointed at {to}, {INACTIVE}")
            } else {
                format!("{holder}: pointed at {to}, which cannot carry traffic")
            }));
        }
    }
}
