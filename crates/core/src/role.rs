//! `migrate-to-role`, the pure part: from what IAM and SORACOM show, the role that replaces a
//! target's access key and what it takes to get there (docs/ARCHITECTURE.md, *Migrating to
//! a role*).
//!
//! The role trusts SORACOM's AWS account for the coverage, on condition of an external id.
//! The id is generated once ([`ExternalId::generate`]) and kept where the state already
//! lives: a tag on the role, written by the same `CreateRole` call. A rerun finds the role,
//! reads the id from the tag and adopts it; a role of that name without our tag, tagged for
//! another target, or trusting anything else is someone else's: it is reported, never
//! changed. The role gets the user's inline policies (same names, same documents) and its
//! attached managed policies; ones it already has are left as they are. Group policies
//! cannot be given to a role by attaching the group: they are named, not copied.
//!
//! The external id is treated as a secret: with the role's ARN it is all another SORACOM
//! account would need to have SORACOM assume the role. It is never printed; the trust
//! policy is shown with it redacted.

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{AccountSource, RoleTarget, Target};
use crate::model::CredentialSet;
use crate::secret::Secret;

/// The tag naming the target a role was made for (its value: the target's name).
pub const TAG_TARGET: &str = "soracom-key-rotator:target";
/// The tag keeping the role's external id.
pub const TAG_EXTERNAL_ID: &str = "soracom-key-rotator:external-id";
/// The credential type of a set that names a role instead of holding a key.
pub const ROLE_CREDENTIALS: &str = "aws-iam-role-credentials";
/// The token in a role set's description naming the role it holds (SORACOM is not known
/// to echo `credentials.roleArn`).
pub(crate) const ROLE_TOKEN: &str = "roleArn=";
/// Characters of a generated external id.
pub const EXTERNAL_ID_LEN: usize = 32;
/// What the trust policy shows where the external id is.
pub const REDACTED: &str = "[redacted]";

/// The external id a role's trust policy requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalId(pub Secret);

/// The random source had no randomness to give.
#[derive(Debug, thiserror::Error)]
#[error("no random source for the external id: {0}")]
pub struct NoRandom(pub(crate) String);

impl ExternalId {
    /// A new id: [`EXTERNAL_ID_LEN`] characters of `A-Z a-z 0-9` from `fill`, a random
    /// source (the OS's in production: about 190 bits), allowed in an IAM tag value and
    /// in `sts:ExternalId`.
    pub fn generate(
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), String>,
    ) -> Result<ExternalId, NoRandom> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        // Bytes of 248 or more are dropped so each character is equally likely; 8 rounds
        // of 64 bytes fail to give 32 characters with a probability below 10^-300.
        let mut out = String::with_capacity(EXTERNAL_ID_LEN);
        for _ in 0..8 {
            let mut buf = [0u8; 64];
            fill(&mut buf).map_err(NoRandom)?;
            for b in buf {
                if out.len() == EXTERNAL_ID_LEN {
                    return Ok(ExternalId(Secret::new(out)));
                }
                if usize::from(b) < 4 * ALPHABET.len() {
                    out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
                }
            }
        }
        if out.len() == EXTERNAL_ID_LEN {
            return Ok(ExternalId(Secret::new(out)));
        }
        Err(NoRandom(
            "the random source kept giving unusable bytes".into(),
        ))
    }
}

/// An inline policy of an IAM user: its name and its document (JSON text, decoded).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InlinePolicy {
    /// The policy's name.
    pub name: String,
    /// The policy document, as JSON text.
    pub document: String,
}

/// A managed policy attached to a user or role.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttachedPolicy {
    /// The policy's name.
    pub name: String,
    /// Its ARN (what `AttachRolePolicy` takes).
    pub arn: String,
}

/// What an IAM user may do, as far as a role can take it over.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UserPolicies {
    /// The ARN of the user's permissions boundary, if it has one: the role gets the same,
    /// or its copied policies would allow more than the user could do.
    pub boundary: Option<String>,
    /// Inline policies, by name order as IAM lists them.
    pub inline: Vec<InlinePolicy>,
    /// Attached managed policies.
    pub attached: Vec<AttachedPolicy>,
    /// The groups the user is in: their policies also apply to the user, and a role
    /// cannot be in a group.
    pub groups: Vec<String>,
}

