//! One schedule: a seeded world, runs that overlap, and between any two of their calls a
//! person, a fault, a crash or time; then quiet, and reconciles until the world settles.
//!
//! Every choice comes from [`Choices`], so a schedule is a function of its seed (or its
//! recorded draws): the runs are polled on this thread in a fixed order ([`Runs`]), every
//! call waits at the [`Gate`] until chosen, every wait is a timer of the [`SimClock`], and
//! ids come from seeded sources.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rotator::{invoke, Clients, Command, NoProgress, Outcome, Request};
use rotator_core::plan::IN_FLIGHT_LIMIT;
use serde_json::Value;
use soracom_emulator::{Fault, FaultKind, PagingMode};
use testkit::fake::soracom::MemoryDial;
use testkit::fake::{Failure, Port, SeqIds, Verdict};
use time::OffsetDateTime;

use crate::choice::Choices;
use crate::exec::{Ended, Runs};
use crate::gate::{Gate, Pending};
use crate::oracle::{may_change, Ledger, RunView, Snapshot, StepCheck, Violation};
use crate::person;
use crate::world::{at_once, SimWorld, MAX_KEY_AGE_DAYS};

/// Steps one round of runs may take before they count as never ending.
const MAX_ROUND_STEPS: u64 = 6_000;
/// Reconciles of the quiet phase at most.
const MAX_QUIET_RUNS: usize = 50;
/// How long the quiet phase lasts: more than a key's life.
const QUIET_DAYS: i64 = 110;
/// How late IAM shows a key's last use (the world's setting).
const LAST_USE_LAG: time::Duration = time::Duration::hours(4);
/// A key no older than this when the world goes quiet gets its full lead time.
const LEAD_DAYS: i64 = 79;

/// A command a run carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `reconcile`.
    Reconcile,
    /// `rotate`.
    Rotate,
    /// `retire`.
    Retire,
    /// `rollback`.
    Rollback,
    /// `rotate --emergency` (the current keys).
    Emergency,
}

impl Cmd {
    const ALL: [Cmd; 5] = [
        Cmd::Reconcile,
        Cmd::Rotate,
        Cmd::Retire,
        Cmd::Rollback,
        Cmd::Emergency,
    ];
    const WEIGHTS: [u32; 5] = [40, 25, 12, 10, 8];

    fn request(self) -> Request {
        let command = match self {
            Cmd::Emergency => {
                return Request::Emergency {
                    keys: Vec::new(),
                    dry_run: false,
                }
            }
            Cmd::Reconcile => Command::Reconcile,
            Cmd::Rotate => Command::Rotate,
            Cmd::Retire => Command::Retire,
            Cmd::Rollback => Command::Rollback,
        };
        Request::Run {
            command,
            dry_run: false,
        }
    }

    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Reconcile => "reconcile",
            Cmd::Rotate => "rotate",
            Cmd::Retire => "retire",
            Cmd::Rollback => "rollback",
            Cmd::Emergency => "rotate --emergency",
        }
    }
}

/// What a schedule may do besides running commands (chosen per schedule).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mix {
    /// People act.
    pub people: bool,
    /// Calls fail.
    pub faults: bool,
    /// Runs crash.
    pub crashes: bool,
}

/// How often each kind of event happened.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    /// Steps (each a choice of the scheduler).
    pub steps: u64,
    /// Calls let through.
    pub calls: u64,
    /// Calls that got a fault.
    pub faults: u64,
    /// Acts of a person.
    pub person_acts: u64,
    /// Runs crashed.
    pub crashes: u64,
    /// Moves of time.
    pub time_moves: u64,
    /// Runs started.
    pub runs: u64,
    /// Runs by exit code (`crashed` for none).
    pub exits: BTreeMap<String, u64>,
    /// Events by name (`fault:Refuse-timeout`, `person:…`).
    pub events: BTreeMap<String, u64>,
}

impl Counts {
    fn event(&mut self, name: &str) {
        *self.events.entry(name.to_string()).or_default() += 1;
    }

