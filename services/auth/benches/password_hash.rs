//! How long one argon2id hash takes at the configured parameters, and how many
//! logins per second the machine can therefore verify.
//! `cargo bench -p cloudshop-auth --bench password_hash`

// A benchmark prints its results.
#![allow(clippy::disallowed_macros, clippy::print_stdout)]

use std::time::{Duration, Instant};

use cloudshop_auth::passwords::PasswordHasher;
use cloudshop_auth::settings::PasswordSettings;
use secrecy::SecretString;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let settings = PasswordSettings::default();
    let hasher = PasswordHasher::new(&settings, prometheus::IntCounter::new("checks", "checks")?)?;
    let rounds = 20;
    let mut samples: Vec<Duration> = Vec::with_capacity(rounds);
    runtime.block_on(async {
        let stored = hasher.hash(SecretString::from("bench password 123!")).await?;
        for _ in 0..rounds {
            let started = Instant::now();
            hasher
                .verify(Some(stored.clone()), SecretString::from("bench password 123!"))
                .await;
            samples.push(started.elapsed());
        }
        anyhow::Ok(())
    })?;
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / rounds as u32;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "argon2id m={} KiB t={} p={}: mean {:.1} ms, median {:.1} ms, min {:.1} ms over {rounds} verifications",
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        mean.as_secs_f64() * 1e3,
        samples[rounds / 2].as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
    );
    println!(
        "ceiling on {cores} cores: {:.0} logins/s",
        cores as f64 / mean.as_secs_f64()
    );
    Ok(())
}
