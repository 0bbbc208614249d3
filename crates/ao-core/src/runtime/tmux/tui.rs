//! The agent's TUI on demand in a tmux session (`tmux: {tui: lazy}`, the default).
//!
//! Theory of operation. A lazy session's first window runs ao's own live view of the session
//! (a small `ao` process), and the session carries the user option `@ao-view`. The agent's TUI is
//! opened in a second window of the session, marked with the window option `@ao-tui` (the time it
//! was opened), by whoever asks for it: `ao attach` before it attaches the person's client, or the
//! view when its key is pressed. A window rather than the view's own pane (`respawn-pane`): the view
//! keeps following the session, so nothing has to start again when the TUI goes; a TUI that ends
//! by itself (the person quits it) takes its window with it and tmux shows the view again, with no
//! hook; and the view's pane, whose program is what `alive` reports, never changes.
//!
//! Opening: the TUI's launch script (`tui.sh`, 0600, since it holds the agent's password) runs in
//! the new window with `remain-on-exit` on and its standard error going to `tui.err`. The opener
//! waits until the TUI draws (tmux sees it switch to the alternate screen) or dies. A TUI that died
//! is reported with its exit status and the end of `tui.err` (tmux loses what a program prints
//! just before it dies), and its window removed; one that draws gets `remain-on-exit` off, so that
//! its window goes when it ends.
//!
//! Closing: a lazy session's `client-detached` hook runs `ao tmux-hook`, which closes the TUI of
//! every lazy session of the server that no client is attached to any more (tmux runs the hook in
//! the context of its "best" session, not always the one the client left): its process group is stopped (SIGTERM, then SIGKILL), found by the
//! pid tmux reports for its pane and that process's start time, never by name; then its window is
//! killed. The view also closes a TUI that has had no client for a while (a client that switched to
//! another session, an `ao attach` killed before it attached), on its slow period.

use std::path::Path;
use std::time::{Duration, Instant};

use tmux_interface::TmuxCommand;

use super::tmux_runtime::{shell_quote, write_script, TmuxRuntime};
use crate::runtime::interface::{Runtime, RuntimeError};
use crate::runtime::process::ProcessIdentity;
use ao_agent::runtime::{LaunchSpec, RuntimeHandle};

/// The hidden subcommand of the `ao` binary that tmux's hook runs: `ao tmux-hook [--socket S]`
/// closes the TUI of every lazy session of the server that no client is attached to.
pub const TMUX_HOOK_SUBCOMMAND: &str = "tmux-hook";

/// The session option that marks a lazy session (its first pane runs ao's view).
const VIEW_MARK: &str = "@ao-view";
/// The window option that marks the TUI's window; its value is when it was opened (epoch seconds).
const TUI_MARK: &str = "@ao-tui";
/// The TUI window's name, for people (`tmux list-windows`); it is found by its mark.
const TUI_WINDOW: &str = "tui";
/// How long an opener waits for the TUI to draw before it shows it as it is.
const TUI_START_LIMIT: Duration = Duration::from_secs(20);
/// How long a dead TUI's exit status is waited for, when neither its shell nor tmux has it.
const DEAD_STATUS_WAIT: Duration = Duration::from_secs(1);
/// How long a TUI has after SIGTERM before SIGKILL.
const TUI_STOP_GRACE: Duration = Duration::from_secs(1);
/// How much of `tui.err` an error quotes.
const TUI_ERR_EXCERPT: usize = 1500;

/// What [`TmuxRuntime::open_tui`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuiOpened {
    /// The TUI draws in its window (it may have been open already), the session's current window.
    Shown,
    /// The session's pane runs the agent itself (`tui: always`): there is nothing to open.
    NotLazy,
    /// It was closed before it drew: no client was attached any more.
    Closed,
}

/// When [`TmuxRuntime::close_tui`] closes a session's TUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseWhen {
    /// Whatever the clients.
    Always,
    /// Only when no client is attached to the session and it has been open at least this long.
    Unwatched {
        /// How long it must have been open.
        open_for: Duration,
    },
}