    /// Adds `other` to these.
    pub fn add(&mut self, other: &Counts) {
        self.steps += other.steps;
        self.calls += other.calls;
        self.faults += other.faults;
        self.person_acts += other.person_acts;
        self.crashes += other.crashes;
        self.time_moves += other.time_moves;
        self.runs += other.runs;
        for (k, v) in &other.exits {
            *self.exits.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.events {
            *self.events.entry(k.clone()).or_default() += v;
        }
    }
}

/// What came of one schedule.
#[derive(Clone, Debug)]
pub struct Ran {
    /// The promises broken, with the step each was seen at.
    pub violations: Vec<(u64, Violation)>,
    /// The schedule in words (when asked for).
    pub trace: Vec<String>,
    /// How often each event happened.
    pub counts: Counts,
    /// The draws made: the schedule, replayable.
    pub draws: Vec<u32>,
}

impl Ran {
    /// A schedule whose world could not be set up (a bug of the simulator's).
    pub fn setup_failed(e: String) -> Ran {
        Ran {
            violations: vec![(0, Violation::Run(format!("setting up the world: {e}")))],
            trace: Vec::new(),
            counts: Counts::default(),
            draws: Vec::new(),
        }
    }
}

/// What undoes a fault armed in the emulator for one call, once the call is done.
type Undo = Box<dyn Fn(&SimWorld)>;

/// A run the oracles follow.
struct Live {
    cmd: Cmd,
    view: RunView,
    /// A reference written or a key switched (what a rollback does), even if the run
    /// then dies.
    moved: bool,
    /// The step it started at.
    started: u64,
}

/// One schedule under way.
pub struct Schedule {
    world: SimWorld,
    choices: Choices,
    gate: Gate,
    runs: Runs,
    live: BTreeMap<usize, Live>,
    next_run: usize,
    ledger: Ledger,
    step: u64,
    mix: Mix,
    needs_human: bool,
    /// A rollback was carried out: the deadline is the operator's.
    rolled_back: bool,
    /// Which run made each key the tool made, and when (the in-flight oracle).
    made_by: BTreeMap<String, (usize, OffsetDateTime)>,
    trace: Option<Vec<String>>,
    violations: Vec<(u64, Violation)>,
    counts: Counts,
    output: Arc<Mutex<String>>,
    ids: Arc<SeqIds>,
    last_traffic: Option<OffsetDateTime>,
    /// The last run that ended: its command, exit code and output.
    last_exit: Option<(Cmd, u8, String)>,
}

impl Schedule {
    /// A schedule of `seed`, its choices drawn from `choices`.
    pub fn new(seed: u64, mut choices: Choices, trace: bool) -> Result<Schedule, String> {
        let world = SimWorld::new(seed, &mut choices)?;
        let mix = Mix {
            people: choices.chance(450),
            faults: choices.chance(500),
            crashes: choices.chance(300),
        };
        if choices.chance(300) {
            world.emu.set_page_size(1 + choices.below(2));
        }
        Ok(Schedule {
            world,
            choices,
            gate: Gate::default(),
            runs: Runs::default(),
            live: BTreeMap::new(),
            next_run: 1,
            ledger: Ledger::default(),
            step: 0,
            mix,
            needs_human: false,
            rolled_back: false,
            made_by: BTreeMap::new(),
            trace: trace.then(Vec::new),
            violations: Vec::new(),
            counts: Counts::default(),
            output: Arc::new(Mutex::new(String::new())),
            ids: Arc::new(SeqIds::new(seed)),
            last_traffic: None,
            last_exit: None,
        })
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            let at = self.world.clock_now();
            t.push(format!("{:>5} {} {}", self.step, hms(at), line()));
        }
    }

    fn violated(&mut self, v: Violation) {
        self.note(|| format!("VIOLATION {v}"));
        self.violations.push((self.step, v));
    }

    /// Runs the whole schedule.
    pub fn run(mut self, log: &Arc<Mutex<String>>) -> Ran {
        let ages = [5, 40, 79];
        let age = ages[self.choices.below(ages.len())];
        let world = format!(
            "world: {} target(s) ({}), first keys {age} days old, {:?}",
            self.world.targets.len(),
            self.world
                .targets
                .iter()
                .map(|t| format!(
                    "{}{}{}",
                    t.name,
                    if t.fixed_set.is_some() {
                        " in place"
                    } else {
                        ""
                    },
                    if t.canary { " canary" } else { "" }
                ))
                .collect::<Vec<_>>()
                .join(", "),
            self.mix
        );
        self.note(|| world);
        self.move_time(Duration::from_secs(
            u64::try_from(age).unwrap_or(0) * 86_400,
        ));
        let rounds = 1 + self.choices.below(3);
        for round in 0..rounds {
            if round > 0 {
                let jumps = [
                    60,
                    600,
                    3_600,
                    7 * 3_600,
                    2 * 86_400,
                    8 * 86_400,
                    16 * 86_400,
                ];
                let by = jumps[self.choices.below(jumps.len())];
                self.move_time(Duration::from_secs(by));
            }
            self.round();
        }
        self.quiet();
        let mut text = self
            .output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        text.push_str(&self.world.notices.text());
        text.push_str(&log.lock().unwrap_or_else(PoisonError::into_inner));
        for secret in self.world.secrets() {
            if !secret.is_empty() && text.contains(&secret) {
                let shown: String = secret.chars().take(6).collect();
                self.violated(Violation::Secret(format!(
                    "a secret ({shown}…) was written"
                )));
            }
        }
        Ran {
            violations: self.violations,
            trace: self.trace.unwrap_or_default(),
            counts: self.counts,
            draws: self.choices.drawn().to_vec(),
        }
    }

