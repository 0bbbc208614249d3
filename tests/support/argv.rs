//! A scan of every process's command line on this machine, for secrets that must never be there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Scans every process's argv for `needles` until stopped; returns what it found.
pub struct ArgvScanner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
    scans: Arc<Mutex<usize>>,
}

impl ArgvScanner {
    /// `needles` is asked again on every pass, so that a secret written later is looked for too.
    pub fn start(needles: impl Fn() -> Vec<String> + Send + 'static) -> ArgvScanner {
        let stop = Arc::new(AtomicBool::new(false));
        let scans = Arc::new(Mutex::new(0));
        let (stop2, scans2) = (stop.clone(), scans.clone());
        let me = std::process::id().to_string();
        let thread = std::thread::spawn(move || {
            let mut found = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                // An empty needle is no secret (a file caught half-written reads empty), and
                // would match every argv.
                let needles: Vec<String> =
                    needles().into_iter().filter(|n| !n.is_empty()).collect();
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
                        continue;
                    }
                    let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let argv = String::from_utf8_lossy(&raw).replace('\0', " ");
                    for n in &needles {
                        if argv.contains(n.as_str()) {
                            found.push(format!("pid {name}: {argv}"));
                        }
                    }
                }
                *scans2.lock().unwrap() += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            found
        });
        ArgvScanner {
            stop,
            thread: Some(thread),
            scans,
        }
    }

    /// Stops the scan: how many passes it made, and every hit.
    pub fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let found = self.thread.take().unwrap().join().expect("scanner");
        let scans = *self.scans.lock().unwrap();
        (scans, found)
    }
}

impl ArgvScanner {
    /// Stops the scan and asserts that it ran and found nothing.
    pub fn assert_clean(self) {
        let (scans, found) = self.finish();
        assert!(scans > 10, "the scanner barely ran ({scans} passes)");
        assert!(
            found.is_empty(),
            "a secret in an argv:\n{}",
            found.join("\n")
        );
    }
}

impl Drop for ArgvScanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
