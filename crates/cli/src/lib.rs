//! `soracom-key-rotator`: the command-line face of the `rotator` library, as a library.
//!
//! [`run`] turns arguments into a validated configuration, runs the library's engine with
//! the ports a [`System`] gives, and returns the report (text or one JSON document) for
//! stdout, the error for stderr, and the exit code (docs/commands.md): 0 done or nothing due, 1
//! failed (rerun resumes), 2 usage or configuration error, 3 refused by a safety rule. The
//! binary (`main.rs`) gives it the real system: AWS credentials from the environment,
//! SORACOM over HTTPS, the machine's clock. Tests give it in-memory fakes and run it
//! in-process, in simulated time.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rotator::soracom::{auth, Dial};
use rotator::{
    invoke, Clients, Clock, Command, Deliver, IamApi, Ids, InvokeError, NoProgress, Outcome,
    Progress, Request,
};
use rotator_core::config::SoracomSettings;
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::{policy, Config};
use time::OffsetDateTime;

mod selfkey;

/// What the command line runs with: the outside world, real in the binary, fake in tests.
pub trait System: Sync {
    /// The IAM port.
    type Iam: IamApi;
    /// How SORACOM is reached.
    type Dial: Dial;
    /// Where notices go.
    type Deliver: Deliver;
    /// The IAM port of the environment's AWS credentials, each attempt bounded by `timeout`.
    fn iam(&self, timeout: Duration) -> impl Future<Output = Self::Iam> + Send;
    /// How SORACOM is reached.
    fn dial(&self) -> &Self::Dial;
    /// The notification channels of a run whose IAM port is `iam`.
    fn deliver(&self, iam: &Self::Iam) -> Self::Deliver;
    /// The time, and every wait.
    fn clock(&self) -> &dyn Clock;
    /// Run ids and random bytes.
    fn ids(&self) -> &dyn Ids;
    /// An environment variable.
    fn var(&self, name: &str) -> Option<String>;
    /// The user's home directory (soracom-cli profiles).
    fn home(&self) -> Option<PathBuf>;
    /// Where repointing progress is drawn (a bar on a terminal).
    fn progress(&self) -> &dyn Progress;
    /// The columns text output fits in: `COLUMNS` when set (a test, a pipe read by a
    /// person), else none (every table row on one line). The binary adds the terminal's.
    fn width(&self) -> Option<u16> {
        self.var("COLUMNS")
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|&c| c > 0)
    }
}

/// What one run of the command line gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// The exit code.
    pub code: u8,
    /// What goes to stdout: the report (text or JSON).
    pub stdout: String,
    /// What goes to stderr besides the log: warnings and the error.
    pub stderr: String,
}

/// Rotate the AWS access keys that SORACOM keeps in its credentials store.
#[derive(Parser, Debug)]
#[command(name = "soracom-key-rotator", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(
        long,
        global = true,
        default_value = "soracom-key-rotator.toml",
        value_name = "FILE"
    )]
    config: PathBuf,
    /// Output format of the report on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Plan as if it were this time (RFC 3339, e.g. 2026-11-28T00:00:00Z).
    #[arg(long, global = true, value_name = "RFC3339")]
    now: Option<String>,
    /// More log detail on stderr (-v, -vv, -vvv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Cmd,
}

