//! What every service's `main` does: install the crypto provider and the JSON
//! logger, load the settings, then either run the service or, with the
//! `healthcheck` argument, probe its own admin port (so a `FROM scratch` image
//! without a shell or curl can still have a container HEALTHCHECK).

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::settings::HttpSettings;

/// Settings of a service: loadable in layers, with an admin listener.
pub trait ServiceSettings: Serialize + DeserializeOwned + Default {
    fn http(&self) -> &HttpSettings;
}

/// Runs the service named `name`, or its health check.
pub async fn main<S, F, Fut>(name: &str, run: F) -> ExitCode
where
    S: ServiceSettings,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    crate::install_crypto_provider();
    let settings = match crate::settings::load(S::default()) {
        Ok(settings) => settings,
        Err(err) => {
            crate::telemetry::init();
            tracing::error!(service = name, error = %err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
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