    /// One round: one to three runs, started at chosen steps, until all have ended.
    fn round(&mut self) {
        let count = 1 + self.choices.below(3);
        let mut starts: Vec<(u64, Cmd, Option<String>)> = (0..count)
            .map(|_| {
                let at = self.step + self.choices.below(12) as u64;
                let cmd = Cmd::ALL[self.choices.weighted(&Cmd::WEIGHTS)];
                let only = (self.world.targets.len() > 1 && self.choices.chance(300)).then(|| {
                    self.world.targets[self.choices.below(self.world.targets.len())]
                        .name
                        .clone()
                });
                (at, cmd, only)
            })
            .collect();
        let begin = self.step;
        loop {
            let now = self.step;
            let (due, later): (Vec<_>, Vec<_>) = starts.into_iter().partition(|s| s.0 <= now);
            starts = later;
            for (_, cmd, only) in due {
                self.start(cmd, only);
            }
            self.settle();
            if self.live.is_empty() && starts.is_empty() {
                return;
            }
            if self.step - begin > MAX_ROUND_STEPS {
                self.violated(Violation::Run(format!(
                    "runs still going after {MAX_ROUND_STEPS} steps"
                )));
                self.crash_all();
                return;
            }
            self.step += 1;
            self.counts.steps += 1;
            if self.gate.is_empty() {
                if !starts.is_empty() && self.live.is_empty() {
                    continue;
                }
                if self.mix.people && self.choices.chance(50) {
                    self.person();
                }
                if !self.world.clock.advance_to_next() && self.gate.is_empty() {
                    self.settle();
                    if self.gate.is_empty() && !self.live.is_empty() && !self.has_timer() {
                        self.violated(Violation::Run("a run waits on nothing".into()));
                        self.crash_all();
                        return;
                    }
                }
                self.traffic();
                continue;
            }
            let weights = [
                85,
                4,
                if self.mix.people { 7 } else { 0 },
                if self.mix.crashes { 2 } else { 0 },
            ];
            match self.choices.weighted(&weights) {
                0 => self.release(),
                1 => {
                    let by = [1, 5, 30, 120][self.choices.below(4)];
                    self.move_time(Duration::from_secs(by));
                }
                2 => self.person(),
                _ => self.crash(),
            }
        }
    }

    fn has_timer(&self) -> bool {
        self.world.clock.next_deadline().is_some()
    }

    /// Starts a run of `cmd` (for target `only`, or all).
    fn start(&mut self, cmd: Cmd, only: Option<String>) {
        let id = self.next_run;
        self.next_run += 1;
        self.counts.runs += 1;
        self.note(|| {
            format!(
                "run{id} starts: {}{}",
                cmd.name(),
                only.as_deref()
                    .map(|t| format!(" --target {t}"))
                    .unwrap_or_default()
            )
        });
        let hook = self.gate.hook(id);
        let iam = self.world.iam.with_hook(hook.clone());
        let clock: Arc<dyn rotator::Clock> = self.world.clock.clone();
        let dial = MemoryDial::new(std::slice::from_ref(&self.world.emu), hook, clock.clone());
        let config = self.world.config.clone();
        let operator = self.world.operator();
        let notices = self.world.notices.clone();
        let ids = self.ids.clone();
        let output = self.output.clone();
        let future = async move {
            let clients = Clients {
                iam: &iam,
                soracom: &operator,
                dial: &dial,
                notify: &notices,
                progress: &NoProgress,
                clock: &*clock,
                ids: &*ids,
            };
            let now = clock.now();
            let ended = match invoke(&config, only.as_deref(), cmd.request(), now, clients).await {
                Ok(Outcome::Run(report)) => Ended {
                    code: Some(report.exit_code()),
                    output: format!(
                        "{}\n{}\n",
                        serde_json::to_string(&report).unwrap_or_default(),
                        report.render_text(None)
                    ),
                },
                Ok(Outcome::Status(s)) => Ended {
                    code: Some(if s.errors.is_empty() { 0 } else { 1 }),
                    output: s.render_text(None),
                },
                Err(e) => Ended {
                    code: Some(1),
                    output: format!("error: {e}\n"),
                },
            };
            output
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_str(&ended.output);
            ended
        };
        self.runs.start(id, future);
        self.live.insert(
            id,
            Live {
                cmd,
                view: RunView::new(cmd == Cmd::Emergency),
                moved: false,
                started: self.step,
            },
        );
    }

