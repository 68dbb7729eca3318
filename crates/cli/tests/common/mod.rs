//! Harness for end-to-end tests: the real binary against moto (through the AWS fault
//! proxy) and an in-process SORACOM emulator, with the checks every scenario shares —
//! the invariants, the SORACOM contract, and no secret in any output.
//!
//! The world itself (emulator, proxy, IAM user, ledger, clock, seeding, the contract and
//! secret checks) is [`testkit::world::World`], which this harness's [`World`] wraps and
//! dereferences to; what is the CLI's own is here: the binary's config file and
//! environment, running it, and tracking what each run did.
//!
//! Every run of the binary gets `--now` (the world's clock: the moment the world was made,
//! plus the days it travelled), so dates the test expects and dates the binary computes
//! come from one time and a run that crosses UTC midnight cannot fail. The world tracks
//! each run's effect (which keys stopped being referenced, which were deactivated) and the
//! uses a test makes of keys and sets, to check that no key used after its cutover is
//! ever deactivated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use testkit::moto;

pub mod machine;
use testkit::world::{Moto, Options};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use testkit::figures::{append as append_figures, write as write_figures};
pub use testkit::world::{eventually, funnel, is_managed, is_managed_by, rfc3339, PREFIX};

pub const AUTH_KEY_ID: &str = "keyId-e2e-test";
pub const AUTH_KEY: &str = "secret-e2e-soracom-auth-key-0123456789";
/// Longest a run of the binary may take in a test.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

/// One scenario's world: the shared [`testkit::world::World`] (reached through `Deref`:
/// `w.emu`, `w.proxy`, `w.travel(…)`), the binary's home and config, and the record of
/// what each run did.
pub struct World {
    world: testkit::world::World,
    /// The binary's `HOME`, holding its config file (and a soracom-cli profile, if any).
    pub dir: tempfile::TempDir,
    /// Runs' effects and the test's uses of keys and sets.
    track: Mutex<Tracker>,
    /// The notices in-process runs sent.
    pub told: machine::Recorder,
}

impl std::ops::Deref for World {
    type Target = testkit::world::World;

    fn deref(&self) -> &testkit::world::World {
        &self.world
    }
}

/// A run started in the background: the binary, or the command line in a task.
pub struct Spawned {
    run: Background,
    args: Vec<String>,
    snapshot: Snapshot,
}

enum Background {
    Process(tokio::process::Child),
    Task(tokio::task::JoinHandle<(soracom_key_rotator::Ran, Vec<u8>)>),
}

