//! A project's agent server in a container, through podman or docker, lent to plugins like
//! [`crate::remote::ssh`].
//!
//! Theory of operation. ao drives the engine's command line (never its API socket): [`Engine`]
//! is found once (`container.engine`, else podman on PATH, else docker). A project has one
//! container, named by [`ContainerName`] (`ao-<project>-<hash>`, the hash of the state home and
//! the project) and labelled with both, so a later `ao` finds it by name alone
//! ([`Engine::find`]) and never touches one of another state home's.
//!
//! [`Engine::start`] makes and starts it detached from a [`ContainerLaunch`]: the work trees
//! mounted read-write at the same path as on the host ([`work_mounts`]: the project's `.git`
//! too, its hooks and config read-only), the person's `mounts`, a named volume for the agent's
//! data (kept when the container goes, removed only by [`Engine::remove_volume`] for
//! `ao kill --purge`), a port published on 127.0.0.1 only (or the host's network), no
//! capability, no new privileges, an init that reaps. Every variable the program gets (its
//! server's password, the person's `env`) is a 0600 file in a 0700 directory under the state
//! home, mounted read-only, which a `sh` at the head of the container's command exports before
//! it execs the program: nothing of it is in an argv, in the container's config (`inspect`) or
//! in an image layer. (Measured with podman 4.3.1: `--secret NAME,type=env` shows the value in
//! `inspect`'s `Config.Env`, and so does `--env`; docker has no secrets without swarm.)
//!
//! A stopped container is replaced on the next start, on the same volume: a restore after a
//! crash, a reboot or `podman rm` finds the agent's data where it was. [`Engine::stop`] and
//! [`Engine::remove`] do nothing to a container that is gone.
//!
//! An agent whose protocol is its stdio (ACP) runs attached instead, one container per session
//! ([`ContainerName::for_session`]): [`Engine::attached_command`] gives the whole `run -i --rm`
//! command line for the caller to spawn with its pipes. The engine removes such a container when
//! its program ends, but not when its client is SIGKILLed (the program's stdin stays open), so
//! the caller removes it once its holder is gone: by name ([`Engine::remove`]), or only the
//! container of one launch ([`Engine::remove_launch`], by its `ao.launch` label). Every removal
//! looks the container up first, and by its labels leaves another state home's alone.
//!
//! Failures are typed ([`ContainerError`]): the engine missing, docker's daemon down, the image
//! missing (with the pull command: ao never pulls), the container gone, the engine failing.
//! Everything here blocks; async callers go through [`crate::blocking::unblock`].
//! docs/containers.md is the person's guide.

mod engine;
mod launch;
mod name;
mod ops;
mod settings;

pub use engine::{ContainerError, Engine, ENGINE_TIMEOUT};
pub use launch::{
    data_homes, own_user, run_args, work_dir, work_mounts, ContainerLaunch, DATA_INSIDE,
    ENV_DIR_INSIDE,
};
pub use name::{ContainerName, LABEL_HOME, LABEL_LAUNCH, LABEL_PROJECT};
pub use ops::Found;
pub use settings::{ContainerSettings, EngineKind, EnvName, Mount, Network, Source, Ulimits};
