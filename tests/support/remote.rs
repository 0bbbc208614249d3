//! "Remote" machines on this one, for tests and benches of projects elsewhere: a private OpenSSH
//! server on 127.0.0.1 with its own keys and config, and processes owned by pid.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ao_core::home::StateHome;
use ao_core::runtime::process::ProcessIdentity;
use ao_core::store::Store;

use crate::{opencode_bin, wait_until, World};

/// A process the test started in a process group of its own, stopped by pid when dropped.
pub struct Owned(pub ProcessIdentity);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.stop(Duration::from_secs(5));
    }
}

/// Starts `cmd` in a process group of its own, its output to `log`.
pub fn start_owned(mut cmd: Command, log: &Path) -> Owned {
    let out = std::fs::File::create(log).expect("log");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .process_group(0)
        .spawn()
        .expect("start");
    let id = ProcessIdentity::of(child.id()).expect("it runs");
    // Reaped by whoever waits; the identity is what the test follows.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Owned(id)
}

/// A private OpenSSH server on 127.0.0.1, and a `~/.ssh/config` naming it, in the world.
pub struct Sshd {
    process: Option<Owned>,
    port: u16,
    dir: PathBuf,
}

impl Sshd {
    /// Starts it for `w`, with two hosts in `~/.ssh/config`: `builder` (opencode on its PATH)
    /// and `bare` (without), and sets `HOME` and `AO_SSH_CONFIG` for the world's programs.
    pub fn start(w: &mut World) -> Sshd {
        let dir = w.root().join("sshd");
        let home = w.root().join("person");
        let remote = w.root().join("remote");
        for d in [&dir, &home.join(".ssh"), &remote.join("bin")] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        for key in ["host_key", "user_key"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .expect("ssh-keygen");
            assert!(ok.success());
        }
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).expect("keys");
        // sshd runs as root and needs its privilege separation directory, as its service makes.
        let _ = std::fs::create_dir_all("/run/sshd");
        std::os::unix::fs::symlink(opencode_bin(), remote.join("bin/opencode")).expect("link");
        let (port, bare_port) = (crate::free_port(), crate::free_port());
        // What the "host" gives every session: OpenCode's homes of its own, and a PATH with
        // opencode on one port (the host `builder`) and without it on the other (`bare`). sshd
        // ignores a PATH the client sends, and a Match block's SetEnv replaces the global one.
        let shared_config = crate::repo_root().join("target/test-opencode-config");
        let d = |p: &str| remote.join(p).display().to_string();
        let env = format!(
            "XDG_DATA_HOME={} XDG_STATE_HOME={} XDG_CACHE_HOME={} XDG_CONFIG_HOME={} \
             OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1",
            d("xdg/data"),
            d("xdg/state"),
            d("xdg/cache"),
            shared_config.display()
        );
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\nListenAddress 127.0.0.1:{bare_port}\n\
                 HostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 Match LocalPort {port}\n  SetEnv {env} PATH={bin}:/usr/bin:/bin\n\
                 Match LocalPort {bare_port}\n  SetEnv {env}\n",
                hk = dir.join("host_key").display(),
                ak = dir.join("authorized_keys").display(),
                pid = dir.join("sshd.pid").display(),
                bin = d("bin"),
            ),
        )
        .expect("sshd_config");
        let host = |name: &str, port: u16| {
            format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile \
                 {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  \
                 StrictHostKeyChecking accept-new\n",
                user = nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| "root".into()),
                key = dir.join("user_key").display(),
                known = dir.join("known_hosts").display(),
            )
        };
        let ssh_config = home.join(".ssh/config");
        std::fs::write(
            &ssh_config,
            format!("{}{}", host("builder", port), host("bare", bare_port)),
        )
        .expect("ssh config");
        std::fs::set_permissions(&ssh_config, std::fs::Permissions::from_mode(0o600)).unwrap();
        // ssh finds ~/.ssh/config through the password database, not $HOME: ao is told.
        w.set_env("HOME", &home);
        w.set_env("AO_SSH_CONFIG", &ssh_config);
        let mut sshd = Sshd {
            process: None,
            port,
            dir,
        };
        sshd.run();
        sshd
    }

    /// Starts sshd on its port (again) and waits until it accepts.
    pub fn run(&mut self) {
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.join("sshd_config"));
        self.process = Some(start_owned(cmd, &self.dir.join("sshd.log")));
        let port = self.port;
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| format!("sshd does not listen: {e}"))
        });
    }

    /// Stops the listening sshd: new connections are refused, as from a host that is down.
    pub fn down(&mut self) {
        self.process = None;
    }
}

/// The `opencode serve` processes that run on the world's "host" (this machine, through its
/// sshd): those whose OpenCode data home is the host's, so no other test's nor the person's.
pub fn servers_on_host(w: &World) -> Vec<u32> {
    let data_home = format!(
        "XDG_DATA_HOME={}",
        w.root().join("remote/xdg/data").display()
    );
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let read =
                |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
            let cmdline = read("cmdline");
            let serves = cmdline.split(|b| *b == 0).nth(1) == Some(b"serve".as_slice());
            serves
                && read("environ")
                    .split(|b| *b == 0)
                    .any(|kv| kv == data_home.as_bytes())
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Stops, by pid, the project server ao started on the "host" (this machine) and the ssh
/// masters, should the test fail before `ao kill` does it.
pub struct RemoteServerGuard {
    home: PathBuf,
    project: String,
    hosts: Vec<String>,
}

impl RemoteServerGuard {
    /// The guard of `project`'s server and the masters of `hosts`, in `w`.
    pub fn new(w: &World, project: &str, hosts: &[&str]) -> RemoteServerGuard {
        RemoteServerGuard {
            home: w.home(),
            project: project.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }
}

impl Drop for RemoteServerGuard {
    fn drop(&mut self) {
        let home = StateHome::at(&self.home);
        for host in &self.hosts {
            let Some(dest) = ao_core::remote::SshDestination::parse(host) else {
                continue;
            };
            let dest = ao_core::trust::Gated::trusted(dest);
            let master = ao_core::remote::ssh::SshHost::new(&home, &dest)
                .ok()
                .and_then(|h| h.master())
                .and_then(ProcessIdentity::of);
            if let Some(id) = master {
                id.stop(Duration::from_secs(3));
            }
        }
        let Ok(store) = Store::open(&home.store_path()) else {
            return;
        };
        // The project's own record, or the shared one it names.
        let Ok(Some(v)) = crate::server_value(&store, &self.project) else {
            return;
        };
        let pid = v["remote"]["pid"].as_u64().unwrap_or(0) as u32;
        if let Some(id) = (pid > 1).then(|| ProcessIdentity::of(pid)).flatten() {
            id.stop(Duration::from_secs(5));
        }
    }
}