    /// Polls the runs until each waits, and notes those that ended.
    fn settle(&mut self) {
        if let Err(e) = self.runs.settle() {
            self.violated(Violation::Run(e));
            self.crash_all();
        }
        for (id, ended) in self.runs.take_ended() {
            let live = self.live.remove(&id);
            let cmd = live.as_ref().map(|l| l.cmd);
            let moved = live.is_some_and(|l| l.moved);
            let code = ended
                .code
                .map_or_else(|| "crashed".to_string(), |c| c.to_string());
            *self.counts.exits.entry(code.clone()).or_default() += 1;
            let text = ended
                .output
                .split_once('\n')
                .map_or("", |(_, t)| t)
                .trim_end()
                .replace('\n', "\n        | ");
            self.note(|| format!("run{id} ended: exit {code}\n        | {text}"));
            // An emergency that did not finish stays recorded (every later run tries to
            // finish it) and may need a person: the exposed key's slot is only freed by
            // the delete delay or by hand.
            if cmd == Some(Cmd::Emergency) && ended.code != Some(0) {
                self.needs_human = true;
            }
            // A rollback returns to the old key: how old it may grow then is the
            // operator's choice (the tool warns: AT RISK, the deadline rung, exit 3).
            if cmd == Some(Cmd::Rollback) && (acted(&ended.output) || moved) {
                self.rolled_back = true;
            }
            // What the tool reports when a fresh look stopped it: counted, so that a
            // schedule that leads there can be recorded as a regression.
            for (said, event) in [
                ("where someone put it after this run read it", "kept:person-moved-reference"),
                ("not done, the state changed since this run observed it: delete the failed canary", "kept:canary-set-in-use"),
                ("not done, the state changed since this run observed it: deactivate", "kept:deactivation-stopped"),
                ("leasing the target to retire keys", "kept:retirement-stepped-back"),
                ("leasing the target for the rollback", "kept:rollback-stepped-back"),
                ("leasing the target to move references", "kept:cutover-stepped-back"),
                ("right before the first move: credential set", "kept:set-changed-before-move"),
                ("which is not this target's; it is not retired", "kept:key-held-elsewhere"),
                ("is new and this run did not prove it", "kept:waited-for-a-new-key"),
                ("(a key in flight); this run changes nothing", "kept:key-in-flight-left-alone"),
                ("its set is referenced again (recorded anew", "kept:returned-cutover-forgotten"),
                ("right before the first move: another run started", "kept:set-appeared-before-move"),
                ("before moving back: a key references go back to is new", "kept:waited-before-moving-back"),
            ] {
                if ended.output.contains(said) {
                    self.counts.event(event);
                }
            }
            if let (Some(cmd), Some(c)) = (cmd, ended.code) {
                self.last_exit = Some((cmd, c, ended.output));
            }
        }
    }

    fn crash_all(&mut self) {
        for id in self.runs.live() {
            self.kill(id);
        }
    }

    /// Crashes a live run, wherever it is.
    fn crash(&mut self) {
        let live = self.runs.live();
        let Some(&id) = live.get(self.choices.below(live.len())) else {
            return;
        };
        self.counts.crashes += 1;
        self.note(|| format!("run{id} crashes"));
        self.kill(id);
    }

    /// Drops run `id` where it is, as a killed process or a Lambda timeout ends it.
    fn kill(&mut self, id: usize) {
        self.runs.crash(id);
        self.gate.forget(id);
        let _ = self.runs.take_ended();
        *self.counts.exits.entry("crashed".into()).or_default() += 1;
        // An emergency that did not finish, or a rollback that acted: see `settle`.
        match self.live.remove(&id) {
            Some(l) if l.cmd == Cmd::Emergency => self.needs_human = true,
            Some(l) if l.cmd == Cmd::Rollback && l.moved => self.rolled_back = true,
            _ => {}
        }
    }

    /// A person acts.
    fn person(&mut self) {
        let step = self.step;
        let leases = self.ledger.leases_taken.len();
        if let Some(act) = person::act(&mut self.world, &mut self.ledger, &mut self.choices, step) {
            // A dead run's leftover lease keeps no one apart: only one taken while runs are
            // at work counts.
            if self.live.is_empty() {
                self.ledger.leases_taken.truncate(leases);
            }
            self.counts.person_acts += 1;
            self.counts.event("person");
            self.needs_human |= act.needs_human;
            self.note(|| format!("person: {}", act.what));
        }
    }

