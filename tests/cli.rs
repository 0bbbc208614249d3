//! The command line as people and scripts meet it: `ao doctor` on a machine without tmux and with
//! a broken config, shell completions, examples in every `--help`, colours, exit codes, a closed
//! pipe, the progress indicator of `ao spawn`, and a status table that fits 80 columns.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};

use ao_test_support::{ao_bin, script, shell_quote, Scenario, Turn, World};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const NO_TMUX: &str = "FAIL tmux: not found on PATH\n     fix: install tmux (e.g. `apt-get \
                       install tmux` or `brew install tmux`), or set `runtime: process` for \
                       every project\n";

/// `ao doctor` with only the programs of `path` on PATH.
fn doctor(w: &World, path: &std::path::Path) -> std::process::Output {
    w.ao_command(&["doctor"])
        .env("PATH", path)
        .output()
        .expect("run ao")
}

#[test]
fn doctor_without_tmux_says_so_and_how_to_fix_it() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let path = w.path_with_only(&["git"]);
    let out = doctor(&w, &path);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains(NO_TMUX), "{text}");
    assert!(text.contains("ok   config: "), "{text}");
    assert!(text.contains("ok   git: git version"), "{text}");
    assert!(text.contains("ok   opencode: 1.18.33 ("), "{text}");
    assert!(text.contains("ok   state home: "), "{text}");
    assert!(
        text.contains("ok   server demo: not running; the next `ao spawn demo` starts it"),
        "{text}"
    );
    assert!(text.ends_with("1 problem to fix\n"), "{text}");

    // With every project in the process runtime, a missing tmux is only worth knowing.
    w.set_config_text(&format!(
        "projects:\n  demo:\n    path: projects/demo\n    runtime: process\n    agentConfig:\n      \
         model: mock/mock-1\n      opencodeConfig: {}\n",
        w.provider_config()
    ));
    let out = doctor(&w, &path);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "warn tmux: not found on PATH; no project runs in tmux\n     fix: install tmux"
        ),
        "{text}"
    );
    assert!(text.ends_with("1 warning; nothing is broken\n"), "{text}");
}

#[test]
fn doctor_with_a_broken_config_and_no_tmux_names_every_problem_with_its_fix() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    w.set_config_text(
        "projects:\n  - name: demo\n    path: projects/demo\n    runtime: tmx\n    agentConfig:\n      model: gpt4\n",
    );
    let cfg = w.config_path();
    let cfg = cfg.display();
    let path = w.path_with_only(&["git"]);
    let out = doctor(&w, &path);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let expected_config = format!(
        "FAIL config: 2 problems in {cfg}:\n     {cfg}:4:14: unknown runtime \"tmx\"; did you \
         mean tmux? (one of: tmux, process)\n     {cfg}:6:14: model \"gpt4\" is not in \
         provider/model form, e.g. anthropic/claude-sonnet-4\n     fix: correct the lines above; \
         each says what it expects\n"
    );
    assert!(text.starts_with(&expected_config), "{text}");
    assert!(text.contains(NO_TMUX), "{text}");
    assert!(text.ends_with("2 problems to fix\n"), "{text}");

    // Other commands refuse the same config with the same lines, and exit 2.
    let out = w.ao(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "ao: {cfg}:4:14: unknown runtime \"tmx\"; did you mean tmux? (one of: tmux, \
             process)\nao: {cfg}:6:14: model \"gpt4\" is not in provider/model form, e.g. \
             anthropic/claude-sonnet-4\n"
        )
    );
}

#[test]
fn doctor_without_any_config_says_where_it_looked() {
    let w = World::new(Scenario::new());
    let out = w
        .ao_command(&["doctor"])
        .env_remove("AO_CONFIG")
        .current_dir("/")
        .output()
        .expect("run ao");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(
            "FAIL config: no agent-orchestrator.yaml in / or any parent directory, and neither \
             --config nor AO_CONFIG is given\n     fix: write one"
        ),
        "{text}"
    );
}

