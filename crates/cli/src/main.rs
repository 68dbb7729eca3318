//! `soracom-key-rotator`: the binary. It gives the command line ([`soracom_key_rotator::run`])
//! the real system — AWS credentials from the environment, SORACOM over HTTPS, the machine's
//! clock, notifications over SNS and webhooks — sets up the log on stderr, prints what the
//! run gives and exits with its code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rotator::soracom::HttpDial;
use rotator::{AwsIam, Channels, Clock, Ids, OsIds, Progress, SystemClock};
use soracom_key_rotator::{run_parsed, Cli, System};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let clock = Arc::new(SystemClock::new());
    let real = Real {
        dial: HttpDial {
            clock: clock.clone(),
        },
        clock,
        ids: OsIds::default(),
        bar: Bar::default(),
    };
    let ran = runtime.block_on(run_parsed(cli, &real));
    if !ran.stderr.is_empty() {
        eprint!("{}", ran.stderr);
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(ran.stdout.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::from(ran.code),
        // Whoever read stdout stopped (a closed pipe, as with `| head`): not an error, as
        // ripgrep has it.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            ExitCode::from(1)
        }
    }
}

/// Our crates log at the chosen level; every other crate stays at `warn`, so that no
/// dependency's request dump can reach the log at any verbosity.
fn init_logging(verbose: u8) {
    let ours = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "warn,rotator={ours},soracom_key_rotator={ours}"
    ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The machine this runs on.
struct Real {
    dial: HttpDial,
    clock: Arc<SystemClock>,
    ids: OsIds,
    bar: Bar,
}

impl System for Real {
    type Iam = AwsIam;
    type Dial = HttpDial;
    type Deliver = Channels;

    async fn iam(&self, timeout: Duration) -> AwsIam {
        AwsIam::from_env_with_timeout(timeout).await
    }

    fn dial(&self) -> &HttpDial {
        &self.dial
    }

    fn deliver(&self, iam: &AwsIam) -> Channels {
        Channels {
            sdk: iam.sdk_config().clone(),
        }
    }

    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    fn ids(&self) -> &dyn Ids {
        &self.ids
    }

    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }

    fn width(&self) -> Option<u16> {
        let columns = std::env::var("COLUMNS").ok();
        match columns.and_then(|c| c.trim().parse::<u16>().ok()) {
            Some(c) if c > 0 => Some(c),
            // The terminal's, when stdout is one.
            _ => console::Term::stdout()
                .size_checked()
                .map(|(_, columns)| columns),
        }
    }

    fn progress(&self) -> &dyn Progress {
        if std::io::stderr().is_terminal() {
            &self.bar
        } else {
            &rotator::NoProgress
        }
    }
}

/// A progress bar on stderr, used only when stderr is a terminal.
#[derive(Default)]
struct Bar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl Progress for Bar {
    fn start(&self, label: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_message(label.to_string());
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
            bar.set_style(style);
        }
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bar);
    }

    fn advance(&self) {
        if let Some(b) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            b.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(b) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            b.finish_and_clear();
        }
    }
}