    /// Lets `by` pass, and production traffic flow.
    fn move_time(&mut self, by: Duration) {
        self.counts.time_moves += 1;
        self.world.advance(by);
        self.note(|| format!("time +{}s", by.as_secs()));
        self.traffic();
    }

    /// Production traffic through every reference, at most once a simulated minute: a
    /// usable set's key is used (IAM shows it hours later) and the set marked used; a
    /// reference that cannot carry traffic leaves an error log, as Funnel does.
    fn traffic(&mut self) {
        let now = self.world.clock_now();
        if self
            .last_traffic
            .is_some_and(|t| now - t < time::Duration::minutes(1))
        {
            return;
        }
        // Traffic flowed all the while time moved: IAM shows the use it has caught up
        // with (hours late), not the use of the last move.
        let during = self
            .last_traffic
            .map(|t| (now - LAST_USE_LAG).max(t))
            .filter(|t| *t < now);
        self.last_traffic = Some(now);
        let snap = Snapshot::take(&self.world);
        let helper = self.world.iam.helper();
        let at_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        for (_, set) in snap.references() {
            if snap.usable(&set) {
                if let Some(key) = snap.sets.get(&set).and_then(|s| s.key.clone()) {
                    if let Some(at) = during {
                        let _ = at_once(helper.use_key_at(&key, "kinesis", "ap-northeast-1", at));
                    }
                    let _ = at_once(helper.use_key(&key, "kinesis", "ap-northeast-1"));
                }
                self.world.emu.mark_credential_used(&set, at_ms);
            } else {
                self.world.emu.emit_log(soracom_emulator::LogEntry {
                    service: soracom_emulator::LogService::Funnel,
                    resource_type: soracom_emulator::LogResourceType::Subscriber,
                    resource_id: "440101234567890".into(),
                    time: at_ms,
                    log_level: soracom_emulator::LogLevel::Error,
                    body: serde_json::json!({"message": "Failed to put record: The security token included in the request is invalid.", "statusCode": 400})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                });
            }
        }
    }

    /// Lets a waiting call through, with a fault perhaps, and checks what it did.
    fn release(&mut self) {
        let calls = self.gate.len();
        let Some(pending) = self.gate.take(self.choices.below(calls)) else {
            return;
        };
        let (verdict, after_fault) = self.verdict(&pending);
        let run = pending.run;
        let op = pending.call.op.clone();
        let subject = pending.call.subject.clone();
        let acts = !matches!(verdict, Verdict::Refuse(_));
        let watched = acts && may_change(&op);
        let before = watched.then(|| Snapshot::take(&self.world));
        self.counts.calls += 1;
        self.note(|| format!("run{run} {} {} -> {verdict:?}", op, pending.call.subject));
        let hang = matches!(verdict, Verdict::ActThenHang) && pending.call.port == Port::Iam;
        pending.answer(verdict);
        let step = self.step;
        // What the run had read before this call is what it acted on.
        let view = self
            .live
            .get(&run)
            .map_or_else(|| RunView::new(false), |l| l.view.clone());
        if acts {
            if let Some(l) = self.live.get_mut(&run) {
                l.view.saw(&op, step);
                l.moved |= moves_or_switches(&op);
            }
        }
        self.settle();
        if acts {
            let read = self.holders_read(&op, &subject);
            if let Some(l) = self.live.get_mut(&run) {
                l.view.read_holders(&read, step);
            }
        }
        after_fault(&self.world);
        if let Some(before) = before {
            self.check(run, (&view, &op), &before);
        }
        if hang {
            // A process that died right after its call succeeded.
            self.note(|| format!("run{run} dies after its call"));
            self.kill(run);
        }
    }

