//! A real browser for tests of the web dashboard: Debian's headless Chromium, driven over
//! WebDriver (fantoccini) through its own chromedriver on a free 127.0.0.1 port, with a fresh
//! profile under the caller's directory. Dropping it ends the browser's session (which ends
//! Chromium) and stops chromedriver by pid.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::wait_until;

/// A headless Chromium and the chromedriver that drives it.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a Chromium whose profile lives in `dir` (created). The window is
    /// `width` x `height` CSS pixels.
    pub fn start(dir: &Path, width: u32, height: u32) -> Browser {
        std::fs::create_dir_all(dir).expect("mkdir the browser's profile");
        let chromedriver = which("chromedriver");
        let chromium = which("chromium");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for WebDriver");
        let port = free_port();
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("mkdir the browser's temp dir");
        let driver = Command::new(chromedriver)
            // Chromium's scratch directories go with the profile, not into the shared TMPDIR.
            .env("TMPDIR", &tmp)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = Browser {
            runtime,
            client: None,
            driver,
        };
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--no-proxy-server",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", dir.display()),
                ],
            }
        });
        let caps = caps.as_object().cloned().expect("an object");
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen.
        let client = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            browser
                .runtime
                .block_on(
                    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                        .capabilities(caps.clone())
                        .connect(&url),
                )
                .map_err(|e| format!("no WebDriver session from chromedriver on {url}: {e}"))
        });
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a live session")
    }

    /// Loads `url` and waits for the page.
    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("cannot load {url}: {e}"));
    }

    /// The URL the browser shows.
    pub fn url(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .expect("the current URL")
            .to_string()
    }

    /// Runs `script` in the page (`arguments[i]` are `args`) and returns its value.
    pub fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.runtime
            .block_on(self.client().execute(script, args))
            .unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    /// The text of the page's body, as a person reads it.
    pub fn body_text(&self) -> String {
        self.eval("return document.body.innerText", vec![])
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The text of the first element `css` finds, or `None` while there is none (or it is
    /// hidden: innerText of a hidden element is what its page does not show).
    pub fn text(&self, css: &str) -> Option<String> {
        let v = self.eval(
            "const e = document.querySelector(arguments[0]); \
             return e && e.offsetParent !== null ? e.innerText : null",
            vec![json!(css)],
        );
        v.as_str().map(str::to_string)
    }

    /// Waits up to `timeout` until the text of `css` satisfies `pred`; returns it.
    pub fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        wait_until(timeout, Duration::from_millis(50), || {
            match self.text(css) {
                Some(t) if pred(&t) => Ok(t),
                other => Err(format!(
                "the page never showed {what} in {css} within {timeout:?}; it shows {other:?}; \
                 the page says:\n{}",
                self.body_text()
            )),
            }
        })
    }

    /// Clicks the first element `css` finds, waiting up to 20 s for one that shows. An element
    /// the page replaced between finding and clicking is found again.
    pub fn click(&self, css: &str) {
        self.wait_text(css, Duration::from_secs(20), "something to click", |_| true);
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            self.runtime
                .block_on(async { self.client().find(Locator::Css(css)).await?.click().await })
                .map_err(|e| format!("cannot click {css}: {e}"))
        });
    }

    /// Types `text` into the field `css` finds (after clearing it).
    pub fn fill(&self, css: &str, text: &str) {
        self.runtime
            .block_on(async {
                let e = self.client().find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Picks the option whose value is `value` in the select `css` finds.
    pub fn select(&self, css: &str, value: &str) {
        self.runtime
            .block_on(async {
                self.client()
                    .find(Locator::Css(css))
                    .await?
                    .select_by_value(value)
                    .await
            })
            .unwrap_or_else(|e| panic!("cannot pick {value} in {css}: {e}"));
    }

    /// A PNG of what the window shows.
    pub fn screenshot(&self) -> Vec<u8> {
        self.runtime
            .block_on(self.client().screenshot())
            .expect("a screenshot")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the session, and with it Chromium; bounded, since a hung browser must not
            // hang the test.
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        let pid = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let stopped = wait_until_quiet(&mut self.driver, Duration::from_secs(5));
        if !stopped {
            let _ = self.driver.kill();
        }
        let _ = self.driver.wait();
    }
}

fn wait_until_quiet(child: &mut Child, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn which(program: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "{program} is not installed: scripts/test installs it (apt-get install chromium \
         chromium-driver)"
    );
    path
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