/// An IAM role as far as migration cares. Its trust policy and tags may hold an external
/// id (docs/ARCHITECTURE.md, *Migrating to a role*), so they are [`Secret`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// The role's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The trust policy (`AssumeRolePolicyDocument`), as JSON text, decoded.
    pub trust: Secret,
    /// Its tags.
    pub tags: Vec<(String, Secret)>,
    /// Names of its inline policies.
    pub inline: Vec<String>,
    /// ARNs of its attached managed policies.
    pub attached: Vec<String>,
    /// The ARN of its permissions boundary, if any.
    pub boundary: Option<String>,
}

/// The ARN of an AWS account's root principal, as IAM writes an account id in a trust policy.
fn account_principal(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// The trust policy: SORACOM's account may assume the role with `external_id`, nothing else.
pub fn trust_policy(account: &str, external_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": account_principal(account)},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
        }]
    })
}

/// The trust policy as text, to send to IAM.
pub fn trust_document(account: &str, external_id: &ExternalId) -> Secret {
    Secret::new(trust_policy(account, external_id.0.expose()).to_string())
}

/// One value or a list of them, as IAM policies allow either.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// Whether the trust policy `document` is exactly ours: one statement that allows
/// `sts:AssumeRole` to SORACOM's `account` (its id or its root ARN, as IAM may rewrite it)
/// only with `external_id`, and nothing more.
pub fn trusts(document: &str, account: &str, external_id: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let Some(statements) = doc.get("Statement").map(one_or_many) else {
        return false;
    };
    let [s] = statements.as_slice() else {
        return false;
    };
    let is = |v: Option<&Value>, want: &[&str]| {
        v.map(one_or_many).is_some_and(|items| {
            !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|t| want.contains(&t)))
        })
    };
    let root = account_principal(account);
    let principal = s.get("Principal");
    let principal_ok = principal
        .and_then(Value::as_object)
        .is_some_and(|p| p.len() == 1 && is(p.get("AWS"), &[account, root.as_str()]));
    let condition_ok = s
        .get("Condition")
        .and_then(Value::as_object)
        .is_some_and(|c| {
            c.len() == 1
                && c.get("StringEquals")
                    .and_then(Value::as_object)
                    .is_some_and(|e| e.len() == 1 && is(e.get("sts:ExternalId"), &[external_id]))
        });
    s.get("Effect").and_then(Value::as_str) == Some("Allow")
        && is(s.get("Action"), &["sts:AssumeRole"])
        && principal_ok
        && condition_ok
        && s.get("NotPrincipal").is_none()
        && s.get("NotAction").is_none()
}

/// The description of the role this tool creates. Without spaces: moto's signature check
/// fails on form values with spaces (as it does for tag values), and the tests run with
/// signatures checked.
pub fn role_description(target: &Target) -> String {
    format!(
        "soracom-key-rotator/migrate-to-role:target={},iam-user={}:SORACOM-assumes-it-instead-of-the-user's-access-key",
        target.name, target.iam_user
    )
}

/// The description of a role set: names the role, so a rerun recognises it.
pub fn set_description(role_arn: &str) -> String {
    format!("Managed by soracom-key-rotator. {ROLE_TOKEN}{role_arn}")
}

/// The role ARN a role set's description names, if this tool wrote it.
pub fn linked_role(set: &CredentialSet) -> Option<&str> {
    let start = set.description.find(ROLE_TOKEN)? + ROLE_TOKEN.len();
    let rest = &set.description[start..];
    let arn = rest.split_whitespace().next()?;
    arn.starts_with("arn:").then_some(arn)
}

/// What happens to the role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum RoleAction {
    /// There is none: create it with a new external id.
    Create,
    /// Ours from an earlier run: keep it and its external id.
    Adopt {
        /// Its ARN.
        arn: String,
        /// Its external id (from our tag).
        #[serde(skip)]
        external_id: ExternalId,
    },
    /// A role of that name that is not ours: reported, never changed.
    Foreign {
        /// Its ARN.
        arn: String,
        /// Why it is not ours.
        reason: String,
    },
}

/// What happens to one of the user's policies on the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyAction {
    /// Put (inline) or attach (managed) it.
    Add,
    /// The role has it already (an inline policy of that name is kept as it is).
    Present,
}

/// One of the user's inline policies, copied onto the role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InlineStep {
    /// The policy's name, on the user and on the role.
    pub name: String,
    /// Its document, for showing.
    pub(crate) document: Value,
    /// Its document as IAM gave it, for putting it on the role unchanged.
    #[serde(skip)]
    pub text: String,
    /// Whether it is put.
    pub action: PolicyAction,
}

