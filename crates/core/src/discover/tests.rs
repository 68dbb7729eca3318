//! The proposal's rules, without I/O.

use super::*;
use crate::model::{Ref, Seg, Shape};
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

fn set(id: &str, key: Option<&str>, created: OffsetDateTime) -> CredentialSet {
    CredentialSet {
        id: id.into(),
        kind: AWS_CREDENTIALS.into(),
        description: String::new(),
        created: Some(created),
        updated: Some(created),
        last_used: None,
        api_key: key.map(AccessKeyId::new),
    }
}

fn key(id: &str, days_old: i64, status: KeyStatus) -> AccessKey {
    AccessKey {
        id: AccessKeyId::new(id),
        status,
        created: NOW - time::Duration::days(days_old),
        last_used: None,
    }
}

fn group(id: &str, set: &str) -> Slot {
    Slot {
        holder: Holder::GroupKey {
            group_id: id.into(),
            group_name: None,
            namespace: "SoracomFunnel".into(),
            key: "credentialsId".into(),
        },
        value: serde_json::Value::Null,
        refs: vec![Ref {
            path: vec![Seg::Key("credentialsId".into())],
            shape: Shape::String,
            set_id: set.into(),
        }],
    }
}

const K1: &str = "AKIAAAAAAAAAAAAAAAA1";
const K2: &str = "AKIAAAAAAAAAAAAAAAA2";
const K3: &str = "AKIAAAAAAAAAAAAAAAA3";
const FOREIGN: &str = "AKIAFFFFFFFFFFFFFFFF";

fn world() -> Observation {
    let old = NOW - time::Duration::days(120);
    Observation {
        sets: vec![
            set("aws-funnel-220810", Some(K1), old),
            set(
                "aws-funnel-261001-2",
                Some(K2),
                NOW - time::Duration::days(60),
            ),
            set("funnel-by-hand", Some(K2), old),
            set("beam-prod", Some(K3), old),
            set("partner", Some(FOREIGN), old),
            set("mystery", None, old),
            CredentialSet {
                kind: "aws-iam-role-credentials".into(),
                ..set("funnel-role-creds", None, old)
            },
        ],
        users: vec![
            (
                "funnel-user".into(),
                vec![
                    key(K1, 120, KeyStatus::Active),
                    key(K2, 60, KeyStatus::Active),
                ],
            ),
            (
                "beam.user+1".into(),
                vec![key(K3, 100, KeyStatus::Inactive)],
            ),
        ],
        slots: vec![group("g1", "aws-funnel-220810"), group("g2", "partner")],
    }
}

#[test]
fn managed_ids_give_their_prefix() {
    assert_eq!(managed_prefix("aws-x-221001"), Some("aws-x"));
    assert_eq!(managed_prefix("aws-x-221001-2"), Some("aws-x"));
    assert_eq!(managed_prefix("aws-x-team2-221001"), Some("aws-x-team2"));
    assert_eq!(managed_prefix("aws-x-221001-1"), None);
    assert_eq!(managed_prefix("aws-x-221341"), None);
    assert_eq!(managed_prefix("funnel-by-hand"), None);
    assert_eq!(managed_prefix("-221001"), None);
}

#[test]
fn sets_are_grouped_by_owner_with_prefix_and_adoption() {
    let d = propose(&world(), NOW);
    let t = &d.proposal.targets;
    assert_eq!(t.len(), 2, "{t:?}");
    let beam = &t[0];
    assert_eq!(beam.iam_user, "beam.user+1");
    assert_eq!(beam.name, "beam.user-1");
    assert_eq!(
        beam.credential_prefix, "beam-prod",
        "a new prefix, matching no set"
    );
    assert!(!beam.prefix_inferred);
    assert_eq!(beam.adopt, vec!["beam-prod".to_string()]);
    let funnel = &t[1];
    assert_eq!(funnel.credential_prefix, "aws-funnel");
    assert!(funnel.prefix_inferred);
    assert_eq!(
        funnel.managed,
        vec!["aws-funnel-220810", "aws-funnel-261001-2"]
    );
    assert_eq!(funnel.adopt, vec!["funnel-by-hand".to_string()]);
    assert_eq!(
        funnel
            .adopt_keys
            .get("funnel-by-hand")
            .map(AccessKeyId::as_str),
        Some(K2)
    );
    assert_eq!(
        d.proposal.not_proposed,
        vec![
            NotProposed::OtherAccount {
                set: "partner".into(),
                key: AccessKeyId::new(FOREIGN)
            },
            NotProposed::KeyUnknown {
                set: "mystery".into()
            },
        ]
    );
    assert_eq!(d.sets.len(), 6, "only aws-credentials sets");
    let partner = d.sets.iter().find(|s| s.id == "partner");
    assert_eq!(partner.map(|s| s.holders.len()), Some(1));
}

