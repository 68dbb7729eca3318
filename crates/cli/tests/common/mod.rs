//! Harness for end-to-end tests: the real binary against moto (through the AWS fault
//! proxy) and an in-process SORACOM emulator, with the checks every scenario shares —
//! DESIGN §3's invariants, the SORACOM contract, and no secret in any output.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use soracom_emulator::Emulator;
use testkit::aws_proxy::AwsProxy;
use testkit::contract::{assert_conforms, recorded, Spec};
use testkit::moto::{self, ClockedMoto, Iam};
use time::OffsetDateTime;

pub const PREFIX: &str = "aws-soracom-funnel-sample";
pub const AUTH_KEY_ID: &str = "keyId-e2e-test";
pub const AUTH_KEY: &str = "secret-e2e-soracom-auth-key-0123456789";
/// Writes the emulator sees; everything else is a read or auth.
const SORACOM_WRITES: [&str; 5] = [
    "createCredential",
    "updateCredential",
    "deleteCredential",
    "putConfigurationParameters",
    "updateEventHandler",
];
const IAM_WRITES: [&str; 3] = ["CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"];

/// One scenario's world.
pub struct World {
    pub emu: Emulator,
    pub proxy: AwsProxy,
    pub iam: Iam,
    pub user: String,
    pub dir: tempfile::TempDir,
    /// Everything the binary printed in this world, for the secret check.
    pub printed: std::sync::Mutex<String>,
    /// This world's own moto, when its clock must move.
    pub clocked: Option<ClockedMoto>,
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

pub fn days_from_now(days: i64) -> String {
    let t = OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// The managed id the tool gives a set created at `days` from now.
pub fn id_for(days: i64) -> String {
    let d = (OffsetDateTime::now_utc() + time::Duration::days(days)).date();
    format!(
        "{PREFIX}-{:02}{:02}{:02}",
        d.year() % 100,
        u8::from(d.month()),
        d.day()
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn funnel(set: &str) -> Value {
    json!({"SoracomFunnel": {
        "credentialsId": set, "enabled": true, "contentType": "application/json",
        "destination": {"provider": "aws", "service": "aws-iot", "resourceUrl": "https://x.iot.ap-northeast-1.amazonaws.com/soracom/%{imsi}"}
    }, "SoracomAir": {"metadata": {"enabled": true}}})
}

impl World {
    pub async fn new() -> World {
        World::on(moto::endpoint(), None).await
    }

    /// A world with a moto of its own whose clock [`World::travel`] moves.
    pub async fn clocked() -> World {
        let moto = ClockedMoto::start().await;
        World::on(moto.endpoint(), Some(moto)).await
    }

    async fn on(moto_endpoint: String, clocked: Option<ClockedMoto>) -> World {
        testkit::install_crypto_provider();
        let emu = Emulator::start().await.expect("emulator");
        emu.add_auth_key(AUTH_KEY_ID, AUTH_KEY);
        let proxy = AwsProxy::start(&moto_endpoint).await.expect("proxy");
        let iam = Iam::connect(&moto_endpoint).await;
        let user = moto::unique("funnel-user");
        iam.create_user(&user).await.expect("create user");
        let dir = tempfile::tempdir().expect("tempdir");
        let printed = Default::default();
        let w = World {
            emu,
            proxy,
            iam,
            user,
            dir,
            printed,
            clocked,
        };
        w.write_config("");
        w
    }

    /// Moves the world's clocks (moto's and the emulator's) to `days` from now and
    /// returns that time for `--now`.
    pub fn travel(&self, days: i64) -> String {
        let moto = self.clocked.as_ref().expect("travel needs World::clocked");
        moto.set_offset(Duration::from_secs((days * 86_400) as u64));
        let t = OffsetDateTime::now_utc() + time::Duration::days(days);
        self.emu
            .set_now_ms(Some((t.unix_timestamp_nanos() / 1_000_000) as i64));
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
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
        let (id, secret) = self
            .iam
            .create_access_key(&self.user)
            .await
            .expect("first key");
        let creds = json!({"accessKeyId": id, "secretAccessKey": secret});
        self.emu
            .put_credential(set_id, "aws-credentials", "", creds, now_ms());
        self.emu.add_group("test-1", funnel(set_id));
        self.emu.add_group("test-2", funnel(set_id));
        (id, secret)
    }

    /// Runs the binary with this world's environment.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.exec(args, true).await
    }

    /// Runs with the SORACOM auth key taken out of the environment (a profile must serve).
    pub async fn run_without_env_key(&self, args: &[&str]) -> Run {
        self.exec(args, false).await
    }

    async fn exec(&self, args: &[&str], env_key: bool) -> Run {
        let mut cmd = self.command(args, env_key);
        let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
            .await
            .expect("the binary finished within 180 s")
            .expect("the binary ran");
        self.record_output(&out)
    }

    /// The binary with this world's environment, for tests that drive the child process
    /// themselves (e.g. kill it); pass its output to [`World::record_output`].
    pub fn command(&self, args: &[&str], env_key: bool) -> tokio::process::Command {
        let home = self.dir.path();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_soracom-key-rotator"));
        cmd.env_clear()
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env("HOME", home)
            .env("SORACOM_ENDPOINT", self.emu.endpoint())
            .env("AWS_ENDPOINT_URL", self.proxy.endpoint())
            .env("AWS_ACCESS_KEY_ID", moto::TEST_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::TEST_SECRET_ACCESS_KEY)
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

    /// Keeps what a run printed for the secret check and asserts it did not panic (a
    /// panic exits 101 and prints "panicked"); a run killed by a signal has code -1.
    pub fn record_output(&self, out: &std::process::Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut printed = self
            .printed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        printed.push_str(&run.stdout);
        printed.push_str(&run.stderr);
        drop(printed);
        assert!(
            run.code != 101 && !run.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            run.stderr
        );
        run
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

    pub async fn keys(&self) -> Vec<testkit::moto::KeyInfo> {
        self.iam.list_keys(&self.user).await.expect("list keys")
    }

    /// The access key id a credential set holds (from the emulator's store).
    pub fn key_of_set(&self, set_id: &str) -> Option<String> {
        let c = self.emu.credential(set_id)?;
        c.credentials
            .get("accessKeyId")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Every credential set id referenced anywhere (groups and event handlers).
    pub fn referenced(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in self.emu.groups() {
            collect_refs(&g["configuration"], &mut out);
        }
        for h in self.emu.event_handlers() {
            collect_refs(&h, &mut out);
        }
        out.sort();
        out
    }

    pub fn funnel_of(&self, group: &str) -> Value {
        self.emu.group_by_name(group).expect("group")["configuration"]["SoracomFunnel"]
            ["credentialsId"]
            .clone()
    }

    /// DESIGN §3's invariants that hold at every moment.
    pub async fn assert_invariants(&self) {
        let keys = self.keys().await;
        assert!(keys.len() <= 2, "more than two keys: {keys:?}");
        let ids = self.emu.credential_ids();
        for set in self.referenced().into_iter().filter(|s| is_managed(s)) {
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
    }

    /// The state a finished rotation converges to: one newest set holding an active key,
    /// every reference on it, and no orphan key or set.
    pub async fn assert_converged(&self, newest: &str) {
        self.assert_invariants().await;
        let keys = self.keys().await;
        let refs: Vec<String> = self
            .referenced()
            .into_iter()
            .filter(|s| is_managed(s))
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
        for s in self.emu.credential_ids().iter().filter(|s| is_managed(s)) {
            let key = self.key_of_set(s).expect("key");
            assert!(
                keys.iter().any(|k| k.id == key),
                "set {s} holds a deleted key (orphan set)"
            );
        }
    }

    /// Every SORACOM request of this world conformed to the official spec.
    pub fn assert_contract(&self) {
        let reqs = self.emu.requests();
        let spec = Spec::load_default();
        let valid = recorded(&reqs).filter(|r| spec.check(r).is_ok()).count();
        let mut ops = std::collections::BTreeMap::<String, u64>::new();
        for r in &reqs {
            *ops.entry(r.operation.clone().unwrap_or_else(|| "-".into()))
                .or_insert(0) += 1;
        }
        append_figures(
            "contract.jsonl",
            &json!({"requests": reqs.len(), "valid": valid, "operations": ops}),
        );
        let report = assert_conforms(Spec::load_default(), recorded(&reqs));
        assert!(report.checked > 0, "no SORACOM request was made");
    }

    /// Nothing the binary printed contains a secret of this world.
    pub fn assert_no_secret(&self) {
        let printed = self
            .printed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut secrets = vec![AUTH_KEY.to_string()];
        for id in self.emu.credential_ids() {
            if let Some(s) = self
                .emu
                .credential(&id)
                .and_then(|c| c.credentials.get("secretAccessKey").cloned())
            {
                secrets.extend(s.as_str().map(str::to_string));
            }
        }
        // API keys and tokens the emulator issued: read them from the recorded requests.
        for r in self.emu.requests() {
            for (k, v) in &r.headers {
                if k == "x-soracom-api-key" || k == "x-soracom-token" {
                    secrets.push(v.clone());
                }
            }
        }
        secrets.sort();
        secrets.dedup();
        secrets.retain(|s| s.len() >= 8);
        let found = secrets
            .iter()
            .filter(|s| printed.contains(s.as_str()))
            .count();
        append_figures(
            "secrets.jsonl",
            &json!({"secrets": secrets.len(), "bytes": printed.len(), "found": found}),
        );
        for s in &secrets {
            assert!(
                !printed.contains(s.as_str()),
                "a secret was printed: {}…",
                &s[..4]
            );
        }
    }

    pub fn soracom_writes(&self) -> u64 {
        let counts = self.emu.call_counts();
        SORACOM_WRITES
            .iter()
            .map(|op| counts.get(*op).copied().unwrap_or(0))
            .sum()
    }

    pub fn iam_writes(&self) -> u64 {
        let counts = self.proxy.call_counts();
        IAM_WRITES
            .iter()
            .map(|op| counts.get(*op).copied().unwrap_or(0))
            .sum()
    }

    /// Every call the tool made is covered by the permissions `policy` prints.
    pub fn assert_policy_covers_calls(&self) {
        for call in self.proxy.calls() {
            // sts:GetCallerIdentity needs no permission.
            if call.action != "GetCallerIdentity" {
                assert!(
                    rotator::policy::allows_iam(&call.action),
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
                rotator::policy::allows_soracom(op),
                "SORACOM {op} is not in the SAM permission"
            );
        }
    }

    /// Every world check at the end of a scenario.
    pub async fn finish(&self) {
        self.assert_invariants().await;
        self.assert_contract();
        self.assert_no_secret();
        self.assert_policy_covers_calls();
    }
}

/// Where the reliability figures go: `<target>/reliability` (read by scripts/reliability).
pub fn figures_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("reliability")
}

/// Appends one JSON line to a figures file. One `write` of a whole line on a file opened
/// with O_APPEND, so lines from tests running in parallel never interleave.
pub fn append_figures(file: &str, line: &Value) {
    use std::io::Write;
    let dir = figures_dir();
    let _ = std::fs::create_dir_all(&dir);
    let mut text = line.to_string();
    text.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// `<prefix>-<yymmdd>[-<n>]`, the target's own sets (decoys that merely contain the
/// prefix are someone else's).
pub fn is_managed(id: &str) -> bool {
    let Some(rest) = id.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let (date, n) = rest.split_once('-').unwrap_or((rest, "2"));
    date.len() == 6
        && date.bytes().all(|b| b.is_ascii_digit())
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(s)) = m.get("$credentialsId") {
                out.push(s.clone());
            }
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("credentialsId", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}
