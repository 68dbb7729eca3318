//! Domain types: keys, credential sets, references, and what a run observed.
//!
//! These are plain data shared by the pure planner and the executor. Credential set ids
//! owned by a target follow `<prefix>-<yymmdd>[-<n>]` (docs/ARCHITECTURE.md) and are matched by that
//! exact pattern, never by substring; the key a set holds is what SORACOM reports
//! (`credentials.accessKeyId`), else the `accessKeyId=` token this tool writes into the
//! set's description.

use serde::Serialize;
use serde_json::Value;
use time::{Date, Month, OffsetDateTime};

use crate::secret::AccessKeyId;

/// Whether IAM accepts an access key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// The key signs requests.
    Active,
    /// The key is disabled (still counts toward the two-key quota).
    Inactive,
}

/// When and where IAM last saw a key used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastUsed {
    /// Last use (coarse: AWS may report it hours late).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Service that was called, e.g. `sts`, `iot`.
    pub service: String,
    /// Region of the call.
    pub region: String,
}

/// One access key of a target's IAM user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessKey {
    /// The key id (masked when shown).
    pub id: AccessKeyId,
    /// Active or inactive.
    pub status: KeyStatus,
    /// Creation time reported by IAM.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Last use reported by IAM, if any.
    pub last_used: Option<LastUsed>,
}

/// A SORACOM credential set as listed (secrets are never returned by SORACOM).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialSet {
    /// Credential set id.
    pub id: String,
    /// Credential type, e.g. `aws-credentials`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text; holds the link to the key for sets this tool made.
    pub description: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// Last update time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated: Option<OffsetDateTime>,
    /// Last time SORACOM used the set, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
    /// The access key id SORACOM reports the set holds (`credentials.accessKeyId`; never
    /// the secret). It wins over what the description says.
    pub api_key: Option<AccessKeyId>,
}

/// The token written into a set's description to name the key it holds.
pub(crate) const LINK_TOKEN: &str = "accessKeyId=";

/// The description this tool writes into a credential set it creates.
pub fn link_description(key: &AccessKeyId) -> String {
    format!(
        "Managed by soracom-key-rotator. {LINK_TOKEN}{}",
        key.as_str()
    )
}

/// The token naming the key an in-place set held before (its retirement is still due).
pub(crate) const PREVIOUS_TOKEN: &str = "previousAccessKeyId=";

/// The description of an in-place set: the key it holds and the one it replaced.
pub fn in_place_description(key: &AccessKeyId, previous: Option<&AccessKeyId>) -> String {
    match previous {
        Some(p) => format!("{} {PREVIOUS_TOKEN}{}", link_description(key), p.as_str()),
        None => link_description(key),
    }
}

/// The key id following `token` in `text`, if it looks like one.
fn key_after(text: &str, token: &str) -> Option<AccessKeyId> {
    let start = text.find(token)? + token.len();
    let id: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (id.len() >= 16).then(|| AccessKeyId::new(id))
}

impl CredentialSet {
    /// The access key id named in the description, if this tool linked it.
    pub(crate) fn linked_key(&self) -> Option<AccessKeyId> {
        key_after(&self.description, LINK_TOKEN)
    }

    /// The key the set holds: what SORACOM reports, else what this tool's description says.
    pub fn key(&self) -> Option<AccessKeyId> {
        self.api_key.clone().or_else(|| self.linked_key())
    }

    /// The key an in-place set held before its last rotation, if the description says.
    pub(crate) fn previous_key(&self) -> Option<AccessKeyId> {
        key_after(&self.description, PREVIOUS_TOKEN)
    }
}

/// The parsed date and sequence of a managed credential set id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ManagedId {
    /// The UTC date in the id.
    pub(crate) date: Date,
    /// 1 for `<prefix>-<yymmdd>`, n for `<prefix>-<yymmdd>-<n>` (n ≥ 2).
    pub(crate) seq: u32,
}