/// The TUI's window as tmux reports it.
#[derive(Debug)]
struct TuiWindow {
    /// tmux's id for it (`@3`), unique on the server.
    id: String,
    /// When it was opened, in epoch seconds.
    opened: u64,
    /// The pid of its pane's program; `None` once it died.
    pid: Option<u32>,
    /// Its exit status, once it died.
    dead_status: Option<String>,
    /// Whether it draws (the alternate screen is on).
    drawing: bool,
}

/// A session's windows as far as the TUI is concerned.
struct Look {
    /// Its TUI windows: one, but a window whose program is still being reaped may be listed
    /// beside the next one's.
    tuis: Vec<TuiWindow>,
    /// How many clients are attached to the session.
    attached: u32,
}

/// A tmux command from its words, for what tmux_interface has no builder for.
fn raw(words: &[&str]) -> TmuxCommand<'static> {
    let mut cmd = TmuxCommand::new();
    cmd.name(words[0].to_string());
    for w in &words[1..] {
        cmd.push_param(w.to_string());
    }
    cmd
}

/// The tmux command a hook runs: `run-shell -b` of `words`, quoted for sh, then for run-shell's
/// format expansion (`#` doubled), then for tmux's own parser (a double-quoted string, in which
/// `\`, `"` and `$` are escaped). Its output is dropped: run-shell would show it over the pane.
fn hook_command(words: &[String]) -> Result<String, RuntimeError> {
    let line = shlex::try_join(words.iter().map(String::as_str))
        .map_err(|e| RuntimeError::Tmux(format!("cannot write the tmux hook: {e}")))?;
    let line = format!("{line} >/dev/null 2>&1; true").replace('#', "##");
    let mut quoted = String::from("run-shell -b \"");
    for c in line.chars() {
        if matches!(c, '\\' | '"' | '$') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Ok(quoted)
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The end of a file, at most `max` bytes, trimmed; empty when it cannot be read.
fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].trim().to_string()
}

fn tmux_parts(handle: &RuntimeHandle) -> Result<(&Option<String>, &str), RuntimeError> {
    match handle {
        RuntimeHandle::Tmux { socket, session } => Ok((socket, session)),
        _ => Err(RuntimeError::Unsupported(
            "only a tmux session has a TUI window".into(),
        )),
    }
}

impl TmuxRuntime {
    /// Creates a lazy session: like [`Runtime::create`] with ao's view as `view`, then marks it
    /// and sets its `client-detached` hook to run `hook` (the `ao` binary and
    /// [`TMUX_HOOK_SUBCOMMAND`]; the socket and session are added here).
    pub fn create_lazy(
        &self,
        name: &str,
        view: &LaunchSpec,
        session_dir: &Path,
        hook: &[String],
    ) -> Result<RuntimeHandle, RuntimeError> {
        let mut words = hook.to_vec();
        if let Some(s) = &self.socket {
            words.extend(["--socket".into(), s.clone()]);
        }
        let hook = hook_command(&words)?;
        let handle = self.create(name, view, session_dir)?;
        // A session's own options and hooks take `=name:` (without the colon, tmux 3.3 finds none).
        let target = format!("={name}:");
        let marked = self.run(
            self.tmux(&self.socket)
                .add_command(raw(&["set-option", "-t", &target, VIEW_MARK, "1"]))
                .add_command(raw(&["set-hook", "-t", &target, "client-detached", &hook])),
        );
        if let Err(e) = marked {
            let _ = self.destroy(&handle);
            return Err(RuntimeError::Tmux(format!(
                "cannot set up tmux session {name}: {e}"
            )));
        }
        Ok(handle)
    }

    /// Whether the session is lazy (made by [`create_lazy`](Self::create_lazy)); an error when
    /// it is gone.
    pub fn is_lazy_session(&self, handle: &RuntimeHandle) -> Result<bool, RuntimeError> {
        let (socket, session) = tmux_parts(handle)?;
        self.is_lazy(socket, session)
    }

