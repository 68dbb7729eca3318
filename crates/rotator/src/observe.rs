//! Observation, the first step of every run: what IAM and SORACOM say now.
//!
//! One listing of credential sets, every page of groups and the event handlers serves all
//! the targets an engine is given — one group of a run: targets in one AWS account with one
//! SORACOM operator ([`crate::invoke`] makes the groups); each target's keys (with their last use) and the tool's records on its IAM user
//! are read at the same time. Only slots that reference a target's own `aws-credentials`
//! sets are kept, so memory does not grow with groups that do not matter; of slots naming
//! another set that holds a key SORACOM names, only that set's id and key are kept (a key a
//! holder uses through a set not the target's is never retired).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::config::Target;
use crate::error::{Error, Result};
use crate::iam::IamApi;
use crate::model::{AuthFailure, CredentialSet, Group, Observed, Slot};
use crate::plan::AWS_CREDENTIALS;
use crate::records::Records;
use crate::refs::{group_slots, handler_slot, vpg_slot};
use crate::secret::AccessKeyId;
use crate::soracom::{Pager, SoracomApi, Walk};

/// What a run reads its observation with: the two ports and the page size of SORACOM's
/// listings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observer<'a, I, S> {
    /// IAM and STS.
    pub(crate) iam: &'a I,
    /// SORACOM.
    pub(crate) soracom: &'a S,
    /// Items per page of a SORACOM listing.
    pub(crate) page_size: u32,
}

/// Sets named by a holder that hold a key SORACOM names and are not every target's: (set
/// id, key).
type Elsewhere = Vec<(String, AccessKeyId)>;

impl<I: IamApi, S: SoracomApi> Observer<'_, I, S> {
    /// Observes every target: one listing of credential sets, groups and event handlers
    /// shared by all, and each target's keys, the two sides at the same time. Only slots
    /// that reference a target's own sets are kept, so memory does not grow with groups
    /// that do not matter (and which keys other sets that holders name hold).
    #[tracing::instrument(name = "observe", skip_all, fields(targets = targets.len()))]
    pub(crate) async fn observe(&self, targets: &[&Target]) -> Result<Vec<Result<Observed>>> {
        let keys = futures::future::join_all(targets.iter().map(|t| async move {
            // The records first, then the keys: every record names a key that existed
            // when it was written, so a key a record names but the later listing lacks
            // is really gone. Read the other way round, a key another run created between
            // the two reads would look deleted, and its in-flight record would be removed
            // as stale, leaving the key no one's (found by the simulator, seed 893;
            // docs/RELIABILITY.md).
            let tags = self.iam.tags(&t.iam_user).await?;
            let keys = self.iam.list_keys(&t.iam_user).await?;
            let records = Records::parse(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Ok::<_, Error>((keys, records))
        }));
        let (soracom, keys) = futures::join!(self.observe_soracom(targets), keys);
        let (sets, slots, elsewhere) = soracom?;
        let mut out = Vec::with_capacity(targets.len());
        for ((k, slots), t) in keys.into_iter().zip(slots).zip(targets) {
            // The logs are read for a target with a canary only, and fail that target only:
            // the others of the group need no evidence from them.
            let observed = match k {
                Ok((keys, records)) => {
                    let held_elsewhere = elsewhere
                        .iter()
                        .filter(|(set, key)| !t.owns(set) && keys.iter().any(|k| &k.id == key))
                        .map(|(set, key)| (key.clone(), set.clone()))
                        .collect();
                    self.auth_failures(&records, &slots)
                        .await
                        .map(|auth_failures| Observed {
                            keys,
                            sets: sets.clone(),
                            slots,
                            records,
                            auth_failures,
                            held_elsewhere,
                        })
                }
                Err(e) => Err(e),
            };
            out.push(observed);
        }
        Ok(out)
    }

    /// The values of the group slots `wanted` (group id, namespace, key) as every page of
    /// groups shows them now: one listing, however many groups move (docs/PERFORMANCE.md).
    pub(crate) async fn group_values(
        &self,
        wanted: &BTreeSet<&str>,
    ) -> Result<BTreeMap<(String, String, String), Value>> {
        let mut out = BTreeMap::new();
        let mut pager = Pager::new(self.page_size);
        each_group(&mut pager, self.soracom, |g| {
            if wanted.contains(g.id.as_str()) {
                for (namespace, keys) in &g.configuration {
                    for (key, value) in keys.as_object().into_iter().flatten() {
                        out.insert(
                            (g.id.clone(), namespace.clone(), key.clone()),
                            value.clone(),
                        );
                    }
                }
            }
            Walk::More
        })
        .await?;
        Ok(out)
    }

    /// While a canary (a rotation's, or a holder kind's onto the role set) is recorded on
    /// the user, the AWS authentication failures SORACOM
    /// logged since it moved, for every service of the target's holders (the logs name a
    /// SIM, not a group, so a failure of the service counts against the canary: the other
    /// holders still use the old key, which works). Nothing is read without a canary.
    async fn auth_failures(&self, records: &Records, slots: &[Slot]) -> Result<Vec<AuthFailure>> {
        let Some(since) = records
            .canary
            .values()
            .chain(records.role_canary.values())
            .min()
            .copied()
        else {
            return Ok(Vec::new());
        };
        let services: std::collections::BTreeSet<&str> = slots
            .iter()
            .filter_map(|s| crate::plan::log_service(&s.holder))
            .collect();
        let mut out = Vec::new();
        let soracom = self.soracom;
        for service in services {
            // The first failures are evidence enough: the walk ends there.
            Pager::new(self.page_size)
                .each(
                    "getLogs",
                    |after, limit| async move {
                        let page = soracom
                            .list_logs(service, since, after.as_deref(), limit)
                            .await?;
                        Ok((page.entries, page.next))
                    },
                    |e| {
                        out.extend(e.at.filter(|t| *t >= since).and_then(|at| {
                            Some(AuthFailure {
                                service: e.service.clone(),
                                at,
                                error: crate::plan::auth_failure(&e.body)?,
                                resource_id: e.resource_id.clone(),
                            })
                        }));
                        if out.len() >= crate::plan::MAX_FAILURES {
                            Walk::Enough
                        } else {
                            Walk::More
                        }
                    },
                )
                .await?;
        }
        out.truncate(crate::plan::MAX_FAILURES);
        Ok(out)
    }

    /// The SORACOM side of [`Engine::observe`]: credential sets, and per target the slots
    /// of every page of groups and of the event handlers that reference its sets.
    async fn observe_soracom(
        &self,
        targets: &[&Target],
    ) -> Result<(Vec<CredentialSet>, Vec<Vec<Slot>>, Elsewhere)> {
        let sets = self.soracom.list_credentials().await?;
        // Sets that hold a key SORACOM names and are not every target's: a holder naming
        // one uses that key, whoever's set it is.
        let keyed: BTreeMap<&str, &AccessKeyId> = sets
            .iter()
            .filter(|s| s.kind == AWS_CREDENTIALS && targets.iter().any(|t| !t.owns(&s.id)))
            .filter_map(|s| s.api_key.as_ref().map(|k| (s.id.as_str(), k)))
            .collect();
        // A reference to a set of another type (e.g. IAM role credentials) is not the
        // tool's, whatever its id: it is never moved.
        let other_type: std::collections::BTreeSet<&str> = sets
            .iter()
            .filter(|s| s.kind != AWS_CREDENTIALS)
            .map(|s| s.id.as_str())
            .collect();
        // The target's role set (`migrate-to-role`) is watched too: references move onto it.
        let ours =
            |t: &Target, id: &str| (t.owns(id) && !other_type.contains(id)) || id == t.role_set_id;
        let n = targets.len();
        let mut slots = holder_slots(self.soracom, self.page_size, n + 1, |i, id| match i {
            i if i == n => keyed.contains_key(id),
            i => targets.get(i).is_some_and(|t| ours(t, id)),
        })
        .await?;
        let foreign = slots.pop().unwrap_or_default();
        let named: BTreeSet<&str> = foreign
            .iter()
            .flat_map(|slot| slot.refs.iter().map(|r| r.set_id.as_str()))
            .collect();
        let elsewhere = keyed
            .iter()
            .filter(|(id, _)| named.contains(*id))
            .map(|(id, k)| (id.to_string(), (*k).clone()))
            .collect();
        Ok((sets, slots, elsewhere))
    }

    /// Observes one target again, for the re-check of a destructive step.
    pub(crate) async fn observe_one(&self, target: &Target) -> Result<Observed> {
        // One target in, one observation out.
        self.observe(&[target])
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(Error::Unconfirmed("no observation".into())))
    }
}

