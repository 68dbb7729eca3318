//! `discover` and `init`: first contact with an account that has no configuration yet.
//!
//! The `rotator` crate reads what is there — every `aws-credentials` set, the IAM user that
//! owns each key a set holds, those users' keys with their last use, and every holder of a
//! set — and [`propose`] turns that, purely, into targets: the sets grouped by owning user,
//! a `credential_prefix` where ids follow `<prefix>-<yymmdd>[-<n>]`, hand-made sets adopted
//! with their keys. A set whose key no user of this account has (another account's key) or
//! whose key SORACOM does not report is reported, never proposed: a target owning it would
//! move its holders onto our key. [`Discovery::to_toml`] writes the proposal as a commented
//! configuration, checked with [`Config::from_toml`] before it is returned, and
//! [`write_new`] never overwrites a file. What `discover` prints is laid out in
//! [`crate::render`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::{Config, ConfigError};
use crate::model::{AccessKey, CredentialSet, Holder, KeyStatus, ManagedId, Slot};
use crate::plan::AWS_CREDENTIALS;
use crate::secret::AccessKeyId;
use crate::words::Words;

/// Security Hub IAM.3 fails an active key older than this many days.
pub(crate) const IAM3_DAYS: i64 = 90;

/// Why discovery or `init` could not be done.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// `init` never overwrites: the file is there.
    #[error("{}: the file exists; init never overwrites a configuration (move it away, or name another file with --config)", .0.display())]
    Exists(PathBuf),
    /// The file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// No set holds a key of a user of this account: there is no target to propose.
    #[error("no aws-credentials set holds a key of a user of this account: nothing to propose, no file written")]
    NothingToPropose,
    /// The proposal did not pass the configuration's own checks (a bug: report it).
    #[error("the proposed configuration is not valid: {0}")]
    Invalid(#[from] ConfigError),
}

/// How the key of a set is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum KeySource {
    /// SORACOM reports it (`credentials.accessKeyId`).
    Api,
    /// The description this tool writes names it.
    Description,
}

/// Who owns the key a set holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "user")]
pub(crate) enum Owner {
    /// An IAM user of this account.
    User(String),
    /// No user of this account has the key: another account's key.
    OtherAccount,
    /// SORACOM does not say which key the set holds.
    KeyUnknown,
}

/// One `aws-credentials` set as discovered.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FoundSet {
    /// The set's id.
    pub(crate) id: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) created: Option<OffsetDateTime>,
    /// When SORACOM last used it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_used: Option<OffsetDateTime>,
    /// The access key id it holds (masked when shown).
    pub(crate) key: Option<AccessKeyId>,
    /// How that is known.
    pub(crate) key_source: Option<KeySource>,
    /// Who owns the key.
    pub(crate) owner: Owner,
    /// Every holder that references it.
    pub(crate) holders: Vec<Holder>,
}

/// One access key of a user that owns a key of a set.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FoundKey {
    /// The key, its status, creation and last use (`id`, `status`, `created`, `lastUsed`).
    #[serde(flatten, serialize_with = "camel_key")]
    pub(crate) key: AccessKey,
    /// Whole days since it was created.
    pub(crate) age_days: i64,
    /// Active and older than 90 days: Security Hub IAM.3 fails it today.
    pub(crate) fails_iam3: bool,
    /// The sets that hold it (none: a key SORACOM does not hold).
    pub(crate) sets: Vec<String>,
}

/// An access key in the camelCase of this report (the model's own form is snake_case).
fn camel_key<S: serde::Serializer>(k: &AccessKey, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Key<'a> {
        id: &'a AccessKeyId,
        status: KeyStatus,
        #[serde(with = "time::serde::rfc3339")]
        created: OffsetDateTime,
        last_used: Option<&'a crate::model::LastUsed>,
    }
    Key {
        id: &k.id,
        status: k.status,
        created: k.created,
        last_used: k.last_used.as_ref(),
    }
    .serialize(s)
}

