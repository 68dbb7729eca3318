//! What this tool records on a target's IAM user, as user tags, so that every stage that
//! spans runs lives in IAM rather than in a local file.
//!
//! - `soracom-key-rotator:released:<key id>` = time: the last reference left the set
//!   holding the key (its cutover; the grace period counts from here).
//! - `soracom-key-rotator:deactivated:<key id>` = time: this tool deactivated the key (the
//!   delete delay counts from here).
//! - `soracom-key-rotator:exposed:<key id>` = time: the key was reported exposed; an
//!   emergency rotation retires it at once (written before the emergency acts).
//! - `soracom-key-rotator:creating:<run id>` = `time/key-id/…`: a run is about to create a
//!   key; the ids are the keys the user had just before. Written before `CreateAccessKey`,
//!   so a run that dies before it hears the answer still leaves proof that the one new key
//!   is its own. It is first written as `time/unlisted` (no key can be proven the run's),
//!   then the keys are listed and written: a key made before the listing is in it.
//! - `soracom-key-rotator:run:<run id>` = `time`: a run's lease — it is rolling the target
//!   back, retiring keys, or moving references onto a key it did not make; other
//!   runs leave it alone meanwhile.
//! - `soracom-key-rotator:notified:<rung>` = `event/event/…`: what the notification ladder
//!   last told people on that rung (a key id, `key-id=severity`, or a day), so that one
//!   event makes one message however often the scheduler runs.
//! - `<key id>` = `soracom-key-rotator/in-flight/time/set-id`, then
//!   `soracom-key-rotator/held-by/set-id/time`: the key is this tool's, on its way into that
//!   credential set, then held by it. The IAM console shows a user tag named after an
//!   access key id as that key's description, so people see which key is the tool's and
//!   which set holds it. `soracom-key-rotator/abandoned/time`: a failed rotation gave the
//!   key up and is deleting it. A tag of that name written by a person (any other value) is theirs
//!   and is left alone.
//!
//! Values use `/` between their parts: IAM allows it in tags, and a space would have to be
//! encoded in the signed request in a way some IAM look-alikes check differently.
//!
//! Parsing is pure ([`Records::parse`]); tags that do not parse are ignored, never fatal.

use std::collections::{BTreeMap, BTreeSet};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::secret::AccessKeyId;

/// The first word of the value of a key's own tag written by this tool.
const OURS: &str = "soracom-key-rotator";
/// Tag key prefix of a run's announcement that it is creating a key.
const CREATING: &str = "soracom-key-rotator:creating:";
/// Tag key prefix of a run's lease on a target while it rolls back.
const LEASE: &str = "soracom-key-rotator:run:";
/// Tag key prefix of what the notification ladder told people, per rung.
const NOTIFIED: &str = "soracom-key-rotator:notified:";
/// IAM's longest tag value.
const MAX_TAG_VALUE: usize = 256;

/// Something this tool records about a key, as a tag on its IAM user, so that the
/// evidence it times retirement by lives in IAM rather than in a local database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mark {
    /// The last reference left the set holding the key (the cutover).
    Released,
    /// The key was deactivated (the delete delay counts from here).
    Deactivated,
    /// The key was reported exposed: an emergency rotation retires it at once. Written
    /// before the emergency acts, so a rerun finishes the same emergency.
    Exposed,
    /// A canary moved off the set holding the key (written before the canary moves; the
    /// evidence is counted from here). The rest of its references stay on it until the
    /// canary is judged.
    Canary,
    /// The canary that moved off the key's set failed (written before it moves back): the
    /// key stays current, and `reconcile` rotates it no more until a person runs `rotate`.
    CanaryFailed,
}

impl Mark {
    /// Every kind of mark.
    pub(crate) const ALL: [Mark; 5] = [
        Mark::Released,
        Mark::Deactivated,
        Mark::Exposed,
        Mark::Canary,
        Mark::CanaryFailed,
    ];

