//! `simulate`: runs schedules of the deterministic simulator and reports what they found.
//!
//! - `simulate --seeds N [--first S]`: N schedules from seed S; a summary, and every
//!   failing seed with its shrunk schedule.
//! - `simulate --minutes M`: as many schedules as fit in M minutes.
//! - `simulate --seed S`: one schedule, written out step by step.
//! - `simulate --replay FILE`: a recorded schedule (`seed S` and `draws d,d,…` lines).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use sim::{replay, shrink, shrink_while, simulate, Counts, Ran};

#[derive(Parser)]
#[command(about = "Deterministic simulation of soracom-key-rotator")]
struct Args {
    /// Run this one seed and print its schedule.
    #[arg(long, conflicts_with_all = ["seeds", "minutes", "replay"])]
    seed: Option<u64>,
    /// How many schedules.
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first: u64,
    /// Run schedules for this many minutes.
    #[arg(long)]
    minutes: Option<u64>,
    /// Replay a recorded schedule.
    #[arg(long)]
    replay: Option<std::path::PathBuf>,
    /// Threads (each runs whole schedules on its own).
    #[arg(long, default_value_t = 1)]
    jobs: u64,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Replays a shrinker may spend on each failing seed.
    #[arg(long, default_value_t = 300)]
    shrink: usize,
    /// Record a regression schedule: the first seed (from --first) that shows this event
    /// (`kept:…`) and breaks nothing, shrunk.
    #[arg(long, conflicts_with_all = ["seed", "replay", "minutes"])]
    keep: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(seed) = args.seed {
        return show(seed, &simulate(seed, true));
    }
    if let Some(path) = &args.replay {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (seed, draws) = parse_record(&text)?;
        return show(seed, &replay(seed, draws, true));
    }
    if let Some(event) = &args.keep {
        return record(event, args.first, args.seeds.unwrap_or(10_000), args.shrink);
    }
    run_many(&args)
}

/// Runs `--seeds` (or `--minutes`) schedules on `--jobs` threads; prints the figures and
/// the first failing seeds' shrunk schedules.
fn run_many(args: &Args) -> Result<()> {
    let deadline = args
        .minutes
        .map(|m| Instant::now() + Duration::from_secs(m * 60));
    let limit = args
        .seeds
        .unwrap_or(if deadline.is_some() { u64::MAX } else { 100 });
    let started = Instant::now();
    let jobs = args.jobs.max(1);
    let first = args.first;
    let shares: Vec<Share> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| scope.spawn(move || share(first, j, jobs, limit, deadline)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed();
    let mut all = Share {
        counts: Counts::default(),
        done: 0,
        failed: Vec::new(),
    };
    for s in shares {
        all.counts.add(&s.counts);
        all.done += s.done;
        all.failed.extend(s.failed);
    }
    all.failed.sort_by_key(|(s, _)| *s);
    let text = serde_json::to_string_pretty(&summary(&all, (first, jobs), elapsed))?;
    println!("{text}");
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for (seed, ran) in all.failed.iter().take(3) {
        print_shrunk(*seed, ran, args.shrink);
    }
    std::io::stdout().flush()?;
    if !all.failed.is_empty() {
        bail!(
            "{} of {} schedules broke a promise",
            all.failed.len(),
            all.done
        );
    }
    Ok(())
}

/// The figures of a run of many schedules, as JSON.
fn summary(all: &Share, (first, jobs): (u64, u64), elapsed: Duration) -> serde_json::Value {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let failing: Vec<serde_json::Value> = all
        .failed
        .iter()
        .map(|(s, r)| {
            let violations: Vec<String> = r
                .violations
                .iter()
                .map(|(step, v)| format!("step {step}: {v}"))
                .collect();
            serde_json::json!({"seed": s, "violations": violations})
        })
        .collect();
    serde_json::json!({
        "schedules": all.done,
        "first_seed": first,
        "seconds": elapsed.as_secs_f64(),
        "jobs": jobs,
        "schedules_per_second": all.done as f64 / seconds,
        "steps_per_second": all.counts.steps as f64 / seconds,
        "counts": all.counts,
        "failing_seeds": failing,
    })
}

/// Shrinks a failing seed's schedule and prints it, replayable with `--replay`.
fn print_shrunk(seed: u64, ran: &Ran, budget: usize) {
    let kind = ran
        .violations
        .first()
        .map(|(_, v)| v.kind())
        .unwrap_or("run");
    let small = shrink(seed, ran.draws.clone(), kind, budget);
    eprintln!(
        "\nseed {seed} broke {kind}; shrunk schedule ({} draws, replay with --replay):",
        small.len()
    );
    let draws: Vec<String> = small.iter().map(u32::to_string).collect();
    eprintln!("seed {seed}\ndraws {}", draws.join(","));
    let again = replay(seed, small, true);
    for line in &again.trace {
        eprintln!("  {line}");
    }
}

/// What one thread ran.
struct Share {
    counts: Counts,
    done: u64,
    failed: Vec<(u64, Ran)>,
}

/// The schedules of thread `j` of `jobs`: seeds `first + j`, `first + j + jobs`, … below
/// `first + limit`, until `deadline`.
fn share(first: u64, j: u64, jobs: u64, limit: u64, deadline: Option<Instant>) -> Share {
    let mut out = Share {
        counts: Counts::default(),
        done: 0,
        failed: Vec::new(),
    };
    let mut i = j;
    while i < limit && deadline.is_none_or(|d| Instant::now() < d) {
        let seed = first + i;
        let ran = simulate(seed, false);
        out.counts.add(&ran.counts);
        out.done += 1;
        if !ran.violations.is_empty() {
            out.failed.push((seed, ran));
        }
        i += jobs;
    }
    out
}

/// Finds, shrinks and prints a schedule that shows `event` and breaks nothing.
fn record(event: &str, first: u64, count: u64, budget: usize) -> Result<()> {
    let shows = |ran: &Ran| ran.violations.is_empty() && ran.counts.events.contains_key(event);
    for seed in first..first.saturating_add(count) {
        let ran = simulate(seed, false);
        if !shows(&ran) {
            continue;
        }
        let small = shrink_while(seed, ran.draws, budget, shows);
        println!(
            "seed {seed}\ndraws {}",
            small
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        for line in replay(seed, small, true).trace {
            println!("  {line}");
        }
        return Ok(());
    }
    bail!("no seed of {count} from {first} shows {event}")
}

/// Prints one schedule and what it broke; an error when it broke something.
fn show(seed: u64, ran: &Ran) -> Result<()> {
    println!("seed {seed}");
    for line in &ran.trace {
        println!("{line}");
    }
    for (step, v) in &ran.violations {
        println!("step {step}: {v}");
    }
    if !ran.violations.is_empty() {
        bail!("seed {seed} broke {} promise(s)", ran.violations.len());
    }
    println!("no promise broken");
    Ok(())
}

/// `seed S` and `draws d,d,…`.
fn parse_record(text: &str) -> Result<(u64, Vec<u32>)> {
    let mut seed = None;
    let mut draws = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("seed ") {
            seed = Some(s.trim().parse().context("the seed")?);
        } else if let Some(d) = line.strip_prefix("draws ") {
            draws = d
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<u32>())
                .collect::<Result<_, _>>()
                .context("the draws")?;
        }
    }
    Ok((seed.context("no `seed S` line")?, draws))
}
