//! `cloudshop`: run the whole shop on this machine, or forget it.
//!
//! `cloudshop up` creates `.cloudshop/` on first run (a development CA and
//! certificates, generated secrets, a private PostgreSQL cluster), starts
//! PostgreSQL and the five services in this process, waits until each is
//! ready and prints where to shop. Ctrl-C stops everything; the data stays for
//! the next `up`. `cloudshop reset` deletes `.cloudshop/`.

mod local;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cloudshop", version, about = "Run CloudShop on this machine")]
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
}

#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => local::up(args).await,
        Command::Reset { dir } => local::reset(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cloudshop: {err:#}");
            ExitCode::FAILURE
        }
    }
}
