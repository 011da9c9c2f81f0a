//! `cloudshop`: a dispatcher over the command areas, each a crate of its
//! own with its arguments and its `run`:
//!
//! | command | what it does | crate (folder) |
//! |---|---|---|
//! | `up`, `reset` | the whole shop in this process, with a private PostgreSQL | `cloudshop-local` (`local/`) |
//! | `bench` | the shipped binaries under the load generator | `cloudshop-bench` (`bench/`) |
//! | `cluster up`, `cluster down` | a policed Kubernetes cluster on this machine | `cloudshop-cluster` (`cluster/`) |
//! | `release [STEP]`, `compose` | the release pipeline; compose's files from a release | `cloudshop-supply-chain` (`supply-chain/`) |
//!
//! Each release step also answers to its old top-level name (`cloudshop
//! build`, `cloudshop sign`, …), hidden from `--help`, while scripts and
//! workflows move to `cloudshop release <step>`.
//!
//! `release`, `cluster` and `compose` are the `release` feature, on by
//! default. Without it (`cargo run --release -p cloudshop
//! --no-default-features -- up`, the README's first command) the binary
//! leaves out the release tool's ~150 crates (sigstore, the OCI client), and
//! a fresh clone runs the shop in less time.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cloudshop",
    version,
    about = "Run CloudShop on this machine, or build, sign and verify its release"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run, then consumed")]
enum Command {
    /// Start PostgreSQL and all five services; Ctrl-C stops them.
    Up(cloudshop_local::UpArgs),
    /// Delete the local shop's folder (certificates, secrets, data).
    Reset {
        /// The local shop's folder.
        #[arg(long, default_value = ".cloudshop")]
        dir: PathBuf,
    },
    /// Measure the shipped binaries: start to ready, memory, and the load
    /// generator's workloads through the gateway and the storefront.
    Bench(cloudshop_bench::BenchArgs),
    /// A policed Kubernetes cluster on this machine: a real control plane
    /// and Kyverno, simulated nodes (kwok).
    #[cfg(feature = "release")]
    Cluster(cloudshop_cluster::ClusterArgs),
    /// Write the certificates and secrets compose.yaml mounts (and, with
    /// --release, the release's image digests).
    #[cfg(feature = "release")]
    Compose(cloudshop_supply_chain::compose::ComposeArgs),
    #[cfg(feature = "release")]
    #[command(flatten)]
    Release(cloudshop_supply_chain::cli::Command),
}

/// The parser, with the release steps' old top-level names hidden.
fn command() -> clap::Command {
    let mut command = Cli::command();
    let shown = ["up", "reset", "bench", "cluster", "compose", "release", "help"];
    let hidden: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| !shown.contains(&name.as_str()))
        .collect();
    for name in hidden {
        command = command.mut_subcommand(name, |sub| sub.hide(true));
    }
    command
}

#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::install_crypto_provider();
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match cli.command {
        Command::Up(args) => cloudshop_local::up(args).await,
        Command::Reset { dir } => cloudshop_local::reset(&dir),
        Command::Bench(args) => cloudshop_bench::run(&args).await,
        #[cfg(feature = "release")]
        Command::Cluster(args) => cloudshop_cluster::run(args).await,
        #[cfg(feature = "release")]
        Command::Compose(args) => cloudshop_supply_chain::compose::run(&args),
        #[cfg(feature = "release")]
        Command::Release(command) => cloudshop_supply_chain::cli::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cloudshop: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    /// `--help` lists the command areas; a release step is under `release`,
    /// and its old top-level name still runs it.
    #[cfg(feature = "release")]
    #[test]
    fn help_lists_the_areas_and_the_old_step_names_still_parse() {
        let listed: Vec<String> = command()
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .map(|sub| sub.get_name().to_owned())
            .collect();
        assert_eq!(listed, ["up", "reset", "bench", "cluster", "compose", "release"]);
        for args in [
            &["cloudshop", "release", "build", "--service", "auth"][..],
            &["cloudshop", "build", "--service", "auth"],
            &["cloudshop", "release", "--registry", "127.0.0.1:5000"],
        ] {
            let matches = command().try_get_matches_from(args).expect("parses");
            Cli::from_arg_matches(&matches).expect("a command");
        }
        let wrong = command()
            .try_get_matches_from(["cloudshop", "release", "build", "--service", "payments"])
            .expect_err("no such service")
            .to_string();
        assert!(wrong.contains("payments"), "{wrong}");
    }
}
