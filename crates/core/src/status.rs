//! `status`: what each target looks like now — keys, sets, references, what is due and
//! when, and compliance findings.
//!
//! Built from the same observation and [`resolve`](fn@crate::plan::resolve) as every command, so it
//! shows exactly what `reconcile` would act on. The JSON form is a stable, documented
//! shape (docs/STATUS.md); field names only ever get added. Its text is laid out in
//! [`crate::render`].

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::{Strategy, Target};
use crate::model::{Holder, KeyStatus, LastUsed, Observed, Slot};
use crate::plan::{
    plan, resolve, Blocked, CanaryState, KeyDeadline, KeyState, Link, Migration, Mode, Note,
    Upcoming,
};
use crate::report::KeyMetrics;
use crate::secret::AccessKeyId;
use crate::wording::{self, describe};

/// Security Hub IAM.3 fails active access keys older than this.
pub(crate) const IAM3_MAX_AGE_DAYS: i64 = 90;

/// One access key of the target's user.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyInfo {
    /// Masked key id.
    pub(crate) id: AccessKeyId,
    /// `active` or `inactive`.
    pub(crate) status: KeyStatus,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created: OffsetDateTime,
    /// Whole days since creation.
    pub(crate) age_days: i64,
    /// Last use according to IAM.
    pub(crate) last_used: Option<LastUsed>,
    /// The owned set holding it (or that held it, for an in-place previous key).
    pub(crate) set: Option<String>,
    /// When this tool deactivated it, if recorded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) deactivated: Option<OffsetDateTime>,
    /// When the last reference left the set holding it (its cutover), if recorded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) released: Option<OffsetDateTime>,
}

/// One credential set owned by the target. Not the listed `CredentialSet` itself: its
/// description holds the full access key id, which output shows only masked (in `link`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetInfo {
    /// Set id.
    pub(crate) id: String,
    /// Credential type.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) created: Option<OffsetDateTime>,
    /// Last update.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) updated: Option<OffsetDateTime>,
    /// Last use by SORACOM.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_used: Option<OffsetDateTime>,
    /// Which key it holds and how that is known.
    pub(crate) link: Link,
    /// The state of that key.
    pub(crate) key_state: KeyState,
    /// Whether it is the set in use.
    pub(crate) current: bool,
    /// Where it is referenced (`group test-1 SoracomFunnel.credentialsId`, …).
    pub(crate) references: Vec<String>,
}

/// A compliance finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Finding {
    /// `IAM.3` (Security Hub), `ROLE_CREDENTIALS` or `ROLE_CREDENTIALS_UNVERIFIED` (advice).
    pub(crate) code: String,
    /// `fail` or `advice`.
    pub(crate) severity: String,
    /// What and why.
    pub(crate) message: String,
}

/// The status of one target.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// Target name.
    pub(crate) target: String,
    /// IAM user.
    pub(crate) iam_user: String,
    /// `repoint` or `in-place`.
    pub(crate) strategy: Strategy,
    /// The set in use.
    pub(crate) current_set: Option<String>,
    /// The user's keys.
    pub(crate) keys: Vec<KeyInfo>,
    /// The target's credential sets, oldest first.
    pub(crate) sets: Vec<SetInfo>,
    /// What `reconcile` would do now.
    pub(crate) due_now: Vec<String>,
    /// What becomes due later, soonest first.
    pub(crate) next: Vec<Upcoming>,
    /// Old keys kept because they were used after cutover.
    #[serde(serialize_with = "crate::words::worded_all")]
    pub(crate) blocked: Vec<Blocked>,
    /// The canary cutover under way: its stage, evidence so far and what comes next.
    #[serde(serialize_with = "crate::words::worded_option")]
    pub(crate) canary: Option<CanaryState>,
    /// The move onto the target's role set (`migrated` once no reference is on a key).
    #[serde(serialize_with = "crate::words::worded_option")]
    pub(crate) migration: Option<Migration>,
    /// Compliance findings.
    pub(crate) compliance: Vec<Finding>,
    /// Other things worth knowing.
    #[serde(serialize_with = "crate::words::worded_all")]
    pub(crate) notes: Vec<Note>,
    /// Every active key's deadline: when its rotation starts, when its deactivation is
    /// due, the slack, and the risk of missing it.
    #[serde(serialize_with = "crate::words::worded_all")]
    pub(crate) deadlines: Vec<KeyDeadline>,
    /// The figures the target is watched by.
    pub(crate) metrics: KeyMetrics,
}

