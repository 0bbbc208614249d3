//! `scripts/bench dashboard`: how soon the web dashboard's page shows what the server said, and
//! what the dashboard costs while nothing happens, in a real browser (headless Chromium).

use std::time::{Duration, UNIX_EPOCH};

use ao_test_support::{wait_until, Browser};
use serde_json::json;

use crate::watch::{cpu_over, idle_sessions, listened_session};
use crate::{mib, rss_tree, spread};

pub fn run() {
    latency();
    idle_cost();
}

/// Records, in the page, the wall-clock time (ms) at which the card of `id` first shows each
/// new `ready` (its tokens differ from the last `ready`'s): a MutationObserver runs as the DOM
/// changes, before the browser paints.
const OBSERVE: &str = r#"
const id = arguments[0];
const sel = 'article.session[data-id="' + id + '"]';
const key = () => {
  const c = document.querySelector(sel);
  return c && c.dataset.activity === "ready" ? c.querySelector(".tokens").textContent : null;
};
window.aoBench = [];
window.aoBenchLast = key();
new MutationObserver(() => {
  const k = key();
  if (k !== null && k !== window.aoBenchLast) {
    window.aoBenchLast = k;
    window.aoBench.push(Date.now());
  }
}).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
return window.aoBenchLast;
"#;

/// From the server's `session.idle` (heard on the bench's own connection to it) to the page's
/// DOM showing the session `ready`, for ten turns; and from the dashboard learning of a change
/// to the page showing it, as the page measures it (`window.aoLatency`).
fn latency() {
    println!("\n## ao dashboard: from the server's event to the browser's DOM");
    let listened = listened_session();
    let (w, id, heard) = (&listened.w, &listened.id, &listened.heard);
    let dash = w.dashboard(&[]);
    let browser = Browser::start(&w.root().join("chromium"), 1280, 860);
    browser.goto(&dash.url);
    browser.wait_text(
        &format!("article.session[data-id=\"{id}\"]"),
        Duration::from_secs(30),
        "the session",
        |t| t.contains("ready"),
    );
    let first = browser.eval(OBSERVE, vec![json!(id)]);
    assert!(first.is_string(), "the card is not ready: {first}");

    let mut samples = Vec::new();
    for turn in 1..=10usize {
        while heard.try_recv().is_ok() {}
        w.ao_ok(&["send", id, "bench"]);
        let event = listened.turn_end().wall;
        let shown = wait_until(Duration::from_secs(60), Duration::from_millis(20), || {
            let at = browser.eval(
                "return window.aoBench[arguments[0] - 1] ?? null",
                vec![json!(turn)],
            );
            at.as_i64()
                .ok_or_else(|| format!("the page never showed turn {turn} ready"))
        });
        let event_ms = event
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        samples.push(Duration::from_millis((shown - event_ms).max(0) as u64));
        // The turn's last events (title, files) settle before the next send.
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "server's event to the browser's DOM: {}",
        spread(&mut samples, "turns")
    );
    let mut own: Vec<Duration> = browser
        .eval("return window.aoLatency", vec![])
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_f64())
                .map(|ms| Duration::from_millis(ms.max(0.0) as u64))
                .collect()
        })
        .unwrap_or_default();
    if !own.is_empty() {
        println!(
            "dashboard's change to the page's next frame: {}",
            spread(&mut own, "changes")
        );
    }
    drop(browser);
    drop(dash);
}

/// The dashboard's CPU and memory over 60 s with 50 idle sessions and a browser connected.
fn idle_cost() {
    const N: usize = 50;
    const SPAN: Duration = Duration::from_secs(60);
    println!(
        "\n## ao dashboard with {N} idle sessions and a browser on it, over {} s",
        SPAN.as_secs()
    );
    let w = idle_sessions(N);
    let started = std::time::Instant::now();
    let dash = w.dashboard(&[]);
    let browser = Browser::start(&w.root().join("chromium"), 1280, 860);
    browser.goto(&dash.url);
    wait_until(Duration::from_secs(60), Duration::from_millis(20), || {
        let n = browser.eval(
            "return document.querySelectorAll('article.session').length",
            vec![],
        );
        if n.as_u64() == Some(N as u64) {
            Ok(())
        } else {
            Err(format!("the page shows {n} sessions"))
        }
    });
    println!(
        "from starting ao dashboard and Chromium to the page showing all {N}: {} ms",
        started.elapsed().as_millis()
    );
    // Settled: the feeds are up and the catch-up done.
    std::thread::sleep(Duration::from_secs(5));
    let pid = dash.process.pid();
    let cpu = cpu_over(&[pid], SPAN).remove(0);
    println!("ao dashboard: {cpu}, RSS {}", mib(rss_tree(pid)));
    let page = browser.eval(
        "return JSON.stringify(performance.memory ? performance.memory.usedJSHeapSize : null)",
        vec![],
    );
    println!("the page's JS heap: {} bytes", page.as_str().unwrap_or("?"));
    drop(browser);
    drop(dash);
}