/// The format of the report on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For a human.
    Text,
    /// One JSON document.
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show what reconcile would do now; change nothing.
    Plan {
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
    },
    /// Do what is due: repair, rotate if due, retire old keys if due.
    Reconcile {
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        /// Show the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rotate now even if not due.
    Rotate {
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        /// Show the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The key is exposed: once every reference is on the new key, deactivate the old
        /// one at once (use after the cutover is reported, not waited on). Run it again to
        /// finish an emergency that failed part-way.
        #[arg(long)]
        emergency: bool,
        /// With --emergency: the exposed access key id. Default: the current key, unless an
        /// emergency is still to finish (a recorded exposed key of the target still active,
        /// or one recorded less than a day ago). Repeat for several.
        #[arg(long = "key", value_name = "ACCESS_KEY_ID", requires = "emergency")]
        keys: Vec<String>,
    },
    /// Only the retire steps that are due (deactivate, then delete old keys and sets).
    Retire {
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        /// Show the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Point every reference back to the previous set and deactivate the new key, while
    /// the previous key is still active.
    Rollback {
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        /// Show the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Keys, sets, references, what is due when, and compliance.
    Status {
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
    },
    /// Print the least-privilege IAM policy and SORACOM SAM permission for this config.
    Policy {
        /// AWS account id for the user ARNs (default: any account, `*`).
        #[arg(long, default_value = "*")]
        account: String,
        /// What `discover` and `init` need instead (no configuration is read).
        #[arg(long)]
        discover: bool,
        /// Also what `migrate-to-role` needs (creating the targets' roles): only for
        /// whoever migrates, as it could give itself more.
        #[arg(long, conflicts_with = "discover")]
        migrate: bool,
    },
    /// List every aws-credentials set, the IAM user that owns its key, its holders and the
    /// keys failing Security Hub IAM.3, and propose targets. Needs no configuration file,
    /// only SORACOM and AWS credentials; changes nothing.
    Discover,
    /// Write what `discover` proposes as a commented configuration file (--config, default
    /// ./soracom-key-rotator.toml); an existing file is never overwritten (exit 2).
    Init,
    /// Replace a target's access key with an IAM role: create (or adopt) a role that
    /// trusts SORACOM's AWS account with a generated external id, give it the user's
    /// inline and attached policies, and register it as an aws-iam-role-credentials set.
    /// Moves no reference.
    MigrateToRole {
        /// The target.
        #[arg(long)]
        target: String,
        /// Show the role, its trust policy and every policy it would get; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Replace the SORACOM AuthKey in the soracom-cli profile with a new one, then delete
    /// the old key.
    RotateSoracomKey,
    /// Print a shell completion script (e.g. `completions bash > /etc/bash_completion.d/…`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `man <(soracom-key-rotator man)`; with a command,
    /// that command's page (`soracom-key-rotator-rotate(1)`).
    Man {
        /// The command whose page to print.
        command: Option<String>,
    },
}

/// An error with the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn usage(error: anyhow::Error) -> Failure {
    Failure { code: 2, error }
}

/// Runs the command line `args` (the program's name first) with `sys`.
pub async fn run<S: System>(args: impl IntoIterator<Item = OsString>, sys: &S) -> Ran {
    match Cli::try_parse_from(args) {
        Ok(cli) => run_parsed(cli, sys).await,
        Err(e) => {
            // `--help` and `--version` are not errors: their text goes to stdout.
            let text = e.render().to_string();
            let code = u8::try_from(e.exit_code()).unwrap_or(2);
            if e.use_stderr() {
                Ran {
                    code,
                    stderr: text,
                    ..Ran::default()
                }
            } else {
                Ran {
                    code,
                    stdout: text,
                    ..Ran::default()
                }
            }
        }
    }
}

/// Runs parsed arguments (the binary parses first, to set the log level by `--verbose`).
pub async fn run_parsed<S: System>(cli: Cli, sys: &S) -> Ran {
    let output = cli.output;
    let mut out = Ran::default();
    match main_run(cli, sys, &mut out).await {
        Ok(code) => out.code = code,
        Err(f) => fail(output, f, &mut out),
    }
    out
}

fn fail(output: Output, f: Failure, out: &mut Ran) {
    out.code = f.code;
    match output {
        Output::Text => out.stderr.push_str(&format!("error: {:#}\n", f.error)),
        Output::Json => {
            let doc = serde_json::json!({"error": format!("{:#}", f.error), "exitCode": f.code});
            out.stdout.push_str(&format!("{doc}\n"));
        }
    }
}

/// Adds `text` to what goes to stdout.
fn write_stdout(out: &mut Ran, text: &str) -> Result<(), Failure> {
    out.stdout.push_str(text);
    Ok(())
}

fn print_completions(shell: clap_complete::Shell, out: &mut Ran) -> Result<u8, Failure> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    write_stdout(out, &String::from_utf8_lossy(&script))?;
    Ok(0)
}

fn print_man(command: Option<&str>, out: &mut Ran) -> Result<u8, Failure> {
    use clap::CommandFactory;
    let top = Cli::command();
    let man = match command {
        None => clap_mangen::Man::new(top),
        Some(name) => {
            let title = format!("{}-{name}", top.get_name());
            let sub = top
                .find_subcommand(name)
                .cloned()
                .ok_or_else(|| usage(anyhow::anyhow!("man: no command {name:?} (see --help)")))?;
            clap_mangen::Man::new(sub).title(title)
        }
    };
    let mut page = Vec::new();
    man.render(&mut page).map_err(|e| Failure {
        code: 1,
        error: e.into(),
    })?;
    write_stdout(out, &String::from_utf8_lossy(&page))?;
    Ok(0)
}

async fn main_run<S: System>(cli: Cli, sys: &S, out: &mut Ran) -> Result<u8, Failure> {
    // Neither needs a configuration or credentials.
    match &cli.command {
        Cmd::Completions { shell } => return print_completions(*shell, out),
        Cmd::Man { command } => return print_man(command.as_deref(), out),
        _ => {}
    }
    let now = match &cli.now {
        Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("--now {s:?} is not an RFC 3339 time"))
            .map_err(usage)?,
        None => sys.clock().now(),
    };
    match &cli.command {
        Cmd::Discover => return discover(&cli, now, false, sys, out).await,
        Cmd::Init => return discover(&cli, now, true, sys, out).await,
        Cmd::Policy {
            account,
            discover: true,
            ..
        } => return print_discovery_policy(account, cli.output, out),
        _ => {}
    }
    let config = Config::load(&cli.config).map_err(|e| usage(e.into()))?;
    match &cli.command {
        Cmd::Policy {
            account, migrate, ..
        } => print_policy(&config, (account, *migrate), cli.output, out),
        Cmd::RotateSoracomKey => selfkey::run(&config, cli.output, sys, out).await,
        Cmd::MigrateToRole { target, dry_run } => {
            migrate_to_role(&config, target, *dry_run, cli.output, sys, out).await
        }
        command => match request_of(command)? {
            Some((request, target)) => {
                run_request(&cli, &config, (request, target.as_deref(), now), sys, out).await
            }
            None => Ok(0),
        },
    }
}

