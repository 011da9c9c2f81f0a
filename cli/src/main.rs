//! `cloudshop`: run the whole shop on this machine, or forget it.
//!
//! `cloudshop up` creates `.cloudshop/` on first run (a development CA and
//! certificates, generated secrets, a private PostgreSQL cluster), starts
//! PostgreSQL and the five services in this process, waits until each is
//! ready and prints where to shop. Ctrl-C stops everything; the data stays for
//! the next `up`. `cloudshop reset` deletes `.cloudshop/`.
//!
//! `cloudshop bench` measures the shipped binaries under the load generator
//! (see `docs/benchmarks.md`).
//!
//! `cloudshop cluster up` runs a policed Kubernetes cluster on this machine
//! (see the `cluster` module); `cloudshop cluster down` stops it.
//!
//! `cloudshop compose` writes the certificates and secrets `compose.yaml`
//! mounts, for running the shop from its images with docker or podman.
//!
//! The release pipeline's steps are subcommands too (`cloudshop release` runs
//! them all): see the `cloudshop-supply-chain` crate.

mod bench;
mod cluster;
pub mod compose;
mod local;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
enum Command {
    /// Start PostgreSQL and all five services; Ctrl-C stops them.
    Up(local::UpArgs),
    /// Delete the local shop's folder (certificates, secrets, data).
    Reset {
        /// The local shop's folder.
        #[arg(long, default_value = ".cloudshop")]
        dir: PathBuf,
    },
    /// Measure the shipped binaries: start to ready, memory, and the load
    /// generator's workloads through the gateway and the storefront.
    Bench(bench::BenchArgs),
    /// A policed Kubernetes cluster on this machine: a real control plane
    /// and Kyverno, simulated nodes (kwok).
    Cluster(cluster::ClusterArgs),
    /// Write the certificates and secrets compose.yaml mounts (and, with
    /// --release, the release's image digests).
    Compose(compose::ComposeArgs),
    #[command(flatten)]
    Release(cloudshop_supply_chain::cli::Command),
}

#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => local::up(args).await,
        Command::Reset { dir } => local::reset(&dir),
        Command::Compose(args) => compose::run(&args),
        Command::Cluster(args) => cluster::run(args).await,
        Command::Bench(args) => bench::run(&args).await,
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
