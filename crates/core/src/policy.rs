//! The least privilege the tool needs, derived from the configuration.
//!
//! One list per remote system names every operation the code calls and why; `policy`
//! prints an IAM policy scoped to the targets' users and a SORACOM SAM permission built
//! from these lists, and the tests assert that every call the tool makes is on them. A
//! new remote call must be added here, or those tests fail.

use serde_json::{json, Value};

use crate::config::{AssumeRole, Config, Strategy, Target};

/// An operation the tool performs, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The IAM action (`iam:CreateAccessKey`) or SAM API name (`Credential:createCredential`).
    pub name: &'static str,
    /// Why the tool calls it.
    pub(crate) why: &'static str,
    /// Needed only when a target uses the in-place strategy.
    pub(crate) in_place_only: bool,
}

const fn p(name: &'static str, why: &'static str) -> Permission {
    Permission {
        name,
        why,
        in_place_only: false,
    }
}

/// IAM actions on the targets' users. `sts:GetCallerIdentity` needs no permission.
pub const IAM: &[Permission] = &[
    p("iam:ListAccessKeys", "observe the user's keys"),
    p(
        "iam:GetAccessKeyLastUsed",
        "evidence of use before retiring a key",
    ),
    p("iam:CreateAccessKey", "rotate"),
    p(
        "iam:UpdateAccessKey",
        "deactivate a retired key, or the new key on rollback",
    ),
    p(
        "iam:DeleteAccessKey",
        "delete a retired, orphaned or rolled-back key",
    ),
    p("iam:ListUserTags", "read when a key was deactivated"),
    p("iam:TagUser", "record when a key was deactivated"),
    p(
        "iam:UntagUser",
        "forget that record once the key is deleted",
    ),
];

/// IAM actions `migrate-to-role` needs on top of [`IAM`] (docs/ARCHITECTURE.md,
/// *Migrating to a role*): reading what the target's user may do, on the users; making the
/// role, on the roles of [`crate::config::TargetRole`]. Printed only when asked
/// (`policy --migrate`) or for a configuration that sets `[soracom] aws_account_id`: a
/// principal that may create roles and put policies on them may give itself more, so the
/// rotation's policy leaves them out.
pub(crate) const MIGRATION_USER: &[Permission] = &[
    p(
        "iam:GetUser",
        "the user's permissions boundary, for the role",
    ),
    p(
        "iam:ListUserPolicies",
        "the user's inline policies, to copy",
    ),
    p("iam:GetUserPolicy", "their documents"),
    p(
        "iam:ListAttachedUserPolicies",
        "the user's managed policies, to attach",
    ),
    p(
        "iam:ListGroupsForUser",
        "name the groups whose policies are not copied",
    ),
];

/// IAM actions `migrate-to-role` needs on the targets' roles.
pub(crate) const MIGRATION_ROLE: &[Permission] = &[
    p("iam:GetRole", "find the role an earlier run made"),
    p(
        "iam:CreateRole",
        "create the role with its trust policy (and the user's permissions boundary)",
    ),
    p(
        "iam:TagRole",
        "CreateRole with tags: the target and the external id",
    ),
    p("iam:ListRolePolicies", "which inline policies the role has"),
    p(
        "iam:ListAttachedRolePolicies",
        "which managed policies it has",
    ),
    p("iam:PutRolePolicy", "copy an inline policy"),
    p("iam:AttachRolePolicy", "attach a managed policy"),
];

/// IAM actions `discover` and `init` need, on every user of the account (they look for the
/// owner of each key SORACOM holds): printed by `policy --discover`, for the person who runs
/// them once; the scheduled rotation never needs them.
pub(crate) const DISCOVERY: &[Permission] = &[
    p("iam:ListUsers", "find the user that owns each key"),
    p("iam:ListAccessKeys", "each user's keys"),
    p(
        "iam:GetAccessKeyLastUsed",
        "the owners' keys' last use, for the report",
    ),
];

/// SORACOM SAM API names `discover` and `init` need: reading only.
pub(crate) const SORACOM_DISCOVERY: &[&str] = &[
    "Credential:listCredentials",
    "Group:listGroups",
    "EventHandler:listEventHandlers",
    "VirtualPrivateGateway:listVirtualPrivateGateways",
];

