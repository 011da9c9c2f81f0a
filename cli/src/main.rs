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
//!
//! Those, `cluster` and `compose` (which release into, or read, a release)
//! are the `release` feature, on by default. Without it (`cargo run --release
//! -p cloudshop --no-default-features -- up`, the README's first command)
//! the binary leaves out the release tool's ~150 crates (sigstore, the OCI
//! client), and a fresh clone runs the shop in less time.

mod bench;
#[cfg(feature = "release")]
mod cluster;
#[cfg(feature = "release")]
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
    #[cfg(feature = "release")]
    Cluster(cluster::ClusterArgs),
    /// Write the certificates and secrets compose.yaml mounts (and, with
    /// --release, the release's image digests).
    #[cfg(feature = "release")]
    Compose(compose::ComposeArgs),
    #[cfg(feature = "release")]
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
        #[cfg(feature = "release")]
        Command::Compose(args) => compose::run(&args),
        #[cfg(feature = "release")]
        Command::Cluster(args) => cluster::run(args).await,
        Command::Bench(args) => bench::run(&args).await,
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
