//! In-memory fakes of the two ports, so the engine runs in-process, in simulated time, with
//! a person or a fault able to step in at any call.
//!
//! - [`iam::FakeIam`]: the [`rotator::IamApi`] port over an in-memory IAM (accounts,
//!   users, keys with status, create date and last use, tags, roles and policies; STS).
//! - [`soracom`]: the real SORACOM client over an in-memory transport to the emulator's
//!   request pipeline (no socket), so paging, rate-limit headers, faults and every answer's
//!   shape are the emulator's own.
//! - [`clock::PausedClock`]: the run's clock over tokio's paused time: every wait of the
//!   engine passes at once when nothing else can run.
//!
//! Every call of either fake goes through one [`Hook`]: it may let the call act, refuse it
//! before it acts, let it act and then fail or hang, or hold it while a test acts as a
//! person ([`Script`], [`Gate`]).

pub mod clock;
pub mod iam;
pub mod soracom;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Which port a call went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// IAM and STS.
    Iam,
    /// SORACOM.
    Soracom,
}

/// One call to a fake, as a hook sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The port.
    pub port: Port,
    /// The operation: IAM's action name (`CreateAccessKey`, `TagUser`, …) or SORACOM's
    /// operationId (`listGroups`, `putConfigurationParameters`, …).
    pub op: String,
    /// What it is about: the IAM user or role, or the SORACOM request path.
    pub subject: String,
    /// The access key that signed it, when that is not the port's own (STS with a new key).
    pub signer: Option<String>,
}

/// How a failing call fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer: the connection timed out or dropped.
    Timeout,
    /// An error answer: HTTP status and error code (IAM: `ServiceFailure`, `Throttling`,
    /// `LimitExceeded`, …; SORACOM: its error code).
    Status {
        /// HTTP status.
        status: u16,
        /// The service's error code.
        code: String,
    },
}

impl Failure {
    /// A 500 with the service's generic code.
    pub fn server(port: Port) -> Failure {
        Failure::Status {
            status: 500,
            code: match port {
                Port::Iam => "ServiceFailure".into(),
                Port::Soracom => "COM0001".into(),
            },
        }
    }
}

/// What a hook lets a call do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Act and answer normally.
    Proceed,
    /// Fail without acting.
    Refuse(Failure),
    /// Act, then fail: the caller cannot tell whether it acted.
    ActThenFail(Failure),
    /// Act, then never answer (the caller's timeout ends the call): a process that died right
    /// after its call succeeded, when the test kills it meanwhile.
    ActThenHang,
    /// Act, then answer with the value the call returns altered (a `CreateAccessKey`'s
    /// secret replaced by another of the same length): what a caller that registers a wrong
    /// secret holds. Calls without such a value just act.
    ActThenAlter,
}

/// A future a hook answers with.
pub type Decision<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// Decides each call of a fake.
pub trait Hook: Send + Sync {
    /// The verdict for `call` (may wait: a held call waits here).
    fn on_call<'a>(&'a self, call: &'a Call) -> Decision<'a>;
}

/// Lets every call act.
#[derive(Clone, Copy, Debug, Default)]
pub struct Proceed;

impl Hook for Proceed {
    fn on_call<'a>(&'a self, _: &'a Call) -> Decision<'a> {
        Box::pin(std::future::ready(Verdict::Proceed))
    }
}

/// A point where a held call waits until the test releases it.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    inner: Arc<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    reached: Mutex<bool>,
    released: Mutex<bool>,
    reached_signal: Notify,
    release_signal: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gate {
    /// A new, closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Waits until a call reaches the gate.
    pub async fn reached(&self) {
        loop {
            let signal = self.inner.reached_signal.notified();
            if *lock(&self.inner.reached) {
                return;
            }
            signal.await;
        }
    }

    /// Whether a call has reached the gate.
    pub fn is_reached(&self) -> bool {
        *lock(&self.inner.reached)
    }

    /// Lets the held call (and any later one) through.
    pub fn release(&self) {
        *lock(&self.inner.released) = true;
        self.inner.release_signal.notify_waiters();
    }

    async fn hold(&self) {
        *lock(&self.inner.reached) = true;
        self.inner.reached_signal.notify_waiters();
        loop {
            let signal = self.inner.release_signal.notified();
            if *lock(&self.inner.released) {
                return;
            }
            signal.await;
        }
    }
}

/// What a [`Rule`] does to the calls it matches.
#[derive(Clone, Debug)]
pub enum Action {
    /// Gives them this verdict.
    Verdict(Verdict),
    /// Holds them at the gate until the test releases it, then lets them act.
    Hold(Gate),
    /// Holds them at the gate until the test releases it, then gives them the verdict.
    HoldThen(Gate, Verdict),
}