    fn is_lazy(&self, socket: &Option<String>, session: &str) -> Result<bool, RuntimeError> {
        let out = self
            .run(self.tmux(socket).add_command(raw(&[
                "show-options",
                "-qv",
                "-t",
                &format!("={session}:"),
                VIEW_MARK,
            ])))
            .map_err(|e| RuntimeError::Tmux(format!("session {session} is gone: {e}")))?;
        Ok(out.trim() == "1")
    }

    /// The session's TUI window and its clients; an error when the session is gone.
    fn look(&self, socket: &Option<String>, session: &str) -> Result<Look, RuntimeError> {
        let format = [
            "#{window_id}",
            &format!("#{{{TUI_MARK}}}"),
            "#{pane_pid}",
            "#{pane_dead}",
            "#{pane_dead_status}",
            "#{alternate_on}",
            "#{session_attached}",
        ]
        .join("\t");
        let text = self.run(self.tmux(socket).add_command(raw(&[
            "list-windows",
            "-t",
            &format!("={session}"),
            "-F",
            &format,
        ])))?;
        let mut look = Look {
            tuis: Vec::new(),
            attached: 0,
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 7 {
                continue;
            }
            look.attached = f[6].parse().unwrap_or(0);
            let Ok(opened) = f[1].parse::<u64>() else {
                continue;
            };
            let dead = f[3] == "1";
            look.tuis.push(TuiWindow {
                id: f[0].to_string(),
                opened,
                pid: if dead { None } else { f[2].parse().ok() },
                dead_status: dead.then(|| f[4].to_string()),
                drawing: f[5] == "1",
            });
        }
        Ok(look)
    }

