//! The synchronous wrapper and the `ao-mock-model` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ao_mock_model::{BlockingMockModel, Scenario, Script, Turn};
use serde_json::{json, Value};

/// A minimal HTTP/1.1 exchange, so these tests need no async runtime.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    send(&mut stream, method, path, body).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, response)
}

fn send(stream: &mut TcpStream, method: &str, path: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn chat(text: &str) -> String {
    json!({"model": "mock-1", "messages": [{"role": "user", "content": text}]}).to_string()
}

#[test]
fn blocking_mock_serves_records_and_stops_on_drop() {
    // A reply no other server gives, not even this test in another process.
    let reply = format!("blocking reply from {}", std::process::id());
    let scenario = Scenario::new().script(
        Script::new("b")
            .matching("[b]")
            .turn(Turn::text(reply.clone())),
    );
    let mock = BlockingMockModel::start(scenario).expect("start");
    let port = mock.port();
    assert_eq!(mock.base_url(), format!("http://127.0.0.1:{port}/v1"));
    let (status, response) = http(port, "POST", "/v1/chat/completions", &chat("[b]"));
    assert_eq!(status, 200);
    assert!(response.contains(&reply), "{response}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].script.as_deref(), Some("b"));
    drop(mock);
    // Drop has joined the server's thread, so its listener is closed. The freed port may be taken
    // at once by another server (another test's), so a connection may succeed: then what answers
    // must not be this mock, which would give its script's reply.
    if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
        let answer = exchange(stream, &chat("[b]"));
        assert!(
            !answer.contains(&reply),
            "the mock still answers after drop: {answer}"
        );
    }
}

/// Sends a chat request on `stream` and returns whatever comes back within a few seconds
/// (nothing, when the other end does not answer).
fn exchange(mut stream: TcpStream, body: &str) -> String {
    let timeout = Some(Duration::from_secs(3));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let _ = send(&mut stream, "POST", "/v1/chat/completions", body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn blocking_mock_reports_invalid_scenarios() {
    let scenario = Scenario::new().script(Script::new("no-match").turn(Turn::text("x")));
    let err = BlockingMockModel::start(scenario).expect_err("empty match is rejected");
    assert!(err.to_string().contains("no-match"), "{err}");
}

#[test]
fn binary_announces_port_records_and_exits_zero_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("ao-mock-model-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario_file = dir.join("scenario.json");
    let port_file = dir.join("port");
    let record_file = dir.join("record.jsonl");
    let _ = std::fs::remove_file(&port_file);
    let _ = std::fs::remove_file(&record_file);
    std::fs::write(
        &scenario_file,
        r#"{"scripts": [{"name": "demo", "match": "[demo]", "turns": [{"type": "text", "text": "from file"}]}]}"#,
    )
    .expect("write scenario");

    let mut child = Command::new(env!("CARGO_BIN_EXE_ao-mock-model"))
        .arg("--scenario")
        .arg(&scenario_file)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--record")
        .arg(&record_file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read line");
    let port: u16 = std::fs::read_to_string(&port_file)
        .expect("port file exists once the line is printed")
        .parse()
        .expect("port number");
    assert_eq!(line, format!("listening on http://127.0.0.1:{port}/v1\n"));

    let (status, response) = http(port, "POST", "/v1/chat/completions", &chat("[demo]"));
    assert_eq!(status, 200);
    assert!(response.contains("from file"), "{response}");
    let (status, _) = http(port, "GET", "/v1/models", "");
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "mock did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("rest of stdout");
    assert_eq!(rest, "", "nothing else on stdout");

    let records: Vec<Value> = std::fs::read_to_string(&record_file)
        .expect("record file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["script"], "demo");
    assert_eq!(records[0]["body"]["messages"][0]["content"], "[demo]");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_names_a_bad_scenario_file() {
    let dir = std::env::temp_dir().join(format!("ao-mock-model-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario_file = dir.join("broken.json");
    std::fs::write(&scenario_file, "{\"scripts\": [").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_ao-mock-model"))
        .arg("--scenario")
        .arg(&scenario_file)
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.json"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