    /// The holders call `op` on `subject` showed its run: a get, its holder; the handlers'
    /// listing, every handler; a page of groups or VPGs, every one after its
    /// `last_evaluated_key` (ids ascend; the next page re-reads those past this one).
    fn holders_read(&self, op: &str, subject: &str) -> Vec<String> {
        let tail = |prefix: &str| {
            subject
                .rsplit('/')
                .next()
                .map(|id| format!("{prefix}:{id}"))
        };
        let after = || {
            self.world
                .emu
                .last_request(op)
                .and_then(|r| r.query)
                .and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("last_evaluated_key=").map(str::to_string))
                })
        };
        let page = |prefix: &str, ids: Vec<String>| {
            let after = after();
            ids.into_iter()
                .filter(|id| after.as_deref().is_none_or(|a| id.as_str() > a))
                .map(|id| format!("{prefix}:{id}"))
                .collect::<Vec<_>>()
        };
        let ids = |items: Vec<Value>, field: &str| -> Vec<String> {
            items
                .iter()
                .filter_map(|v| v[field].as_str().map(str::to_string))
                .collect()
        };
        match op {
            "getGroup" => tail("group").into_iter().collect(),
            "getEventHandler" => tail("handler").into_iter().collect(),
            "getVirtualPrivateGateway" => tail("vpg").into_iter().collect(),
            "listEventHandlers" => ids(self.world.emu.event_handlers(), "handlerId")
                .into_iter()
                .map(|id| format!("handler:{id}"))
                .collect(),
            "listGroups" => page("group", ids(self.world.emu.groups(), "groupId")),
            "listVirtualPrivateGateways" => page("vpg", ids(self.world.emu.vpgs(), "vpgId")),
            _ => Vec::new(),
        }
    }

    /// The oracles of one call that acted.
    fn check(&mut self, run: usize, (view, op): (&RunView, &str), before: &Snapshot) {
        let after = Snapshot::take(&self.world);
        if op == "CreateAccessKey" {
            for id in after.keys.keys().filter(|k| !before.keys.contains_key(*k)) {
                self.ledger.tool_keys.insert(id.clone());
                self.made_by.insert(id.clone(), (run, after.now));
            }
        }
        if op == "DeleteAccessKey" {
            self.in_flight_kept(run, before, &after);
        }
        let limit = before
            .keys
            .keys()
            .filter(|k| !after.keys.contains_key(*k) && self.ledger.announced_over.contains(*k))
            .count();
        for _ in 0..limit {
            self.counts.event("limit:announced-key-taken");
        }
        let step = StepCheck {
            run: view,
            targets: &self.world.targets,
            ledger: &self.ledger,
            seed_keys: &self.world.seed_keys,
            before,
            after: &after,
        };
        let found = step.violations();
        let kept = if found.is_empty() {
            step.rewrote_after_a_person()
        } else {
            Vec::new()
        };
        for v in found {
            // A promise a lease keeps, broken while people act, after a person took a lease
            // away while a run still at work was: a known limit, counted.
            let started = self
                .live
                .values()
                .map(|l| l.started)
                .min()
                .unwrap_or(u64::MAX);
            let taken = self.ledger.leases_taken.iter().any(|s| *s >= started);
            if self.mix.people && taken && v.kept_by_a_lease() {
                self.counts.event("limit:lease-taken");
                self.note(|| format!("limit (a person took a lease away): {v}"));
                continue;
            }
            self.violated(v);
        }
        for holder in kept {
            self.counts.event("kept:person-change-beside");
            self.note(|| {
                format!(
                    "kept: {holder} written keeping what a person changed after the run read it"
                )
            });
        }
    }

    /// Invariant 2's in-flight half: a key another run made less than the in-flight limit
    /// ago, while that run is still at work and has not abandoned it, is never deleted by
    /// a run — only the run that made it may give it up.
    fn in_flight_kept(&mut self, run: usize, before: &Snapshot, after: &Snapshot) {
        for (id, k) in before
            .keys
            .iter()
            .filter(|(id, _)| !after.keys.contains_key(*id))
        {
            let Some(&(maker, made)) = self.made_by.get(id) else {
                continue;
            };
            let abandoned = before.tags.get(&k.user).is_some_and(|tags| {
                tags.iter()
                    .any(|(t, v)| t == id && v.starts_with("soracom-key-rotator/abandoned/"))
            });
            let young = after.now < made + IN_FLIGHT_LIMIT;
            if maker != run && self.live.contains_key(&maker) && young && !abandoned {
                self.violated(Violation::InFlight(format!(
                    "key {id} of {} deleted by run{run} while run{maker}, which made it at {made}, is still at work",
                    k.user
                )));
            }
        }
    }

    /// The verdict for a call: mostly to proceed; with faults on, sometimes a failure of
    /// the kinds the ports meet. Some SORACOM failures are the emulator's own (429 with
    /// its headers, an expired token, a page that claims more): armed for this call, and
    /// undone after it by the returned function.
    fn verdict(&mut self, p: &Pending) -> (Verdict, Undo) {
        let nothing: Undo = Box::new(|_| {});
        if !self.mix.faults {
            return (Verdict::Proceed, nothing);
        }
        let soracom = p.call.port == Port::Soracom;
        let weights = [930, 10, 10, 6, 12, 4, 8, 6, 6, 8];
        let pick = self.choices.weighted(&weights);
        let status = |status: u16, code: &str| Failure::Status {
            status,
            code: code.to_string(),
        };
        let server = Failure::server(p.call.port);
        let throttled = if soracom {
            status(429, "COM0005")
        } else {
            status(400, "Throttling")
        };
        let (verdict, name) = match pick {
            0 => return (Verdict::Proceed, nothing),
            1 => (Verdict::Refuse(Failure::Timeout), "refused-timeout"),
            2 => (Verdict::Refuse(server), "refused-500"),
            3 => (Verdict::Refuse(throttled), "refused-throttled"),
            4 => (Verdict::ActThenFail(server), "acted-then-500"),
            5 => (Verdict::ActThenFail(Failure::Timeout), "acted-then-timeout"),
            6 => (Verdict::ActThenHang, "acted-then-died"),
            7 if !soracom && p.call.op == "CreateAccessKey" => {
                (Verdict::ActThenAlter, "wrong-secret-answered")
            }
            8 if soracom => {
                self.world.emu.add_fault(Fault {
                    operation: p.call.op.clone(),
                    nth: 1,
                    times: 1,
                    kind: FaultKind::RateLimited {
                        seconds_before_refresh: 2,
                    },
                });
                (Verdict::Proceed, "429-with-headers")
            }
            9 if soracom && p.call.op != "auth" => {
                self.world.emu.expire_tokens();
                (Verdict::Proceed, "token-expired")
            }
            7 if soracom && p.call.op.starts_with("list") => {
                self.world.emu.set_paging_mode(PagingMode::RepeatKey);
                self.counts.faults += 1;
                self.counts.event("fault:page-claims-more");
                return (
                    Verdict::Proceed,
                    Box::new(|w: &SimWorld| w.emu.set_paging_mode(PagingMode::Documented)),
                );
            }
            _ => return (Verdict::Proceed, nothing),
        };
        self.counts.faults += 1;
        self.counts.event(&format!("fault:{name}"));
        (verdict, nothing)
    }

    /// The world goes quiet: the runs still going finish, then reconciles run over more
    /// than a key's life, each when the last said something is next due; keys stay within
    /// their age and the targets settle into one current set, every reference on it.
    fn quiet(&mut self) {
        self.mix = Mix::default();
        self.note(|| "quiet".into());
        self.drain();
        let start = self.world.clock_now();
        let fresh: Vec<String> = Snapshot::take(&self.world)
            .keys
            .iter()
            .filter(|(_, k)| k.active && (start - k.created).whole_days() <= LEAD_DAYS)
            .map(|(id, _)| id.clone())
            .collect();
        let mut runs = 0;
        loop {
            self.deadline(&fresh, start);
            self.last_exit = None;
            self.start(Cmd::Reconcile, None);
            self.drain();
            runs += 1;
            let (code, output) = self
                .last_exit
                .take()
                .map_or((None, String::new()), |(_, c, o)| (Some(c), o));
            let refused_busy = code == Some(3) && only_busy(&output);
            if code != Some(0) && !self.needs_human && !self.rolled_back && !refused_busy {
                self.violated(Violation::Run(format!("a quiet reconcile exited {code:?}")));
            }
            let now = self.world.clock_now();
            let idle = code == Some(0) && !acted(&output);
            if idle && now - start >= time::Duration::days(QUIET_DAYS) {
                break;
            }
            // Convergence is owed only where no person left the tool something it must
            // not touch: a few runs show the rest holds.
            let cap = if self.needs_human {
                MAX_QUIET_RUNS / 5
            } else {
                MAX_QUIET_RUNS
            };
            if runs >= cap {
                if !self.needs_human {
                    self.violated(Violation::NoConvergence(format!(
                        "still acting after {runs} quiet reconciles"
                    )));
                }
                return;
            }
            // A run that acted planned before it acted: what its acts made due shows in
            // the next run's plan.
            let next = if acted(&output) {
                now + time::Duration::hours(1)
            } else {
                next_due(&output, now).unwrap_or(now + time::Duration::days(1))
            };
            let wait = (next - now).clamp(time::Duration::minutes(1), time::Duration::days(30));
            self.move_time(Duration::try_from(wait).unwrap_or(Duration::from_secs(86_400)));
        }
        self.deadline(&fresh, start);
        if !self.needs_human {
            self.converged();
        }
    }

    /// Lets every live run finish: each call proceeds, time passes when they wait.
    fn drain(&mut self) {
        for _ in 0..MAX_ROUND_STEPS {
            self.settle();
            if self.live.is_empty() {
                return;
            }
            self.step += 1;
            self.counts.steps += 1;
            if self.gate.is_empty() {
                if !self.world.clock.advance_to_next() {
                    self.violated(Violation::Run("a run waits on nothing".into()));
                    self.crash_all();
                    return;
                }
                self.traffic();
                continue;
            }
            self.release();
        }
        self.violated(Violation::Run(format!(
            "runs still going after {MAX_ROUND_STEPS} steps"
        )));
        self.crash_all();
    }

    /// No active key the tool could rotate in time is at or past `max_key_age_days`.
    fn deadline(&mut self, fresh: &[String], start: OffsetDateTime) {
        if self.needs_human || self.rolled_back {
            return;
        }
        let snap = Snapshot::take(&self.world);
        for (id, k) in &snap.keys {
            let in_scope = fresh.contains(id) || k.created > start;
            if k.active && in_scope && (snap.now - k.created).whole_days() >= MAX_KEY_AGE_DAYS {
                self.violated(Violation::Deadline(format!(
                    "key {id} of {} active at {} days",
                    k.user,
                    (snap.now - k.created).whole_days()
                )));
            }
        }
    }

    /// One current set per target, every reference of its on it and usable, at most two
    /// keys, nothing in flight.
    fn converged(&mut self) {
        let snap = Snapshot::take(&self.world);
        let targets = self.world.targets.clone();
        for t in &targets {
            let on: std::collections::BTreeSet<String> = snap
                .references()
                .into_iter()
                .filter(|(_, s)| t.owns_name(s))
                .map(|(_, s)| s)
                .collect();
            if on.len() != 1 || !on.iter().all(|s| snap.usable(s)) {
                self.violated(Violation::NoConvergence(format!(
                    "{}: references on {on:?}, not on one usable set",
                    t.name
                )));
            }
            let keys = snap.keys.values().filter(|k| k.user == t.user).count();
            if keys > 2 {
                self.violated(Violation::NoConvergence(format!("{}: {keys} keys", t.name)));
            }
            let in_flight = snap.tags.get(&t.user).into_iter().flatten().any(|(k, v)| {
                k.starts_with("soracom-key-rotator:creating:")
                    || k.starts_with("soracom-key-rotator:run:")
                    || v.starts_with("soracom-key-rotator/in-flight")
                    || v.starts_with("soracom-key-rotator/abandoned")
            });
            if in_flight {
                self.violated(Violation::NoConvergence(format!(
                    "{}: left in flight",
                    t.name
                )));
            }
        }
    }
}