    /// The tag key prefix; the access key id follows.
    pub(crate) fn tag_prefix(self) -> &'static str {
        match self {
            Mark::Released => "soracom-key-rotator:released:",
            Mark::Deactivated => "soracom-key-rotator:deactivated:",
            Mark::Exposed => "soracom-key-rotator:exposed:",
            Mark::Canary => "soracom-key-rotator:canary:",
            Mark::CanaryFailed => "soracom-key-rotator:canary-failed:",
        }
    }
}

/// What the notification ladder already told people: per rung, the events its messages
/// were about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notified(pub(crate) BTreeMap<String, BTreeSet<String>>);

impl Notified {
    /// Whether `event` was told on `rung`.
    #[cfg(test)]
    pub(crate) fn has(&self, rung: &str, event: &str) -> bool {
        self.0.get(rung).is_some_and(|e| e.contains(event))
    }

    /// The events told on `rung`.
    pub(crate) fn events(&self, rung: &str) -> impl Iterator<Item = &str> {
        self.0.get(rung).into_iter().flatten().map(String::as_str)
    }
}

/// Whether `s` may be one event of a notified record: it fits between the `/`s.
pub(crate) fn is_event(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'-' | b'.' | b':'))
}

/// The tag of what `rung` told people (`None` when nothing: the tag is removed). Events
/// that do not fit IAM's limit on a tag value are left out, last first.
pub(crate) fn notified_tag<'a>(
    rung: &str,
    events: impl IntoIterator<Item = &'a str>,
) -> (String, Option<String>) {
    let mut value = String::new();
    for e in events.into_iter().filter(|e| is_event(e)) {
        if value.len() + 1 + e.len() > MAX_TAG_VALUE {
            break;
        }
        if !value.is_empty() {
            value.push('/');
        }
        value.push_str(e);
    }
    (
        format!("{NOTIFIED}{rung}"),
        (!value.is_empty()).then_some(value),
    )
}

/// What this tool recorded about one of its keys.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum KeyRecord {
    /// Created by a rotation at `since`, on its way into `set_id`; the cutover is not done.
    #[serde(rename_all = "camelCase")]
    InFlight {
        /// When the key was created.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        /// The credential set it is for.
        set_id: String,
    },
    /// Given up by the run that created it (its rotation failed) and being deleted: no
    /// run will use it, so a later run deletes it at once if the deletion failed.
    #[serde(rename_all = "camelCase")]
    Abandoned {
        /// When it was given up.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Held by `set_id` since `since`.
    #[serde(rename_all = "camelCase")]
    HeldBy {
        /// The credential set holding it.
        set_id: String,
        /// Since when.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

/// A run's announcement that it is creating a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Creating {
    /// The run's id (the tag key's suffix).
    pub(crate) run: String,
    /// When the run was about to create the key.
    pub(crate) since: OffsetDateTime,
    /// The keys the user had just before; `None` while the run has not listed them yet
    /// (then no key can be proven the run's).
    pub(crate) existing: Option<Vec<AccessKeyId>>,
}

/// Everything recorded on one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// When the last reference left each key's set.
    pub(crate) released: BTreeMap<AccessKeyId, OffsetDateTime>,
    /// When each key was deactivated by this tool.
    pub(crate) deactivated: BTreeMap<AccessKeyId, OffsetDateTime>,
    /// When each key was reported exposed (an emergency retires it at once).
    pub exposed: BTreeMap<AccessKeyId, OffsetDateTime>,
    /// When a canary moved off each key's set.
    pub canary: BTreeMap<AccessKeyId, OffsetDateTime>,
    /// When the canary that moved off each key's set failed.
    pub(crate) canary_failed: BTreeMap<AccessKeyId, OffsetDateTime>,
    /// Holder kinds whose move onto the target's role set is under a canary, and since
    /// when (docs/ARCHITECTURE.md, *Migrating to a role*).
    pub role_canary: BTreeMap<String, OffsetDateTime>,
    /// Holder kinds that refused the role set (a 4xx on the write, or AWS refusing it in
    /// production), and when: they stay on the key.
    pub(crate) role_refused: BTreeMap<String, OffsetDateTime>,
    /// The tool's own keys and their state.
    pub(crate) keys: BTreeMap<AccessKeyId, KeyRecord>,
    /// Runs that announced they are creating a key.
    pub(crate) creating: Vec<Creating>,
    /// Runs holding a lease on the target (a rollback): their id and since when.
    pub leases: Vec<(String, OffsetDateTime)>,
    /// Keys a person described (a user tag named after the key id that this tool did not
    /// write): never this tool's.
    pub(crate) described: BTreeSet<AccessKeyId>,
    /// What the notification ladder already told people.
    pub notified: Notified,
}

