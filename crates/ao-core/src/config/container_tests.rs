//! `container:`: what it gives a project, and each wrong key or value at its place.

use std::path::{Path, PathBuf};

use super::*;
use ao_agent::config::AnyAgent;
use ao_agent::container::{EngineKind, Network, Source, Ulimits};

fn parse_with_home(text: &str, dir: &Path) -> Result<Config, ConfigError> {
    let home = dir.to_string_lossy().into_owned();
    let var = move |k: &str| match k {
        "HOME" => Some(home.clone()),
        _ => None,
    };
    Config::parse_in(
        text,
        &dir.join("agent-orchestrator.yaml"),
        Context {
            var: &var,
            agents: &AnyAgent,
        },
    )
}

fn errors(text: &str, dir: &Path) -> Vec<String> {
    let err = parse_with_home(text, dir).unwrap_err();
    err.to_string().lines().map(String::from).collect()
}

#[test]
fn a_container_gives_the_project_its_image_engine_network_mounts_variables_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    std::fs::create_dir_all(tmp.path().join(".cache/pip")).unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    let c = parse_with_home(
        "projects:\n  web:\n    path: p\n    container:\n      image: ghcr.io/acme/agent:1.4\n      \
         engine: podman\n      network: host\n      mounts: [~/.cache/pip, '~/data:rw']\n      \
         env: [ANTHROPIC_API_KEY]\n      runtime: runc\n      ulimits: {nofile: 1024, nproc: 1000}\n",
        tmp.path(),
    )
    .unwrap();
    let box_ = c.projects[0].container.clone().unwrap();
    assert_eq!(box_.source, Source::Image("ghcr.io/acme/agent:1.4".into()));
    assert_eq!(box_.engine, Some(EngineKind::Podman));
    assert_eq!(box_.network, Network::Host);
    let mounts: Vec<(PathBuf, bool)> = box_
        .mounts
        .shown()
        .iter()
        .map(|m| (m.path.clone(), m.writable))
        .collect();
    assert_eq!(
        mounts,
        vec![
            (tmp.path().join(".cache/pip"), false),
            (tmp.path().join("data"), true)
        ]
    );
    assert_eq!(box_.env.shown()[0].as_str(), "ANTHROPIC_API_KEY");
    assert_eq!(box_.runtime.as_deref(), Some("runc"));
    assert_eq!(
        box_.ulimits,
        Ulimits {
            nofile: Some(1024),
            nproc: Some(1000)
        }
    );
    // The file is not trusted: the mounts and the variables are named, not handed over.
    let refused = box_.env.permit().unwrap_err();
    assert_eq!((refused.key.as_str(), refused.line), ("container.env", 9));
    assert_eq!(box_.mounts.permit().unwrap_err().key, "container.mounts");
    assert!(c.gated.iter().any(|g| g.key == "container.env"));
    // The agent sees the same.
    assert_eq!(c.projects[0].for_agent().container, Some(box_));
}

#[test]
fn defaults_give_every_local_project_a_container_unless_it_has_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    let c = parse_with_home(
        "defaults:\n  container:\n    rootfs: /\nprojects:\n  a:\n    path: p\n  b:\n    path: p\n    \
         container:\n      image: img\n      network: none\n  far:\n    path: /srv/x\n    host: box\n",
        tmp.path(),
    )
    .unwrap();
    let of = |n: &str| c.project(n).unwrap().container.clone();
    let a = of("a").unwrap();
    assert_eq!(a.source, Source::Rootfs("/".into()));
    assert_eq!((a.engine, a.network), (None, Network::Default));
    assert!(a.env.permit().unwrap().is_empty());
    let b = of("b").unwrap();
    assert_eq!(
        (b.source, b.network),
        (Source::Image("img".into()), Network::None)
    );
    assert_eq!(of("far"), None);
}

#[test]
fn wrong_keys_and_values_are_reported_where_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    let text = "projects:\n  web:\n    path: p\n    container:\n      imgae: x\n      \
                engine: dockr\n      network: bridge\n      mounts: [/surely/not/here, 'rel/x', '/a:rx']\n      \
                env: [GOOD, 1BAD, 'TOKEN=hunter2', GOOD]\n      ulimits: {nofile: -1, stack: 8}\n";
    let lines = errors(text, tmp.path());
    let at = |pos: &str, words: &str| {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("agent-orchestrator.yaml:{pos}: "))
                    && l.contains(words)),
            "no {pos} {words:?} in {lines:#?}"
        )
    };
    at(
        "5:7",
        "unknown key `imgae` in container; did you mean `image`?",
    );
    at(
        "6:15",
        "unknown container.engine \"dockr\"; did you mean docker?",
    );
    at(
        "7:16",
        "unknown container.network \"bridge\"; use one of: default, host, none",
    );
    at("8:16", "/surely/not/here does not exist");
    at("8:34", "must be absolute");
    at("8:43", "ends in :rx");
    at("9:19", "\"1BAD\" is not a variable name");
    at("9:25", "takes names only (TOKEN), not NAME=value");
    at("9:42", "names GOOD twice");
    at(
        "10:25",
        "container.ulimits.nofile must be a positive whole number",
    );
    at("10:29", "unknown key `stack` in container.ulimits");
    // A value given by mistake is not repeated: it may be a secret.
    assert!(!lines.iter().any(|l| l.contains("hunter2")), "{lines:#?}");
}

#[test]
fn an_image_or_a_rootfs_and_what_each_needs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    let with = |body: &str| {
        errors(
            &format!("projects:\n  web:\n    path: p\n    container:\n{body}"),
            tmp.path(),
        )
        .join("\n")
    };
    let e = with("      network: host\n");
    assert!(e.contains(":5:7: container has no `image`"), "{e}");
    assert!(with("      image: a\n      rootfs: /\n").contains("6:15: container sets both"));
    assert!(with("      image: --privileged\n").contains("is not an image reference"));
    assert!(with("      engine: docker\n      rootfs: /\n").contains("rootfs needs podman"));
    assert!(with("      rootfs: /surely/not\n").contains("is not a directory"));
    assert!(
        with("      engine: docker\n      image: a\n      runtime: runc\n")
            .contains("docker's runtimes are set in its daemon.json")
    );
    assert!(with("      image: a\n      runtime: -x\n").contains("is not an OCI runtime"));
    assert!(with("      image: [a]\n").contains("container.image must be a string"));
    let e = errors(
        "projects:\n  web:\n    path: /srv/web\n    server: {url: 'http://127.0.0.1:4096', passwordEnv: P}\n    container: {image: a}\n",
        tmp.path(),
    )
    .join("\n");
    assert!(
        e.contains("5:16: project \"web\" sets `container` and `server` or `host`"),
        "{e}"
    );
}
