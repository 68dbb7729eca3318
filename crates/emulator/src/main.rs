//! `soracom-emulator`: serves the SORACOM API emulator for demos and manual testing.
//!
//! Secrets come from the environment, never from flags (flags show up in `ps`). The first
//! line on stdout is the listen address; logs go to stderr. Stops on Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use soracom_emulator::{Emulator, RateLimit};

/// Environment variable holding the AuthKey secret for `--auth-key-id`.
const AUTH_KEY_ENV: &str = "SORACOM_EMULATOR_AUTH_KEY";

/// Serve a stateful SORACOM API emulator (auth, credentials, groups, event handlers, VPGs,
/// error logs).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    allow_non_loopback: bool,
    /// AuthKey id to accept; its secret is read from SORACOM_EMULATOR_AUTH_KEY.
    #[arg(long)]
    auth_key_id: Option<String>,
    /// Data to start with; funnel-sample reads SEED_AWS_ACCESS_KEY_ID and
    /// SEED_AWS_SECRET_ACCESS_KEY.
    #[arg(long, value_enum)]
    seed: Option<Seed>,
    /// Most groups per page of GET /v1/groups.
    #[arg(long)]
    page_size: Option<usize>,
    /// Delay added to every API call, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Calls allowed per rate-limit window per API path.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Length of the rate-limit window in seconds (SORACOM's is a minute).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rate_window_seconds: u64,
    /// With `--seed scale`: number of groups.
    #[arg(long, default_value_t = 1000)]
    seed_groups: usize,
    /// With `--seed scale`: how many of the groups use the seeded credential set.
    #[arg(long, default_value_t = 100)]
    seed_referencing: usize,
}

/// Seed scenarios.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Seed {
    /// A credential set used by the SoracomFunnel config of groups test-1 and test-2.
    FunnelSample,
    /// The funnel-sample credential set and `--seed-groups` groups, `--seed-referencing` of
    /// which use it (for benchmarks).
    Scale,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("environment variable {name} is not set"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        bail!(
            "refusing to listen on non-loopback address {} (pass --allow-non-loopback)",
            args.listen
        );
    }
    let auth_key = match &args.auth_key_id {
        Some(id) => Some((id.clone(), env(AUTH_KEY_ENV)?)),
        None => None,
    };
    let seed_key = match args.seed {
        Some(Seed::FunnelSample | Seed::Scale) => Some((
            env("SEED_AWS_ACCESS_KEY_ID")?,
            env("SEED_AWS_SECRET_ACCESS_KEY")?,
        )),
        None => None,
    };

    let emulator = Emulator::start_on(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some((id, secret)) = auth_key {
        emulator.add_auth_key(&id, &secret);
    }
    if let Some((access_key_id, secret)) = seed_key {
        if matches!(args.seed, Some(Seed::Scale)) {
            emulator.seed_scale(
                &access_key_id,
                &secret,
                args.seed_groups,
                args.seed_referencing,
            );
        } else {
            emulator.seed_funnel_sample(&access_key_id, &secret);
        }
    }
    if let Some(n) = args.page_size {
        emulator.set_page_size(n);
    }
    if let Some(ms) = args.latency_ms {
        emulator.set_latency(Duration::from_millis(ms));
    }
    if let Some(limit) = args.rate_limit {
        emulator.set_rate_limit(Some(RateLimit {
            limit,
            window: Duration::from_secs(args.rate_window_seconds),
        }));
    }

    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", emulator.endpoint())?;
    stdout.flush()?;

    stop_signal().await?;
    tracing::info!("stopping");
    emulator.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}