fn time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A time as a tag value (RFC 3339 uses only characters IAM allows in tags).
pub(crate) fn stamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn is_key_id(s: &str) -> bool {
    AccessKeyId::is_shaped(s)
}

impl Records {
    /// Reads the records out of a user's tags.
    pub fn parse<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Records {
        // Each kind of tag has a reader; the first that knows the tag's key reads it (a
        // value that does not parse is ignored, never fatal).
        const READERS: [fn(&mut Records, &str, &str) -> bool; 6] = [
            Records::read_creating,
            Records::read_notified,
            Records::read_role,
            Records::read_lease,
            Records::read_mark,
            Records::read_key,
        ];
        let mut out = Records::default();
        for (key, value) in tags {
            READERS.iter().any(|read| read(&mut out, key, value));
        }
        out
    }

    /// A run's announcement that it is creating a key.
    fn read_creating(&mut self, key: &str, value: &str) -> bool {
        let Some(run) = key.strip_prefix(CREATING) else {
            return false;
        };
        let mut words = value.split('/').peekable();
        if let Some(since) = words.next().and_then(time) {
            let listed = words.peek() != Some(&UNLISTED);
            self.creating.push(Creating {
                run: run.to_string(),
                since,
                existing: listed.then(|| {
                    words
                        .filter(|w| is_key_id(w))
                        .map(AccessKeyId::new)
                        .collect()
                }),
            });
        }
        true
    }

    /// What the notification ladder told on a rung.
    fn read_notified(&mut self, key: &str, value: &str) -> bool {
        let Some(rung) = key.strip_prefix(NOTIFIED) else {
            return false;
        };
        let events: BTreeSet<String> = value
            .split('/')
            .filter(|e| is_event(e))
            .map(str::to_string)
            .collect();
        if !events.is_empty() {
            self.notified.0.insert(rung.to_string(), events);
        }
        true
    }

    /// A holder kind's canary onto the role set, or its refusal of it.
    fn read_role(&mut self, key: &str, value: &str) -> bool {
        let Some((kind, map)) = key
            .strip_prefix(ROLE_CANARY)
            .map(|k| (k, &mut self.role_canary))
            .or_else(|| {
                key.strip_prefix(ROLE_REFUSED)
                    .map(|k| (k, &mut self.role_refused))
            })
        else {
            return false;
        };
        if let (true, Some(at)) = (is_kind(kind), time(value)) {
            map.insert(kind.to_string(), at);
        }
        true
    }

    /// A run's lease on the target.
    fn read_lease(&mut self, key: &str, value: &str) -> bool {
        let Some(run) = key.strip_prefix(LEASE) else {
            return false;
        };
        if let Some(since) = time(value) {
            self.leases.push((run.to_string(), since));
        }
        true
    }