/// SORACOM SAM API names (`<tag>:<operationId>`). `Auth:auth` is how the tool logs in.
pub(crate) const SORACOM: &[Permission] = &[
    p("Credential:listCredentials", "observe credential sets"),
    p(
        "Credential:createCredential",
        "register a new key (repoint strategy)",
    ),
    Permission {
        name: "Credential:updateCredential",
        why: "swap the key of a set (in-place strategy)",
        in_place_only: true,
    },
    p(
        "Credential:deleteCredential",
        "delete a retired or rolled-back set",
    ),
    p("Group:listGroups", "find references in group configuration"),
    p(
        "Group:putConfigurationParameters",
        "repoint a group's reference",
    ),
    p(
        "EventHandler:listEventHandlers",
        "find references in event handlers",
    ),
    p(
        "EventHandler:getEventHandler",
        "read an event handler again right before repointing it",
    ),
    p(
        "EventHandler:updateEventHandler",
        "repoint an event handler's reference",
    ),
    p(
        "VirtualPrivateGateway:listVirtualPrivateGateways",
        "find references in VPGs' Junction inspection",
    ),
    p(
        "VirtualPrivateGateway:getVirtualPrivateGateway",
        "read a VPG again right before repointing its inspection report",
    ),
    p(
        "VirtualPrivateGateway:setInspectionConfiguration",
        "repoint a VPG's Junction inspection report",
    ),
    p(
        "Log:getLogs",
        "judge a canary: AWS refusals in SORACOM's error logs",
    ),
];

/// SORACOM SAM API names `rotate-soracom-key` needs on top of [`SORACOM`]: the `User:`
/// operations for a SAM user's own AuthKeys, the `Operator:` ones for the root user's.
pub(crate) const SORACOM_SELF_ROTATION: &[Permission] = &[
    p(
        "User:listUserAuthKeys",
        "find a key a failed generate call left",
    ),
    p("User:generateUserAuthKey", "rotate-soracom-key"),
    p("User:deleteUserAuthKey", "delete the replaced AuthKey"),
    p(
        "Operator:listOperatorAuthKeys",
        "as above, when the tool logs in as the root user",
    ),
    p(
        "Operator:generateOperatorAuthKey",
        "as above, when the tool logs in as the root user",
    ),
    p(
        "Operator:deleteOperatorAuthKey",
        "as above, when the tool logs in as the root user",
    ),
];

fn needed<'a>(list: &'a [Permission], config: &Config) -> impl Iterator<Item = &'a Permission> {
    let in_place = config
        .targets
        .iter()
        .any(|t| t.strategy() == Strategy::InPlace);
    list.iter().filter(move |p| in_place || !p.in_place_only)
}

/// The statements that let a principal rotate the keys of `targets` in `account`, and
/// (when the configuration can migrate) make their roles.
fn statements(config: &Config, targets: &[&Target], account: &str, migration: bool) -> Vec<Value> {
    let mut users: Vec<String> = targets
        .iter()
        .map(|t| format!("arn:aws:iam::{account}:user/{}", t.iam_user))
        .collect();
    users.sort();
    users.dedup();
    if users.is_empty() {
        return Vec::new();
    }
    let mut statements = vec![json!({
        "Sid": "RotateSoracomKeys",
        "Effect": "Allow",
        "Action": needed(IAM, config).map(|p| p.name).collect::<Vec<_>>(),
        "Resource": users,
    })];
    if migration || config.roles.soracom_account_id.is_some() {
        let mut roles: Vec<String> = targets
            .iter()
            .filter_map(|t| config.roles.targets.get(&t.name))
            .map(|r| format!("arn:aws:iam::{account}:role/{}", r.name))
            .collect();
        roles.sort();
        statements.push(json!({
            "Sid": "MigrateToRoleReadUsers",
            "Effect": "Allow",
            "Action": MIGRATION_USER.iter().map(|p| p.name).collect::<Vec<_>>(),
            "Resource": users,
        }));
        statements.push(json!({
            "Sid": "MigrateToRoleMakeRoles",
            "Effect": "Allow",
            "Action": MIGRATION_ROLE.iter().map(|p| p.name).collect::<Vec<_>>(),
            "Resource": roles,
        }));
    }
    statements
}

