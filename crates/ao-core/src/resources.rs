//! What a session's processes cost the machine, for `ao show`: memory, CPU and age of its runtime's
//! processes (the program and everything it started), and the memory of the server its agent
//! shares with the project's other sessions.
//!
//! Blocking (it samples the CPU over an interval): async code calls [`measure`] through
//! [`crate::blocking::unblock`].

use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One process of a session's runtime.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// Its pid.
    pub pid: u32,
    /// Its program's name.
    pub command: String,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
    /// CPU use over the sampling interval, in percent of one core.
    pub cpu_percent: f32,
    /// How long it has run, in seconds.
    pub uptime_s: u64,
}

/// What a session's processes cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// The runtime's processes, the program first, then those it started.
    pub processes: Vec<ProcessUsage>,
    /// The pid of the agent's server for the project, when it runs one.
    pub server_pid: Option<u32>,
    /// The resident memory of that server and its children, in bytes.
    pub server_rss_bytes: Option<u64>,
}

/// `root` and every process below it, `root` first; threads are left out (they are listed as
/// processes too, each with the whole process's memory).
fn tree(sys: &System, root: Pid) -> Vec<Pid> {
    let mut out = Vec::new();
    if sys.process(root).is_none() {
        return out;
    }
    out.push(root);
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        let mut children: Vec<Pid> = sys
            .processes()
            .iter()
            .filter(|(_, p)| p.thread_kind().is_none() && p.parent() == Some(parent))
            .map(|(pid, _)| *pid)
            .collect();
        children.sort();
        out.extend(children);
        i += 1;
    }
    out
}

/// Measures the processes under each of `roots` (a session's runtime) and the memory of the tree
/// under `server`. CPU is sampled over sysinfo's minimum interval (about 0.2 s).
pub fn measure(roots: &[u32], server: Option<u32>) -> Resources {
    let kind = ProcessRefreshKind::nothing().with_memory().with_cpu();
    let mut sys = System::new();
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    let processes = roots
        .iter()
        .flat_map(|&root| tree(&sys, Pid::from_u32(root)))
        .filter_map(|pid| {
            let p = sys.process(pid)?;
            Some(ProcessUsage {
                pid: pid.as_u32(),
                command: p.name().to_string_lossy().into_owned(),
                rss_bytes: p.memory(),
                cpu_percent: p.cpu_usage(),
                uptime_s: p.run_time(),
            })
        })
        .collect();
    let server_rss_bytes = server.map(|pid| {
        tree(&sys, Pid::from_u32(pid))
            .into_iter()
            .filter_map(|p| sys.process(p).map(|p| p.memory()))
            .sum()
    });
    Resources {
        processes,
        server_pid: server,
        server_rss_bytes: server_rss_bytes.filter(|&b| b > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_and_its_child_are_measured() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        // The shell starts its child at once, but not before this look: look until it is there.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let found = loop {
            let r = measure(&[child.id()], Some(child.id()));
            if r.processes.len() >= 2 || std::time::Instant::now() > deadline {
                break r;
            }
        };
        for p in found.processes.iter().rev() {
            let pid = nix::unistd::Pid::from_raw(p.pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = child.wait();
        assert_eq!(found.processes[0].pid, child.id());
        assert!(found.processes.len() >= 2, "{found:?}");
        assert!(found.processes.iter().all(|p| p.rss_bytes > 0), "{found:?}");
        assert!(found.server_rss_bytes.unwrap() > 0);
        assert!(measure(&[u32::MAX - 1], None).processes.is_empty());
    }
}
