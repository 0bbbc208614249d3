//! `ao-mock-model`: runs the scripted mock model (chat completions, Anthropic Messages, OpenAI
//! Responses) until SIGTERM or SIGINT.
//!
//! Prints exactly one line to stdout, `listening on http://127.0.0.1:PORT/v1`,
//! once the server accepts connections.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ao_mock_model::{MockConfig, MockModel, Scenario};
use clap::Parser;

/// A scripted model server on 127.0.0.1 for ao's tests and demo (OpenCode, Claude Code, Codex).
#[derive(Debug, Parser)]
#[command(name = "ao-mock-model", version)]
struct Args {
    /// Scenario JSON file (default: one text reply "Hello from the ao mock model.").
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write the chosen port number to this file (atomically) once listening.
    #[arg(long, value_name = "FILE")]
    port_file: Option<PathBuf>,
    /// Append every model request (any API, side requests included) as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ao-mock-model: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_json_file(path)?,
        None => Scenario::default(),
    };
    // Install the handlers before announcing the port, so a script that
    // signals us right after reading the line is handled, not fatal.
    let stop = stop_signal()?;
    let mut config = MockConfig::default().port(args.port);
    if let Some(record) = args.record {
        config = config.record_file(record);
    }
    let mock = MockModel::start_with(scenario, config).await?;

    // Port file first: whoever reacts to the stdout line may read it at once.
    if let Some(port_file) = &args.port_file {
        write_atomically(port_file, &mock.port().to_string())?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", mock.base_url()).context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")?;
    drop(out);

    stop.await;
    mock.shutdown().await;
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Writes `contents` to a temporary file next to `path` and renames it, so a
/// reader polling `path` never sees a partial file.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("--port-file {} is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, contents)
        .with_context(|| format!("cannot write port file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rename {} to {}", tmp.display(), path.display())
    })?;
    Ok(())
}