/// The request a command of a run makes, with the target it names; `None` for the
/// commands that are not a run.
fn request_of(command: &Cmd) -> Result<Option<(Request, &Option<String>)>, Failure> {
    Ok(Some(match command {
        Cmd::Status { target } => (Request::Status, target),
        Cmd::Plan { target } => (request(Command::Plan, true), target),
        Cmd::Reconcile { target, dry_run } => (request(Command::Reconcile, *dry_run), target),
        Cmd::Rotate {
            target,
            dry_run,
            emergency: true,
            keys,
        } => {
            let keys = keys
                .iter()
                .map(|k| parse_key_id(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(usage)?;
            let request = Request::Emergency {
                keys,
                dry_run: *dry_run,
            };
            (request, target)
        }
        Cmd::Rotate {
            target, dry_run, ..
        } => (request(Command::Rotate, *dry_run), target),
        Cmd::Retire { target, dry_run } => (request(Command::Retire, *dry_run), target),
        Cmd::Rollback { target, dry_run } => (request(Command::Rollback, *dry_run), target),
        _ => return Ok(None),
    }))
}

/// Runs `request` for `target` (all when `None`) at `now`, and prints its report.
async fn run_request<S: System>(
    cli: &Cli,
    config: &Config,
    (request, target, now): (Request, Option<&str>, OffsetDateTime),
    sys: &S,
    out: &mut Ran,
) -> Result<u8, Failure> {
    let writes = matches!(request, Request::Run { command, dry_run: false } if command != Command::Plan)
        || matches!(request, Request::Emergency { dry_run: false, .. });
    if cli.now.is_some() && writes {
        // Tests and sandbox what-ifs need it; in production it would skip delays.
        out.stderr.push_str(
            "warning: --now overrides the clock: the times this run records on the IAM user \
             (cutover, deactivation, keys in flight) are that time, not the real one\n",
        );
    }
    let (endpoint, key, iam) = connect(&config.soracom, sys).await?;
    let progress: &dyn Progress = match cli.output {
        Output::Text => sys.progress(),
        Output::Json => &NoProgress,
    };
    let access = Operators::new(endpoint, key, config, sys);
    let deliver = sys.deliver(&iam);
    let clients = Clients {
        iam: &iam,
        soracom: &access,
        dial: sys.dial(),
        notify: &deliver,
        progress,
        clock: sys.clock(),
        ids: sys.ids(),
    };
    let outcome = invoke(config, target, request, now, clients)
        .await
        .map_err(|e| match e {
            InvokeError::NoSuchTarget(m) => usage(anyhow::anyhow!(m)),
            e @ InvokeError::NotOurs(_) => Failure {
                code: 3,
                error: e.into(),
            },
            InvokeError::Failed(e) => Failure {
                code: 1,
                error: anyhow::Error::from(e)
                    .context("observing AWS and SORACOM; nothing was changed"),
            },
        })?;
    match &outcome {
        Outcome::Run(r) => print_report(cli.output, r, |r| r.render_text(sys.width()), out)?,
        Outcome::Status(s) => print_report(cli.output, s, |s| s.render_text(sys.width()), out)?,
    }
    Ok(outcome.exit_code())
}

/// The SORACOM endpoint and auth key (environment or profile) and the IAM port.
async fn connect<S: System>(
    settings: &SoracomSettings,
    sys: &S,
) -> Result<(Endpoint, AuthKey, S::Iam), Failure> {
    let home = sys.home();
    let env = |k: &str| sys.var(k);
    let (endpoint, key) = auth::resolve(
        &env,
        home.as_deref(),
        settings.coverage,
        settings.profile.as_deref(),
    )
    .map_err(|e| usage(e.into()))?;
    tracing::info!(endpoint = %endpoint.0, "SORACOM endpoint");
    let iam = sys.iam(settings.request_timeout).await;
    Ok((endpoint, key, iam))
}

/// `discover` (report) and `init` (write the proposal to `--config`): no configuration
/// is read; SORACOM's settings are the defaults, its endpoint and auth key come from the
/// environment or the soracom-cli profile as for every command.
async fn discover<S: System>(
    cli: &Cli,
    now: OffsetDateTime,
    init: bool,
    sys: &S,
    out: &mut Ran,
) -> Result<u8, Failure> {
    use rotator_core::discover::DiscoverError;
    let path = &cli.config;
    if init && path.exists() {
        // Before any call: nothing is read when nothing could be written.
        return Err(usage(DiscoverError::Exists(path.clone()).into()));
    }
    let settings = Config::default_soracom().map_err(|e| usage(e.into()))?;
    let (endpoint, key, iam) = connect(&settings, sys).await?;
    let found = rotator::discover(&iam, sys.dial(), (endpoint, key), settings, now)
        .await
        .map_err(|e| Failure {
            code: 1,
            error: anyhow::Error::from(e).context("reading AWS and SORACOM; nothing was changed"),
        })?;
    if !init {
        print_report(cli.output, &found, |d| d.render_text(sys.width()), out)?;
        return Ok(0);
    }
    let code = |e: &DiscoverError| match e {
        DiscoverError::Exists(_) => 2,
        _ => 1,
    };
    let text = found.to_toml(path).map_err(|e| Failure {
        code: code(&e),
        error: e.into(),
    })?;
    rotator_core::discover::write_new(path, &text).map_err(|e| Failure {
        code: code(&e),
        error: e.into(),
    })?;
    match cli.output {
        Output::Text => write_stdout(out, &rotator_core::render::written(path, &found.proposal))?,
        Output::Json => {
            let doc = serde_json::json!({
                "written": path.display().to_string(),
                "proposal": found.proposal,
            });
            let doc = serde_json::to_string_pretty(&doc)
                .context("serialising the report")
                .map_err(|error| Failure { code: 1, error })?;
            write_stdout(out, &format!("{doc}\n"))?;
        }
    }
    Ok(0)
}

/// `policy --discover`: what `discover` and `init` need; no configuration.
fn print_discovery_policy(account: &str, output: Output, out: &mut Ran) -> Result<u8, Failure> {
    check_account(account)?;
    let iam = policy::discovery_policy(account);
    let sam = policy::discovery_sam_permission();
    print_documents(&iam, &sam, &[], (output, "runs discover and init"), out)
}

fn check_account(account: &str) -> Result<(), Failure> {
    let valid =
        account == "*" || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        Ok(())
    } else {
        Err(usage(anyhow::anyhow!(
            "--account {account:?} is not a 12-digit AWS account id or *"
        )))
    }
}

/// Each SORACOM operator's endpoint and AuthKey: the run's own (environment, then the
/// profile), or a target's own: its `soracom_profile` alone (the environment's key and
/// endpoint belong to the run's own operator), or the run's key with its
/// `soracom_coverage`/`soracom_endpoint` (which win over `SORACOM_ENDPOINT`).
/// `soracom_secret` is the Lambda function's and is not read here.
struct Operators<'a, S> {
    endpoint: Endpoint,
    key: AuthKey,
    sys: &'a S,
    coverage: Option<rotator_core::config::Coverage>,
}

