//! The command line run in-process on a world's in-memory fakes: the [`Machine`] it sees
//! (the fakes, an environment, a home) and the log it writes, captured per run.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rotator::{Clock, Deliver, Delivery, Ids, NoProgress, Progress};
use rotator_core::config::NotifySettings;
use rotator_core::notify::Notice;
use soracom_key_rotator::{Ran, System};
use testkit::fake::iam::FakeIam;
use testkit::fake::soracom::MemoryDial;
use testkit::world::Fakes;
use tracing::instrument::WithSubscriber;

/// What an in-process run of the command line sees: the world's fakes, its environment
/// and its home. Owned, so a run can go on in a task of its own (runs that overlap).
#[derive(Clone)]
pub struct Machine {
    pub fakes: Fakes,
    pub vars: BTreeMap<String, String>,
    pub home: PathBuf,
    pub told: Recorder,
}

/// The notices runs sent, as a webhook or SNS would have received them.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Notice>>>);

impl Deliver for Recorder {
    fn deliver<'a>(
        &'a self,
        _: &'a NotifySettings,
        notices: &'a [Notice],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (Delivery, Vec<bool>)> + Send + 'a>>
    {
        Box::pin(async move {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(notices.iter().cloned());
            let d = Delivery {
                sent: notices.len(),
                failed: 0,
            };
            (d, vec![true; notices.len()])
        })
    }
}

impl System for Machine {
    type Iam = FakeIam;
    type Dial = MemoryDial;
    type Deliver = Recorder;

    async fn iam(&self, _timeout: Duration) -> FakeIam {
        self.fakes.iam.clone()
    }

    fn dial(&self) -> &MemoryDial {
        &self.fakes.dial
    }

    fn deliver(&self, _iam: &FakeIam) -> Recorder {
        self.told.clone()
    }

    fn clock(&self) -> &dyn Clock {
        &*self.fakes.clock
    }

    fn ids(&self) -> &dyn Ids {
        &*self.fakes.ids
    }

    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn home(&self) -> Option<PathBuf> {
        Some(self.home.clone())
    }

    fn progress(&self) -> &dyn Progress {
        &NoProgress
    }
}

/// A log writer into a buffer of one run.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many `-v` the arguments give (the binary's log level follows them).
fn verbosity(args: &[String]) -> u8 {
    let mut n = 0u8;
    for a in args {
        if a == "--verbose" {
            n = n.saturating_add(1);
        } else if let Some(vs) = a.strip_prefix('-').filter(|r| !r.starts_with('-')) {
            if !vs.is_empty() && vs.bytes().all(|b| b == b'v') {
                n = n.saturating_add(u8::try_from(vs.len()).unwrap_or(u8::MAX));
            }
        }
    }
    n
}

/// Runs the command line `args` (without the program's name) on `machine`, with the log
/// the binary would write (at the level its `-v` sets) captured: the run and its log.
pub async fn run(machine: Machine, args: Vec<String>) -> (Ran, Vec<u8>) {
    let ours = match verbosity(&args) {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "warn,rotator={ours},soracom_key_rotator={ours}"
        )))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let argv: Vec<OsString> = std::iter::once(OsString::from("soracom-key-rotator"))
        .chain(args.into_iter().map(OsString::from))
        .collect();
    let ran = soracom_key_rotator::run(argv, &machine)
        .with_subscriber(subscriber)
        .await;
    let log = buffer
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    (ran, log)
}
