//! The repair phase: what must happen before any reference moves — orphans of dead runs
//! deleted, room made in IAM's two key slots, the new key (a new set, or in place), and the
//! marks a canary or a migration's stage is recorded with.

use super::keys::Rotated;
use super::run::{Stop, TargetRun};
use super::Engine;
use crate::iam::IamApi;
use crate::plan::{Repair, Step};
use crate::records::{mark_tag, role_tag, Mark};
use crate::soracom::SoracomApi;
use crate::wording::Words;

/// What a failed repair step leaves: no reference moved.
const NEXT: &str = "state is safe: no reference was moved; the next reconcile starts over";

impl<I: IamApi, S: SoracomApi> Engine<'_, I, S> {
    /// Takes the plan's repair steps in order (the destructive ones only if a fresh plan
    /// still calls for them); the key this run made for a new set, if it made one.
    pub(super) async fn repair(&self, run: &mut TargetRun<'_>) -> Result<Option<Rotated>, Stop> {
        let steps = run.plan.repair.clone();
        let allowed = self
            .recheck(run, &steps, |p| &p.repair, None)
            .await
            .map_err(|e| {
                Stop::failed(
                    "observing again before deleting a key",
                    e,
                    "nothing was changed; the next run tries again",
                )
            })?;
        let mut rotated = None;
        for (action, allowed) in steps.iter().zip(allowed) {
            if !allowed {
                run.skip(Step::Repair(action));
                continue;
            }
            if let Some(made) = self.repair_step(run, action).await? {
                rotated = Some(made);
            }
        }
        Ok(rotated)
    }

    /// One repair step; the key it made for a new set, if it made one.
    async fn repair_step(
        &self,
        run: &mut TargetRun<'_>,
        action: &Repair,
    ) -> Result<Option<Rotated>, Stop> {
        let user = run.user();
        let at = run.clock.now();
        let stop = |e| Stop::failed(action.words(), e, NEXT);
        match action {
            Repair::DeleteOrphanKey { key } => {
                self.iam.delete_key(user, key).await.map_err(stop)?;
                run.ok(format!(
                    "deleted access key {key}, left by a run that died (its secret was lost)"
                ));
                self.forget(user, key, run).await.map_err(stop)?;
            }
            Repair::MakeRoom { key, set_id } => self
                .delete_retired(user, key, set_id.as_deref(), run)
                .await
                .map_err(stop)?,
            Repair::Rotate { new_set_id } => {
                return match self.rotate(run, new_set_id).await.map_err(stop)? {
                    Some(made) => Ok(Some(made)),
                    None => Err(Stop::busy(action.words(), NEXT)),
                };
            }
            Repair::RotateInPlace { set_id, previous } => {
                let done = self.rotate_in_place(run, set_id, previous.as_ref()).await;
                if !done.map_err(stop)? {
                    return Err(Stop::busy(action.words(), NEXT));
                }
            }
            Repair::ForgetCutover { key } => self
                .untagged(user, &[mark_tag(Mark::Released, key, at).0], action, run)
                .await
                .map_err(stop)?,
            Repair::StartCanary { key } => self
                .record(user, mark_tag(Mark::Canary, key, at), action, run)
                .await
                .map_err(stop)?,
            Repair::FailCanary { key } => self
                .record(user, mark_tag(Mark::CanaryFailed, key, at), action, run)
                .await
                .map_err(stop)?,
            Repair::StartRoleCanary { kind } => self
                .record(user, role_tag(kind, false, at), action, run)
                .await
                .map_err(stop)?,
            Repair::RefuseRole { kind } => self
                .record(user, role_tag(kind, true, at), action, run)
                .await
                .map_err(stop)?,
        }
        Ok(None)
    }
}