/// An IAM user that owns the key of at least one set.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FoundUser {
    /// The user's name.
    pub(crate) user: String,
    /// All its keys.
    pub(crate) keys: Vec<FoundKey>,
}

/// A target the proposal makes: one user, its sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProposedTarget {
    /// The target's name (the user's, made to fit).
    pub(crate) name: String,
    /// The IAM user.
    pub(crate) iam_user: String,
    /// The prefix new sets get; every set it matches is this user's.
    pub(crate) credential_prefix: String,
    /// Whether the prefix was read from existing ids (else it is new and matches none).
    pub(crate) prefix_inferred: bool,
    /// The user's sets the prefix matches.
    pub(crate) managed: Vec<String>,
    /// The user's other sets, adopted.
    pub(crate) adopt: Vec<String>,
    /// The key each adopted set holds.
    pub(crate) adopt_keys: BTreeMap<String, AccessKeyId>,
}

/// Why a set is not in the proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub(crate) enum NotProposed {
    /// Its key belongs to no user of this account.
    OtherAccount {
        /// The set.
        set: String,
        /// Its key.
        key: AccessKeyId,
    },
    /// SORACOM does not report its key (and no description of this tool names it).
    KeyUnknown {
        /// The set.
        set: String,
    },
}

/// The targets proposed, and what was left out.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    /// One target per user that owns a set's key.
    pub(crate) targets: Vec<ProposedTarget>,
    /// Sets reported, not proposed.
    pub(crate) not_proposed: Vec<NotProposed>,
}

/// What `discover` found and proposes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// When (the run's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    /// Every `aws-credentials` set.
    pub(crate) sets: Vec<FoundSet>,
    /// The users owning their keys, with all their keys.
    pub(crate) users: Vec<FoundUser>,
    /// The proposed targets.
    pub proposal: Proposal,
}

/// What discovery observed: the input of [`propose`].
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// Every credential set (of any type; only `aws-credentials` ones count).
    pub sets: Vec<CredentialSet>,
    /// Every user that owns a key of a set, with its keys.
    pub users: Vec<(String, Vec<AccessKey>)>,
    /// Every slot that references a set.
    pub slots: Vec<Slot>,
}

/// The proposal, a pure function of what was observed and the time.
pub fn propose(o: &Observation, now: OffsetDateTime) -> Discovery {
    let sets = found_sets(o);
    let users = found_users(o, &sets, now);
    let taken: BTreeSet<&str> = o.sets.iter().map(|s| s.id.as_str()).collect();
    let proposal = targets(&sets, &taken);
    Discovery {
        at: now,
        sets,
        users,
        proposal,
    }
}