    /// Opens the agent's TUI (`spec`) in the session's TUI window and makes it the session's
    /// current window, or selects it when it is open already; waits until it draws. With
    /// `need_client` (the pane's key), a TUI that finds no client attached is closed again. A TUI
    /// that dies before it draws is an error with its exit status and what it printed.
    pub fn open_tui(
        &self,
        handle: &RuntimeHandle,
        spec: &LaunchSpec,
        session_dir: &Path,
        need_client: bool,
    ) -> Result<TuiOpened, RuntimeError> {
        let (socket, session) = tmux_parts(handle)?;
        if !self.is_lazy(socket, session)? {
            return Ok(TuiOpened::NotLazy);
        }
        // One opener at a time per session: two would open two windows.
        let lock_path = session_dir.join("tui.lock");
        let _lock = crate::home::lock_file(&lock_path).map_err(|source| RuntimeError::Io {
            what: format!("cannot lock {}", lock_path.display()),
            source,
        })?;
        let err_file = session_dir.join("tui.err");
        let look = self.look(socket, session)?;
        if let Some(w) = look.tuis.iter().find(|w| w.pid.is_some()) {
            self.run(
                self.tmux(socket)
                    .add_command(raw(&["select-window", "-t", &w.id])),
            )?;
            // It may be on its way out (a hook closing it): then it is opened anew.
            return self.wait_for_tui(
                socket,
                session,
                &w.id,
                &spec.program,
                &err_file,
                need_client,
            );
        }
        // TUIs that died and whose windows stayed: out of the way.
        for w in &look.tuis {
            let _ = self.run(
                self.tmux(socket)
                    .add_command(raw(&["kill-window", "-t", &w.id])),
            );
        }
        let script = write_script(spec, &session_dir.join("tui.sh"), Some(&err_file))?;
        // The exit status is kept by the shell around the TUI: tmux 3.3 sometimes reports a dead
        // pane without one (seen in about one run in three of a TUI that exits at once).
        let status_file = exit_status_file(&err_file);
        let _ = std::fs::remove_file(&status_file);
        let command = format!(
            "sh {}; s=$?; echo $s > {}; exit $s",
            shell_quote(&script.to_string_lossy())?,
            shell_quote(&status_file.to_string_lossy())?
        );
        // Marked in the same call, by a name of its own: a program that fails at once would
        // otherwise take its window before a second call could keep it (`remain-on-exit`).
        let unique = format!(
            "ao-tui-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let window = format!("={session}:={unique}");
        let opened = epoch_secs().to_string();
        let id = self
            .run(
                self.tmux(socket)
                    .add_command(raw(&[
                        "new-window",
                        "-d",
                        "-P",
                        "-F",
                        "#{window_id}",
                        "-t",
                        &format!("={session}:"),
                        "-n",
                        &unique,
                        "-c",
                        &spec.cwd.to_string_lossy(),
                        &command,
                    ]))
                    .add_command(raw(&[
                        "set-option",
                        "-w",
                        "-t",
                        &window,
                        "remain-on-exit",
                        "on",
                    ]))
                    .add_command(raw(&["set-option", "-w", "-t", &window, TUI_MARK, &opened]))
                    .add_command(raw(&["select-window", "-t", &window]))
                    .add_command(raw(&["rename-window", "-t", &window, TUI_WINDOW])),
            )
            .map_err(|e| RuntimeError::Tmux(format!("cannot open the TUI's window: {e}")))?
            .trim()
            .to_string();
        self.wait_for_tui(socket, session, &id, &spec.program, &err_file, need_client)
    }

    fn wait_for_tui(
        &self,
        socket: &Option<String>,
        session: &str,
        id: &str,
        program: &Path,
        err_file: &Path,
        need_client: bool,
    ) -> Result<TuiOpened, RuntimeError> {
        let deadline = Instant::now() + TUI_START_LIMIT;
        let mut dead_since = None;
        loop {
            let look = self.look(socket, session)?;
            let Some(w) = look.tuis.into_iter().find(|w| w.id == id) else {
                return Ok(TuiOpened::Closed);
            };
            if let Some(tmux_status) = &w.dead_status {
                // The shell around the TUI wrote the status before its terminal closed; tmux's
                // own, when the TUI did not run inside that shell (an older ao opened it).
                let kept = std::fs::read_to_string(exit_status_file(err_file))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                let status = if kept.is_empty() { tmux_status } else { &kept };
                let since = *dead_since.get_or_insert_with(Instant::now);
                if status.is_empty() && since.elapsed() < DEAD_STATUS_WAIT {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let _ = self.run(
                    self.tmux(socket)
                        .add_command(raw(&["kill-window", "-t", id])),
                );
                let printed = tail(err_file, TUI_ERR_EXCERPT);
                let printed = if printed.is_empty() {
                    String::new()
                } else {
                    format!(": {printed}")
                };
                return Err(RuntimeError::Launch(format!(
                    "{} exited with status {status} before it showed anything{printed}",
                    program.display()
                )));
            }
            if need_client && look.attached == 0 {
                self.close_in(socket, session, CloseWhen::Always);
                return Ok(TuiOpened::Closed);
            }
            if w.drawing || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // From now on, a TUI that ends takes its window with it; one that ended meanwhile is
        // removed here.
        let _ = self.run(self.tmux(socket).add_command(raw(&[
            "set-option",
            "-w",
            "-t",
            id,
            "remain-on-exit",
            "off",
        ])));
        if let Ok(look) = self.look(socket, session) {
            if look.tuis.iter().any(|w| w.id == id && w.pid.is_none()) {
                let _ = self.run(
                    self.tmux(socket)
                        .add_command(raw(&["kill-window", "-t", id])),
                );
            }
        }
        Ok(TuiOpened::Shown)
    }

    /// Closes the session's TUI (`when` says whether it may): stops its process group and
    /// removes its window. Returns whether it closed one. A session or server that is gone has
    /// nothing to close.
    pub fn close_tui(&self, handle: &RuntimeHandle, when: CloseWhen) -> Result<bool, RuntimeError> {
        let (socket, session) = tmux_parts(handle)?;
        Ok(self.close_in(socket, session, when))
    }

    fn close_in(&self, socket: &Option<String>, session: &str, when: CloseWhen) -> bool {
        let Ok(look) = self.look(socket, session) else {
            return false;
        };
        let Some(newest) = look.tuis.iter().map(|w| w.opened).max() else {
            return false;
        };
        if let CloseWhen::Unwatched { open_for } = when {
            let age = epoch_secs().saturating_sub(newest);
            if look.attached > 0 || age < open_for.as_secs() {
                return false;
            }
        }
        let programs: Vec<ProcessIdentity> = look
            .tuis
            .iter()
            .filter_map(|w| w.pid.and_then(ProcessIdentity::of))
            .collect();
        ProcessIdentity::stop_all(&programs, TUI_STOP_GRACE);
        for w in &look.tuis {
            // Gone already when its program's end took it.
            let _ = self.run(
                self.tmux(socket)
                    .add_command(raw(&["kill-window", "-t", &w.id])),
            );
        }
        true
    }

    /// Closes the TUI of every lazy session of the server that no client is attached to: what
    /// the `client-detached` hook runs. Every session rather than the one the hook was set on:
    /// tmux 3.3 runs a detach's hooks in the context of the server's "best" session, which is not
    /// always the one the client left. Returns how many it closed.
    pub fn close_unwatched_tuis(&self) -> Result<usize, RuntimeError> {
        let format = format!("#{{session_name}}\t#{{{TUI_MARK}}}\t#{{session_attached}}");
        let text = self.run(self.tmux(&self.socket).add_command(raw(&[
            "list-windows",
            "-a",
            "-F",
            &format,
        ])))?;
        let mut sessions: Vec<&str> = text
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                (f.len() == 3 && !f[1].is_empty() && f[2] == "0").then_some(f[0])
            })
            .collect();
        sessions.dedup();
        let now = CloseWhen::Unwatched {
            open_for: Duration::ZERO,
        };
        Ok(sessions
            .into_iter()
            .filter(|session| self.close_in(&self.socket, session, now))
            .count())
    }

    /// The session's live panes' programs (the view, the TUI), each leading its process group.
    pub(super) fn pane_processes(&self, socket: &Option<String>, session: &str) -> Vec<u32> {
        let Ok(text) = self.run(self.tmux(socket).add_command(raw(&[
            "list-panes",
            "-s",
            "-t",
            &format!("={session}"),
            "-F",
            "#{pane_pid}\t#{pane_dead}",
        ]))) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(_, dead)| *dead != "1")
            .filter_map(|(pid, _)| pid.parse().ok())
            .collect()
    }
}

