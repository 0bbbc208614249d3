//! `ao dashboard`: flags in, the URL out; the server is the ao-dashboard crate's.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use ao_core::manager::SessionManager;
use ao_dashboard::{Dashboard, Token, TokenError};

use crate::cli::DashboardArgs;
use crate::UsageError;

/// Serves the dashboard until SIGINT or SIGTERM. The first line of standard output is its URL.
pub async fn run(mgr: SessionManager, args: &DashboardArgs) -> anyhow::Result<()> {
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
    .await?;
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