/// The IAM policy for the tool's own principal (the *hub*): the actions above on each
/// user of a target in its own account (`account`: its id, or `*`), and `sts:AssumeRole`
/// on exactly the roles of the targets in other accounts (`assume_role_arn`).
pub fn iam_policy(config: &Config, account: &str, migration: bool) -> Value {
    let own: Vec<&Target> = config
        .targets
        .iter()
        .filter(|t| t.account.is_none())
        .collect();
    let mut statements = statements(config, &own, account, migration);
    let mut roles: Vec<&str> = config
        .targets
        .iter()
        .filter_map(|t| t.account.as_ref().map(|r| r.arn.as_str()))
        .collect();
    roles.sort_unstable();
    roles.dedup();
    if !roles.is_empty() {
        statements.push(json!({
            "Sid": "AssumeSpokeRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": roles,
        }));
    }
    json!({
        "Version": "2012-10-17",
        "Statement": statements,
    })
}

/// A role to create in another AWS account (a *spoke*) for the targets whose
/// `assume_role_arn` names it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpokeRole {
    /// The spoke account's id.
    pub(crate) account: String,
    /// The role's ARN, as configured.
    pub(crate) role_arn: String,
    /// The targets it serves.
    pub(crate) targets: Vec<String>,
    /// Its trust policy: the hub account's principals, with the external id if one is
    /// configured.
    pub(crate) trust_policy: Value,
    /// Its permissions: the per-user policy, on the spoke account's users.
    pub(crate) permissions: Value,
}

/// The spoke roles the configuration names, one per role ARN, in ARN order. `hub` is the
/// hub's account id (the trust policy's principal), or `*` for a placeholder to fill in.
pub fn spoke_roles(config: &Config, hub: &str, migration: bool) -> Vec<SpokeRole> {
    let mut roles: Vec<&AssumeRole> = config
        .targets
        .iter()
        .filter_map(|t| t.account.as_ref())
        .collect();
    roles.sort_by(|a, b| a.arn.cmp(&b.arn));
    roles.dedup_by(|a, b| a.arn == b.arn);
    let principal = if hub == "*" {
        "arn:aws:iam::<HUB_ACCOUNT_ID>:root".to_string()
    } else {
        format!("arn:aws:iam::{hub}:root")
    };
    roles
        .into_iter()
        .map(|role| {
            let served: Vec<&Target> = config
                .targets
                .iter()
                .filter(|t| t.account.as_ref().is_some_and(|r| r.arn == role.arn))
                .collect();
            let mut trust = json!({
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole",
            });
            // Targets sharing a role share its external id too (the first one's is asked).
            if let Some(id) = served
                .iter()
                .find_map(|t| t.account.as_ref().and_then(|r| r.external_id.clone()))
            {
                trust["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
            }
            SpokeRole {
                account: role.account_id().to_string(),
                role_arn: role.arn.clone(),
                targets: served.iter().map(|t| t.name.clone()).collect(),
                trust_policy: json!({"Version": "2012-10-17", "Statement": [trust]}),
                permissions: json!({
                    "Version": "2012-10-17",
                    "Statement": statements(config, &served, role.account_id(), migration),
                }),
            }
        })
        .collect()
}

/// The SORACOM SAM permission for the user whose auth key the tool logs in with: the
/// rotation's operations, and (for `rotate-soracom-key`) its own auth keys only — the root
/// user needs no permission, so the `Operator:` operations are not listed.
pub fn sam_permission(config: &Config) -> Value {
    let own_keys: Vec<&str> = SORACOM_SELF_ROTATION
        .iter()
        .map(|p| p.name)
        .filter(|n| n.starts_with("User:"))
        .collect();
    json!({
        "statements": [
            {
                "effect": "allow",
                "api": needed(SORACOM, config).map(|p| p.name).collect::<Vec<_>>(),
            },
            {
                "effect": "allow",
                "api": own_keys,
                "condition": "pathVariable('user_name') == samUserName",
            }
        ]
    })
}

/// The IAM policy `discover` and `init` need (`policy --discover`): reading every user's
/// keys in `account` (or `*`); no configuration is needed.
pub fn discovery_policy(account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DiscoverSoracomKeys",
            "Effect": "Allow",
            "Action": DISCOVERY.iter().map(|p| p.name).collect::<Vec<_>>(),
            "Resource": [format!("arn:aws:iam::{account}:user/*")],
        }]
    })
}

/// The SORACOM SAM permission `discover` and `init` need: listing only.
pub fn discovery_sam_permission() -> Value {
    json!({
        "statements": [{"effect": "allow", "api": SORACOM_DISCOVERY}]
    })
}