impl ManagedId {
    /// Parses `id` as `<prefix>-<yymmdd>[-<n>]`; anything else (including ids that only
    /// contain the prefix) is `None`.
    pub(crate) fn parse(prefix: &str, id: &str) -> Option<ManagedId> {
        let rest = id.strip_prefix(prefix)?.strip_prefix('-')?;
        let (date_part, seq) = match rest.split_once('-') {
            None => (rest, 1),
            Some((d, n)) => {
                if n.is_empty()
                    || n.starts_with('0')
                    || !n.bytes().all(|b| b.is_ascii_digit())
                    || n.len() > 4
                {
                    return None;
                }
                let n: u32 = n.parse().ok()?;
                if n < 2 {
                    return None;
                }
                (d, n)
            }
        };
        if date_part.len() != 6 || !date_part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| date_part[r].parse::<u8>().ok();
        let year = 2000 + i32::from(num(0..2)?);
        let month = Month::try_from(num(2..4)?).ok()?;
        let date = Date::from_calendar_date(year, month, num(4..6)?).ok()?;
        Some(ManagedId { date, seq })
    }

    /// Formats the id for `prefix`.
    pub(crate) fn format(&self, prefix: &str) -> String {
        let base = format!(
            "{prefix}-{:02}{:02}{:02}",
            self.date.year().rem_euclid(100),
            u8::from(self.date.month()),
            self.date.day()
        );
        if self.seq <= 1 {
            base
        } else {
            format!("{base}-{}", self.seq)
        }
    }

    /// The first id for `date` not in `taken`: `<prefix>-<yymmdd>`, then `-2`, `-3`, …
    pub(crate) fn next_free<'a>(
        prefix: &str,
        date: Date,
        taken: impl Fn(&str) -> bool + 'a,
    ) -> Option<String> {
        (1..=9999)
            .map(|seq| ManagedId { date, seq }.format(prefix))
            .find(|id| !taken(id))
    }
}

/// Where a reference to a credential set lives, and the unit written back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Holder {
    /// One top-level key of one namespace of a group's configuration.
    #[serde(rename_all = "camelCase")]
    GroupKey {
        /// Group id.
        group_id: String,
        /// The group's `name` tag, if any.
        group_name: Option<String>,
        /// Configuration namespace, e.g. `SoracomFunnel`.
        namespace: String,
        /// Top-level key in the namespace; its whole value is written back.
        key: String,
    },
    /// An event handler; written back whole.
    #[serde(rename_all = "camelCase")]
    EventHandler {
        /// Handler id.
        handler_id: String,
        /// Handler name, if any.
        name: Option<String>,
    },
    /// A virtual private gateway's Junction inspection configuration, whose `report` is a
    /// Funnel configuration; written back whole.
    #[serde(rename_all = "camelCase")]
    VpgInspection {
        /// VPG id.
        vpg_id: String,
        /// The VPG's `name` tag, if any.
        name: Option<String>,
    },
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::GroupKey {
                group_id,
                group_name,
                namespace,
                key,
            } => {
                let name = group_name.as_deref().unwrap_or(group_id);
                write!(f, "group {name} {namespace}.{key}")
            }
            Holder::EventHandler { handler_id, name } => {
                write!(f, "event handler {}", name.as_deref().unwrap_or(handler_id))
            }
            Holder::VpgInspection { vpg_id, name } => write!(
                f,
                "VPG {} Junction inspection",
                name.as_deref().unwrap_or(vpg_id)
            ),
        }
    }
}

/// How a reference is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Shape {
    /// A plain string id (`SoracomFunnel.credentialsId`, event handler actions).
    String,
    /// An object `{"$credentialsId": "<id>"}` (`SoracomFunk.credentialsId`).
    Object,
}

/// One step into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Seg {
    /// Object member.
    Key(String),
    /// Array element.
    Index(usize),
}

/// One reference found inside a slot's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ref {
    /// Path from the slot's value to the referencing member.
    pub path: Vec<Seg>,
    /// How the id is written there.
    pub shape: Shape,
    /// The credential set id referenced.
    pub set_id: String,
}

/// A unit of configuration that references credential sets, with its current value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slot {
    /// Where it lives.
    pub holder: Holder,
    /// The value as read (the top-level key's value, or the whole handler). Never shown:
    /// beside the reference it may hold a third party's secrets (a webhook URL, a header,
    /// a password); reports carry the holder, the reference paths and the ids instead.
    #[serde(skip)]
    pub value: Value,
    /// The references inside `value`.
    pub refs: Vec<Ref>,
}

impl Slot {
    /// Whether any reference in this slot names `set_id`.
    pub(crate) fn references(&self, set_id: &str) -> bool {
        self.refs.iter().any(|r| r.set_id == set_id)
    }
}

