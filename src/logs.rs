//! Where the server's logs go: `tracing`, as text or one JSON object per
//! line (`log_format`), filtered by `log_filter` or `RUST_LOG`. Rocket's
//! and Natter's `log` records are carried over into it. What is logged
//! never includes a message's text, a password or a token: requests are
//! logged by route pattern (`http::requests`), never by their query.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Starts logging for the server process. Fails if logging was started
/// already (by an embedding program, say): its logs are kept then.
pub fn init(settings: &Settings) -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_filter))
        .map_err(|e| format!("log_filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // Colours for a person at a terminal, never in a file or a journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let started = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    started.map_err(|e| e.to_string())
}