/// Whether the IAM action (`CreateAccessKey` or `iam:CreateAccessKey`) is on a list.
pub fn allows_iam(action: &str) -> bool {
    let full = if action.contains(':') {
        action.to_string()
    } else {
        format!("iam:{action}")
    };
    IAM.iter()
        .chain(MIGRATION_USER)
        .chain(MIGRATION_ROLE)
        .chain(DISCOVERY)
        .any(|p| p.name == full)
}

/// Whether the SORACOM operationId (`createCredential`) is on a list.
pub fn allows_soracom(operation_id: &str) -> bool {
    SORACOM
        .iter()
        .chain(SORACOM_SELF_ROTATION)
        .any(|p| p.name.split_once(':').map(|(_, op)| op) == Some(operation_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(soracom: &str) -> Config {
        let text = format!(
            "[soracom]\n{soracom}\n[[targets]]\nname = \"a\"\niam_user = \"u\"\ncredential_prefix = \"p\"\n"
        );
        Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn migration_permissions_are_printed_for_a_config_that_can_migrate() {
        let plain = iam_policy(&config(""), "123456789012", false);
        assert_eq!(plain["Statement"].as_array().map(Vec::len), Some(1));
        // Asked for, or for a configuration that names SORACOM's account.
        let asked = iam_policy(&config(""), "123456789012", true);
        assert_eq!(asked["Statement"].as_array().map(Vec::len), Some(3));
        let doc = iam_policy(
            &config("aws_account_id = \"111122223333\""),
            "123456789012",
            false,
        );
        let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
        assert_eq!(statements.len(), 3);
        assert_eq!(
            statements[1]["Resource"],
            json!(["arn:aws:iam::123456789012:user/u"])
        );
        assert_eq!(
            statements[2]["Resource"],
            json!(["arn:aws:iam::123456789012:role/u-role"])
        );
        assert!(statements[2]["Action"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("iam:CreateRole"))));
        for action in ["CreateRole", "iam:GetUserPolicy", "ListAccessKeys"] {
            assert!(allows_iam(action), "{action}");
        }
        assert!(!allows_iam("DeleteRole"));
    }

    #[test]
    fn discovery_permissions_read_only() {
        let doc = discovery_policy("123456789012");
        assert_eq!(
            doc["Statement"][0]["Resource"],
            json!(["arn:aws:iam::123456789012:user/*"])
        );
        assert!(allows_iam("ListUsers"));
        for api in SORACOM_DISCOVERY {
            assert!(SORACOM.iter().any(|p| p.name == *api), "{api}");
        }
    }

    #[test]
    fn the_hub_may_assume_exactly_the_spoke_roles_and_each_spoke_role_is_described() {
        let text = "[[targets]]\nname = \"a\"\niam_user = \"u\"\ncredential_prefix = \"p\"\n\
            [[targets]]\nname = \"b\"\niam_user = \"v\"\ncredential_prefix = \"q\"\n\
            assume_role_arn = \"arn:aws:iam::222233334444:role/rotator\"\nexternal_id = \"ext-1\"\n";
        let config = Config::from_toml(text, std::path::Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let hub = iam_policy(&config, "111122223333", false);
        let statements = hub["Statement"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            statements[0]["Resource"],
            json!(["arn:aws:iam::111122223333:user/u"])
        );
        assert_eq!(statements[1]["Action"], json!("sts:AssumeRole"));
        assert_eq!(
            statements[1]["Resource"],
            json!(["arn:aws:iam::222233334444:role/rotator"])
        );
        let spokes = spoke_roles(&config, "111122223333", false);
        assert_eq!(spokes.len(), 1);
        let s = &spokes[0];
        assert_eq!(
            (s.account.as_str(), s.targets.clone()),
            ("222233334444", vec!["b".to_string()])
        );
        let trust = &s.trust_policy["Statement"][0];
        assert_eq!(
            trust["Principal"]["AWS"],
            json!("arn:aws:iam::111122223333:root")
        );
        assert_eq!(
            trust["Condition"]["StringEquals"]["sts:ExternalId"],
            json!("ext-1")
        );
        assert_eq!(
            s.permissions["Statement"][0]["Resource"],
            json!(["arn:aws:iam::222233334444:user/v"])
        );
        assert!(s.permissions["Statement"][0]["Action"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("iam:CreateAccessKey"))));
    }
}
