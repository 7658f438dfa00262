//! The real binary: refuses bad configuration with a message naming the variable, serves, and
//! shuts down gracefully on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_congdanso"));
    // Nothing from the developer's environment or .env leaks into these runs.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn run_serve_expecting_failure(vars: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary();
    command
        .current_dir(dir.path())
        .arg("serve")
        .env("DATA_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    let (code, stderr) = run_serve_expecting_failure(&[("BIND_ADDR", "not-an-address")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("BIND_ADDR"), "{stderr}");

    let (code, stderr) = run_serve_expecting_failure(&[("BLOB_STORE_URL", "ftp://files")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("BLOB_STORE_URL"), "{stderr}");
}

#[test]
fn production_refuses_to_start_without_keys() {
    let (code, stderr) = run_serve_expecting_failure(&[
        ("APP_ENV", "production"),
        ("PUBLIC_URL", "https://congdanso.example"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("MASTER_KEY"), "{stderr}");
}

#[test]
fn a_malformed_key_stops_start_up() {
    let (code, stderr) = run_serve_expecting_failure(&[("MASTER_KEY", "dG9vIHNob3J0")]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("MASTER_KEY"), "{stderr}");
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serves_on_the_embedded_defaults_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Defaults everywhere except the port: SQLite and blobs under ./data of the working folder.
    let mut child = binary()
        .current_dir(dir.path())
        .arg("serve")
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let mut log = Vec::new();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        log.push(line.clone());
        if let Some(rest) = line.strip_prefix("congdanso: listening on http://") {
            break rest.trim().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{log:?}");
    };

    let ready = http_get(&addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains(r#""status":"ok""#), "{ready}");
    assert!(dir.path().join("data/congdanso.db").exists());
    assert!(dir.path().join("data/blobs").is_dir());
    assert!(dir.path().join("data/keys/master.key").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    log.extend(rest);
    assert!(exit.success(), "exit {exit:?}: {log:#?}");
    let all = log.join("\n");
    assert!(all.contains("shutdown complete"), "{all}");
    // JSON logs: every line after start-up is an object, and request lines carry the request id.
    let request_line = log
        .iter()
        .find(|l| l.contains("\"answered\""))
        .expect("an access log line");
    let parsed: serde_json::Value = serde_json::from_str(request_line).unwrap();
    assert!(parsed["span"]["request_id"].is_string(), "{request_line}");
    // Keys never reach the log.
    let master = std::fs::read_to_string(dir.path().join("data/keys/master.key")).unwrap();
    assert!(!all.contains(master.trim()));
}

#[test]
fn admin_create_operator_prints_a_one_time_password() {
    let dir = tempfile::tempdir().unwrap();
    let run = |login: &str| {
        binary()
            .current_dir(dir.path())
            .args([
                "admin",
                "create-operator",
                "--login",
                login,
                "--name",
                "Trần Văn Hành",
            ])
            .output()
            .unwrap()
    };
    let output = run("van.hanh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Operator `van.hanh` created"), "{stdout}");
    assert!(
        stdout.contains("Initial password (shown once): "),
        "{stdout}"
    );

    let again = run("van.hanh");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("login_taken"));
    let bad = run("Not Valid");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("login_format"));
}

#[test]
fn maintenance_sweep_runs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .current_dir(dir.path())
        .args(["maintenance", "sweep"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("removed 0 orphan blobs"), "{stdout}");
}

#[test]
fn agency_keygen_writes_a_private_key_file_and_prints_what_to_register() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ubnd.json");
    let output = binary()
        .current_dir(dir.path())
        .args(["agency", "keygen", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let (key_id, key) = congdanso::issuers::keyfile::load(&out).unwrap();
    assert!(
        stdout.contains(&format!("key_id:     {key_id}")),
        "{stdout}"
    );
    let public = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        key.verifying_key().as_bytes(),
    );
    assert!(stdout.contains(&public));
    assert!(
        !stdout.contains("private_key"),
        "the private key is never printed"
    );
    let again = binary()
        .args(["agency", "keygen", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success(), "refuses to overwrite");
}