/// Where the shell around a TUI keeps its exit status: beside its standard error.
fn exit_status_file(err_file: &Path) -> std::path::PathBuf {
    err_file.with_file_name("tui.status")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A private tmux server (`tmux -L <name>`), killed when dropped. Other tests on a private
    /// server use it too.
    pub(crate) struct Server(pub(crate) String);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = std::process::Command::new("tmux")
                .args(["-L", &self.0, "kill-server"])
                .output();
            // tmux leaves its socket file behind when its server is killed.
            let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
            let uid = nix::unistd::getuid();
            let _ = std::fs::remove_file(
                std::path::Path::new(&dir)
                    .join(format!("tmux-{uid}"))
                    .join(&self.0),
            );
        }
    }

    /// Whether a process of the group `pgid` runs (zombies do not).
    fn running_in_group(pgid: u32) -> bool {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return false;
        };
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .any(|stat| {
                // After the command's `)`: state, ppid, pgrp.
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.split_whitespace().collect())
                    .unwrap_or_default();
                fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
            })
    }

    fn sh(script: &str, dir: &Path) -> LaunchSpec {
        LaunchSpec {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: vec![("SECRET".into(), "s3".into())],
            stdin_file: None,
        }
    }

    #[test]
    fn a_tui_opens_beside_the_view_fails_with_what_it_said_and_closes_by_its_process_group() {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server(format!("ao-unit-{}", std::process::id()));
        let rt = TmuxRuntime::new(Some(server.0.clone()));
        let hook = vec!["true".to_string()];
        let handle = rt
            .create_lazy("p/a", &sh("exec sleep 60", tmp.path()), tmp.path(), &hook)
            .unwrap();
        assert!(rt.is_lazy_session(&handle).unwrap());

        // A TUI that fails at once: its status and what it printed, and no window left.
        let broken = sh("echo \"cannot start: $SECRET\" >&2; exit 3", tmp.path());
        let err = rt
            .open_tui(&handle, &broken, tmp.path(), false)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("status 3") && text.contains("cannot start: s3"),
            "{text}"
        );
        assert!(rt
            .look(&Some(server.0.clone()), "p/a")
            .unwrap()
            .tuis
            .is_empty());

        // One that draws (the alternate screen), with a child in its process group.
        let tui = sh(
            "sleep 60 & printf '\\033[?1049h'; exec sleep 60",
            tmp.path(),
        );
        assert_eq!(
            rt.open_tui(&handle, &tui, tmp.path(), false).unwrap(),
            TuiOpened::Shown
        );
        let look = rt.look(&Some(server.0.clone()), "p/a").unwrap();
        let pid = look.tuis[0].pid.expect("the TUI runs");
        let leader = ProcessIdentity::of(pid).unwrap();
        // Asked again, it is the same one.
        assert_eq!(
            rt.open_tui(&handle, &tui, tmp.path(), false).unwrap(),
            TuiOpened::Shown
        );
        assert_eq!(rt.pids(&handle).len(), 2);

        // Unwatched for long enough: not yet; then closed, its whole group gone.
        let wait = CloseWhen::Unwatched {
            open_for: Duration::from_secs(3600),
        };
        assert!(!rt.close_tui(&handle, wait).unwrap());
        let now = CloseWhen::Unwatched {
            open_for: Duration::ZERO,
        };
        assert!(rt.close_tui(&handle, now).unwrap());
        assert!(!leader.is_alive());
        // Its child too. What was killed may stay a zombie until init reaps it, which can take
        // seconds here: only a process that still runs counts.
        let deadline = Instant::now() + Duration::from_secs(5);
        while running_in_group(pid) {
            assert!(Instant::now() < deadline, "a child of the TUI is left");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(rt.pids(&handle).len(), 1);

        // The key's opener with nobody attached closes what it opened.
        assert_eq!(
            rt.open_tui(&handle, &tui, tmp.path(), true).unwrap(),
            TuiOpened::Closed
        );
        assert!(rt
            .look(&Some(server.0.clone()), "p/a")
            .unwrap()
            .tuis
            .is_empty());

        // A session made the old way is not lazy: nothing opens.
        let plain = rt
            .create("p/b", &sh("exec sleep 60", tmp.path()), tmp.path())
            .unwrap();
        assert_eq!(
            rt.open_tui(&plain, &tui, tmp.path(), false).unwrap(),
            TuiOpened::NotLazy
        );
        rt.destroy(&handle).unwrap();
        rt.destroy(&plain).unwrap();
    }

    #[test]
    fn a_hook_command_survives_tmux_run_shell_and_sh() {
        let words: Vec<String> = ["/opt/a b/ao", "it's", "#{x}", "$HOME", "a\"b\\c"]
            .map(String::from)
            .to_vec();
        let cmd = hook_command(&words).unwrap();
        assert!(cmd.starts_with("run-shell -b \""), "{cmd}");
        // What tmux's parser makes of the double-quoted string, then run-shell's `##`.
        let inner = &cmd["run-shell -b \"".len()..cmd.len() - 1];
        let mut parsed = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            parsed.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
        let line = parsed.replace("##", "#");
        let back = shlex::split(line.trim_end_matches(" >/dev/null 2>&1; true")).unwrap();
        assert_eq!(back, words);
    }
}
