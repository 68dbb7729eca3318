//! The retire phase, last so that a failed cutover never loses the old key: the records on
//! the IAM user, deactivations, deletions of keys and their sets — the destructive ones only
//! if a fresh plan still calls for them.

use super::run::{Stop, TargetRun};
use super::Engine;
use crate::error::Result;
use crate::iam::IamApi;
use crate::plan::{Mode, Retire, Step};
use crate::records::{mark_tag, role_tag, tags_of, KeyRecord, Mark};
use crate::report::Change;
use crate::secret::AccessKeyId;
use crate::soracom::SoracomApi;
use crate::wording::Words;
use rotator_core::execution::Destructive;

impl<I: IamApi, S: SoracomApi> Engine<'_, I, S> {
    /// Takes the plan's retire steps in order; `lease` is this run's own lease (a
    /// rollback's, or one taken before the cutover), which is not another run at work.
    pub(super) async fn retire(
        &self,
        run: &mut TargetRun<'_>,
        lease: Option<&str>,
    ) -> Result<(), Stop> {
        let steps = run.plan.retire.clone();
        if lease.is_some() || !steps.iter().any(Destructive::destructive) {
            return self.retire_leased(run, &steps, lease).await;
        }
        // Deactivating or deleting, the run leases the target as a rollback does, so that
        // a rollback moving references back onto the key cannot slip in between the
        // re-check and the deactivation (found by the simulator, seed 299;
        // docs/ARCHITECTURE.md, invariant 4).
        let own = self
            .lease_for(
                run,
                (
                    "leasing the target to retire keys",
                    "nothing was retired; run again later",
                ),
                false,
            )
            .await?;
        let done = self.retire_leased(run, &steps, Some(&own)).await;
        let released = self.iam.untag(run.user(), std::slice::from_ref(&own)).await;
        match (done, released) {
            (Err(stop), Err(e)) => {
                run.fail("removing this run's lease from the IAM user".into(), &e);
                Err(stop)
            }
            (Err(stop), Ok(())) => Err(stop),
            (Ok(()), Err(e)) => Err(Stop::failed(
                "removing this run's lease from the IAM user",
                e,
                "everything else was done; other runs wait for the lease to lapse",
            )),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// [`Engine::retire`] under this run's lease `lease` (none: nothing destructive).
    async fn retire_leased(
        &self,
        run: &mut TargetRun<'_>,
        steps: &[Retire],
        lease: Option<&str>,
    ) -> Result<(), Stop> {
        let steps = steps.to_vec();
        let allowed = self
            .recheck(run, &steps, |p| &p.retire, lease)
            .await
            .map_err(|e| {
                Stop::failed(
                    "observing again before retiring",
                    e,
                    "nothing was retired; the next run tries again",
                )
            })?;
        for (action, allowed) in steps.iter().zip(allowed) {
            if !allowed {
                run.skip(Step::Retire(action));
                continue;
            }
            if let Err(e) = self.retire_step(run, action).await {
                return Err(Stop::failed(
                    action.words(),
                    e,
                    "the next run retries this retire step",
                ));
            }
        }
        Ok(())
    }

    /// One retire step.
    async fn retire_step(&self, run: &mut TargetRun<'_>, action: &Retire) -> Result<()> {
        let user = run.user();
        let (at, started) = (run.clock.now(), run.clock.start());
        match action {
            Retire::Deactivate { key, set_id } => {
                let exposed =
                    run.mode == Mode::Emergency && run.obs.records.exposed.contains_key(key);
                self.deactivate(run, (key, exposed), set_id).await
            }
            Retire::DeleteRetired { key, set_id } => {
                self.delete_retired(user, key, set_id.as_deref(), run).await
            }
            Retire::Record { key, mark } => {
                self.record(user, mark_tag(*mark, key, at), action, run)
                    .await
            }
            Retire::DropCanary { key, set_id } => self.drop_canary(user, key, set_id, run).await,
            Retire::EndRoleCanary { kind } => {
                let (k, _) = role_tag(kind, false, started);
                self.untagged(user, &[k], action, run).await
            }
            Retire::Unrecord { key, mark } => {
                let (k, _) = mark_tag(*mark, key, started);
                self.untagged(user, &[k], action, run).await
            }
            Retire::MarkHeld { key, set_id } => {
                let record = KeyRecord::HeldBy {
                    set_id: set_id.clone(),
                    since: at,
                };
                self.record_key(user, key, &record).await?;
                run.ok(action.words());
                Ok(())
            }
            Retire::DeleteSet { set_id, key } => {
                self.delete_retired_set(user, key, set_id, run).await
            }
            Retire::Forget { key } => self.untagged(user, &tags_of(key), action, run).await,
            Retire::ForgetRun { tag } => {
                self.untagged(user, std::slice::from_ref(tag), action, run)
                    .await
            }
        }
    }

    /// Removes tags `keys` from the IAM user; the step `what` is reported.
    pub(super) async fn untagged(
        &self,
        user: &str,
        keys: &[String],
        what: &impl Words,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        self.iam.untag(user, keys).await?;
        run.ok(what.words());
        Ok(())
    }

    /// Deactivates a retired key (`exposed`: by an emergency) and records when on the IAM
    /// user (for the delete delay).
    async fn deactivate(
        &self,
        run: &mut TargetRun<'_>,
        (key, exposed): (&AccessKeyId, bool),
        set_id: &str,
    ) -> Result<()> {
        let user = run.user();
        self.iam
            .set_key_status(user, key, crate::model::KeyStatus::Inactive)
            .await?;
        run.ok(format!("deactivated access key {key} of {set_id}"));
        run.changes.push(Change::Deactivated {
            key: key.clone(),
            set_id: set_id.to_string(),
            exposed,
        });
        // Without the record the next run records the time it first sees the key inactive,
        // so the delete delay is never cut short; still, the failure is the run's.
        let (k, v) = mark_tag(Mark::Deactivated, key, run.clock.now());
        self.iam.tag(user, &k, &v).await
    }

    /// Writes one record (`tag`: key and value) on the IAM user; the step `what` is reported.
    pub(super) async fn record(
        &self,
        user: &str,
        (k, v): (String, String),
        what: &impl Words,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        self.iam.tag(user, &k, &v).await?;
        run.ok(what.words());
        Ok(())
    }

    /// Deletes a failed canary's new key, then its set, then the key's records: the canary
    /// has moved back, so nothing references either.
    async fn drop_canary(
        &self,
        user: &str,
        key: &AccessKeyId,
        set_id: &str,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        self.iam.delete_key(user, key).await?;
        run.ok(format!("deleted the failed canary's access key {key}"));
        self.delete_retired_set(user, key, set_id, run).await
    }

    /// Deletes an inactive key, then its set, then the key's records.
    pub(super) async fn delete_retired(
        &self,
        user: &str,
        key: &AccessKeyId,
        set_id: Option<&str>,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        self.iam.delete_key(user, key).await?;
        run.ok(format!("deleted retired access key {key}"));
        run.changes.push(Change::Deleted {
            key: key.clone(),
            set_id: set_id.map(str::to_string),
        });
        match set_id {
            Some(set_id) => self.delete_retired_set(user, key, set_id, run).await,
            None => self.forget(user, key, run).await,
        }
    }

    /// Deletes the set of a retired key, then the key's records. The records go last: while
    /// the set remains, they are the proof that this tool retired its key.
    async fn delete_retired_set(
        &self,
        user: &str,
        key: &AccessKeyId,
        set_id: &str,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        self.soracom.delete_credential(set_id).await?;
        run.ok(format!("deleted unused credential set {set_id}"));
        self.forget(user, key, run).await
    }

    /// Removes every record of a key that is gone. A failure fails the run: the records are
    /// harmless once nothing names the key, and the next run removes them
    /// ([`Retire::Forget`]), but the tags count toward IAM's limit of 50 per user.
    pub(super) async fn forget(
        &self,
        user: &str,
        key: &AccessKeyId,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        self.iam.untag(user, &tags_of(key)).await?;
        run.ok(format!("removed the records of access key {key}"));
        Ok(())
    }
}