/// Which side holds the call a killed run dies at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Soracom,
    Aws,
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// What the world looked like around one run: which keys the target's referenced sets hold,
/// and each key's status.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    held_by_referenced: BTreeSet<String>,
    statuses: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Tracker {
    /// When each key's last referencing set was left (the `--now` of that run).
    cutover: BTreeMap<String, OffsetDateTime>,
    /// Uses the test made: the key, and when IAM or SORACOM records it.
    uses: Vec<(String, OffsetDateTime)>,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

impl World {
    /// A world of the in-memory fakes: the command line runs in-process, in simulated time
    /// (the test's runtime must start paused). STS checks each key's secret, as an
    /// authenticated moto does.
    pub async fn new() -> World {
        World::on(Moto::Memory).await
    }

    /// A world whose clock [`testkit::world::World::travel`] moves: every world's does.
    pub async fn clocked() -> World {
        World::new().await
    }

    /// A world that checks every signature: every in-memory world does.
    pub async fn authenticated() -> World {
        World::new().await
    }

    /// A world for the real binary, as a process, against the moto every test shares:
    /// for what only a process can show.
    pub async fn process() -> World {
        World::on(Moto::Shared).await
    }

    /// A world for the real binary against a moto of its own that checks signatures.
    pub async fn process_authenticated() -> World {
        World::on(Moto::Authenticated).await
    }

    async fn on(moto: Moto) -> World {
        let world = testkit::world::World::start(Options {
            harness: "cli",
            user_prefix: "funnel-user",
            auth_key: (AUTH_KEY_ID, AUTH_KEY),
            sam_user: None,
            moto,
        })
        .await;
        let w = World {
            world,
            dir: tempfile::tempdir().expect("tempdir"),
            track: Mutex::default(),
            told: machine::Recorder::default(),
        };
        w.write_config("");
        w
    }

    /// Signs an STS call with a key of the user, as something outside the tool would; the
    /// world remembers the use (for the use-after-cutover check).
    pub async fn use_key(&self, id: &str, secret: &str) {
        let at = self.moto_now();
        self.world.use_key(id, secret).await;
        lock(&self.track).uses.push((id.to_string(), at));
    }

    /// Marks a credential set used by SORACOM at `at`; the world remembers it.
    pub fn use_set(&self, set_id: &str, at: OffsetDateTime) {
        self.world.use_set(set_id, at);
        if let Some(key) = self.key_of_set(set_id) {
            lock(&self.track).uses.push((key, at));
        }
    }

    /// Writes the config with one target `funnel` for this world's user; `extra` is
    /// appended to the target table.
    pub fn write_config(&self, extra: &str) {
        self.write_config_with("", extra);
    }

    /// As [`World::write_config`], with `soracom` appended to the `[soracom]` table.
    pub fn write_config_with(&self, soracom: &str, extra: &str) {
        let text = format!(
            "[soracom]\npage_size = 100\nretry_base_ms = 20\n{soracom}\n\n[verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n{extra}\n",
            self.user
        );
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// Writes the config with one target `funnel` for this world's user whose table, after
    /// `name` and `iam_user`, is `target` (no prefix added: an in-place target, say).
    pub fn write_config_target(&self, target: &str) {
        let text = format!(
            "[soracom]\npage_size = 100\nretry_base_ms = 20\n\n[verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\n{target}\n",
            self.user
        );
        std::fs::write(self.config_path(), text).expect("write config");
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("rotator.toml")
    }

    /// The seed's scenario: a first key registered by hand as `<prefix>-220810` (no link in
    /// its description), groups test-1 and test-2 using it. Returns the key id.
    pub async fn seed(&self) -> String {
        self.seed_set(&format!("{PREFIX}-220810")).await.0
    }

    /// A first key registered by hand as set `set_id`, used by groups test-1 and test-2.
    /// Returns the key id and its secret.
    pub async fn seed_set(&self, set_id: &str) -> (String, String) {
        self.seed_key(set_id, &["test-1", "test-2"]).await
    }

    /// Runs the binary with this world's environment.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.exec(args, true).await
    }

    /// Runs with the SORACOM auth key taken out of the environment (a profile must serve).
    pub async fn run_without_env_key(&self, args: &[&str]) -> Run {
        self.exec(args, false).await
    }

    /// Runs with or without the SORACOM auth key in the environment.
    pub async fn run_as(&self, args: &[&str], env_key: bool) -> Run {
        self.exec(args, env_key).await
    }

    /// As [`World::expect`], with the SORACOM auth key taken out of the environment.
    pub async fn expect_without_env_key(&self, args: &[&str], code: i32) -> Run {
        let run = self.run_without_env_key(args).await;
        assert_eq!(
            run.code, code,
            "{args:?} exited {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        run
    }

    /// Runs in-process on `machine` (this world's, changed as a test needs it).
    pub async fn run_on(&self, machine: machine::Machine, args: &[&str]) -> Run {
        let args = self.with_now(args);
        let before = self.snapshot().await;
        let run = machine::run(machine, self.full_args(&args));
        let (ran, log) = tokio::time::timeout(RUN_LIMIT, run)
            .await
            .expect("the run finished within its limit");
        self.after_run(&args, before, &output(ran, log)).await
    }

    async fn exec(&self, args: &[&str], env_key: bool) -> Run {
        if self.in_memory_world() {
            return self.run_on(self.machine(env_key), args).await;
        }
        let args = self.with_now(args);
        let before = self.snapshot().await;
        let mut cmd = self.command_raw(&args, env_key);
        let out = tokio::time::timeout(RUN_LIMIT, cmd.output())
            .await
            .expect("the binary finished within its limit")
            .expect("the binary ran");
        self.after_run(&args, before, &out).await
    }

    /// `args` with the world's `--now` unless they name one.
    pub fn with_now(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if !args.contains(&"--now") {
            v.push("--now".into());
            v.push(self.now());
        }
        v
    }

    /// The arguments a run is given: the world's config, then `args`.
    fn full_args(&self, args: &[String]) -> Vec<String> {
        let mut v = vec![
            "--config".to_string(),
            self.config_path().display().to_string(),
        ];
        v.extend(args.iter().cloned());
        v
    }

    /// What an in-process run sees: the world's fakes, the environment the binary gets
    /// (with or without the SORACOM auth key) and the world's home.
    pub fn machine(&self, env_key: bool) -> machine::Machine {
        let mut vars = BTreeMap::new();
        vars.insert("SORACOM_ENDPOINT".to_string(), self.emu.endpoint());
        if env_key {
            vars.insert("SORACOM_AUTH_KEY_ID".to_string(), AUTH_KEY_ID.to_string());
            vars.insert("SORACOM_AUTH_KEY".to_string(), AUTH_KEY.to_string());
        }
        machine::Machine {
            fakes: self.fakes().clone(),
            vars,
            home: self.dir.path().to_path_buf(),
            told: self.told.clone(),
        }
    }

    /// The binary with exactly these arguments and this world's environment.
    pub fn command_raw(&self, args: &[String], env_key: bool) -> tokio::process::Command {
        let home = self.dir.path();
        let (key_id, secret) = self.aws_key();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_soracom-key-rotator"));
        cmd.env_clear()
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env("HOME", home)
            .env("SORACOM_ENDPOINT", self.emu.endpoint())
            .env("AWS_ENDPOINT_URL", self.proxy.endpoint())
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", moto::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join("no-aws-credentials"),
            )
            .kill_on_drop(true);
        if env_key {
            cmd.env("SORACOM_AUTH_KEY_ID", AUTH_KEY_ID)
                .env("SORACOM_AUTH_KEY", AUTH_KEY);
        }
        cmd
    }

    /// What the world looks like now, for [`World::after_run`].
    pub async fn snapshot(&self) -> Snapshot {
        let statuses = self
            .keys()
            .await
            .into_iter()
            .map(|k| (k.id, k.status))
            .collect();
        let mut key_of_set = BTreeMap::new();
        for id in self.emu.credential_ids() {
            if let Some(k) = self.key_of_set(&id) {
                key_of_set.insert(id, k);
            }
        }
        let held_by_referenced = self
            .referenced()
            .into_iter()
            .filter(|s| self.owns(s))
            .filter_map(|s| key_of_set.get(&s).cloned())
            .collect();
        Snapshot {
            held_by_referenced,
            statuses,
        }
    }

    /// Keeps what a run printed for the secret check, asserts it did not panic (a panic
    /// exits 101 and prints "panicked"), and checks what it did against the world's
    /// record: a key it deactivated or deleted was not used after its cutover.
    pub async fn after_run(
        &self,
        args: &[String],
        before: Snapshot,
        out: &std::process::Output,
    ) -> Run {
        if self.in_memory_world() {
            // A process takes a moment to end and the test to go on: what happens next
            // happens later than anything the run recorded.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        use std::os::unix::process::ExitStatusExt;
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            signal: out.status.signal(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.ledger.wrote(&out.stdout);
        self.ledger.wrote(&out.stderr);
        assert!(
            run.code != 101 && !run.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            run.stderr
        );
        let now = args
            .iter()
            .position(|a| a == "--now")
            .and_then(|i| args.get(i + 1))
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .unwrap_or_else(OffsetDateTime::now_utc);
        let after = self.snapshot().await;
        self.check_run(&before, &after, now);
        run
    }

    /// The use-after-cutover invariant for one run: a key the run deactivated or deleted
    /// shows no use (the test's own record of uses) later than its cutover plus the settle
    /// window.
    fn check_run(&self, before: &Snapshot, after: &Snapshot, now: OffsetDateTime) {
        let settle = time::Duration::minutes(self.setting("settle_minutes").unwrap_or(60));
        let mut track = lock(&self.track);
        for k in before
            .held_by_referenced
            .difference(&after.held_by_referenced)
        {
            track.cutover.entry(k.clone()).or_insert(now);
        }
        for k in &after.held_by_referenced {
            track.cutover.remove(k);
        }
        for (k, status) in &before.statuses {
            let retired = match after.statuses.get(k) {
                None => true,
                Some(s) => status == "Active" && s == "Inactive",
            };
            if !retired {
                continue;
            }
            let Some(cutover) = track.cutover.get(k).copied() else {
                continue;
            };
            if let Some((_, used)) = track
                .uses
                .iter()
                .find(|(u, at)| u == k && *at > cutover + settle)
            {
                panic!(
                    "key {k} was retired although it was used at {} after its cutover at {}",
                    rfc3339(*used),
                    rfc3339(cutover)
                );
            }
        }
    }

    /// A number setting of the target table in the written config.
    fn setting(&self, key: &str) -> Option<i64> {
        let text = std::fs::read_to_string(self.config_path()).ok()?;
        let doc: toml::Value = toml::from_str(&text).ok()?;
        doc.get("targets")?.get(0)?.get(key)?.as_integer()
    }

    /// Whether credential set `id` belongs to the world's target, by what the written
    /// config says: its prefix's `<prefix>-<yymmdd>[-n]`, an `adopt` id, the in-place
    /// `credential_id` — and only if it is not a set of another type.
    pub fn owns(&self, id: &str) -> bool {
        // Only `aws-credentials` sets can be the target's, whatever their id.
        if self
            .emu
            .credential(id)
            .is_some_and(|c| c.kind != "aws-credentials")
        {
            return false;
        }
        let text = std::fs::read_to_string(self.config_path()).unwrap_or_default();
        let doc: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Integer(0));
        let target = doc.get("targets").and_then(|t| t.get(0));
        let field = |k: &str| target.and_then(|t| t.get(k));
        let prefix = field("credential_prefix").and_then(toml::Value::as_str);
        let listed = |k: &str| {
            field(k)
                .and_then(toml::Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(id)))
        };
        prefix.is_some_and(|p| is_managed_by(p, id))
            || listed("adopt")
            || field("credential_id").and_then(toml::Value::as_str) == Some(id)
    }

    /// Runs the binary and kills it (SIGKILL) as soon as `side` holds a call back: a
    /// faulted call (`SucceedThenHang`) was performed and its answer is being withheld.
    /// Bounded: 60 s of 10 ms polls. Returns the run and whether a held call was seen.
    pub async fn run_and_kill(&self, args: &[&str], side: Held, env_key: bool) -> (Run, bool) {
        use tokio::io::AsyncReadExt;
        let held = || match side {
            Held::Soracom => self.emu.held(),
            Held::Aws => self.proxy.held(),
        };
        let before = held();
        let args = self.with_now(args);
        let snapshot = self.snapshot().await;
        if self.in_memory_world() {
            return self
                .run_and_drop(args, snapshot, env_key, &|| held() > before)
                .await;
        }
        let mut cmd = self.command_raw(&args, env_key);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the binary");
        let mut out_pipe = child.stdout.take().expect("stdout");
        let mut err_pipe = child.stderr.take().expect("stderr");
        let out_task = tokio::spawn(async move {
            let mut b = Vec::new();
            let _ = out_pipe.read_to_end(&mut b).await;
            b
        });
        let err_task = tokio::spawn(async move {
            let mut b = Vec::new();
            let _ = err_pipe.read_to_end(&mut b).await;
            b
        });
        let mut seen = false;
        for _ in 0..6_000 {
            if held() > before {
                seen = true;
                let _ = child.start_kill();
                break;
            }
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .expect("the binary ended")
            .expect("wait");
        let out = std::process::Output {
            status,
            stdout: out_task.await.unwrap_or_default(),
            stderr: err_task.await.unwrap_or_default(),
        };
        (self.after_run(&args, snapshot, &out).await, seen)
    }

    /// [`World::run_and_kill`] in memory: the run is a task, dropped (as a killed process
    /// or a Lambda timeout ends a run) as soon as `held` says its call was held.
    async fn run_and_drop(
        &self,
        args: Vec<String>,
        snapshot: Snapshot,
        env_key: bool,
        held: &(dyn Fn() -> bool + Sync),
    ) -> (Run, bool) {
        let mut task = tokio::spawn(machine::run(self.machine(env_key), self.full_args(&args)));
        let mut seen = false;
        for _ in 0..6_000 {
            if held() {
                seen = true;
                task.abort();
                break;
            }
            if task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let out = match (&mut task).await {
            Ok((ran, log)) => output(ran, log),
            Err(_) => {
                use std::os::unix::process::ExitStatusExt;
                // Killed: signal 9, nothing printed.
                std::process::Output {
                    status: std::process::ExitStatus::from_raw(9),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                }
            }
        };
        (self.after_run(&args, snapshot, &out).await, seen)
    }

    /// Starts the binary in the background (with the world's `--now`); [`World::wait`]
    /// collects it. For runs that overlap.
    pub async fn spawn(&self, args: &[&str]) -> Spawned {
        let args = self.with_now(args);
        let snapshot = self.snapshot().await;
        if self.in_memory_world() {
            let task = tokio::spawn(machine::run(self.machine(true), self.full_args(&args)));
            // Let it start: it runs until its first wait or held call.
            tokio::task::yield_now().await;
            return Spawned {
                run: Background::Task(task),
                args,
                snapshot,
            };
        }
        let mut cmd = self.command_raw(&args, true);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().expect("spawn the binary");
        Spawned {
            run: Background::Process(child),
            args,
            snapshot,
        }
    }

    /// Waits (bounded) for a run started with [`World::spawn`].
    pub async fn wait(&self, s: Spawned) -> Run {
        let out = match s.run {
            Background::Process(child) => tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
                .await
                .expect("the binary finished within its limit")
                .expect("the binary ran"),
            Background::Task(task) => {
                let (ran, log) = tokio::time::timeout(RUN_LIMIT, task)
                    .await
                    .expect("the run finished within its limit")
                    .expect("the run did not panic");
                output(ran, log)
            }
        };
        self.after_run(&s.args, s.snapshot, &out).await
    }

    /// Runs and asserts the exit code, showing the output if it differs.
    pub async fn expect(&self, args: &[&str], code: i32) -> Run {
        let run = self.run(args).await;
        assert_eq!(
            run.code, code,
            "{args:?} exited {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        run
    }

    /// The invariants that hold at every moment: no reference to a set of the target names
    /// a missing set or a set whose key is missing or inactive (adopted and in-place sets
    /// included), and IAM never refused a new key for the quota (moto itself refuses a
    /// third key, so counting keys proves nothing).
    pub async fn assert_invariants(&self) {
        let keys = self.keys().await;
        let ids = self.emu.credential_ids();
        for set in self.referenced().into_iter().filter(|s| self.owns(s)) {
            assert!(
                ids.contains(&set),
                "a reference names the missing set {set}"
            );
            let key = self.key_of_set(&set).expect("set holds a key");
            let k = keys.iter().find(|k| k.id == key);
            assert!(
                k.is_some_and(|k| k.status == "Active"),
                "referenced set {set} holds a key that is not active: {k:?}"
            );
        }
        let refused: Vec<_> = self
            .proxy
            .calls()
            .into_iter()
            .filter(|c| c.fault.is_none() && c.error_code.as_deref() == Some("LimitExceeded"))
            .collect();
        assert!(
            refused.is_empty(),
            "IAM refused a call for its quota: {refused:?}"
        );
    }

    /// The state a finished rotation converges to: one newest set holding an active key,
    /// every reference on it, and no orphan key or set.
    pub async fn assert_converged(&self, newest: &str) {
        self.assert_invariants().await;
        let keys = self.keys().await;
        let refs: Vec<String> = self
            .referenced()
            .into_iter()
            .filter(|s| self.owns(s))
            .collect();
        assert!(
            refs.iter().all(|r| r == newest),
            "references not all on {newest}: {refs:?}"
        );
        let new_key = self.key_of_set(newest).expect("newest set exists");
        assert!(
            keys.iter().any(|k| k.id == new_key && k.status == "Active"),
            "new key not active"
        );
        let held: Vec<String> = self
            .emu
            .credential_ids()
            .iter()
            .filter_map(|s| self.key_of_set(s))
            .collect();
        for k in &keys {
            assert!(
                held.contains(&k.id),
                "key {} is held by no credential set (orphan)",
                k.id
            );
        }
        for s in self.emu.credential_ids().iter().filter(|s| self.owns(s)) {
            let key = self.key_of_set(s).expect("key");
            assert!(
                keys.iter().any(|k| k.id == key),
                "set {s} holds a deleted key (orphan set)"
            );
        }
    }

    /// Every call the tool made is covered by the permissions `policy` prints.
    pub fn assert_policy_covers_calls(&self) {
        for call in self.proxy.calls() {
            // sts:GetCallerIdentity needs no permission; sts:AssumeRole is the hub's
            // permission on the configured roles (`policy`'s AssumeSpokeRoles).
            if call.action != "GetCallerIdentity" && call.action != "AssumeRole" {
                assert!(
                    rotator_core::policy::allows_iam(&call.action),
                    "IAM {} is not in the policy",
                    call.action
                );
            }
        }
        for op in self
            .emu
            .call_counts()
            .keys()
            .filter(|op| op.as_str() != "auth")
        {
            assert!(
                rotator_core::policy::allows_soracom(op),
                "SORACOM {op} is not in the SAM permission"
            );
        }
    }

    /// In a world that checks signatures: the secret every set of the target holds signs
    /// `sts:GetCallerIdentity` as the target's user, when its key is active.
    pub async fn assert_sets_authenticate(&self) {
        let user_arn = self.iam.user_arn(&self.user).await.expect("user arn");
        let active: Vec<String> = self
            .keys()
            .await
            .into_iter()
            .filter(|k| k.status == "Active")
            .map(|k| k.id)
            .collect();
        for id in self.emu.credential_ids().iter().filter(|s| self.owns(s)) {
            let Some(c) = self.emu.credential(id) else {
                continue;
            };
            let key = c.credentials["accessKeyId"].as_str().unwrap_or_default();
            let secret = c.credentials["secretAccessKey"]
                .as_str()
                .unwrap_or_default();
            if !active.iter().any(|a| a == key) {
                continue;
            }
            let arn =
                self.iam.use_key(key, secret).await.unwrap_or_else(|e| {
                    panic!("set {id}: its secret does not sign for its key: {e}")
                });
            assert_eq!(arn, user_arn, "set {id} authenticates as someone else");
        }
    }

    /// Every world check at the end of a scenario.
    pub async fn finish(&self) {
        if self.checks_signatures() {
            self.assert_sets_authenticate().await;
        }
        self.assert_invariants().await;
        self.assert_contract();
        self.assert_no_secret();
        self.assert_policy_covers_calls();
    }
}

/// What an in-process run gave, as the process's output would show it: its stdout, and on
/// stderr its log, then what it printed there.
fn output(ran: soracom_key_rotator::Ran, mut log: Vec<u8>) -> std::process::Output {
    use std::os::unix::process::ExitStatusExt;
    log.extend_from_slice(ran.stderr.as_bytes());
    std::process::Output {
        status: std::process::ExitStatus::from_raw(i32::from(ran.code) << 8),
        stdout: ran.stdout.into_bytes(),
        stderr: log,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
