//! The simulator's executor: the runs are futures it polls itself, on one thread, in a
//! fixed order, so that nothing but the simulator's choices decides what happens next.
//!
//! A run is woken by what it waits on — a call the simulator lets through, a timer of the
//! simulated clock, another of its own futures — and [`Runs::settle`] polls every woken run
//! until none is: then each run waits on the simulator (a call held at the gate, or a
//! timer), and the simulator chooses the next step. A run is crashed by dropping its
//! future, at whatever await it is, as a killed process or a Lambda timeout would end it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// What a run gave: its exit code, stdout and stderr (log included).
#[derive(Clone, Debug, Default)]
pub struct Ended {
    /// The exit code; `None` when the run was crashed.
    pub code: Option<u8>,
    /// Everything it printed and logged.
    pub output: String,
}

type RunFuture = Pin<Box<dyn Future<Output = Ended>>>;

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One run under the simulator.
struct Run {
    id: usize,
    future: Option<RunFuture>,
    flag: Arc<Flag>,
}

/// The runs of one schedule.
#[derive(Default)]
pub struct Runs {
    runs: Vec<Run>,
    ended: Vec<(usize, Ended)>,
}

/// Polls a run may take before it waits: more means it never does (a bug of its own).
const MAX_POLLS: usize = 100_000;

impl Runs {
    /// Starts run `id` (it first runs at the next [`Runs::settle`]).
    pub fn start(&mut self, id: usize, future: impl Future<Output = Ended> + 'static) {
        self.runs.push(Run {
            id,
            future: Some(Box::pin(future)),
            flag: Arc::new(Flag(AtomicBool::new(true))),
        });
    }

    /// Polls every woken run until none is woken; `Err` if they keep waking each other.
    pub fn settle(&mut self) -> Result<(), String> {
        for _ in 0..MAX_POLLS {
            let mut any = false;
            for run in &mut self.runs {
                if !run.flag.0.swap(false, Ordering::SeqCst) {
                    continue;
                }
                let Some(fut) = run.future.as_mut() else {
                    continue;
                };
                any = true;
                let waker = Waker::from(run.flag.clone());
                let mut cx = Context::from_waker(&waker);
                if let Poll::Ready(ended) = fut.as_mut().poll(&mut cx) {
                    run.future = None;
                    self.ended.push((run.id, ended));
                }
            }
            if !any {
                self.runs.retain(|r| r.future.is_some());
                return Ok(());
            }
        }
        Err(format!("runs still woken after {MAX_POLLS} polls"))
    }

    /// Drops run `id`'s future: the run dies where it is.
    pub fn crash(&mut self, id: usize) {
        if let Some(pos) = self.runs.iter().position(|r| r.id == id) {
            let run = self.runs.remove(pos);
            drop(run.future);
            self.ended.push((
                id,
                Ended {
                    code: None,
                    output: String::new(),
                },
            ));
        }
    }

    /// The runs still going.
    pub fn live(&self) -> Vec<usize> {
        self.runs.iter().map(|r| r.id).collect()
    }

    /// The runs that ended since the last call, in the order they ended.
    pub fn take_ended(&mut self) -> Vec<(usize, Ended)> {
        std::mem::take(&mut self.ended)
    }
}
