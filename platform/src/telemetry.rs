//! JSON logs through `tracing`, one object per line, with the request id of the
//! enclosing request span. Secret types print as `[REDACTED]`, and nothing logs
//! request bodies, so passwords and keys never reach a log line.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,rustls=warn";

/// Installs the JSON subscriber writing to stdout. `RUST_LOG` overrides the filter.
pub fn init() {
    init_with_writer(std::io::stdout, DEFAULT_FILTER);
}

/// Installs the JSON subscriber with another writer (tests capture logs this
/// way) and another default filter. Does nothing when a subscriber is already
/// installed.
pub fn init_with_writer<W>(writer: W, default_filter: &str)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
}