    /// A [`Mark`] about a key.
    fn read_mark(&mut self, key: &str, value: &str) -> bool {
        let Some(mark) = Mark::ALL
            .into_iter()
            .find(|m| key.starts_with(m.tag_prefix()))
        else {
            return false;
        };
        let id = &key[mark.tag_prefix().len()..];
        if let (true, Some(at)) = (is_key_id(id), time(value)) {
            let map = match mark {
                Mark::Released => &mut self.released,
                Mark::Deactivated => &mut self.deactivated,
                Mark::Exposed => &mut self.exposed,
                Mark::Canary => &mut self.canary,
                Mark::CanaryFailed => &mut self.canary_failed,
            };
            map.insert(AccessKeyId::new(id), at);
        }
        true
    }

    /// A tag named after a key: this tool's record of its own key, or a person's
    /// description (then the key is never this tool's).
    fn read_key(&mut self, key: &str, value: &str) -> bool {
        if !is_key_id(key) {
            return false;
        }
        let words: Vec<&str> = value.split('/').collect();
        let record = match words.as_slice() {
            [OURS, "in-flight", since, set] => time(since).map(|since| KeyRecord::InFlight {
                since,
                set_id: (*set).to_string(),
            }),
            [OURS, "abandoned", since] => time(since).map(|since| KeyRecord::Abandoned { since }),
            [OURS, "held-by", set, since] => time(since).map(|since| KeyRecord::HeldBy {
                set_id: (*set).to_string(),
                since,
            }),
            _ => None,
        };
        match record {
            Some(r) => {
                self.keys.insert(AccessKeyId::new(key), r);
            }
            None if !value.starts_with(OURS) => {
                self.described.insert(AccessKeyId::new(key));
            }
            None => {}
        }
        true
    }
}

/// Tag key prefix of a holder kind's canary onto the role set.
const ROLE_CANARY: &str = "soracom-key-rotator:role-canary:";
/// Tag key prefix of a holder kind that refused the role set.
const ROLE_REFUSED: &str = "soracom-key-rotator:role-refused:";