/// `status` for every target.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The time the status was computed for.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// One entry per target that could be observed.
    pub targets: Vec<TargetStatus>,
    /// Targets that could not be observed.
    pub errors: Vec<TargetError>,
}

/// A target that could not be observed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetError {
    /// Target name.
    pub target: String,
    /// What failed.
    pub error: String,
}

/// The status of one target at `now`. Pure.
pub fn status(target: &Target, obs: &Observed, now: OffsetDateTime) -> TargetStatus {
    let view = resolve(target, obs, now);
    let p = plan(target, obs, now, Mode::Reconcile);
    let holder = |k: &AccessKeyId| {
        view.sets
            .iter()
            .find(|s| s.link.key() == Some(k) || s.previous.as_ref() == Some(k))
            .map(|s| s.set.id.clone())
    };
    let keys: Vec<KeyInfo> = obs
        .keys
        .iter()
        .map(|k| KeyInfo {
            id: k.id.clone(),
            status: k.status,
            created: k.created,
            age_days: (now - k.created).whole_days(),
            last_used: k.last_used.clone(),
            set: holder(&k.id),
            deactivated: obs.records.deactivated.get(&k.id).copied(),
            released: obs.records.released.get(&k.id).copied(),
        })
        .collect();
    let mut compliance: Vec<Finding> = keys
        .iter()
        .filter(|k| {
            k.status == KeyStatus::Active && now - k.created > Duration::days(IAM3_MAX_AGE_DAYS)
        })
        .map(|k| Finding {
            code: "IAM.3".into(),
            severity: "fail".into(),
            message: wording::iam3_finding(&k.id, k.age_days, IAM3_MAX_AGE_DAYS),
        })
        .collect();
    compliance.extend(role_advice(target, obs));
    let mut next = p.upcoming.clone();
    next.sort_by_key(|u| u.due);
    TargetStatus {
        target: target.name.clone(),
        iam_user: target.iam_user.clone(),
        strategy: target.strategy(),
        current_set: view.current_set().map(|c| c.set.id.clone()),
        keys,
        sets: view
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| SetInfo {
                id: s.set.id.clone(),
                kind: s.set.kind.clone(),
                created: s.set.created,
                updated: s.set.updated,
                last_used: s.set.last_used,
                link: s.link.clone(),
                key_state: s.key_state,
                current: Some(i) == view.current,
                references: s.references.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        due_now: p.steps().map(describe).collect(),
        next,
        blocked: p.blocked.clone(),
        canary: p.canary.clone(),
        migration: p.migration.clone(),
        compliance,
        notes: p.notes.clone(),
        metrics: KeyMetrics::of(&p.deadlines, &[], now),
        deadlines: p.deadlines,
    }
}

/// Whether SORACOM documents that `holder` accepts `aws-iam-role-credentials` in place of
/// a key. Documented: the event handler's `InvokeAWSLambdaAction` (the spec's
/// `ActionConfigProperty`, and SORACOM's blog of 2020-10-13). Funnel and Funk: no source
/// either way, so they are only ever worth a probe, never advised as certain.
fn role_documented(holder: &Holder) -> bool {
    matches!(holder, Holder::EventHandler { .. })
}

/// Advice on role credentials, which need no access key: for the references SORACOM
/// documents as accepting them, and separately, as something to try on one reference
/// first, for the others.
fn role_advice(target: &Target, obs: &Observed) -> Vec<Finding> {
    let (documented, others): (Vec<&Slot>, Vec<&Slot>) =
        obs.slots.iter().partition(|s| role_documented(&s.holder));
    let mut out = Vec::new();
    if !documented.is_empty() {
        out.push(Finding {
            code: "ROLE_CREDENTIALS".into(),
            severity: "advice".into(),
            message: wording::role_advice(others.is_empty(), &target.name),
        });
    }
    if !others.is_empty() {
        let mut holders: Vec<String> = others.iter().map(|s| holder_kind(&s.holder)).collect();
        holders.sort();
        holders.dedup();
        let funk = others.iter().any(|s| {
            matches!(&s.holder, Holder::GroupKey { namespace, .. } if namespace == "SoracomFunk")
        });
        out.push(Finding {
            code: "ROLE_CREDENTIALS_UNVERIFIED".into(),
            severity: "advice".into(),
            message: wording::role_probe_advice(&holders, funk, &target.name),
        });
    }
    out
}

/// The kind of a holder, for advice: the group's namespace, or "event handlers".
fn holder_kind(holder: &Holder) -> String {
    match holder {
        Holder::GroupKey { namespace, .. } => format!("{namespace} (groups)"),
        Holder::EventHandler { .. } => "event handlers".into(),
        Holder::VpgInspection { .. } => "VPG Junction inspection".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Placement;

    fn target() -> Target {
        Target {
            canary: None,
            role_set_id: "p-role".into(),
            account: None,
            soracom: Default::default(),
            name: "t".into(),
            iam_user: "u".into(),
            placement: Placement::Managed { prefix: "p".into() },
            max_key_age_days: 90,
            retire_after_days: 7,
            delete_after_days: 7,
            settle_minutes: 60,
            deadline_margin_days: 3,
            adopt: Vec::new(),
            adopt_keys: Default::default(),
        }
    }

    fn slot(holder: Holder) -> Slot {
        Slot {
            holder,
            value: serde_json::Value::Null,
            refs: Vec::new(),
        }
    }

    fn group(namespace: &str) -> Slot {
        slot(Holder::GroupKey {
            group_id: "g".into(),
            group_name: None,
            namespace: namespace.into(),
            key: "credentialsId".into(),
        })
    }

    fn handler() -> Slot {
        slot(Holder::EventHandler {
            handler_id: "h".into(),
            name: None,
        })
    }

    fn codes(slots: Vec<Slot>) -> Vec<String> {
        let obs = Observed {
            slots,
            ..Default::default()
        };
        role_advice(&target(), &obs)
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    /// A target of two keys (the old one used after its cutover, the current one old
    /// enough to fail IAM.3), two sets, a group on the current one: text of every kind.
    fn report() -> StatusReport {
        use crate::model::{link_description, CredentialSet, Ref, Shape};
        use time::macros::datetime;
        let now = datetime!(2027-02-24 20:46:43.978099 UTC);
        let key = |id: &str, days: i64, used: Option<i64>| crate::model::AccessKey {
            id: AccessKeyId::new(id),
            status: KeyStatus::Active,
            created: now - Duration::days(days) + Duration::seconds(7),
            last_used: used.map(|d| LastUsed {
                at: now - Duration::days(d) + Duration::nanoseconds(292_155_248),
                service: "s3".into(),
                region: "ap-northeast-1".into(),
            }),
        };
        let set = |id: &str, k: &str, days: i64| CredentialSet {
            id: id.into(),
            kind: "aws-credentials".into(),
            description: link_description(&AccessKeyId::new(k)),
            created: Some(now - Duration::days(days)),
            updated: None,
            last_used: None,
            api_key: None,
        };
        let (k1, k2) = ("AKIAAAAAAAAAAAAAAAA1", "AKIAAAAAAAAAAAAAAAA2");
        let mut on_new = group("SoracomFunnel");
        on_new.refs = vec![Ref {
            path: vec![],
            shape: Shape::String,
            set_id: "p-261120".into(),
        }];
        let obs = Observed {
            keys: vec![key(k1, 180, Some(1)), key(k2, 96, None)],
            sets: vec![set("p-260801", k1, 180), set("p-261120", k2, 96)],
            slots: vec![on_new, handler()],
            records: crate::records::Records {
                released: [(AccessKeyId::new(k1), now - Duration::days(90))]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            ..Default::default()
        };
        StatusReport {
            now,
            targets: vec![status(&target(), &obs, now)],
            errors: Vec::new(),
        }
    }

    /// Status as text names no Rust type, shows times to the minute with their zone, lays
    /// its tables within the width it is given, and points a key kept in use to its runbook.
    #[test]
    fn status_text_is_in_words_to_the_minute_and_fits() {
        let r = report();
        let text = r.render_text(None);
        assert!(text.contains("target t: IAM user u, repoint\n"), "{text}");
        for rust in ["Repoint", "InPlace", "Active", "Missing", "Some(", "None"] {
            assert!(!text.contains(rust), "{rust}: {text}");
        }
        assert!(text.contains("2027-02-24 20:46 UTC"), "{text}");
        // No RFC 3339 time (a `T` between date and time), no seconds or fractions.
        for line in text.lines() {
            let b = line.as_bytes();
            let rfc3339 = b
                .windows(13)
                .any(|w| w[4] == b'-' && w[7] == b'-' && w[10] == b'T');
            assert!(!rfc3339, "{line}");
            assert!(!line.contains(":43") && !line.contains(".978"), "{line}");
        }
        assert!(
            text.contains("see docs/runbooks.md#an-old-key-was-used-after-its-cutover"),
            "{text}"
        );
        assert!(text.contains("\n  FAIL:"), "{text}");
        // Wide enough, a row is a line; at 80 columns nothing goes past the edge.
        let wide = r.render_text(None);
        assert!(wide.lines().any(|l| l.chars().count() > 80), "{wide}");
        let narrow = r.render_text(Some(80));
        for line in narrow.lines() {
            assert!(line.chars().count() <= 80, "{line:?}\n{narrow}");
        }
        // JSON keeps RFC 3339 with the fields' precision.
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["now"], "2027-02-24T20:46:43.978099Z");
    }

    /// Roles are advised only where SORACOM documents them; elsewhere only a probe.
    #[test]
    fn role_credentials_are_advised_only_where_documented() {
        assert!(codes(Vec::new()).is_empty());
        assert_eq!(codes(vec![handler()]), ["ROLE_CREDENTIALS"]);
        assert_eq!(
            codes(vec![group("SoracomFunnel"), group("SoracomFunk")]),
            ["ROLE_CREDENTIALS_UNVERIFIED"]
        );
        assert_eq!(
            codes(vec![handler(), group("SoracomFunnel")]),
            ["ROLE_CREDENTIALS", "ROLE_CREDENTIALS_UNVERIFIED"]
        );
        let obs = Observed {
            slots: vec![handler(), group("SoracomFunnel"), group("SoracomFunnel")],
            ..Default::default()
        };
        let advice = role_advice(&target(), &obs);
        assert!(
            advice[0].message.starts_with("some references"),
            "{}",
            advice[0].message
        );
        assert!(
            advice[1]
                .message
                .starts_with("SoracomFunnel (groups) may take role credentials"),
            "{}",
            advice[1].message
        );
        // Both point to the command that makes the role; the unverified one to its canary.
        for a in &advice {
            assert!(
                a.message.contains("migrate-to-role --target t"),
                "{}",
                a.message
            );
        }
        assert!(
            advice[1].message.contains("canary"),
            "{}",
            advice[1].message
        );
        assert!(!advice[0].message.contains("SORACOM gives you"));
        // One short line each, pointing to its runbook entry.
        for (a, entry) in advice.iter().zip([
            wording::runbook::ROLE_CREDENTIALS,
            wording::runbook::ROLE_CREDENTIALS_UNVERIFIED,
        ]) {
            assert!(a.message.ends_with(entry), "{}", a.message);
            assert!(a.message.split_whitespace().count() <= 30, "{}", a.message);
        }
        // Funk's probe cites the SORACOM Labs example and still goes through a canary.
        let obs = Observed {
            slots: vec![group("SoracomFunk")],
            ..Default::default()
        };
        let funk = &role_advice(&target(), &obs)[0].message;
        assert!(
            funk.contains("SORACOM Labs") && funk.contains("canary"),
            "{funk}"
        );
        assert!(
            !advice[1].message.contains("SORACOM Labs"),
            "{}",
            advice[1].message
        );
    }
}
