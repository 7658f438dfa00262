//! End-to-end in real headless Chromium (Debian `chromium` + `chromium-driver`), driven over
//! WebDriver, with an automated WCAG 2.1 AA check by axe-core injected into each page.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and axe-core (`AXE_CORE_JS`, default
//! `~/.cache/congdanso-tools/axe/node_modules/axe-core/axe.min.js`); `.ci/run` installs them.
//! Without them the tests print SKIPPED (and fail under `REQUIRE_ALL_BACKENDS=1`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use congdanso::clock::Clock;
use congdanso::startup::Application;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TestApp, skip, spawn_app_with};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn axe_path() -> PathBuf {
    std::env::var("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/congdanso-tools/axe/node_modules/axe-core/axe.min.js")
        })
}

/// Why the browser suite cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    for path in [
        PathBuf::from(CHROMIUM),
        PathBuf::from(CHROMEDRIVER),
        axe_path(),
    ] {
        if !path.exists() {
            return Some(format!("{} is not installed", path.display()));
        }
    }
    None
}

/// A chromedriver process on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

/// A browser session on a phone-sized window, with the app served on loopback.
pub struct Browser {
    pub client: Client,
    pub base: String,
    pub app: TestApp,
    server: actix_web::dev::ServerHandle,
    _driver: Driver,
}

impl Browser {
    /// `None` (after printing SKIPPED) when the tools are missing.
    pub async fn start(test: &str, accept_language: &str) -> Option<Self> {
        if let Some(why) = missing_tools() {
            skip(test, &why);
            return None;
        }
        let app = spawn_app_with(&[("BIND_ADDR", "127.0.0.1:0"), ("HTTP_WORKERS", "1")]).await;
        let application = Application::from_state(app.state.clone()).unwrap();
        let base = format!("http://{}", application.local_addr());
        let server = application.handle();
        actix_web::rt::spawn(application.run_until_stopped());

        let driver = start_driver();
        let profile = driver._profile.path().display().to_string();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={profile}"),
                    "--window-size=360,740",
                    format!("--lang={accept_language}"),
                ],
                "prefs": { "intl.accept_languages": accept_language },
                // A cheap phone: 360 × 740 CSS pixels.
                "mobileEmulation": {
                    "deviceMetrics": { "width": 360, "height": 740, "pixelRatio": 2.0 },
                },
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap();
        Some(Self {
            client,
            base,
            app,
            server,
            _driver: driver,
        })
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{}", self.base, path))
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    pub async fn fill(&self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Sets a field by script (date inputs take keyboard input in the locale's order).
    pub async fn set_value(&self, name: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(`[name='${arguments[0]}']`).value = arguments[1];",
                vec![json!(name), json!(value)],
            )
            .await
            .unwrap();
    }

    pub async fn submit(&self) {
        self.click_and_wait("main form button[type=submit]").await;
    }

    /// Clicks and waits until the next page has loaded (a marker set on the old document is
    /// gone and the new one is complete), so assertions never read the page being left.
    pub async fn click_and_wait(&self, css: &str) {
        self.client
            .execute("window.__cdsOldPage = true;", vec![])
            .await
            .unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
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

    pub async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn html_lang(&self) -> String {
        self.client
            .execute("return document.documentElement.lang;", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// WCAG 2.1 A/AA violations axe-core finds on the current page.
    pub async fn axe_violations(&self) -> Vec<Value> {
        let source = std::fs::read_to_string(axe_path()).unwrap();
        self.client.execute(&source, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { runOnly: { type: 'tag',
                       values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                      .then(r => done(r.violations))
                      .catch(e => done([{ id: 'axe-error', help: String(e), nodes: [] }]));"#,
                vec![],
            )
            .await
            .unwrap();
        result.as_array().cloned().unwrap_or_default()
    }

    /// Asserts zero WCAG 2.1 AA violations, describing each one found; also checks the page
    /// fits the phone-sized window without sideways scrolling.
    pub async fn assert_accessible(&self, what: &str) {
        self.screenshot(what).await;
        let violations = self.axe_violations().await;
        let report: Vec<String> = violations
            .iter()
            .map(|v| {
                let targets: Vec<String> = v["nodes"]
                    .as_array()
                    .map(|nodes| nodes.iter().map(|n| n["target"].to_string()).collect())
                    .unwrap_or_default();
                format!(
                    "{} ({}): {} at {}",
                    v["id"],
                    v["impact"],
                    v["help"],
                    targets.join(", ")
                )
            })
            .collect();
        assert!(
            report.is_empty(),
            "{what}: axe found\n{}",
            report.join("\n")
        );
        let fits = self
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "{what}: wider than a 360 px screen");
    }

    /// Saves a PNG of the page when `CDS_SCREENSHOTS` names a folder (for people to look at).
    pub async fn screenshot(&self, what: &str) {
        if let Ok(folder) = std::env::var("CDS_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            let name: String = what
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(PathBuf::from(folder).join(format!("{name}.png")), png).unwrap();
        }
    }

    pub async fn finish(self) {
        let _ = self.client.close().await;
        self.server.stop(true).await;
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
    b.submit().await;
    assert_eq!(b.path().await, "/documents");
    assert!(b.text_of(".documents").await.contains("Giấy khai sinh"));
    b.assert_accessible("documents-vi").await;
    b.click_and_wait(".documents a").await;
    assert!(b.path().await.starts_with("/documents/"));
    b.assert_accessible("document-vi").await;
    b.finish().await;
}

#[actix_web::test]
async fn pages_pass_wcag_in_english_and_the_switcher_works() {
    let Some(b) = Browser::start("pages_pass_wcag_in_english_and_the_switcher_works", "vi").await
    else {
        return;
    };
    b.goto("/").await;
    b.click_and_wait(".lang-switch a[hreflang=en]").await;
    assert_eq!(b.html_lang().await, "en");
    b.assert_accessible("home-en").await;
    for path in ["/register", "/login", "/staff/login", "/khong-co-trang-nay"] {
        b.goto(path).await;
        assert_eq!(b.html_lang().await, "en", "{path}");
        b.assert_accessible(&format!("{path}-en")).await;
    }
    b.goto("/khong-co-trang-nay").await;
    assert!(b.text_of("h1").await.contains("Something went wrong"));
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
    b.fill("login", "admin.haichau").await;
    b.fill("full_name", "Lê Thị Quản").await;
    b.submit().await;
    b.assert_accessible("created-en").await;
    b.goto("/account").await;
    b.assert_accessible("operator-account-en").await;

    // Step-up before new recovery codes.
    b.goto("/account/recovery-codes").await;
    assert_eq!(b.path().await, "/step-up");
    b.assert_accessible("step-up-en").await;
    b.app.clock.advance(chrono::Duration::seconds(30));
    let code = current_code(&b, "van.hanh").await;
    b.fill("code", &code).await;
    b.submit().await;
    assert_eq!(b.path().await, "/account/recovery-codes");
    b.assert_accessible("recovery-confirm-en").await;
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

#[actix_web::test]
async fn the_accessibility_check_catches_a_real_violation() {
    let Some(b) = Browser::start("the_accessibility_check_catches_a_real_violation", "en").await
    else {
        return;
    };
    b.goto("/login").await;
    b.client
        .execute(
            "const i = document.createElement('input'); i.type = 'text'; \
             document.querySelector('main').appendChild(i);",
            vec![],
        )
        .await
        .unwrap();
    let violations = b.axe_violations().await;
    assert!(
        violations.iter().any(|v| v["id"] == "label"),
        "an unlabelled input must be reported: {violations:?}"
    );
    b.finish().await;
}
