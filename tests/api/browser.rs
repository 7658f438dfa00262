//! End-to-end in real headless Chromium (Debian `chromium` + `chromium-driver`), driven over
//! WebDriver with `fantoccini`, with an automated WCAG 2.1 AA check by axe-core injected into
//! each page.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and axe-core (`AXE_CORE_JS`, default
//! `~/.cache/congdanso-tools/axe/node_modules/axe-core/axe.min.js`); `.ci/run` installs them.
//! Without them the tests print SKIPPED (and fail under `REQUIRE_ALL_BACKENDS=1`).
//!
//! Each test gets its own app (fresh database, blob store, fixed clock) served over real HTTP on
//! loopback from its own thread, its own chromedriver on a free port and its own Chromium
//! profile. Everything stops when the [`Browser`] is dropped, also when the test panics:
//! chromedriver runs in its own process group, which is killed as a whole (Chromium and its
//! helpers with it), then the server stops gracefully.
//!
//! A test reads like a person using the site:
//!
//! ```ignore
//! let Some(b) = Browser::start("my_test", "vi").await else { return };  // None: skipped
//! b.goto("/login").await;
//! b.fill("login", "048088001234").await;   // types into the field with that `name`
//! b.submit().await;                        // clicks `main form button[type=submit]`, waits for the next page
//! assert_eq!(b.path().await, "/login/verify");
//! b.assert_accessible("verify-vi").await;  // axe WCAG 2.1 AA, fits 360 px; screenshot if asked
//! b.finish().await;
//! ```
//!
//! Public pages in both languages and the checks of the harness itself are in `browser/pages.rs`.

mod counter;
mod notify;
mod pages;
mod qr;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use congdanso::clock::Clock;
use congdanso::startup::Application;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TestApp, skip, spawn_app_with};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The axe-core rule tags checked: WCAG 2.0 and 2.1, levels A and AA.
pub const WCAG_21_AA: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// A cheap phone, in CSS pixels.
pub const PHONE_WIDTH: u32 = 360;
pub const PHONE_HEIGHT: u32 = 740;

/// Where axe-core's browser bundle is.
pub fn axe_path() -> PathBuf {
    match std::env::var("AXE_CORE_JS") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/congdanso-tools/axe/node_modules/axe-core/axe.min.js"),
    }
}

/// Why the browser suite cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    [
        PathBuf::from(CHROMIUM),
        PathBuf::from(CHROMEDRIVER),
        axe_path(),
    ]
    .into_iter()
    .find(|path| !path.is_file())
    .map(|path| format!("{} is not installed", path.display()))
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

// ------------------------------------------------------------------------------------ server

/// The real application server on `127.0.0.1:<free port>`, on its own thread with its own actix
/// `System`, so it keeps serving whatever the test thread does. Dropping it stops the server
/// gracefully (then its background tasks) and waits for the thread.
pub struct AppServer {
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl AppServer {
    /// Builds a fresh app with `helpers::spawn_app_with` (plus `extra` settings) and serves it.
    /// The state is built on the server's thread, so its connection pool belongs to a runtime
    /// that runs as long as the server does.
    pub fn start(extra: &[(&str, &str)]) -> (Self, TestApp) {
        let mut vars: Vec<(String, String)> = vec![
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
            ("HTTP_WORKERS".into(), "1".into()),
            // Bounds the graceful stop should a connection linger.
            ("SHUTDOWN_TIMEOUT_SECS".into(), "5".into()),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("e2e-app-server".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let vars: Vec<(&str, &str)> =
                        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let app = spawn_app_with(&vars).await;
                    let application = Application::from_state(app.state.clone())
                        .expect("app server binds a loopback port");
                    let started = (application.local_addr(), application.handle(), app);
                    if tx.send(started).is_ok() {
                        application
                            .run_until_stopped()
                            .await
                            .expect("app server runs");
                    }
                });
            })
            .expect("spawn the app server thread");
        match rx.recv() {
            Ok((addr, handle, app)) => (
                Self {
                    handle,
                    thread: Some(thread),
                    addr,
                },
                app,
            ),
            Err(_) => {
                let why = thread
                    .join()
                    .err()
                    .map(|p| panic_message(p.as_ref()))
                    .unwrap_or_default();
                panic!("the app server did not start: {why}");
            }
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only reports completion, which joining
        // the thread (server stopped, then background tasks) covers.
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take()
            && let Err(panic) = thread.join()
            && !std::thread::panicking()
        {
            panic!("app server thread: {}", panic_message(panic.as_ref()));
        }
    }
}

