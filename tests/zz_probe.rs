use ao_test_support::{script, shell_quote, Scenario, Turn, World};
use std::time::{Duration, Instant};

#[test]
fn probe() {
    let mut w = World::new(
        Scenario::new().script(script("hello").turn(Turn::text("Hello from the mock."))),
    );
    w.project("demo", &[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    let ses = w.wait_activity(&id, "ready")["agent_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    for i in 0..3 {
        let t = Instant::now();
        let term = w.terminal(
            &format!("p{i}"),
            &format!("unset TMUX; exec {ao} attach {id}"),
        );
        loop {
            let s = term.screen();
            if s.contains("Hello from the mock.") && !s.contains("ao attach") {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{s}");
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "{i}: shown after {:?}; clients {:?}",
            t.elapsed(),
            w.tmux_clients()
        );
        term.keys(&["C-b", "d"]);
        let t = Instant::now();
        loop {
            let left = w.tui_processes(&ses);
            if left.is_empty() {
                println!("{i}: closed after {:?}", t.elapsed());
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                let out = w.tmux(&[
                    "list-windows",
                    "-t",
                    &format!("={id}"),
                    "-F",
                    "#{window_id} #{window_name} #{@ao-tui} #{session_attached} #{pane_pid}",
                ]);
                println!(
                    "{i}: LEFT {left:?}; clients {:?}; windows:\n{}",
                    w.tmux_clients(),
                    String::from_utf8_lossy(&out.stdout)
                );
                println!("term: {}", term.screen());
                let out = w
                    .command(ao_test_support::ao_bin())
                    .args(["tmux-hook", "--socket", w.tmux_socket(), "--session", &id])
                    .output()
                    .unwrap();
                println!("manual hook: {:?}", out);
                println!("after manual hook: {:?}", w.tui_processes(&ses));
                let out = w.tmux(&["show-hooks", "-t", &format!("={id}:")]);
                println!("hooks: {}", String::from_utf8_lossy(&out.stdout));
                panic!("left");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