/// A rule of a [`Script`]: which calls, from which match on, how many, and what they get.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The port.
    pub port: Port,
    /// The operation, or `*` for any.
    pub op: String,
    /// A substring the call's subject must contain (empty: any).
    pub subject: String,
    /// 1-based: the first matching call it applies to.
    pub nth: u32,
    /// How many consecutive matching calls it applies to (0: every one from `nth` on).
    pub times: u32,
    /// What they get.
    pub action: Action,
    /// A label the calls it decided are recorded with (e.g. the fault it stands for).
    pub tag: Option<u64>,
    seen: u32,
}

impl Rule {
    /// A rule for the `nth` call of `op` on `port` (once).
    pub fn on(port: Port, op: &str, nth: u32, action: Action) -> Rule {
        Rule {
            port,
            op: op.to_string(),
            subject: String::new(),
            nth: nth.max(1),
            times: 1,
            action,
            tag: None,
            seen: 0,
        }
    }

    /// The same rule, its calls recorded with `tag`.
    pub fn tagged(mut self, tag: u64) -> Rule {
        self.tag = Some(tag);
        self
    }

    /// The same rule for `times` consecutive matching calls (0: every one).
    pub fn times(mut self, times: u32) -> Rule {
        self.times = times;
        self
    }

    /// The same rule for calls whose subject contains `subject` only.
    pub fn about(mut self, subject: &str) -> Rule {
        self.subject = subject.to_string();
        self
    }

    fn matches(&self, call: &Call) -> bool {
        self.port == call.port
            && (self.op == "*" || self.op == call.op)
            && call.subject.contains(&self.subject)
    }

    /// Counts a matching call; whether the rule applies to it.
    fn fires(&mut self) -> bool {
        self.seen += 1;
        self.seen >= self.nth
            && (self.times == 0 || self.seen < self.nth.saturating_add(self.times))
    }
}

/// A call a [`Script`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The call.
    pub call: Call,
    /// What it got.
    pub verdict: Verdict,
    /// The tag of the rule that decided it, if one did and had a tag.
    pub tag: Option<u64>,
}

/// A hook of rules, checked in the order they were added (the first that fires decides),
/// and the record of every call it saw.
#[derive(Debug, Default)]
pub struct Script {
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<Seen>>,
}

impl Script {
    /// A script that lets every call act.
    pub fn new() -> Script {
        Script::default()
    }

    /// Adds a rule.
    pub fn add(&self, rule: Rule) {
        lock(&self.rules).push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// Every call seen so far, with the verdict it got.
    pub fn calls(&self) -> Vec<(Call, Verdict)> {
        lock(&self.calls)
            .iter()
            .map(|s| (s.call.clone(), s.verdict.clone()))
            .collect()
    }

    /// Every call seen so far, with the verdict it got and the tag of the rule that gave
    /// it.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.calls).clone()
    }

    /// How many calls of `op` on `port` were seen.
    pub fn count(&self, port: Port, op: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|s| s.call.port == port && s.call.op == op)
            .count()
    }

    fn decide(&self, call: &Call) -> (Action, Option<u64>) {
        let mut rules = lock(&self.rules);
        let mut chosen = None;
        for rule in rules.iter_mut().filter(|r| r.matches(call)) {
            if rule.fires() && chosen.is_none() {
                chosen = Some((rule.action.clone(), rule.tag));
            }
        }
        chosen.unwrap_or((Action::Verdict(Verdict::Proceed), None))
    }
}

impl Hook for Script {
    fn on_call<'a>(&'a self, call: &'a Call) -> Decision<'a> {
        let (action, tag) = self.decide(call);
        Box::pin(async move {
            let verdict = match action {
                Action::Verdict(v) => v,
                Action::Hold(gate) => {
                    gate.hold().await;
                    Verdict::Proceed
                }
                Action::HoldThen(gate, v) => {
                    gate.hold().await;
                    v
                }
            };
            lock(&self.calls).push(Seen {
                call: call.clone(),
                verdict: verdict.clone(),
                tag,
            });
            verdict
        })
    }
}

/// Run ids and random bytes from a seed (SplitMix64): the same seed, the same ids.
#[derive(Debug)]
pub struct SeqIds {
    state: Mutex<u64>,
}

impl SeqIds {
    /// A source drawn from `seed`.
    pub fn new(seed: u64) -> SeqIds {
        SeqIds {
            state: Mutex::new(seed),
        }
    }

    fn next(&self) -> u64 {
        let mut s = lock(&self.state);
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl rotator::Ids for SeqIds {
    fn run_id(&self, unix_seconds: i64) -> String {
        format!("{unix_seconds}-{:016x}", self.next())
    }

    fn fill(&self, buf: &mut [u8]) -> Result<(), String> {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}