/// One of the user's managed policies, attached to the role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachStep {
    /// The policy's name.
    pub(crate) name: String,
    /// Its ARN.
    pub arn: String,
    /// Whether it is attached.
    pub action: PolicyAction,
}

/// What happens to the role set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum SetAction {
    /// No set of that id: register it.
    Create,
    /// Ours from an earlier run (an `aws-iam-role-credentials` set naming our role).
    Present,
    /// A set of that id that is not ours: reported, never changed.
    Foreign {
        /// Why it is not ours.
        reason: String,
    },
}

/// Everything `migrate-to-role` will do for one target, decided before anything is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    /// The role's name.
    pub role_name: String,
    /// SORACOM's AWS account, which the role trusts.
    pub soracom_account_id: String,
    /// Where that account id came from: the configuration, or the default of a coverage.
    pub soracom_account_source: AccountSource,
    /// What happens to the role.
    pub role: RoleAction,
    /// The trust policy, with the external id shown as [`REDACTED`].
    pub(crate) trust_policy: Value,
    /// The user's permissions boundary, which the role gets too (none: none).
    pub permissions_boundary: Option<String>,
    /// The user's inline policies.
    pub inline_policies: Vec<InlineStep>,
    /// The user's managed policies.
    pub attached_policies: Vec<AttachStep>,
    /// Groups the user is in: their policies are not copied (a role is in no group).
    pub(crate) groups_not_copied: Vec<String>,
    /// The role set's id.
    pub credential_id: String,
    /// What happens to it.
    pub credential_set: SetAction,
}

impl Migration {
    /// Why nothing may be done, if a role or set of ours is someone else's.
    pub fn refusal(&self) -> Option<String> {
        let role = match &self.role {
            RoleAction::Foreign { arn, reason } => Some(format!(
                "IAM role {} ({arn}) is not this tool's: {reason}; it was not changed (name another with role_name, or remove it)",
                self.role_name
            )),
            _ => None,
        };
        let set = match &self.credential_set {
            SetAction::Foreign { reason } => Some(format!(
                "credential set {} is not this tool's role set: {reason}; it was not changed (name another with role_credential_id)",
                self.credential_id
            )),
            _ => None,
        };
        match (role, set) {
            (Some(r), Some(s)) => Some(format!("{r}; {s}")),
            (r, s) => r.or(s),
        }
    }

    /// Whether a run would change anything.
    pub fn changes(&self) -> bool {
        self.refusal().is_none()
            && (self.role == RoleAction::Create
                || self.credential_set == SetAction::Create
                || self
                    .inline_policies
                    .iter()
                    .any(|p| p.action == PolicyAction::Add)
                || self
                    .attached_policies
                    .iter()
                    .any(|p| p.action == PolicyAction::Add))
    }
}

/// A tag's value, if the role has it.
fn tag<'r>(role: &'r Role, key: &str) -> Option<&'r Secret> {
    role.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Whether `role` is ours for `target`, and with which external id; ours only with the
/// user's permissions boundary (`boundary`), or its policies could allow more.
fn judge_role(target: &Target, account: &str, boundary: Option<&str>, role: &Role) -> RoleAction {
    let foreign = |reason: String| RoleAction::Foreign {
        arn: role.arn.clone(),
        reason,
    };
    match tag(role, TAG_TARGET).map(Secret::expose) {
        None => return foreign(format!("it has no {TAG_TARGET} tag")),
        Some(t) if t != target.name => {
            return foreign(format!("its {TAG_TARGET} tag names target {t:?}"))
        }
        Some(_) => {}
    }
    let Some(id) = tag(role, TAG_EXTERNAL_ID) else {
        return foreign(format!("it has no {TAG_EXTERNAL_ID} tag"));
    };
    if !trusts(role.trust.expose(), account, id.expose()) {
        return foreign(format!(
            "its trust policy is not exactly sts:AssumeRole by SORACOM's account {account} with the external id of its tag"
        ));
    }
    if role.boundary.as_deref() != boundary {
        return foreign(format!(
            "its permissions boundary ({}) is not the user's ({})",
            role.boundary.as_deref().unwrap_or("none"),
            boundary.unwrap_or("none")
        ));
    }
    RoleAction::Adopt {
        arn: role.arn.clone(),
        external_id: ExternalId(id.clone()),
    }
}