impl<'a, S: System> Operators<'a, S> {
    fn new(endpoint: Endpoint, key: AuthKey, config: &Config, sys: &'a S) -> Self {
        Operators {
            endpoint,
            key,
            sys,
            coverage: config.soracom.coverage,
        }
    }
}

impl<S: System> rotator::SoracomAccess for Operators<'_, S> {
    async fn credentials(
        &self,
        over: &rotator_core::config::SoracomOverride,
    ) -> Result<(Endpoint, AuthKey), rotator::Error> {
        if over.profile.is_none() && over.coverage.is_none() && over.endpoint.is_none() {
            return Ok((self.endpoint.clone(), self.key.clone()));
        }
        if let Some(profile) = &over.profile {
            let env = |k: &str| {
                if k.starts_with("SORACOM_AUTH_KEY") || k == "SORACOM_ENDPOINT" {
                    None
                } else {
                    self.sys.var(k)
                }
            };
            return auth::resolve(&env, self.sys.home().as_deref(), None, Some(profile));
        }
        let endpoint = match &over.endpoint {
            // Checked (https, or http to loopback) when the configuration was read.
            Some(e) => auth::origin(e, "soracom_endpoint")?,
            None => auth::endpoint(None, over.coverage.or(self.coverage), None)?,
        };
        Ok((endpoint, self.key.clone()))
    }
}