/// An error log entry of SORACOM that says AWS refused a request's credentials: evidence
/// against a canary. Only what identifies it is kept, never the entry's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthFailure {
    /// The service that logged it (`Funnel`, `Funk`, …).
    pub service: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The AWS error it names (one of a fixed list, e.g. `UnrecognizedClientException`).
    pub error: &'static str,
    /// The resource it is about (e.g. an IMSI), if any.
    pub resource_id: Option<String>,
}

/// What a run observed for one target: the input of [`crate::plan::plan`].
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The IAM user's access keys (at most two).
    pub keys: Vec<AccessKey>,
    /// Every credential set of the operator (ids of other targets matter for id choice).
    pub sets: Vec<CredentialSet>,
    /// Slots referencing this target's sets (managed or adopted).
    pub slots: Vec<Slot>,
    /// What this tool recorded on the IAM user (cutovers, deactivations, its own keys, runs
    /// creating a key).
    pub records: crate::records::Records,
    /// Authentication failures SORACOM logged since a canary of the target moved (read
    /// only while one is recorded).
    pub auth_failures: Vec<AuthFailure>,
    /// Keys of this target's user that a set not the target's holds (as SORACOM reports
    /// it) while a holder names that set: (key, set id). Never retired.
    pub held_elsewhere: Vec<(AccessKeyId, String)>,
}

/// A group as far as rotation cares.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Its `name` tag.
    pub name: Option<String>,
    /// Configuration: namespace → object.
    pub configuration: serde_json::Map<String, serde_json::Value>,
}

/// One error log entry. Its body is only ever classified, never shown: it is SORACOM's
/// account of someone else's request and may quote anything.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// The service that wrote it (`Funnel`, `Funk`, …).
    pub service: String,
    /// When (`time`, UNIX milliseconds).
    pub at: Option<time::OffsetDateTime>,
    /// The resource it is about (e.g. an IMSI), if any.
    pub resource_id: Option<String>,
    /// The entry's `body`.
    pub body: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn managed_ids_match_exactly() {
        let p = "aws-x";
        assert_eq!(
            ManagedId::parse(p, "aws-x-220810"),
            Some(ManagedId {
                date: date!(2022 - 08 - 10),
                seq: 1
            })
        );
        assert_eq!(
            ManagedId::parse(p, "aws-x-220810-3"),
            Some(ManagedId {
                date: date!(2022 - 08 - 10),
                seq: 3
            })
        );
        for bad in [
            "aws-x-team2-221001",
            "xaws-x-220810",
            "aws-x-220810-1",
            "aws-x-220810-02",
            "aws-x-221310",
            "aws-x-22081",
            "aws-x-2208100",
            "aws-x-220810-",
            "aws-x-220810-a",
            "aws-x220810",
            "aws-x-220230",
        ] {
            assert_eq!(ManagedId::parse(p, bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_and_finds_the_next_free_id() {
        let d = date!(2026 - 11 - 28);
        assert_eq!(ManagedId { date: d, seq: 1 }.format("p"), "p-261128");
        assert_eq!(ManagedId { date: d, seq: 2 }.format("p"), "p-261128-2");
        let taken = ["p-261128", "p-261128-2"];
        assert_eq!(
            ManagedId::next_free("p", d, |id| taken.contains(&id)).as_deref(),
            Some("p-261128-3")
        );
        assert_eq!(
            ManagedId::next_free("p", d, |_| false).as_deref(),
            Some("p-261128")
        );
    }

    #[test]
    fn reads_the_link_from_the_description() {
        let key = AccessKeyId::new("AKIAIOSFODNN7EXAMPLE");
        let set = CredentialSet {
            id: "p-261128".into(),
            kind: "aws-credentials".into(),
            description: link_description(&key),
            created: None,
            updated: None,
            last_used: None,
            api_key: None,
        };
        assert_eq!(set.linked_key(), Some(key));
        let hand = CredentialSet {
            description: "made by hand".into(),
            ..set.clone()
        };
        assert_eq!(hand.linked_key(), None);
        let short = CredentialSet {
            description: "accessKeyId=AKIA".into(),
            ..set
        };
        assert_eq!(short.linked_key(), None);
    }
}
