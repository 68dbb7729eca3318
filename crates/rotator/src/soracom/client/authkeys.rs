//! AuthKey operations of [`SoracomClient`], for `rotate-soracom-key`: who a key logs in
//! as, and listing, generating and deleting the AuthKeys of that SAM user (or of the root
//! user, through the operator paths, when the auth response names no user).
//!
//! A child of the client module so that these calls go through the same
//! [`SoracomClient::call`] (login, retries, rate limits, one error mapping) as every other.

use super::*;
use crate::error::{BodyError, StatusError};
use crate::secret::mask;

const LIST_USER_KEYS: Op = Op::idempotent(
    "listUserAuthKeys",
    "/operators/{operator_id}/users/{user_name}/auth_keys",
);
const GENERATE_USER_KEY: Op = Op::once(
    "generateUserAuthKey",
    "/operators/{operator_id}/users/{user_name}/auth_keys",
);
const DELETE_USER_KEY: Op = Op::idempotent(
    "deleteUserAuthKey",
    "/operators/{operator_id}/users/{user_name}/auth_keys/{auth_key_id}",
);
const LIST_OPERATOR_KEYS: Op =
    Op::idempotent("listOperatorAuthKeys", "/operators/{operator_id}/auth_keys");
const GENERATE_OPERATOR_KEY: Op = Op::once(
    "generateOperatorAuthKey",
    "/operators/{operator_id}/auth_keys",
);
const DELETE_OPERATOR_KEY: Op = Op::idempotent(
    "deleteOperatorAuthKey",
    "/operators/{operator_id}/auth_keys/{auth_key_id}",
);

/// Whom an AuthKey logs in as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The operator.
    pub operator_id: String,
    /// The SAM user; `None` for the root user.
    pub user_name: Option<String>,
}

impl<T: Transport> SoracomClient<T> {
    /// `POST /auth` with `key` (not necessarily this client's): proves that the key works
    /// and tells whose it is. Not retried; the caller bounds its attempts.
    pub async fn identify(&self, key: &AuthKey) -> Result<Identity> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Who {
            operator_id: String,
            user_name: Option<String>,
        }
        let body = json!({"authKeyId": key.id, "authKey": key.secret.expose()});
        let reply = self
            .send_once(AUTH, Method::Post, "/auth", &[], Some(&body), None)
            .await?;
        // The body holds a token: never quote it.
        let who: Who = serde_json::from_slice(&reply.body).map_err(|_| {
            Error::SoracomBody(BodyError {
                op: AUTH.id,
                detail: "the auth response has no operatorId".into(),
            })
        })?;
        Ok(Identity {
            operator_id: who.operator_id,
            user_name: who.user_name.filter(|u| !u.is_empty()),
        })
    }

    /// The operation (the user's or, for the root user, the operator's) and its path.
    fn route(&self, who: &Identity, user_op: Op, operator_op: Op) -> Result<(Op, String)> {
        let op = if who.user_name.is_some() {
            user_op
        } else {
            operator_op
        };
        let operator = path_segment(op.id, &who.operator_id)?;
        let path = match &who.user_name {
            Some(user) => format!(
                "/operators/{operator}/users/{}/auth_keys",
                path_segment(op.id, user)?
            ),
            None => format!("/operators/{operator}/auth_keys"),
        };
        Ok((op, path))
    }

    /// The ids of `who`'s AuthKeys (`listUserAuthKeys` / `listOperatorAuthKeys`).
    pub async fn list_auth_key_ids(&self, who: &Identity) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Item {
            auth_key_id: String,
        }
        let (op, path) = self.route(who, LIST_USER_KEYS, LIST_OPERATOR_KEYS)?;
        let reply = self.call(op, Method::Get, &path, &[], None).await?;
        let items: Vec<Item> = wire::decode(op.id, &reply.body)?;
        Ok(items.into_iter().map(|i| i.auth_key_id).collect())
    }

    /// Generates an AuthKey for `who` (`generateUserAuthKey` / `generateOperatorAuthKey`).
    /// Never retried on an ambiguous failure: the caller lists, then cleans up.
    pub async fn generate_auth_key(&self, who: &Identity) -> Result<AuthKey> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Generated {
            auth_key_id: String,
            auth_key: String,
        }
        let (op, path) = self.route(who, GENERATE_USER_KEY, GENERATE_OPERATOR_KEY)?;
        let reply = self.call(op, Method::Post, &path, &[], None).await?;
        // The body holds the new secret: never quote it.
        let g: Generated = serde_json::from_slice(&reply.body).map_err(|_| {
            Error::SoracomBody(BodyError {
                op: op.id,
                detail: "the response has no authKeyId/authKey".into(),
            })
        })?;
        tracing::info!(auth_key = %mask(&g.auth_key_id), "generated a SORACOM AuthKey");
        Ok(AuthKey {
            id: g.auth_key_id,
            secret: Secret::new(g.auth_key),
        })
    }

    /// Deletes AuthKey `key_id` of `who`; a key already gone (404) is not an error.
    pub async fn delete_auth_key(&self, who: &Identity, key_id: &str) -> Result<()> {
        let (op, keys) = self.route(who, DELETE_USER_KEY, DELETE_OPERATOR_KEY)?;
        let path = format!("{keys}/{}", path_segment(op.id, key_id)?);
        match self.call(op, Method::Delete, &path, &[], None).await {
            Ok(_) | Err(Error::SoracomStatus(StatusError { status: 404, .. })) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