/// Walks every page of groups with `pager`, each group to `visit`.
async fn each_group<S: SoracomApi>(
    pager: &mut Pager,
    soracom: &S,
    visit: impl FnMut(Group) -> Walk,
) -> Result<usize> {
    pager
        .each(
            "listGroups",
            |after, limit| async move {
                let page = soracom.list_groups(after.as_deref(), limit).await?;
                Ok((page.groups, page.next))
            },
            visit,
        )
        .await
}

/// The slots of every page of groups, of the event handlers and of every page of VPGs (their
/// Junction inspection), sorted into `n` lists: a slot goes to list `i` when it references a
/// set `wanted(i, id)` accepts. The one walker over SORACOM's holders: runs observe through
/// it, and `discover` with one list of every key set.
pub(crate) async fn holder_slots<S: SoracomApi>(
    soracom: &S,
    page_size: u32,
    n: usize,
    wanted: impl Fn(usize, &str) -> bool,
) -> Result<Vec<Vec<Slot>>> {
    let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); n];
    // One pager for both lists: a `limit` refused for groups is not asked for VPGs.
    let mut pager = Pager::new(page_size);
    each_group(&mut pager, soracom, |g| {
        for (i, list) in slots.iter_mut().enumerate() {
            list.extend(group_slots(
                &g.id,
                g.name.as_deref(),
                &g.configuration,
                |id| wanted(i, id),
            ));
        }
        Walk::More
    })
    .await?;
    for h in soracom.list_event_handlers().await? {
        for (i, list) in slots.iter_mut().enumerate() {
            list.extend(handler_slot(&h, |id| wanted(i, id)));
        }
    }
    pager
        .each(
            "listVirtualPrivateGateways",
            |after, limit| async move {
                let page = soracom.list_vpgs(after.as_deref(), limit).await?;
                Ok((page.vpgs, page.next))
            },
            |v| {
                for (i, list) in slots.iter_mut().enumerate() {
                    list.extend(vpg_slot(&v, |id| wanted(i, id)));
                }
                Walk::More
            },
        )
        .await?;
    Ok(slots)
}