// ------------------------------------------------------------------------------------ driver

/// A chromedriver on a free loopback port, in its own process group with everything it starts.
/// Dropping it kills that whole group (chromedriver, Chromium and Chromium's helpers).
pub struct Driver {
    child: Child,
    pub port: u16,
    /// Holds `profile/` (Chromium's user data dir) and `chromedriver.log`.
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Whether chromedriver on `port` answers `GET /status` with `"ready": true`.
fn driver_ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // Read what arrives (up to the time-out) rather than insist on the connection closing.
    let mut response = Vec::new();
    let mut chunk = [0_u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response).replace([' ', '\n', '\r'], "");
        if text.contains("\"ready\":true") {
            return true;
        }
    }
    false
}

/// Process ids whose command line mentions `marker` (Chromium's processes carry their
/// `--user-data-dir`).
pub fn processes_mentioning(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(marker))
        })
        .collect()
}

impl Driver {
    pub fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::Builder::new()
            .prefix("cds-e2e-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir(dir.path().join("profile")).expect("profile dir");
        let log = dir.path().join("chromedriver.log");
        // A free port can be taken between asking and binding: then try another one.
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if driver_ready(port) {
                    return Self { child, port, dir };
                }
                if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "chromedriver did not become ready; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Chromium's user data dir for this session (fresh, deleted afterwards).
    pub fn profile(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        // The group id is chromedriver's pid, which stays reserved until it is reaped below.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
        // Let the killed processes go before their profile folder is deleted.
        let profile = self.profile().display().to_string();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_mentioning(&profile).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ------------------------------------------------------------------------------------ axe

/// Injects axe-core into the current page and returns the WCAG 2.1 A/AA violations it finds
/// (axe's result objects: `id`, `impact`, `help`, `helpUrl`, `nodes[].target`, …).
///
/// WebDriver runs scripts outside the page's Content-Security-Policy, so this works under the
/// app's `script-src 'self'` without weakening it (`browser/pages.rs` checks the CSP is in
/// force meanwhile); axe itself needs no `eval`.
pub async fn axe_violations(client: &Client) -> Vec<Value> {
    let path = axe_path();
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read axe-core from {}: {e}", path.display()));
    let loaded = client
        .execute(&format!("{source}\n;return typeof window.axe;"), vec![])
        .await
        .expect("inject axe-core");
    assert_eq!(
        loaded,
        json!("object"),
        "axe-core did not load into the page"
    );
    let outcome = client
        .execute_async(
            r#"const [tags, done] = arguments;
               axe.run(document, { runOnly: { type: 'tag', values: tags },
                                   resultTypes: ['violations'] })
                  .then(r => done({ ok: true, violations: r.violations }))
                  .catch(e => done({ ok: false, error: String((e && e.stack) || e) }));"#,
            vec![json!(WCAG_21_AA)],
        )
        .await
        .expect("run axe-core");
    assert_eq!(
        outcome["ok"],
        json!(true),
        "axe-core failed: {}",
        outcome["error"]
    );
    outcome["violations"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("axe-core returned no list of violations: {outcome}"))
}

/// One line per violation: rule id, impact, what to fix, and the selectors of the elements.
pub fn describe_violations(violations: &[Value]) -> String {
    violations
        .iter()
        .map(|v| {
            let targets: Vec<String> = v["nodes"]
                .as_array()
                .map(|nodes| nodes.iter().map(|n| n["target"].to_string()).collect())
                .unwrap_or_default();
            format!(
                "- {} ({}): {} <{}> at {}",
                v["id"].as_str().unwrap_or("?"),
                v["impact"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or("?"),
                v["helpUrl"].as_str().unwrap_or(""),
                targets.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Err` listing each violation, unless there are none.
pub fn check_no_violations(what: &str, violations: &[Value]) -> Result<(), String> {
    if violations.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{what}: axe-core found {} WCAG 2.1 AA violation(s):\n{}",
        violations.len(),
        describe_violations(violations)
    ))
}

/// Fails, listing each violation, unless there are none.
pub fn assert_no_violations(what: &str, violations: &[Value]) {
    if let Err(report) = check_no_violations(what, violations) {
        panic!("{report}");
    }
}

/// `{ innerWidth, scrollWidth }` of the page shown now.
pub async fn page_widths(client: &Client) -> Value {
    client
        .execute(
            "return { innerWidth: window.innerWidth, \
                      scrollWidth: document.documentElement.scrollWidth };",
            vec![],
        )
        .await
        .expect("measure the page")
}

/// `Err` unless the page lays out at the phone's width and needs no sideways scrolling there.
/// Both matter: a phone browser zooms out to fit content wider than the screen, which widens
/// `innerWidth` instead of making the page scroll.
pub fn check_fits_phone(what: &str, widths: &Value) -> Result<(), String> {
    let phone = Some(u64::from(PHONE_WIDTH));
    if widths["innerWidth"].as_u64() == phone && widths["scrollWidth"].as_u64() <= phone {
        Ok(())
    } else {
        Err(format!(
            "{what}: does not fit a {PHONE_WIDTH} px wide phone screen: {widths}"
        ))
    }
}

/// Fails unless the page fits the phone's width (see [`check_fits_phone`]).
pub async fn assert_fits_phone(what: &str, client: &Client) {
    if let Err(report) = check_fits_phone(what, &page_widths(client).await) {
        panic!("{report}");
    }
}

// ------------------------------------------------------------------------------------ browser

/// A headless Chromium session on a phone-sized screen, with the app served on loopback.
///
/// Fields drop in order: the WebDriver client, the driver (killing Chromium, so no connection
/// lingers), the server (graceful stop), then the app's folders.
/// The WebDriver capabilities of a phone-sized headless Chromium with its own profile folder.
fn capabilities(profile: &Path, accept_language: &str) -> serde_json::Map<String, Value> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                // Offline, Chromium's own calls home fail and get connections refused.
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={PHONE_WIDTH},{PHONE_HEIGHT}"),
                format!("--lang={accept_language}"),
            ],
            "prefs": { "intl.accept_languages": accept_language },
            // A phone, so the page's viewport meta is honoured as on a real one.
            "mobileEmulation": {
                "deviceMetrics": { "width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 2.0 },
            },
        }),
    );
    caps.insert(
        "timeouts".into(),
        json!({ "pageLoad": 30_000, "script": 30_000, "implicit": 0 }),
    );
    caps
}

pub struct Browser {
    pub client: Client,
    pub driver: Driver,
    pub server: AppServer,
    pub app: TestApp,
    pub base: String,
}

impl Browser {
    /// `None` (after printing SKIPPED) when Chromium, chromedriver or axe-core is missing.
    /// `accept_language` is the browser's language (`vi`, `en`).
    pub async fn start(test: &str, accept_language: &str) -> Option<Self> {
        Self::start_with(test, accept_language, &[]).await
    }

    /// Like [`Browser::start`], with extra app settings (environment variable, value).
    pub async fn start_with(
        test: &str,
        accept_language: &str,
        extra: &[(&str, &str)],
    ) -> Option<Self> {
        if let Some(why) = missing_tools() {
            skip(test, &why);
            return None;
        }
        let (server, app) = AppServer::start(extra);
        let base = server.base_url();
        let driver = Driver::start();
        let caps = capabilities(&driver.profile(), accept_language);
        let client =
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{}", driver.port))
                .await
            {
                Ok(client) => client,
                Err(e) => panic!(
                    "no Chromium session: {e}\nchromedriver log:\n{}",
                    driver.log()
                ),
            };
        Some(Self {
            client,
            driver,
            server,
            app,
            base,
        })
    }

    /// A second, independent browser (its own profile and cookies) on the same chromedriver:
    /// another person at another device. Swap it with `client` to drive it with these helpers.
    pub async fn another_session(&self, profile: &Path, accept_language: &str) -> Client {
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities(profile, accept_language))
            .connect(&format!("http://127.0.0.1:{}", self.driver.port))
            .await
            .unwrap_or_else(|e| panic!("no second Chromium session: {e}"))
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{}", self.base, path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path of the page shown now.
    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Runs a script in the page (a function body: `return …`, `arguments[i]`).
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Types into the field named `name`, as a person would (replacing what is there).
    pub async fn fill(&self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap_or_else(|e| panic!("no field named {name}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Sets a field by script (date inputs take keyboard input in the locale's order).
    pub async fn set_value(&self, name: &str, value: &str) {
        self.eval(
            "document.querySelector(`[name='${arguments[0]}']`).value = arguments[1];",
            vec![json!(name), json!(value)],
        )
        .await;
    }

    /// Submits the form in `<main>` with its submit button and waits for the next page.
    pub async fn submit(&self) {
        self.click_and_wait("main form button[type=submit]").await;
    }

    /// Clicks and waits until the next page has loaded (a marker set on the old document is
    /// gone and the new one is complete), so assertions never read the page being left.
    pub async fn click_and_wait(&self, css: &str) {
        self.eval("window.__cdsOldPage = true;", vec![]).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {css}: {e}"))
            .click()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__cdsOldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .unwrap_or(json!(false));
            if loaded == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after clicking {css}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// `<html lang>` of the page shown now.
    pub async fn html_lang(&self) -> String {
        self.eval("return document.documentElement.lang;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// WCAG 2.1 A/AA violations axe-core finds on the current page.
    pub async fn axe_violations(&self) -> Vec<Value> {
        axe_violations(&self.client).await
    }

    /// Saves a screenshot (when `CDS_SCREENSHOTS` is set), then asserts zero WCAG 2.1 AA
    /// violations and that the page fits the phone's width without sideways scrolling.
    pub async fn assert_accessible(&self, what: &str) {
        self.screenshot(what).await;
        assert_no_violations(what, &self.axe_violations().await);
        assert_fits_phone(what, &self.client).await;
    }

    /// Saves a PNG of the page as `<CDS_SCREENSHOTS>/<what>.png` when that variable names a
    /// folder (for people to look at).
    pub async fn screenshot(&self, what: &str) {
        let Some(folder) = std::env::var_os("CDS_SCREENSHOTS").filter(|f| !f.is_empty()) else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        let name: String = what
            .trim_matches('/')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let folder = Path::new(&folder);
        std::fs::create_dir_all(folder).expect("screenshot folder");
        std::fs::write(folder.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends the WebDriver session cleanly (Chromium quits), then stops everything else.
    pub async fn finish(self) {
        let Self {
            client,
            driver,
            server,
            app,
            base: _,
        } = self;
        let _ = client.close().await;
        drop(driver);
        drop(server);
        drop(app);
    }
}

/// The code an authenticator app shows now, computed from the secret the enrolment page shows.
async fn code_from_page(browser: &Browser, steps: i64) -> String {
    let groups = browser.text_of("#totp-secret").await;
    let compact: String = groups.split_whitespace().collect();
    let bytes = base32_decode(&compact);
    let secret = congdanso::accounts::totp::TotpSecret::from_bytes(bytes).unwrap();
    let step = browser.app.clock.now().timestamp() / 30 + steps;
    congdanso::accounts::totp::code_at(&secret, step)
}

/// RFC 4648 base32 without padding.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[actix_web::test]
async fn a_citizen_registers_enrols_totp_logs_out_and_in_again_in_a_phone_browser() {
    let Some(b) = Browser::start(
        "a_citizen_registers_enrols_totp_logs_out_and_in_again_in_a_phone_browser",
        "vi",
    )
    .await
    else {
        return;
    };
    b.goto("/").await;
    assert_eq!(b.html_lang().await, "vi");
    b.assert_accessible("home-vi").await;

    b.goto("/register").await;
    b.assert_accessible("register-vi").await;
    // A wrong ID first: the message appears next to the field, and the page stays accessible.
    b.fill("national_id", "12345").await;
    b.fill("full_name", "Nguyễn Văn An").await;
    b.set_value("birth_date", "1988-02-29").await;
    b.fill("phone", "0905123456").await;
    b.fill("password", "Hoa-sen-no-giua-ho-2026").await;
    b.fill("password_confirm", "Hoa-sen-no-giua-ho-2026").await;
    b.submit().await;
    assert!(
        b.text_of("#f-national_id-error")
            .await
            .contains("12 chữ số")
    );
    b.assert_accessible("register-error-vi").await;

    b.fill("national_id", "048088001234").await;
    b.fill("password", "Hoa-sen-no-giua-ho-2026").await;
    b.fill("password_confirm", "Hoa-sen-no-giua-ho-2026").await;
    b.submit().await;
    assert_eq!(b.path().await, "/enroll");
    b.assert_accessible("enroll-vi").await;

    let code = code_from_page(&b, 0).await;
    b.fill("code", &code).await;
    b.submit().await;
    let codes = b
        .client
        .find_all(Locator::Css(".recovery-codes code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    b.assert_accessible("recovery-codes-vi").await;
    b.click_and_wait("main a.button").await;
    assert_eq!(b.path().await, "/account");
    b.assert_accessible("account-vi").await;

    // Log out with the header button, then back in with password and a fresh code.
    b.click_and_wait(".account-nav button").await;
    assert_eq!(b.path().await, "/");
    b.goto("/login").await;
    b.assert_accessible("login-vi").await;
    b.fill("login", "048088001234").await;
    b.fill("password", "Hoa-sen-no-giua-ho-2026").await;
    b.submit().await;
    assert_eq!(b.path().await, "/login/verify");
    b.assert_accessible("verify-vi").await;
    b.app.clock.advance(chrono::Duration::seconds(30));
    let account = congdanso::accounts::repo::find_by_login(&b.app.state.db, "048088001234")
        .await
        .unwrap()
        .unwrap();
    let secret = congdanso::accounts::service::totp_secret(&b.app.state, &account).unwrap();
    let code = congdanso::accounts::totp::code_at(&secret, b.app.clock.now().timestamp() / 30);
    b.fill("code", &code).await;
    b.submit().await;
    assert_eq!(b.path().await, "/account");

    // The vault: upload a scan from the phone, see it listed, open it.
    b.click_and_wait(".account-nav a[href='/documents']").await;
    b.assert_accessible("documents-empty-vi").await;
    let scan = tempfile::Builder::new().suffix(".pdf").tempfile().unwrap();
    std::fs::write(scan.path(), b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF\n").unwrap();
    b.fill("title", "Giấy khai sinh").await;
    b.client
        .find(Locator::Css("#f-file"))
        .await
        .unwrap()
        .send_keys(&scan.path().display().to_string())
        .await
        .unwrap();
    // The page has two forms now (filters, then upload).
    b.click_and_wait("main form[enctype='multipart/form-data'] button[type=submit]")
        .await;
    // The upload lands on the new document's page, then the list shows it.
    let landed = b.path().await;
    assert!(
        landed.starts_with("/documents/0"),
        "{landed}: {}",
        b.text_of("main").await
    );
    assert!(b.text_of(".notice").await.contains("Đã tải lên"));
    b.goto("/documents").await;
    assert!(b.text_of(".documents").await.contains("Giấy khai sinh"));
    b.assert_accessible("documents-vi").await;
    // A fuller vault pages 25 at a time, with older/newer links.
    let citizen = congdanso::accounts::repo::find_by_login(&b.app.state.db, "048088001234")
        .await
        .unwrap()
        .unwrap();
    for i in 0..25 {
        congdanso::vault::service::store_document(
            &b.app.state,
            &citizen,
            congdanso::vault::service::NewDocument {
                doc_type: congdanso::vault::model::DocumentType::Other,
                title: format!("Hoá đơn điện {i}"),
                file_name: "hoa-don.pdf".into(),
            },
            None,
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"%PDF-1.7\n%%EOF\n",
            ))]),
        )
        .await
        .unwrap();
    }
    b.goto("/documents").await;
    assert!(b.text_of(".pager").await.contains("Cũ hơn"));
    b.assert_accessible("documents-pages-vi").await;
    b.click_and_wait(".pager a[rel=next]").await;
    let older = b.text_of("main").await;
    assert!(older.contains("Giấy khai sinh"), "{older}");
    assert!(b.text_of(".pager").await.contains("Mới hơn"));
    // The filters are plain GET fields: they work without JavaScript.
    b.goto("/documents?type=cccd&source=self").await;
    assert!(b.text_of(".documents").await.contains("Giấy khai sinh"));
    b.assert_accessible("documents-filtered-vi").await;
    b.click_and_wait(".documents a").await;
    assert!(b.path().await.starts_with("/documents/"));
    b.assert_accessible("document-vi").await;
    // Asking for a code to have the scan certified at the counter.
    b.click_and_wait("form[action$='/certification'] button")
        .await;
    assert_eq!(b.text_of(".code-display").await.len(), 9);
    b.assert_accessible("certification-code-vi").await;

    // A CCCD issued by an agency: verified, with its fields, history-free, package link.
    let issuer = crate::issuing::make_issuer(&b.app, "CA-DANANG", 71).await;
    let mut fields = crate::issuing::cccd_fields("048088001234");
    fields["full_name"] = serde_json::json!("Nguyễn Văn An");
    let mut payload = issuer.payload(&b.app, "cccd", fields, None);
    payload["citizen_national_id"] = serde_json::json!("048088001234");
    let (status, body) = crate::issuing::post_json(
        &b.app,
        &issuer.token,
        "/api/v1/documents",
        &issuer.signed(&payload),
    )
    .await;
    assert_eq!(status, actix_web::http::StatusCode::CREATED, "{body}");
    b.goto(&format!(
        "/documents/{}",
        body["document"]["id"].as_str().unwrap()
    ))
    .await;
    assert!(b.text_of(".signature").await.contains("Đã xác thực"));
    b.assert_accessible("document-issued-vi").await;
    b.finish().await;
}

#[actix_web::test]
async fn staff_pages_pass_wcag() {
    let Some(b) = Browser::start("staff_pages_pass_wcag", "en").await else {
        return;
    };
    let (_, initial) = congdanso::accounts::service::create_staff_account(
        &b.app.state,
        congdanso::auth::Role::Operator,
        "van.hanh",
        "Trần Văn Hành",
        None,
    )
    .await
    .unwrap();
    b.goto("/staff/login").await;
    b.fill("login", "van.hanh").await;
    b.fill("password", &initial).await;
    b.submit().await;
    assert_eq!(b.path().await, "/enroll");
    let code = code_from_page(&b, 0).await;
    b.fill("code", &code).await;
    b.submit().await;
    b.goto("/admin").await;
    b.assert_accessible("admin-en").await;
    b.fill("code", "UBND-HAICHAU").await;
    b.fill("name", "UBND quận Hải Châu").await;
    b.submit().await;
    assert!(b.path().await.starts_with("/admin/agencies/"));
    b.assert_accessible("admin-agency-en").await;
    let agency_page = b.path().await;
    b.fill("login", "admin.haichau").await;
    b.fill("full_name", "Lê Thị Quản").await;
    b.submit().await;
    b.assert_accessible("created-en").await;
    // The issuing authority page: empty, with an authority, and with a refused successor.
    b.goto(&format!("{agency_page}/authorities")).await;
    b.assert_accessible("authorities-en").await;
    // Changing who may issue what needs a fresh step-up first.
    b.app.clock.advance(chrono::Duration::seconds(30));
    b.goto(&format!("/step-up?next={agency_page}/authorities"))
        .await;
    let code = current_code(&b, "van.hanh").await;
    b.fill("code", &code).await;
    b.submit().await;
    assert!(b.path().await.ends_with("/authorities"));
    b.set_value("valid_until", "2030-12-31").await;
    b.click_and_wait("form[action$='/authorities'] button[type=submit]")
        .await;
    assert!(b.path().await.ends_with("/authorities"));
    b.fill("successor", "NO-SUCH-AGENCY").await;
    b.click_and_wait("form[action$='/successors'] button[type=submit]")
        .await;
    assert!(
        b.text_of("#f-successor-error")
            .await
            .contains("No agency has this code")
    );
    b.assert_accessible("authorities-error-en").await;
    b.goto("/account").await;
    b.assert_accessible("operator-account-en").await;

    // Step-up before new recovery codes (the earlier one has lapsed by then).
    b.app.clock.advance(chrono::Duration::minutes(6));
    b.goto("/account/recovery-codes").await;
    assert_eq!(b.path().await, "/step-up");
    b.assert_accessible("step-up-en").await;
    b.app.clock.advance(chrono::Duration::seconds(30));
    let code = current_code(&b, "van.hanh").await;
    b.fill("code", &code).await;
    b.submit().await;
    assert_eq!(b.path().await, "/account/recovery-codes");
    b.assert_accessible("recovery-confirm-en").await;
    b.goto("/account/authenticator").await;
    assert_eq!(b.path().await, "/account/authenticator");
    b.assert_accessible("authenticator-en").await;
    b.click_and_wait(".account-nav button").await;

    // The agency admin's staff page and the counter desk.
    congdanso::demo::seed(&b.app.state).await.unwrap();
    for (login, home, what) in [
        ("demo.admin", "/agency", "agency-admin-en"),
        ("demo.clerk", "/staff", "counter-desk-en"),
    ] {
        b.goto("/staff/login").await;
        b.fill("login", login).await;
        b.fill("password", congdanso::demo::DEMO_PASSWORD).await;
        b.submit().await;
        assert_eq!(b.path().await, "/enroll");
        let code = code_from_page(&b, 0).await;
        b.fill("code", &code).await;
        b.submit().await;
        b.goto(home).await;
        assert_eq!(b.path().await, home);
        b.assert_accessible(what).await;
        if login == "demo.clerk" {
            b.goto("/staff/certify").await;
            b.assert_accessible("certify-code-en").await;
            b.fill("code", "WRONG-CODE").await;
            b.submit().await;
            assert!(
                b.text_of("#f-code-error")
                    .await
                    .contains("wrong, used or expired")
            );
            b.assert_accessible("certify-code-error-en").await;
            // A real code from the demo citizen opens the review page with the scan.
            let owner = congdanso::accounts::repo::find_by_login(
                &b.app.state.db,
                congdanso::demo::DEMO_CITIZEN_ID,
            )
            .await
            .unwrap()
            .unwrap();
            let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
            png.extend_from_slice(&[0u8; 64]);
            let scan = congdanso::vault::service::store_document(
                &b.app.state,
                &owner,
                congdanso::vault::service::NewDocument {
                    doc_type: congdanso::vault::model::DocumentType::Other,
                    title: "Bằng tốt nghiệp".into(),
                    file_name: "bang.png".into(),
                },
                None,
                futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(png))]),
            )
            .await
            .unwrap();
            let code = congdanso::counter::certify::request(&b.app.state, &owner, scan.id)
                .await
                .unwrap();
            b.fill("code", &code).await;
            b.submit().await;
            assert!(b.path().await.starts_with("/staff/certify/"));
            b.assert_accessible("certify-review-en").await;
        }
        b.click_and_wait(".account-nav button").await;
    }
    b.finish().await;
}

/// The code an authenticator app shows now for an enrolled account.
async fn current_code(b: &Browser, login: &str) -> String {
    let account = congdanso::accounts::repo::find_by_login(&b.app.state.db, login)
        .await
        .unwrap()
        .unwrap();
    let secret = congdanso::accounts::service::totp_secret(&b.app.state, &account).unwrap();
    congdanso::accounts::totp::code_at(&secret, b.app.clock.now().timestamp() / 30)
}