#[test]
fn completions_for_each_shell() {
    let w = World::new(Scenario::new());
    for (shell, marker) in [
        ("bash", "_ao()"),
        ("zsh", "#compdef ao"),
        ("fish", "complete -c ao"),
        ("elvish", "edit:completion:arg-completer[ao]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = w.ao_ok(&["completions", shell]);
        assert!(out.contains(marker), "{shell}: {out}");
        for cmd in ["init", "spawn", "status", "kill", "doctor", "completions"] {
            assert!(out.contains(cmd), "{shell} lacks {cmd}");
        }
    }
    let out = w.ao(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'tcsh'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_command_help_shows_examples() {
    let w = World::new(Scenario::new());
    let top = w.ao_ok(&["--help"]);
    assert!(top.contains("Examples:\n  ao spawn"), "{top}");
    let commands: Vec<String> = top
        .split("Commands:\n")
        .nth(1)
        .expect("a command list")
        .lines()
        .take_while(|l| l.starts_with("  "))
        // Wrapped descriptions are indented further than the command names.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    for c in &commands {
        let help = w.ao_ok(&[c, "--help"]);
        assert!(
            help.contains(&format!("Examples:\n  ao {c}")),
            "`ao {c} --help` has no examples:\n{help}"
        );
    }
}

#[test]
fn color_follows_the_flag_then_no_color_then_the_terminal() {
    let w = World::new(Scenario::new());
    let run = |args: &[&str], no_color: bool| {
        let mut cmd = w.ao_command(args);
        if !no_color {
            cmd.env_remove("NO_COLOR");
        }
        stdout(&cmd.output().expect("run ao"))
    };
    let green_ok = "\x1b[32mok  \x1b[0m";
    // World runs ao with NO_COLOR=1; --color always still wins, as the flag is the closer word.
    assert!(run(&["--color", "always", "doctor"], true).contains(green_ok));
    assert!(run(&["doctor", "--color=always"], false).contains(green_ok));
    assert!(!run(&["doctor"], true).contains('\x1b'));
    assert!(!run(&["--color", "never", "doctor"], false).contains('\x1b'));
    // Auto, no NO_COLOR, but not a terminal: plain.
    assert!(!run(&["doctor"], false).contains('\x1b'));

    let out = w.ao(&["--color", "sometimes", "status"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exit_codes_are_0_1_and_2() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let code = |out: Output| out.status.code();
    assert_eq!(code(w.ao(&["status"])), Some(0));
    assert_eq!(code(w.ao(&["--version"])), Some(0));
    // Bad usage.
    assert_eq!(code(w.ao(&[])), Some(2));
    assert_eq!(code(w.ao(&["frobnicate"])), Some(2));
    assert_eq!(code(w.ao(&["status", "--bogus"])), Some(2));
    let out = w.ao(&["spawn", "nope", "hi"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "ao: cannot spawn a session in project nope: no project \"nope\" in {}; known \
             projects: demo\n",
            w.config_path().display()
        )
    );
    assert_eq!(code(w.ao(&["attach", "demo/agent-9"])), Some(2));
    // A failure at run time: the agent's program is missing.
    let out = w
        .ao_command(&["spawn", "demo", "hi", "--runtime", "process"])
        .env("AO_OPENCODE_BIN", "/nonexistent/opencode")
        .output()
        .expect("run ao");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot start `/nonexistent/opencode serve`"),
        "{}",
        stderr(&out)
    );
    // ... and it left nothing half-made.
    assert_eq!(w.status(None), Vec::<serde_json::Value>::new());
}

/// Runs `ao` with its standard output a pipe whose reader is already gone, as in
/// `ao status | head` once head has exited.
fn into_closed_pipe(w: &World, args: &[&str]) -> Output {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    w.ao_command(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run ao")
}

#[test]
fn a_closed_pipe_ends_ao_quietly() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["completions", "bash"],
        &["--help"],
        &["doctor"],
    ] {
        let out = into_closed_pipe(&w, args);
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(0), ""),
            "ao {}",
            args.join(" ")
        );
    }
}

#[test]
fn spawn_shows_progress_only_on_a_terminal_and_the_table_fits_80_columns() {
    let scenario = Scenario::new().script(
        script("hello").turn(
            Turn::text("Hello from the mock, with a title long enough to be cut in the table.")
                .usage(110, 7),
        ),
    );
    let mut w = World::new(scenario);
    let project = "a-rather-long-project-name-for-tables";
    w.project(project, &[]);

    // On a terminal (script(1) gives ao one): a spinner names each step, then its line is wiped.
    let line = format!(
        "{} spawn {project} hello --runtime process",
        shell_quote(&ao_bin().to_string_lossy())
    );
    let out = w
        .command("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script(1)");
    let screen = stdout(&out);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains(&format!("⠋ ao spawn {project}: ")),
        "{screen:?}"
    );
    assert!(
        screen.contains("starting the agent's session"),
        "{screen:?}"
    );
    assert!(screen.contains("\r\x1b[2K"), "{screen:?}");
    assert!(screen.contains(&format!("{project}/agent-1")), "{screen:?}");

    // Not a terminal: no spinner, just the one line that says what was started.
    let out = w.ao(&["spawn", project, "hello", "--runtime", "process"]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(!err.contains('\r') && !err.contains('⠋'), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with(&format!("ao: {project}/agent-2 runs opencode session ses_")),
        "{err}"
    );
    w.wait_activity(&format!("{project}/agent-1"), "ready");
    w.wait_activity(&format!("{project}/agent-2"), "ready");

    // The table within 80 columns: the long address and the title are cut, the figures are not.
    let table = stdout(
        &w.ao_command(&["status"])
            .env("COLUMNS", "80")
            .output()
            .expect("run ao"),
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("SESSION "), "{table}");
    for l in &lines {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    assert!(lines[1].contains("…"), "{table}");
    assert!(lines[1].contains(" ready "), "{table}");
    assert!(
        lines[1].contains(" 110 ") && lines[1].contains(" 7 "),
        "{table}"
    );

    // Colour on request, even into a pipe.
    let colored = w.ao_ok(&["status", "--color", "always"]);
    assert!(colored.contains("\x1b[36mready"), "{colored:?}");

    // With sessions to print, a closed pipe still ends ao quietly.
    for args in [&["status"][..], &["list"]] {
        let out = into_closed_pipe(&w, args);
        assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""));
    }
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                "set -o pipefail; {} status | head -1",
                shell_quote(&w.ao_script().to_string_lossy())
            ),
        ])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).starts_with("SESSION "));
}
