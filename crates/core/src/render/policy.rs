//! `policy` as text: each document the tool needs, pretty-printed under a comment naming
//! what it is for.

use serde_json::Value;

use crate::policy::SpokeRole;

/// The IAM policy for the principal that `who` (`runs soracom-key-rotator`, `runs discover
/// and init`), the SORACOM SAM permission, and each spoke role to create with its trust
/// policy and permissions.
pub fn policy_documents(iam: &Value, sam: &Value, spokes: &[SpokeRole], who: &str) -> String {
    let mut text = format!(
        "# IAM policy for the principal that {who}\n{}\n\n\
         # SORACOM SAM permission for the user whose auth key it logs in with\n{}\n",
        pretty(iam),
        pretty(sam)
    );
    for s in spokes {
        text.push_str(&format!(
            "\n# Role {} to create in account {} (targets: {})\n\
             ## Trust policy\n{}\n## Permissions (inline policy)\n{}\n",
            s.role_arn,
            s.account,
            s.targets.join(", "),
            pretty(&s.trust_policy),
            pretty(&s.permissions)
        ));
    }
    text
}

/// A JSON document, pretty-printed.
fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