/// Whether the set of the role set's id (if any) is ours for the role `arn` (if known).
fn judge_set(set: Option<&CredentialSet>, arn: Option<&str>) -> SetAction {
    let Some(set) = set else {
        return SetAction::Create;
    };
    let foreign = |reason: String| SetAction::Foreign { reason };
    if set.kind != ROLE_CREDENTIALS {
        return foreign(format!("it is of type {}", set.kind));
    }
    match (linked_role(set), arn) {
        (Some(named), Some(arn)) if named == arn => SetAction::Present,
        (Some(named), _) => foreign(format!("it names role {named}")),
        (None, _) => foreign("its description names no role of this tool".into()),
    }
}

/// What `migrate-to-role` will do for `target`: a pure function of the configuration, the
/// user's policies, the role of that name (if any) and the credential sets.
pub fn plan(
    target: &Target,
    settings: &RoleTarget,
    user: &UserPolicies,
    role: Option<&Role>,
    sets: &[CredentialSet],
) -> Migration {
    let account = settings.soracom_account_id.as_str();
    let action = match role {
        None => RoleAction::Create,
        Some(r) => judge_role(target, account, user.boundary.as_deref(), r),
    };
    let arn = match &action {
        RoleAction::Adopt { arn, .. } => Some(arn.as_str()),
        _ => None,
    };
    // Only an adopted role's policies count as present: a foreign role is never judged.
    let adopted = role.filter(|_| matches!(action, RoleAction::Adopt { .. }));
    let presence = |present: bool| {
        if present {
            PolicyAction::Present
        } else {
            PolicyAction::Add
        }
    };
    let inline_policies = user
        .inline
        .iter()
        .map(|p| InlineStep {
            name: p.name.clone(),
            document: serde_json::from_str(&p.document)
                .unwrap_or_else(|_| Value::String(p.document.clone())),
            text: p.document.clone(),
            action: presence(adopted.is_some_and(|r| r.inline.contains(&p.name))),
        })
        .collect();
    let attached_policies = user
        .attached
        .iter()
        .map(|p| AttachStep {
            name: p.name.clone(),
            arn: p.arn.clone(),
            action: presence(adopted.is_some_and(|r| r.attached.contains(&p.arn))),
        })
        .collect();
    let credential_id = settings.role.credential_id.clone();
    Migration {
        role_name: settings.role.name.clone(),
        soracom_account_id: account.to_string(),
        soracom_account_source: settings.account_source,
        trust_policy: trust_policy(account, REDACTED),
        permissions_boundary: user.boundary.clone(),
        credential_set: judge_set(sets.iter().find(|s| s.id == credential_id), arn),
        role: action,
        inline_policies,
        attached_policies,
        groups_not_copied: user.groups.clone(),
        credential_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Placement, TargetRole};

    const ACCOUNT: &str = "123456789012";

    fn target() -> Target {
        Target {
            name: "funnel".into(),
            iam_user: "u".into(),
            placement: Placement::Managed { prefix: "p".into() },
            max_key_age_days: 90,
            deadline_margin_days: 3,
            retire_after_days: 7,
            delete_after_days: 7,
            settle_minutes: 60,
            adopt: vec![],
            adopt_keys: Default::default(),
            canary: None,
            role_set_id: "p-role".into(),
            account: None,
            soracom: Default::default(),
        }
    }

    fn settings() -> RoleTarget {
        RoleTarget {
            role: TargetRole {
                name: "u-role".into(),
                credential_id: "p-role".into(),
            },
            soracom_account_id: ACCOUNT.into(),
            account_source: AccountSource::Configured,
        }
    }

    fn user() -> UserPolicies {
        UserPolicies {
            boundary: None,
            inline: vec![InlinePolicy {
                name: "iot".into(),
                document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}"#.into(),
            }],
            attached: vec![AttachedPolicy {
                name: "Kinesis".into(),
                arn: "arn:aws:iam::111122223333:policy/Kinesis".into(),
            }],
            groups: vec!["ops".into()],
        }
    }

    fn role(tags: &[(&str, &str)], trust: Value) -> Role {
        Role {
            name: "u-role".into(),
            arn: "arn:aws:iam::111122223333:role/u-role".into(),
            trust: Secret::new(trust.to_string()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
            inline: vec!["iot".into()],
            attached: vec![],
            boundary: None,
        }
    }

    fn ours() -> Role {
        role(
            &[(TAG_TARGET, "funnel"), (TAG_EXTERNAL_ID, "ext-1")],
            trust_policy(ACCOUNT, "ext-1"),
        )
    }

    fn role_set(description: &str) -> CredentialSet {
        CredentialSet {
            id: "p-role".into(),
            kind: ROLE_CREDENTIALS.into(),
            description: description.into(),
            created: None,
            updated: None,
            last_used: None,
            api_key: None,
        }
    }

    /// A stand-in random source: a byte counter starting at `seed`.
    fn counter(seed: u8) -> impl FnMut(&mut [u8]) -> Result<(), String> {
        let mut n = seed;
        move |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = n;
                n = n.wrapping_add(1);
            }
            Ok(())
        }
    }

    #[test]
    fn external_ids_are_32_alphanumerics_from_the_source() {
        let a = ExternalId::generate(&mut counter(0)).map(|e| e.0.expose().to_string());
        let b = ExternalId::generate(&mut counter(7)).map(|e| e.0.expose().to_string());
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("the source gave bytes")
        };
        assert_eq!(a.len(), EXTERNAL_ID_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_eq!(&a[..5], "ABCDE");
        assert_ne!(a, b);
        assert!(!format!("{:?}", ExternalId(Secret::new(a.clone()))).contains(&a));
        // Bytes of 248 or more are skipped, so a source of only those gives no id.
        let mut high = |buf: &mut [u8]| {
            buf.fill(250);
            Ok(())
        };
        assert!(ExternalId::generate(&mut high).is_err());
        let mut broken = |_: &mut [u8]| Err("no entropy".to_string());
        let e = ExternalId::generate(&mut broken).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("no entropy"), "{e}");
    }

    #[test]
    fn the_trust_policy_is_recognised_in_every_form_iam_may_return_and_only_then() {
        let ours = trust_policy(ACCOUNT, "ext");
        assert!(trusts(&ours.to_string(), ACCOUNT, "ext"));
        // IAM may list single values or write the account as its id.
        let listed = json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":[ACCOUNT]},"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"sts:ExternalId":["ext"]}}}});
        assert!(trusts(&listed.to_string(), ACCOUNT, "ext"));
        assert!(!trusts(&ours.to_string(), ACCOUNT, "other"));
        assert!(!trusts(&ours.to_string(), "999999999999", "ext"));
        let mut extra = ours.clone();
        extra["Statement"][0]["Principal"]["AWS"] =
            json!([ACCOUNT, "arn:aws:iam::999999999999:root"]);
        assert!(!trusts(&extra.to_string(), ACCOUNT, "ext"));
        let mut two = ours.clone();
        two["Statement"] = json!([ours["Statement"][0], {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]);
        assert!(!trusts(&two.to_string(), ACCOUNT, "ext"));
        let mut no_condition = ours.clone();
        no_condition["Statement"][0]
            .as_object_mut()
            .map(|s| s.remove("Condition"));
        assert!(!trusts(&no_condition.to_string(), ACCOUNT, "ext"));
        let mut like = ours.clone();
        like["Statement"][0]["Condition"] = json!({"StringLike":{"sts:ExternalId":"*"}});
        assert!(!trusts(&like.to_string(), ACCOUNT, "ext"));
        assert!(!trusts("not json", ACCOUNT, "ext"));
    }

    #[test]
    fn no_role_means_create_everything_and_show_the_trust_redacted() {
        let m = plan(&target(), &settings(), &user(), None, &[]);
        assert_eq!(m.role, RoleAction::Create);
        assert_eq!(m.credential_set, SetAction::Create);
        assert_eq!(m.inline_policies[0].action, PolicyAction::Add);
        assert_eq!(
            m.inline_policies[0].document["Statement"][0]["Action"],
            "iot:Publish"
        );
        assert_eq!(m.attached_policies[0].action, PolicyAction::Add);
        assert_eq!(m.groups_not_copied, ["ops"]);
        assert_eq!(
            m.trust_policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            REDACTED
        );
        assert_eq!(
            m.trust_policy["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::123456789012:root"
        );
        assert!(m.changes() && m.refusal().is_none());
    }

    #[test]
    fn our_role_is_adopted_with_its_id_and_only_missing_policies_are_added() {
        let r = ours();
        let sets = [role_set(&set_description(&r.arn))];
        let m = plan(&target(), &settings(), &user(), Some(&r), &sets);
        assert_eq!(
            m.role,
            RoleAction::Adopt {
                arn: r.arn.clone(),
                external_id: ExternalId(Secret::new("ext-1"))
            }
        );
        assert_eq!(m.inline_policies[0].action, PolicyAction::Present);
        assert_eq!(m.attached_policies[0].action, PolicyAction::Add);
        assert_eq!(m.credential_set, SetAction::Present);
        assert!(m.changes());
        let serialized = serde_json::to_string(&m).unwrap_or_default();
        assert!(!serialized.contains("ext-1"), "{serialized}");
        let mut done = r.clone();
        done.attached.push(user().attached[0].arn.clone());
        assert!(!plan(&target(), &settings(), &user(), Some(&done), &sets).changes());
    }

    #[test]
    fn a_role_that_is_not_ours_is_reported_and_nothing_is_done() {
        let trust = trust_policy(ACCOUNT, "ext-1");
        let cases = [
            (role(&[], trust.clone()), TAG_TARGET),
            (
                role(
                    &[(TAG_TARGET, "other"), (TAG_EXTERNAL_ID, "ext-1")],
                    trust.clone(),
                ),
                "\"other\"",
            ),
            (
                role(&[(TAG_TARGET, "funnel")], trust.clone()),
                TAG_EXTERNAL_ID,
            ),
            (
                role(
                    &[(TAG_TARGET, "funnel"), (TAG_EXTERNAL_ID, "ext-2")],
                    trust.clone(),
                ),
                "trust policy",
            ),
        ];
        for (r, why) in cases {
            let m = plan(&target(), &settings(), &user(), Some(&r), &[]);
            let refusal = m.refusal().unwrap_or_default();
            assert!(
                refusal.contains(why) && refusal.contains("u-role"),
                "{refusal}"
            );
            assert!(!m.changes());
            // A foreign role's policies are never judged present.
            assert_eq!(m.inline_policies[0].action, PolicyAction::Add);
            assert!(!refusal.contains("ext-"), "{refusal}");
        }
    }

    #[test]
    fn a_role_without_the_users_permissions_boundary_is_not_adopted() {
        let bounded = UserPolicies {
            boundary: Some("arn:aws:iam::1:policy/boundary".into()),
            ..user()
        };
        let m = plan(&target(), &settings(), &bounded, None, &[]);
        assert_eq!(m.permissions_boundary, bounded.boundary);
        let m = plan(&target(), &settings(), &bounded, Some(&ours()), &[]);
        let refusal = m.refusal().unwrap_or_default();
        assert!(refusal.contains("permissions boundary"), "{refusal}");
        let mut same = ours();
        same.boundary = bounded.boundary.clone();
        let m = plan(&target(), &settings(), &bounded, Some(&same), &[]);
        assert!(matches!(m.role, RoleAction::Adopt { .. }));
        // A boundary on the role that the user does not have is not ours either.
        let m = plan(&target(), &settings(), &user(), Some(&same), &[]);
        assert!(m.refusal().is_some());
    }

    #[test]
    fn a_set_of_that_id_that_is_not_ours_is_reported() {
        let r = ours();
        let mut key_set = role_set("hand-made");
        key_set.kind = "aws-credentials".into();
        for (set, why) in [
            (key_set, "type aws-credentials"),
            (role_set("hand-made"), "names no role"),
            (
                role_set(&set_description("arn:aws:iam::1:role/x")),
                "arn:aws:iam::1:role/x",
            ),
        ] {
            let m = plan(&target(), &settings(), &user(), Some(&r), &[set]);
            let refusal = m.refusal().unwrap_or_default();
            assert!(
                refusal.contains(why) && refusal.contains("p-role"),
                "{refusal}"
            );
            assert!(!m.changes());
        }
        // Without a role yet, a set naming any role is not ours.
        let set = role_set(&set_description(&r.arn));
        let m = plan(&target(), &settings(), &user(), None, &[set]);
        assert!(m.refusal().is_some());
    }

    #[test]
    fn a_role_set_names_its_role_in_the_description() {
        let set = role_set(&set_description("arn:aws:iam::1:role/a/b"));
        assert_eq!(linked_role(&set), Some("arn:aws:iam::1:role/a/b"));
        assert_eq!(linked_role(&role_set("roleArn=nope")), None);
    }
}
