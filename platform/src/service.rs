//! What every service's `main` does: install the crypto provider and the JSON
//! logger, load the settings, then either run the service or, with the
//! `healthcheck` argument, probe its own admin port (so a `FROM scratch` image
//! without a shell or curl can still have a container HEALTHCHECK).

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use cloudshop_topology::ServiceId;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::settings::HttpSettings;

/// Settings of a service: loadable in layers, with an admin listener.
pub trait ServiceSettings: Serialize + DeserializeOwned + Default {
    fn http(&self) -> &HttpSettings;
}

/// Runs the service `id`, or its health check.
pub async fn main<S, F, Fut>(id: ServiceId, run: F) -> ExitCode
where
    S: ServiceSettings,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let name = id.name();
    let argument = std::env::args().nth(1);
    let healthcheck_only = match Invocation::parse(argument.as_deref(), std::env::args().count()) {
        Invocation::Run => false,
        Invocation::Healthcheck => true,
        Invocation::Help => {
            let _ = std::io::stdout().write_all(usage(name).as_bytes());
            return ExitCode::SUCCESS;
        }
        Invocation::Version => {
            let _ = writeln!(std::io::stdout(), "{name} {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Invocation::Unknown => {
            let _ = write!(
                std::io::stderr(),
                "{name}: unexpected arguments {:?}\n\n{}",
                std::env::args().skip(1).collect::<Vec<_>>(),
                usage(name)
            );
            return ExitCode::from(2);
        }
    };
    crate::install_crypto_provider();
    let settings = match crate::settings::load(S::default()) {
        Ok(settings) => settings,
        Err(err) => {
            crate::telemetry::init();
            tracing::error!(service = name, error = %err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    if healthcheck_only {
        return match healthcheck(settings.http().admin_listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                let _ = writeln!(std::io::stderr(), "{name} unhealthy: {reason}");
                ExitCode::FAILURE
            }
        };
    }
    crate::telemetry::init();
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(
                service = name,
                error = format!("{err:#}"),
                "stopped with an error"
            );
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for: a service takes no arguments but
/// `healthcheck`, `--help` and `--version` (its settings come from a file and
/// the environment, see [`crate::settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invocation {
    Run,
    Healthcheck,
    Help,
    Version,
    Unknown,
}

impl Invocation {
    /// `first` is the first argument, `count` the number of arguments
    /// including the program's name.
    fn parse(first: Option<&str>, count: usize) -> Self {
        match (first, count) {
            (None, _) => Self::Run,
            (Some("healthcheck"), 2) => Self::Healthcheck,
            (Some("--help" | "-h" | "help"), 2) => Self::Help,
            (Some("--version" | "-V"), 2) => Self::Version,
            _ => Self::Unknown,
        }
    }
}

fn usage(name: &str) -> String {
    format!(
        "{name} {version}: a CloudShop service.\n\n\
         Usage:\n  {name}               run the service\n  \
         {name} healthcheck   exit 0 when the running service's admin port answers /readyz with 200\n  \
         {name} --help        this text\n  {name} --version     the version\n\n\
         Settings: the service's defaults, then the TOML file named by {file_var}, then\n\
         {prefix}* environment variables (`__` between levels, e.g. {prefix}HTTP__LISTEN).\n\
         Secrets are read from the files the settings name, never from the environment.\n",
        version = env!("CARGO_PKG_VERSION"),
        file_var = crate::settings::CONFIG_FILE_VAR,
        prefix = "CLOUDSHOP_",
    )
}

/// `GET /readyz` on the admin listener (on loopback when it listens on all
/// addresses); healthy on a 200.
pub fn healthcheck(admin: SocketAddr) -> Result<(), String> {
    let target = if admin.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], admin.port()))
    } else {
        admin
    };
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&target, timeout).map_err(|e| format!("{target}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    match reply.lines().next() {
        Some(status) if status.starts_with("HTTP/1.1 200") => Ok(()),
        Some(status) => Err(status.to_owned()),
        None => Err("no answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_takes_healthcheck_help_and_version_and_refuses_anything_else() {
        assert_eq!(Invocation::parse(None, 1), Invocation::Run);
        assert_eq!(Invocation::parse(Some("healthcheck"), 2), Invocation::Healthcheck);
        assert_eq!(Invocation::parse(Some("--help"), 2), Invocation::Help);
        assert_eq!(Invocation::parse(Some("-h"), 2), Invocation::Help);
        assert_eq!(Invocation::parse(Some("--version"), 2), Invocation::Version);
        assert_eq!(Invocation::parse(Some("--verbose"), 2), Invocation::Unknown);
        assert_eq!(Invocation::parse(Some("healthcheck"), 3), Invocation::Unknown);
        let text = usage("orders");
        assert!(text.starts_with("orders "), "{text}");
        assert!(text.contains("CLOUDSHOP_CONFIG"), "{text}");
    }
}