#[test]
fn iam3_fails_active_keys_older_than_90_days_only() {
    let d = propose(&world(), NOW);
    let fails: Vec<(&str, bool)> = d
        .users
        .iter()
        .flat_map(|u| &u.keys)
        .map(|k| (k.key.id.as_str(), k.fails_iam3))
        .collect();
    assert_eq!(fails, vec![(K1, true), (K2, false), (K3, false)]);
    let doc = serde_json::to_value(&d).unwrap_or_default();
    let k = &doc["users"][0]["keys"][0];
    assert_eq!(k["id"], serde_json::json!("AKIA************AAA1"));
    assert_eq!(k["ageDays"], serde_json::json!(120));
    assert!(
        k.get("lastUsed").is_some() && k.get("last_used").is_none(),
        "{k}"
    );
}

#[test]
fn a_prefix_that_matches_someone_elses_set_is_not_proposed() {
    let mut o = world();
    // Another account's set with the same form: `aws-funnel` would own it.
    o.sets.push(set("aws-funnel-230101", Some(FOREIGN), NOW));
    let d = propose(&o, NOW);
    let funnel = d
        .proposal
        .targets
        .iter()
        .find(|t| t.iam_user == "funnel-user")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", d.proposal));
    assert_ne!(funnel.credential_prefix, "aws-funnel");
    assert!(!funnel.prefix_inferred);
    let cfg = Config::from_toml(
        &d.to_toml(Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}")),
        Path::new("t.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for t in &cfg.targets {
        assert!(!t.owns("aws-funnel-230101"), "{} owns it", t.name);
        assert!(!t.owns("partner"));
        assert!(!t.owns("mystery"));
    }
}

#[test]
fn a_prefix_whose_role_set_id_is_taken_is_not_proposed() {
    let mut o = world();
    // A role set `aws-funnel-role`: a target of prefix `aws-funnel` would watch it as its own.
    o.sets.push(CredentialSet {
        kind: "aws-iam-role-credentials".into(),
        ..set("aws-funnel-role", None, NOW)
    });
    let d = propose(&o, NOW);
    let prefix = |d: &Discovery| {
        d.proposal
            .targets
            .iter()
            .find(|t| t.iam_user == "funnel-user")
            .map(|t| t.credential_prefix.clone())
    };
    assert_ne!(prefix(&d).as_deref(), Some("aws-funnel"));
    o.sets.retain(|s| s.id != "aws-funnel-role");
    assert_eq!(prefix(&propose(&o, NOW)).as_deref(), Some("aws-funnel"));
}

#[test]
fn the_toml_is_a_valid_config_that_owns_exactly_the_proposed_sets() {
    let d = propose(&world(), NOW);
    let text = d
        .to_toml(Path::new("t.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = Config::from_toml(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.targets.len(), 2);
    for p in &d.proposal.targets {
        let t = cfg
            .targets
            .iter()
            .find(|t| t.name == p.name)
            .unwrap_or_else(|| panic!("{text}"));
        for s in &d.sets {
            let expected = p.managed.contains(&s.id) || p.adopt.contains(&s.id);
            assert_eq!(t.owns(&s.id), expected, "{} {}\n{text}", t.name, s.id);
        }
    }
    assert!(text.contains("# Not proposed"), "{text}");
    assert!(
        !text.contains(FOREIGN),
        "another account's key id is only masked:\n{text}"
    );
}

#[test]
fn nothing_to_propose_writes_nothing() {
    let o = Observation {
        sets: vec![set("partner", Some(FOREIGN), NOW)],
        ..Observation::default()
    };
    let d = propose(&o, NOW);
    assert!(matches!(
        d.to_toml(Path::new("t.toml")),
        Err(DiscoverError::NothingToPropose)
    ));
    assert!(d.render_text(None).contains("another account"));
}
