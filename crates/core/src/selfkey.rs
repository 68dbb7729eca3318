//! What `rotate-soracom-key` did: the report both binaries give. Replacing the AuthKey is
//! the `rotator` crate's (`rotator::selfkey`); its text is laid out in [`crate::render`].

use serde::Serialize;

/// What `rotate-soracom-key` did. Key ids are masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotation {
    /// `user NAME` or `root user` of operator `OP…`.
    pub user: String,
    /// Where the key is kept.
    pub store: String,
    /// The key replaced (masked).
    pub old_key: String,
    /// The key now stored (masked).
    pub new_key: String,
    /// Whether the old key was deleted.
    pub old_key_deleted: bool,
    /// The key an earlier run replaced and this run deleted (masked), if there was one.
    pub earlier_key_deleted: Option<String>,
    /// Other AuthKeys of the user (masked): neither stored nor recorded, so never deleted.
    pub other_keys: Vec<String>,
    /// What the operator must still do, if anything.
    pub warning: Option<String>,
}