/// Whether `op` writes a reference or switches a key: what a rollback does once it acts
/// (a rollback that died after one counts as rolled back).
fn moves_or_switches(op: &str) -> bool {
    matches!(
        op,
        "putConfigurationParameters"
            | "deleteConfigurationParameter"
            | "updateEventHandler"
            | "setInspectionConfiguration"
            | "UpdateAccessKey"
    )
}

/// Whether a report's JSON shows a step taken.
fn acted(output: &str) -> bool {
    let Some(Ok(value)) = output.lines().next().map(serde_json::from_str::<Value>) else {
        return false;
    };
    value["targets"].as_array().is_some_and(|ts| {
        ts.iter()
            .any(|t| t["steps"].as_array().is_some_and(|s| !s.is_empty()))
    })
}

/// Whether every refusal in a report's JSON is another run at work (which ends by itself
/// when that run finishes, or when its window passes if it died).
fn only_busy(output: &str) -> bool {
    let Some(Ok(value)) = output.lines().next().map(serde_json::from_str::<Value>) else {
        return false;
    };
    value["targets"].as_array().is_some_and(|ts| {
        ts.iter().all(|t| {
            let r = &t["plan"]["refusal"];
            r.is_null() || r["code"] == "busy"
        })
    })
}

/// The earliest `due` time after `now` in a report's JSON.
fn next_due(output: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let json = output.lines().next()?;
    let value: Value = serde_json::from_str(json).ok()?;
    let mut dues = Vec::new();
    collect_dues(&value, &mut dues);
    dues.into_iter().filter(|d| *d > now).min()
}

fn collect_dues(v: &Value, out: &mut Vec<OffsetDateTime>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                // When something is due; when a run that died is cleaned up.
                if k == "due" || k == "until" {
                    if let Some(t) = v.as_str().and_then(|s| {
                        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                            .ok()
                    }) {
                        out.push(t);
                    }
                }
                collect_dues(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_dues(v, out)),
        _ => {}
    }
}

/// `dN+HH:MM:SS`: day N of the schedule (day 0 is the epoch's date).
fn hms(t: OffsetDateTime) -> String {
    let epoch = OffsetDateTime::from_unix_timestamp(crate::world::EPOCH_UNIX).unwrap_or(t);
    let day = (t.date() - epoch.date()).whole_days();
    format!("d{day}+{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}