/// `migrate-to-role`: the library does the work; what it reports lies with the report.
async fn migrate_to_role<S: System>(
    config: &Config,
    target: &str,
    dry_run: bool,
    output: Output,
    sys: &S,
    out: &mut Ran,
) -> Result<u8, Failure> {
    let (endpoint, key, iam) = connect(&config.soracom, sys).await?;
    let access = Operators::new(endpoint, key, config, sys);
    let deliver = sys.deliver(&iam);
    let clients = Clients {
        iam: &iam,
        soracom: &access,
        dial: sys.dial(),
        notify: &deliver,
        progress: &NoProgress,
        clock: sys.clock(),
        ids: sys.ids(),
    };
    let report = rotator::migrate(config, target, dry_run, clients)
        .await
        .map_err(|e| match e {
            InvokeError::NoSuchTarget(m) => usage(anyhow::anyhow!(m)),
            InvokeError::Failed(rotator::Error::Config(c)) => usage(c.into()),
            e => Failure {
                code: 1,
                error: anyhow::Error::from(e)
                    .context("reading the user's policies, the role and the credential sets; nothing was changed"),
            },
        })?;
    print_report(output, &report, |r| r.render_text(sys.width()), out)?;
    Ok(report.exit_code())
}

/// An access key id as `--key` takes it.
fn parse_key_id(s: &str) -> anyhow::Result<rotator_core::secret::AccessKeyId> {
    rotator_core::secret::AccessKeyId::parse(s).ok_or_else(|| {
        anyhow::anyhow!("--key: not an access key id (16 to 128 upper-case letters and digits)")
    })
}

/// A command run, writing unless `dry_run`.
fn request(command: Command, dry_run: bool) -> Request {
    Request::Run { command, dry_run }
}

/// Prints a report as text or as one JSON document.
fn print_report<T: serde::Serialize>(
    output: Output,
    report: &T,
    text: impl Fn(&T) -> String,
    out: &mut Ran,
) -> Result<(), Failure> {
    match output {
        Output::Text => write_stdout(out, &text(report)),
        Output::Json => {
            let doc = serde_json::to_string_pretty(report)
                .context("serialising the report")
                .map_err(|error| Failure { code: 1, error })?;
            write_stdout(out, &format!("{doc}\n"))
        }
    }
}

/// `policy`: needs no credentials, only the configuration.
fn print_policy(
    config: &Config,
    (account, migration): (&str, bool),
    output: Output,
    out: &mut Ran,
) -> Result<u8, Failure> {
    check_account(account)?;
    let iam = policy::iam_policy(config, account, migration);
    let sam = policy::sam_permission(config);
    let spokes = policy::spoke_roles(config, account, migration);
    print_documents(
        &iam,
        &sam,
        &spokes,
        (output, "runs soracom-key-rotator"),
        out,
    )
}

/// The IAM policy and the SAM permission, as text (commented, laid out by the core's
/// `render`) or one JSON document.
fn print_documents(
    iam: &serde_json::Value,
    sam: &serde_json::Value,
    spokes: &[policy::SpokeRole],
    (output, who): (Output, &str),
    out: &mut Ran,
) -> Result<u8, Failure> {
    let pretty =
        |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let text = match output {
        Output::Text => rotator_core::render::policy_documents(iam, sam, spokes, who),
        Output::Json => format!(
            "{}\n",
            pretty(&serde_json::json!({"iam": iam, "soracom": sam, "spokes": spokes}))
        ),
    };
    write_stdout(out, &text)?;
    Ok(0)
}
