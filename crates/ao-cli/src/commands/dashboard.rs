//! `ao dashboard`: flags in, the URL out; the server is the ao-dashboard crate's.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::signal::unix::{signal, SignalKind};

use ao_core::manager::SessionManager;
use ao_core::target::Target;
use ao_dashboard::{Dashboard, Token, TokenError};

use crate::cli::{parse_seconds, Cli};
use crate::UsageError;

/// The web dashboard: every session live in a browser, with its actions, and a JSON API.
#[derive(Debug, Args)]
#[command(
    after_help = "The first line of standard output is the URL to open, with the token in it. The API, and the MCP server at /mcp, take `Authorization: Bearer TOKEN`.\n\nExamples:\n  ao dashboard\n  ao dashboard --port 8484 --token-file ~/.config/ao/dashboard-token\n  ao dashboard --port 8484   # on build-box; then on your laptop: ssh -L 8484:127.0.0.1:8484 build-box"
)]
pub struct DashboardArgs {
    /// The port to listen on (default: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The address to listen on. Anything but loopback serves plain HTTP to the network: put a
    /// TLS proxy or an SSH tunnel in front.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
    /// Open the dashboard in the browser (through a file only you may read, so that the token
    /// never goes on the browser's command line).
    #[arg(long)]
    pub open: bool,
    /// Also accept requests whose Host header is NAME (or NAME:PORT): the name of a TLS proxy in
    /// front that keeps the Host. Others but 127.0.0.1, localhost and the --listen address get
    /// 403, so that a name rebound to this machine reaches nothing.
    #[arg(long, value_name = "NAME", value_parser = parse_host_name)]
    pub allow_host: Vec<String>,
    /// Keep the token in this file (created 0600 when missing), so it stays the same across
    /// restarts.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How long to wait for each project's agent, in seconds, before showing what was last
    /// seen of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
    #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
    /// Also serve the permit and answer tools at /mcp (the MCP server, behind the token): a
    /// client could then approve sessions' tool calls and answer their questions.
    #[arg(long)]
    pub mcp_allow_replies: bool,
}

/// A host name as a `Host` header carries it: letters, digits, `.`, `-`, `_`, an optional
/// `:PORT`, or a bracketed IPv6 address.
fn parse_host_name(text: &str) -> Result<String, String> {
    let (name, port) = match text.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, Some(port)),
        _ => (text, None),
    };
    let name_ok = !name.is_empty()
        && (name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            || (name.starts_with('[')
                && name.ends_with(']')
                && name.len() > 2
                && name[1..name.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok()));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    if name_ok && port_ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a host name as a browser sends it (e.g. ao.example.com or \
             ao.example.com:8443)"
        ))
    }
}

/// `ao dashboard`.
pub async fn run(cli: &Cli, args: &DashboardArgs) -> anyhow::Result<ExitCode> {
    let mut mgr = super::manager(cli).await?;
    if let Some(budget) = args.timeout {
        mgr.set_status_budget(budget);
    }
    // A view records what it sees but starts nothing as it goes: a monitor that died is started
    // again here, once, as `ao status` would.
    mgr.ensure_monitors_of(&Target::All).await;
    serve(mgr, args).await?;
    Ok(ExitCode::SUCCESS)
}

/// Serves the dashboard until SIGINT or SIGTERM. The first line of standard output is its URL.
async fn serve(mgr: SessionManager, args: &DashboardArgs) -> anyhow::Result<()> {
    let token = match &args.token_file {
        Some(file) => Token::from_file(file).map_err(|e| match e {
            TokenError::Invalid { .. } => anyhow::Error::new(UsageError(e.to_string())),
            TokenError::Io { .. } => anyhow::Error::new(e),
        })?,
        None => Token::random(),
    };
    // Taken before anything is served, so that a signal never finds the default action.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let dashboard = Dashboard::bind(
        SocketAddr::new(args.listen, args.port),
        token,
        args.allow_host.clone(),
    )
    .await?
    .allow_mcp_replies(args.mcp_allow_replies);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", dashboard.url())?;
    out.flush()?;
    drop(out);
    if !dashboard.is_loopback() {
        let port = dashboard.addr().port();
        eprintln!(
            "ao: WARNING: the dashboard listens on {} and serves PLAIN HTTP: its token and \
             everything it shows cross the network unencrypted, readable by anyone on the way.\n\
             ao: Put a TLS proxy in front of it (for example `caddy reverse-proxy --from \
             https://HOST --to 127.0.0.1:{port}` with --listen 127.0.0.1 and --allow-host HOST), \
             or keep it on \
             127.0.0.1 and use an SSH tunnel from your machine: `ssh -L {port}:127.0.0.1:{port} \
             HOST`.",
            dashboard.addr()
        );
    }
    eprintln!("ao: the dashboard serves every session; Ctrl-C stops it");
    // The page for the browser lives under the state home, with the rest of ao's private files.
    let open_page = if args.open {
        let dir = mgr.home().root().join("dashboard");
        match dashboard.write_open_page(&dir) {
            Ok(page) => {
                open_browser(&page);
                Some(page)
            }
            Err(e) => {
                eprintln!(
                    "ao: --open: cannot write the page for the browser in {}: {e}; open the URL \
                     above yourself",
                    dir.display()
                );
                None
            }
        }
    } else {
        None
    };
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let served = dashboard.serve(Arc::new(mgr), shutdown).await;
    if let Some(page) = open_page {
        let _ = std::fs::remove_file(page);
    }
    served?;
    Ok(())
}

/// Opens `page` (a file only its owner may read, which sends the browser on to the dashboard)
/// with the desktop's opener, if there is one. Its argv holds the file's path, never the token: a
/// command line is visible to every user of the machine.
fn open_browser(page: &std::path::Path) {
    let Ok(opener) = which::which("xdg-open").or_else(|_| which::which("open")) else {
        eprintln!("ao: --open: no xdg-open or open on PATH; open the URL above yourself");
        return;
    };
    match tokio::process::Command::new(&opener)
        .arg(page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reaped when it ends, so no zombie stays while the dashboard runs.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => eprintln!("ao: --open: cannot run {}: {e}", opener.display()),
    }
}
