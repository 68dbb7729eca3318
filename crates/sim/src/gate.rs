//! The gate every call of every run waits at: each port call (IAM's, SORACOM's) of a run
//! becomes a [`Pending`] call, and proceeds only when the simulator gives it a verdict.
//! That makes every call a step the seeded scheduler chooses, including between a run's
//! own concurrent calls.

use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::oneshot;
use testkit::fake::{Call, Decision, Failure, Hook, Verdict};

/// A call waiting for its verdict.
pub struct Pending {
    /// The run that made it.
    pub run: usize,
    /// What it is.
    pub call: Call,
    answer: oneshot::Sender<Verdict>,
}

impl Pending {
    /// Lets the call go with `verdict` (a run that was crashed meanwhile hears nothing).
    pub fn answer(self, verdict: Verdict) {
        let _ = self.answer.send(verdict);
    }
}

/// The calls every run is waiting on.
#[derive(Clone, Default)]
pub struct Gate {
    pending: Arc<Mutex<Vec<Pending>>>,
}

impl Gate {
    /// The hook of run `run`'s ports.
    pub fn hook(&self, run: usize) -> Arc<dyn Hook> {
        Arc::new(RunHook {
            run,
            gate: self.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many calls wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call waits.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Takes the `i`-th waiting call.
    pub fn take(&self, i: usize) -> Option<Pending> {
        let mut pending = self.lock();
        (i < pending.len()).then(|| pending.remove(i))
    }

    /// Drops every call of run `run` (it was crashed).
    pub fn forget(&self, run: usize) {
        self.lock().retain(|p| p.run != run);
    }
}

struct RunHook {
    run: usize,
    gate: Gate,
}

impl Hook for RunHook {
    fn on_call<'a>(&'a self, call: &'a Call) -> Decision<'a> {
        let (tx, rx) = oneshot::channel();
        self.gate.lock().push(Pending {
            run: self.run,
            call: call.clone(),
            answer: tx,
        });
        Box::pin(async move { rx.await.unwrap_or(Verdict::Refuse(Failure::Timeout)) })
    }
}
