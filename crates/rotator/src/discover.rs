//! `discover`: reads what is there for [`rotator_core::discover::propose`] — every
//! `aws-credentials` set, the IAM user that owns each key a set holds (`ListUsers`, then
//! each user's `ListAccessKeys` until every key is placed), those users' keys with their
//! last use, and every holder of a set (the same walker as a run's observation).

use std::collections::BTreeSet;

use rotator_core::discover::{propose, Discovery, Observation};
use rotator_core::model::{AccessKey, CredentialSet};
use rotator_core::plan::AWS_CREDENTIALS;
use rotator_core::secret::AccessKeyId;
use time::OffsetDateTime;

use crate::error::Result;
use crate::iam::IamApi;
use crate::soracom::SoracomApi;

/// Logs in to SORACOM at `endpoint` with `key` and `read`s what is there, as the CLI
/// runs it.
pub async fn discover<I: IamApi, D: crate::soracom::Dial>(
    iam: &I,
    dial: &D,
    (endpoint, key): (crate::soracom::Endpoint, crate::soracom::AuthKey),
    settings: rotator_core::config::SoracomSettings,
    now: OffsetDateTime,
) -> Result<Discovery> {
    let soracom = dial.dial(&endpoint, key, &settings)?;
    soracom.login().await?;
    read(iam, &soracom, settings.page_size, now).await
}

/// Reads the sets, their holders and the owners of their keys. Changes nothing.
async fn read<I: IamApi, S: SoracomApi>(
    iam: &I,
    soracom: &S,
    page_size: u32,
    now: OffsetDateTime,
) -> Result<Discovery> {
    let sets = soracom.list_credentials().await?;
    let ids: BTreeSet<String> = sets
        .iter()
        .filter(|s| s.kind == AWS_CREDENTIALS)
        .map(|s| s.id.clone())
        .collect();
    let held: BTreeSet<AccessKeyId> = sets
        .iter()
        .filter(|s| s.kind == AWS_CREDENTIALS)
        .filter_map(CredentialSet::key)
        .collect();
    let walk = crate::observe::holder_slots(soracom, page_size, 1, |_, id| ids.contains(id));
    let (slots, users) = futures::join!(walk, owners(iam, &held));
    let slots = slots?.into_iter().flatten().collect();
    let observation = Observation {
        sets,
        users: users?,
        slots,
    };
    Ok(propose(&observation, now))
}

/// The users that own one of `held`, with all their keys and last use: users are read
/// until every key is placed (or there are none left).
async fn owners<I: IamApi>(
    iam: &I,
    held: &BTreeSet<AccessKeyId>,
) -> Result<Vec<(String, Vec<AccessKey>)>> {
    let mut out = Vec::new();
    if held.is_empty() {
        return Ok(out);
    }
    let mut unplaced = held.clone();
    for user in iam.list_users().await? {
        let keys = iam.key_statuses(&user).await?;
        if keys.iter().any(|(k, _)| unplaced.contains(k)) {
            for (k, _) in &keys {
                unplaced.remove(k);
            }
            out.push((user.clone(), iam.list_keys(&user).await?));
        }
        if unplaced.is_empty() {
            break;
        }
    }
    Ok(out)
}