/// Every `aws-credentials` set: the key it holds and how that is known, who owns that
/// key, and what references the set.
fn found_sets(o: &Observation) -> Vec<FoundSet> {
    let owner_of: BTreeMap<&AccessKeyId, &str> = o
        .users
        .iter()
        .flat_map(|(u, keys)| keys.iter().map(move |k| (&k.id, u.as_str())))
        .collect();
    let mut holders: BTreeMap<&str, Vec<Holder>> = BTreeMap::new();
    for slot in &o.slots {
        let named: BTreeSet<&str> = slot.refs.iter().map(|r| r.set_id.as_str()).collect();
        for id in named {
            holders.entry(id).or_default().push(slot.holder.clone());
        }
    }
    o.sets
        .iter()
        .filter(|s| s.kind == AWS_CREDENTIALS)
        .map(|s| {
            let (key, key_source) = match (&s.api_key, s.linked_key()) {
                (Some(k), _) => (Some(k.clone()), Some(KeySource::Api)),
                (None, Some(k)) => (Some(k), Some(KeySource::Description)),
                (None, None) => (None, None),
            };
            let owner = match &key {
                None => Owner::KeyUnknown,
                Some(k) => owner_of
                    .get(k)
                    .map_or(Owner::OtherAccount, |u| Owner::User((*u).to_string())),
            };
            FoundSet {
                id: s.id.clone(),
                created: s.created,
                last_used: s.last_used,
                key,
                key_source,
                owner,
                holders: holders.get(s.id.as_str()).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// Every user owning a set's key, with all its keys: their age, whether IAM.3 fails them
/// today, and the sets that hold them.
fn found_users(o: &Observation, sets: &[FoundSet], now: OffsetDateTime) -> Vec<FoundUser> {
    o.users
        .iter()
        .map(|(user, keys)| FoundUser {
            user: user.clone(),
            keys: keys
                .iter()
                .map(|k| {
                    let age_days = (now - k.created).whole_days();
                    FoundKey {
                        key: k.clone(),
                        age_days,
                        fails_iam3: k.status == KeyStatus::Active
                            && now - k.created > time::Duration::days(IAM3_DAYS),
                        sets: sets
                            .iter()
                            .filter(|s| s.key.as_ref() == Some(&k.id))
                            .map(|s| s.id.clone())
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect()
}

/// `<prefix>` if `id` is `<prefix>-<yymmdd>` or `<prefix>-<yymmdd>-<n>` (the managed form).
pub(crate) fn managed_prefix(id: &str) -> Option<&str> {
    id.rmatch_indices('-')
        .take(2)
        .map(|(i, _)| &id[..i])
        .find(|p| valid_id(p) && ManagedId::parse(p, id).is_some())
}

/// What the configuration accepts as a prefix or set id: 1–100 of `A-Z a-z 0-9 - _ .`.
fn valid_id(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A target name from a user name: 1–64 of `A-Z a-z 0-9 - _ .` (others become `-`).
fn name_of(user: &str) -> String {
    let name: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    if name.is_empty() {
        "target".into()
    } else {
        name
    }
}

/// One target per user owning a set's key; the other sets reported. `taken` is every set
/// id of any type: a prefix whose role set id (`<prefix>-role`, see `migrate-to-role`) is
/// taken is not proposed, since a run watches that set as the target's own.
fn targets(sets: &[FoundSet], taken: &BTreeSet<&str>) -> Proposal {
    let (by_user, not_proposed) = by_owner(sets);
    let mut proposal = Proposal {
        targets: Vec::new(),
        not_proposed,
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut prefixes: BTreeSet<String> = BTreeSet::new();
    for (user, mine) in by_user {
        let claimed = Claimed {
            sets,
            taken,
            prefixes: &prefixes,
        };
        let Some((prefix, prefix_inferred)) = claimed
            .inferred_prefix(&mine)
            .map(|p| (p, true))
            .or_else(|| claimed.new_prefix(user, &mine).map(|p| (p, false)))
        else {
            continue;
        };
        let name = unique_name(user, &mut names);
        prefixes.insert(prefix.clone());
        let (managed, adopted): (Vec<&&FoundSet>, Vec<&&FoundSet>) = mine
            .iter()
            .partition(|s| ManagedId::parse(&prefix, &s.id).is_some());
        proposal.targets.push(ProposedTarget {
            name,
            iam_user: user.to_string(),
            credential_prefix: prefix,
            prefix_inferred,
            managed: managed.iter().map(|s| s.id.clone()).collect(),
            adopt: adopted.iter().map(|s| s.id.clone()).collect(),
            adopt_keys: adopted
                .iter()
                .filter_map(|s| Some((s.id.clone(), s.key.clone()?)))
                .collect(),
        });
    }
    proposal
}

/// The sets by the user owning their key, and the sets no target may own: another
/// account's key, or a key SORACOM does not report.
fn by_owner(sets: &[FoundSet]) -> (BTreeMap<&str, Vec<&FoundSet>>, Vec<NotProposed>) {
    let mut by_user: BTreeMap<&str, Vec<&FoundSet>> = BTreeMap::new();
    let mut not_proposed = Vec::new();
    for s in sets {
        match (&s.owner, &s.key) {
            (Owner::User(u), _) => by_user.entry(u.as_str()).or_default().push(s),
            (Owner::OtherAccount, Some(k)) => not_proposed.push(NotProposed::OtherAccount {
                set: s.id.clone(),
                key: k.clone(),
            }),
            _ => not_proposed.push(NotProposed::KeyUnknown { set: s.id.clone() }),
        }
    }
    (by_user, not_proposed)
}

/// What a prefix must leave alone: every set found, every set id of any type (`taken`),
/// and the prefixes already given to other targets.
struct Claimed<'a> {
    sets: &'a [FoundSet],
    taken: &'a BTreeSet<&'a str>,
    prefixes: &'a BTreeSet<String>,
}

impl Claimed<'_> {
    /// Whether `p` can be a prefix at all: a valid id, not another target's, and its role
    /// set id (`<p>-role`) not taken.
    fn usable(&self, p: &str) -> bool {
        valid_id(p)
            && !self.taken.contains(format!("{p}-role").as_str())
            && !self.prefixes.contains(p)
    }

    /// The newest prefix the user's set ids were made with that matches only the user's
    /// sets: another set it matched would be taken for the target's, and its holders moved
    /// onto this user's key.
    fn inferred_prefix(&self, mine: &[&FoundSet]) -> Option<String> {
        let ids: BTreeSet<&str> = mine.iter().map(|s| s.id.as_str()).collect();
        let mut counted: BTreeMap<&str, (usize, Option<OffsetDateTime>)> = BTreeMap::new();
        for s in mine {
            if let Some(p) = managed_prefix(&s.id) {
                let e = counted.entry(p).or_default();
                e.0 += 1;
                e.1 = e.1.max(s.created);
            }
        }
        let mut inferred: Vec<(&str, (usize, Option<OffsetDateTime>))> =
            counted.into_iter().collect();
        inferred.sort_by_key(|e| std::cmp::Reverse(e.1));
        inferred.iter().map(|(p, _)| (*p).to_string()).find(|p| {
            self.usable(p)
                && self
                    .sets
                    .iter()
                    .all(|s| ManagedId::parse(p, &s.id).is_none() || ids.contains(s.id.as_str()))
        })
    }

    /// A new prefix matching no set: the newest hand-made set's id, else the user's name
    /// (numbered when taken).
    fn new_prefix(&self, user: &str, mine: &[&FoundSet]) -> Option<String> {
        let mut newest: Vec<&&FoundSet> = mine.iter().collect();
        newest.sort_by_key(|s| std::cmp::Reverse(s.created));
        let bases: Vec<String> = newest
            .iter()
            .map(|s| s.id.clone())
            .chain(std::iter::once(name_of(user)))
            .collect();
        let free = |p: &str| {
            self.usable(p)
                && self
                    .sets
                    .iter()
                    .all(|s| ManagedId::parse(p, &s.id).is_none())
        };
        bases.iter().find(|b| free(b)).cloned().or_else(|| {
            (2..1000)
                .map(|n| format!("{}-k{n}", name_of(user)))
                .find(|p| free(p))
        })
    }
}

/// A target name from `user` that no other target has (numbered when taken), recorded in
/// `names`.
fn unique_name(user: &str, names: &mut BTreeSet<String>) -> String {
    let mut name = name_of(user);
    let mut n = 2;
    while names.contains(&name) {
        name = format!("{}-{n}", name_of(user));
        n += 1;
    }
    names.insert(name.clone());
    name
}

/// `text` made safe for one line of a TOML comment.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Discovery {
    /// The proposal as a commented configuration file, checked by the configuration's own
    /// rules (`file` is only named in its messages).
    pub fn to_toml(&self, file: &Path) -> Result<String, DiscoverError> {
        if self.proposal.targets.is_empty() {
            return Err(DiscoverError::NothingToPropose);
        }
        let day = self.at.date();
        let mut t = String::new();
        t.push_str(&format!(
            "# soracom-key-rotator configuration, proposed by `soracom-key-rotator init` on {day}\n\
             # from the credential sets SORACOM listed and the IAM users that own their keys.\n\
             # Read it, then run `soracom-key-rotator plan` (it changes nothing) before the first\n\
             # `reconcile`. Every setting and its default: docs/configuration.md.\n\n\
             [soracom]\n\
             # The endpoint: SORACOM_ENDPOINT, else this, else the soracom-cli profile, else jp.\n\
             # coverage = \"jp\"            # or \"g\"\n\
             # profile = \"default\"        # a soracom-cli profile (~/.soracom/<name>.json)\n"
        ));
        for target in &self.proposal.targets {
            t.push('\n');
            self.target_comments(target, &mut t);
            target_table(target, &mut t);
        }
        if !self.proposal.not_proposed.is_empty() {
            t.push_str("\n# Not proposed (no target may own them):\n");
            for n in &self.proposal.not_proposed {
                t.push_str(&format!("#   {}\n", comment(&n.words())));
            }
        }
        Config::from_toml(&t, file)?;
        Ok(t)
    }

    /// The comments above a proposed target's table: its user's keys, its sets, and
    /// whether its prefix is new.
    fn target_comments(&self, target: &ProposedTarget, t: &mut String) {
        let keys: Vec<&FoundKey> = self
            .users
            .iter()
            .filter(|u| u.user == target.iam_user)
            .flat_map(|u| &u.keys)
            .collect();
        t.push_str(&format!(
            "# IAM user {}: {} key(s).\n",
            comment(&target.iam_user),
            keys.len()
        ));
        for k in &keys {
            t.push_str(&format!(
                "#   key {} {}, {} days old{}{}\n",
                k.key.id,
                k.key.status.words(),
                k.age_days,
                if k.fails_iam3 {
                    " (fails Security Hub IAM.3 today)"
                } else {
                    ""
                },
                if k.sets.is_empty() {
                    ", held by no set".to_string()
                } else {
                    format!(", in {}", comment(&k.sets.join(", ")))
                }
            ));
        }
        for id in target.managed.iter().chain(&target.adopt) {
            let n = self
                .sets
                .iter()
                .find(|s| &s.id == id)
                .map_or(0, |s| s.holders.len());
            let how = if target.managed.contains(id) {
                "matches the prefix"
            } else {
                "made by hand: adopted"
            };
            t.push_str(&format!(
                "#   set {} ({how}), {n} reference(s)\n",
                comment(id)
            ));
        }
        if !target.prefix_inferred {
            t.push_str(
                "#   No set id has the form <prefix>-<yymmdd>: new sets get this new prefix.\n",
            );
        }
    }
}

/// A proposed target's `[[targets]]` table: name, user, prefix, the adopted sets and
/// their keys.
fn target_table(target: &ProposedTarget, t: &mut String) {
    t.push_str(&format!(
        "[[targets]]\nname = {}\niam_user = {}\ncredential_prefix = {}\n\
         # max_key_age_days = 90       # the age no active key may reach (IAM.3: 90)\n\
         # retire_after_days = 7\n# delete_after_days = 7\n",
        quoted(&target.name),
        quoted(&target.iam_user),
        quoted(&target.credential_prefix)
    ));
    if !target.adopt.is_empty() {
        let list: Vec<String> = target.adopt.iter().map(|a| quoted(a)).collect();
        t.push_str(&format!("adopt = [{}]\n", list.join(", ")));
    }
    if !target.adopt_keys.is_empty() {
        // The key ids in full: this file is where a retirement's certainty comes from.
        let pairs: Vec<String> = target
            .adopt_keys
            .iter()
            .map(|(set, key)| format!("{} = {}", quoted(set), quoted(key.as_str())))
            .collect();
        t.push_str(&format!("adopt_keys = {{ {} }}\n", pairs.join(", ")));
    }
}

/// Writes `text` to `path`, which must not exist (created exclusively, so a file that
/// appears meanwhile is not overwritten either).
pub fn write_new(path: &Path, text: &str) -> Result<(), DiscoverError> {
    use std::io::Write;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(DiscoverError::Exists(path.to_path_buf()))
        }
        Err(source) => {
            return Err(DiscoverError::Write {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| DiscoverError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests;
