//! The re-check of destructive steps: before a phase deletes or deactivates anything, the
//! target is observed again and planned again; only the steps the fresh plan still calls
//! for are taken ([`rotator_core::execution::still_called_for`]; docs/ARCHITECTURE.md,
//! invariant 4).

use rotator_core::execution::{lease_held, still_called_for, Destructive};

use super::Engine;
use crate::error::Result;
use crate::iam::IamApi;
use crate::plan::{plan, Plan};
use crate::records::lease_key;
use crate::soracom::SoracomApi;

use super::run::TargetRun;

impl<I: IamApi, S: SoracomApi> Engine<'_, I, S> {
    /// Whether each of `steps` (the phase `phase` of the run's plan) may be taken now.
    /// Nothing is read when none of them is destructive. `own_lease` is this run's own
    /// lease, which is not another run at work; when it is gone or garbled, no
    /// destructive step is taken.
    pub(super) async fn recheck<T: Destructive>(
        &self,
        run: &TargetRun<'_>,
        steps: &[T],
        phase: impl Fn(&Plan) -> &Vec<T>,
        own_lease: Option<&str>,
    ) -> Result<Vec<bool>> {
        if !steps.iter().any(Destructive::destructive) {
            return Ok(vec![true; steps.len()]);
        }
        let mut fresh = self.observer().observe_one(run.target).await?;
        let held = lease_held(&fresh.records, own_lease, run.clock.now());
        fresh
            .records
            .leases
            .retain(|(id, _)| Some(lease_key(id).as_str()) != own_lease);
        let again = plan(run.target, &fresh, run.clock.start(), run.mode);
        // A lease someone removed or edited: no destructive step is called for.
        let called_for: &[T] = if held { phase(&again) } else { &[] };
        Ok(still_called_for(steps, called_for, &again))
    }
}
