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

/// Settings shared by the test and the server it starts: SQLite and blobs in `dir`.
fn crash_vars(dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    [
        ("DATA_DIR", dir.display().to_string()),
        (
            "DATABASE_URL",
            format!("sqlite://{}/congdanso.db?mode=rwc", dir.display()),
        ),
        ("BLOB_STORE_URL", format!("file://{}/blobs", dir.display())),
        ("MAX_UPLOAD_BYTES", "200000000".to_owned()),
        ("STORAGE_QUOTA_BYTES", "1000000000".to_owned()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Files under a folder, recursively, relative to it.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn a_server_killed_mid_upload_leaves_nothing_once_swept() {
    use congdanso::clock::Clock;
    let dir = tempfile::tempdir().unwrap();
    let vars = crash_vars(dir.path());
    let config = congdanso::config::Config::from_vars(&vars).unwrap();
    // A citizen with a logged-in session, made through the library in the server's database.
    let (owner, token) = actix_web::rt::System::new().block_on(async {
        let clock: congdanso::clock::SharedClock =
            std::sync::Arc::new(congdanso::clock::SystemClock);
        let state = congdanso::startup::build_state(config.clone(), clock)
            .await
            .unwrap();
        let account = congdanso::accounts::service::register(
            &state,
            congdanso::accounts::service::RegistrationInput {
                national_id: "079090001234".into(),
                full_name: "Nguyễn Văn An".into(),
                birth_date: "1990-01-15".into(),
                phone: "0905123456".into(),
                email: String::new(),
                password: zeroize::Zeroizing::new("Hoa-sen-no-giua-ho-2026".into()),
                password_confirm: zeroize::Zeroizing::new("Hoa-sen-no-giua-ho-2026".into()),
            },
        )
        .await
        .unwrap();
        let session = congdanso::auth::session::start(
            &state,
            account.id,
            congdanso::auth::session::Stage::Full,
            &congdanso::auth::session::ClientInfo::default(),
        )
        .await
        .unwrap();
        state.db.close().await.unwrap();
        (account.id, session.token)
    });

    let mut command = binary();
    command.current_dir(dir.path()).arg("serve");
    for (name, value) in &vars {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("congdanso: listening on http://") {
            break rest.trim().to_owned();
        }
    };
    // Keep reading the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});

    // A 150 MB upload, of which 12 MiB are sent before the server is killed.
    let csrf_secret = "c".repeat(43);
    let csrf = congdanso::auth::csrf::form_token(&csrf_secret, Some(&token));
    let boundary = "----cdsCrashBoundary";
    let mut head = String::new();
    for (name, value) in [
        ("csrf_token", csrf.as_str()),
        ("doc_type", "other"),
        ("title", "Bản vẽ"),
    ] {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ban-ve.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    ));
    let total = head.len() + 150 * 1024 * 1024;
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /documents HTTP/1.1\r\nHost: {addr}\r\nCookie: cds_session={token}; cds_csrf={csrf_secret}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n{head}"
    )
    .unwrap();
    let piece = vec![b'x'; 1024 * 1024];
    for _ in 0..12 {
        stream.write_all(&piece).unwrap();
    }
    stream.flush().unwrap();
    let folder = dir.path().join("blobs/documents").join(owner.to_string());
    let deadline = Instant::now() + Duration::from_secs(60);
    let staged = loop {
        let found: Vec<String> = files_under(&folder)
            .into_iter()
            .filter(|f| f.contains('#'))
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(Instant::now() < deadline, "no staging part appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(staged[0].ends_with("#1"), "{staged:?}");
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
    drop(stream);
    assert!(!files_under(&folder).is_empty(), "the crash left a part");

    // The next day's sweep (a clock a day and a half ahead) removes every trace.
    let later = congdanso::clock::SystemClock.now() + chrono::Duration::hours(36);
    actix_web::rt::System::new().block_on(async {
        let clock: congdanso::clock::SharedClock =
            std::sync::Arc::new(congdanso::clock::FixedClock::new(later));
        let state = congdanso::startup::build_state(config, clock)
            .await
            .unwrap();
        assert!(
            congdanso::vault::repo::list_for_owner(&state.db, owner)
                .await
                .unwrap()
                .is_empty(),
            "no document appeared"
        );
        let report = congdanso::housekeeping::run_once(&state).await.unwrap();
        assert_eq!(report.orphan_blobs, 1);
        assert_eq!(
            congdanso::vault::repo::usage(&state.db, owner)
                .await
                .unwrap(),
            (0, 0),
            "the reservation was given back"
        );
        assert!(
            congdanso::vault::repo::stale_uploads(&state.db, later)
                .await
                .unwrap()
                .is_empty()
        );
    });
    assert_eq!(
        files_under(&folder),
        Vec::<String>::new(),
        "staging parts removed"
    );
}

/// An SMS gateway on loopback that answers each call after `delay`: returns its address and
/// the ids of the calls it received (recorded on arrival, before the answer).
fn slow_sms_gateway(delay: Duration) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut id = None;
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        match name.trim().to_ascii_lowercase().as_str() {
                            "congdanso-sms-id" => id = Some(value.trim().to_owned()),
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if let Some(id) = id {
                    seen.lock().unwrap().push(id);
                }
                std::thread::sleep(delay);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    (format!("http://{addr}/sms"), got)
}

fn serve(
    dir: &std::path::Path,
    vars: &std::collections::HashMap<String, String>,
) -> std::process::Child {
    let mut command = binary();
    command.current_dir(dir).arg("serve");
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if line.starts_with("congdanso: listening on http://") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    child
}

/// kill -9 of the server while its outbox worker is halfway through delivering: nothing is
/// lost (the restarted server delivers every message once the dead one's leases run out), and
/// a message is sent at most twice (once before the crash, unrecorded, once after).
#[test]
fn a_worker_killed_mid_batch_loses_no_notification() {
    use congdanso::clock::Clock;
    const MESSAGES: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let (sms_url, got) = slow_sms_gateway(Duration::from_millis(25));
    let mut vars = crash_vars(dir.path());
    for (name, value) in [
        ("CONGDANSO_SMS_URL", sms_url.as_str()),
        ("CONGDANSO_SMS_KEY", "sms-gateway-test-key-0123456789abcdef"),
        ("CONGDANSO_NOTIFY_LOG", "false"),
        ("CONGDANSO_OUTBOX_INTERVAL_MS", "50"),
        ("CONGDANSO_OUTBOX_BATCH", "20"),
        ("CONGDANSO_OUTBOX_TIMEOUT_SECS", "1"),
        ("CONGDANSO_OUTBOX_LEASE_SECS", "3"),
    ] {
        vars.insert(name.to_owned(), value.to_owned());
    }
    let config = congdanso::config::Config::from_vars(&vars).unwrap();
    // A citizen with a phone number and 120 security alerts queued, through the library.
    actix_web::rt::System::new().block_on(async {
        use sea_orm::TransactionTrait;
        let clock: congdanso::clock::SharedClock =
            std::sync::Arc::new(congdanso::clock::SystemClock);
        let state = congdanso::startup::build_state(config.clone(), clock)
            .await
            .unwrap();
        let account = congdanso::accounts::service::register(
            &state,
            congdanso::accounts::service::RegistrationInput {
                national_id: "079090001234".into(),
                full_name: "Nguyễn Văn An".into(),
                birth_date: "1990-01-15".into(),
                phone: "0905123456".into(),
                email: String::new(),
                password: zeroize::Zeroizing::new("Hoa-sen-no-giua-ho-2026".into()),
                password_confirm: zeroize::Zeroizing::new("Hoa-sen-no-giua-ho-2026".into()),
            },
        )
        .await
        .unwrap();
        congdanso::notify::service::save_contact(
            &state,
            account.id,
            congdanso::notify::service::ContactInput {
                email: "",
                phone: "0905123456",
                lang: congdanso::i18n::Lang::Vi,
                enabled: Vec::new(),
            },
        )
        .await
        .unwrap();
        let txn = state.db.begin().await.unwrap();
        let now = congdanso::clock::SystemClock.now();
        for _ in 0..MESSAGES {
            congdanso::notify::service::notify(
                &txn,
                now,
                account.id,
                congdanso::notify::model::Kind::PasswordChanged,
                serde_json::json!({ "link": "/access-log" }),
            )
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        state.db.close().await.unwrap();
    });

    let mut first = serve(dir.path(), &vars);
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().len() < MESSAGES / 4 {
        assert!(Instant::now() < deadline, "the worker never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    first.wait().unwrap();
    let before = got.lock().unwrap().len();
    assert!(before < MESSAGES, "killed mid-way ({before} sent)");

    let mut second = serve(dir.path(), &vars);
    let deadline = Instant::now() + Duration::from_secs(90);
    let distinct = loop {
        let distinct: std::collections::BTreeSet<String> =
            got.lock().unwrap().iter().cloned().collect();
        if distinct.len() >= MESSAGES || Instant::now() > deadline {
            break distinct;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let any late duplicate arrive before counting.
    std::thread::sleep(Duration::from_millis(500));
    let _ = second.kill();
    second.wait().unwrap();
    assert_eq!(distinct.len(), MESSAGES, "every message delivered");
    let all = got.lock().unwrap().clone();
    let mut counts = std::collections::HashMap::new();
    for id in &all {
        *counts.entry(id.as_str()).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|&n| n <= 2),
        "at most one re-send each: {counts:?}"
    );
    assert!(
        all.len() - MESSAGES <= 20,
        "only the killed batch is sent again ({} extra)",
        all.len() - MESSAGES
    );
}