/// Whether `s` can be a holder kind in a tag key (IAM's tag characters).
fn is_kind(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The tag of a holder kind's canary onto the role set (`refused`: its refusal instead).
pub fn role_tag(kind: &str, refused: bool, at: OffsetDateTime) -> (String, String) {
    let prefix = if refused { ROLE_REFUSED } else { ROLE_CANARY };
    (format!("{prefix}{kind}"), stamp(at))
}

/// The tag of a mark about `key`.
pub fn mark_tag(mark: Mark, key: &AccessKeyId, at: OffsetDateTime) -> (String, String) {
    (format!("{}{}", mark.tag_prefix(), key.as_str()), stamp(at))
}

/// The tag of a key's own record.
pub fn key_tag(key: &AccessKeyId, record: &KeyRecord) -> (String, String) {
    let value = match record {
        KeyRecord::InFlight { since, set_id } => {
            format!("{OURS}/in-flight/{}/{set_id}", stamp(*since))
        }
        KeyRecord::Abandoned { since } => format!("{OURS}/abandoned/{}", stamp(*since)),
        KeyRecord::HeldBy { set_id, since } => {
            format!("{OURS}/held-by/{set_id}/{}", stamp(*since))
        }
    };
    (key.as_str().to_string(), value)
}

/// The word of an announcement whose run has not listed the user's keys yet.
const UNLISTED: &str = "unlisted";

/// The tag announcing that run `run` is creating a key, given the keys there are now
/// (`None`: not listed yet).
pub fn creating_tag(
    run: &str,
    at: OffsetDateTime,
    existing: Option<&[AccessKeyId]>,
) -> (String, String) {
    let mut value = stamp(at);
    match existing {
        None => {
            value.push('/');
            value.push_str(UNLISTED);
        }
        Some(keys) => {
            for k in keys {
                value.push('/');
                value.push_str(k.as_str());
            }
        }
    }
    (format!("{CREATING}{run}"), value)
}

/// The tag key of run `run`'s announcement.
pub(crate) fn creating_key(run: &str) -> String {
    format!("{CREATING}{run}")
}

/// The tag of run `run`'s lease on the target.
pub fn lease_tag(run: &str, at: OffsetDateTime) -> (String, String) {
    (lease_key(run), stamp(at))
}

/// The tag key of run `run`'s lease.
pub fn lease_key(run: &str) -> String {
    format!("{LEASE}{run}")
}

/// Every tag key this tool may have written about `key`.
pub fn tags_of(key: &AccessKeyId) -> Vec<String> {
    let mut v: Vec<String> = Mark::ALL
        .iter()
        .map(|m| format!("{}{}", m.tag_prefix(), key.as_str()))
        .collect();
    v.push(key.as_str().to_string());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const K: &str = "AKIAIOSFODNN7EXAMPLE";

    #[test]
    fn tags_round_trip() {
        let k = AccessKeyId::new(K);
        let t = datetime!(2026-12-01 09:00 UTC);
        let tags = [
            mark_tag(Mark::Released, &k, t),
            mark_tag(Mark::Deactivated, &k, t),
            key_tag(
                &k,
                &KeyRecord::InFlight {
                    since: t,
                    set_id: "p-261201".into(),
                },
            ),
            creating_tag("run-1", t, Some(std::slice::from_ref(&k))),
            creating_tag("run-2", t, None),
        ];
        let r = Records::parse(tags.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        assert_eq!(r.released.get(&k), Some(&t));
        assert_eq!(r.deactivated.get(&k), Some(&t));
        assert_eq!(
            r.keys.get(&k),
            Some(&KeyRecord::InFlight {
                since: t,
                set_id: "p-261201".into()
            })
        );
        assert_eq!(
            r.creating,
            [
                Creating {
                    run: "run-1".into(),
                    since: t,
                    existing: Some(vec![k.clone()])
                },
                Creating {
                    run: "run-2".into(),
                    since: t,
                    existing: None
                }
            ]
        );
        let held = key_tag(
            &k,
            &KeyRecord::HeldBy {
                set_id: "p-261201".into(),
                since: t,
            },
        );
        let r = Records::parse([(held.0.as_str(), held.1.as_str())]);
        assert!(matches!(r.keys.get(&k), Some(KeyRecord::HeldBy { .. })));
        let (tk, tv) = notified_tag("deadline", [format!("{K}=urgent").as_str(), "2026-12-01"]);
        let tv = tv.unwrap_or_default();
        let r = Records::parse([(tk.as_str(), tv.as_str())]);
        assert!(r.notified.has("deadline", &format!("{K}=urgent")));
        assert!(r.notified.has("deadline", "2026-12-01"));
        assert!(!r.notified.has("failed", "2026-12-01"));
    }

    #[test]
    fn a_notified_record_fits_a_tag_value_and_holds_only_events() {
        let many: Vec<String> = (0..20)
            .map(|i| format!("AKIAIOSFODNN7EXAMP{i:02}"))
            .collect();
        let (_, v) = notified_tag("blocked", many.iter().map(String::as_str));
        let v = v.unwrap_or_default();
        assert!(v.len() <= MAX_TAG_VALUE && v.starts_with("AKIAIOSFODNN7EXAMP00"));
        let (_, v) = notified_tag("blocked", ["a b", "x/y", ""]);
        assert_eq!(v, None, "nothing that could break the value is written");
    }

    #[test]
    fn tags_of_people_and_broken_tags_are_ignored() {
        let r = Records::parse([(K, "the key of our billing exporter")]);
        assert!(
            r.described.contains(&AccessKeyId::new(K)),
            "a person described it"
        );
        let r = Records::parse([
            (K, "soracom-key-rotator/in-flight/yesterday/p-1"),
            ("soracom-key-rotator:released:short", "2026-12-01T09:00:00Z"),
            (
                "soracom-key-rotator:deactivated:AKIAIOSFODNN7EXAMPLE",
                "not a time",
            ),
            ("soracom-key-rotator:creating:r", "garbage"),
            ("team", "iot"),
        ]);
        assert_eq!(r, Records::default());
    }
}
