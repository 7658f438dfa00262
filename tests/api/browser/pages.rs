//! Public pages in both languages (home, log-in and registration forms, the error page), and
//! proof that the harness's checks can fail and that it cleans up after a panicking test.

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::json;

use super::{
    Browser, WCAG_21_AA, assert_no_violations, check_fits_phone, check_no_violations, page_widths,
    processes_mentioning,
};

/// Pages anyone can open without an account.
const PUBLIC_PAGES: [&str; 4] = ["/", "/register", "/login", "/staff/login"];

/// A path nothing answers: the localized 404 page.
const MISSING: &str = "/khong-co-trang-nay";

/// A name for reports and screenshots.
fn page_name(path: &str) -> String {
    match path.trim_matches('/') {
        "" => "home".to_owned(),
        rest => rest.replace('/', "-"),
    }
}

#[actix_web::test]
async fn public_and_error_pages_in_vietnamese_pass_wcag_and_fit_a_phone() {
    let Some(b) = Browser::start(
        "public_and_error_pages_in_vietnamese_pass_wcag_and_fit_a_phone",
        "vi",
    )
    .await
    else {
        return;
    };
    b.goto("/").await;
    assert_eq!(b.html_lang().await, "vi");
    assert!(b.text_of("h1").await.contains("kho dữ liệu số cá nhân"));
    assert_eq!(b.text_of(".lang-switch [aria-current]").await, "Tiếng Việt");
    for path in PUBLIC_PAGES {
        b.goto(path).await;
        assert_eq!(b.html_lang().await, "vi", "{path}");
        b.assert_accessible(&format!("{}-vi", page_name(path)))
            .await;
    }

    b.goto(MISSING).await;
    assert_eq!(b.html_lang().await, "vi");
    assert_eq!(b.text_of("h1").await, "Có lỗi xảy ra");
    assert!(b.text_of(".error-message").await.contains("Không tìm thấy"));
    b.assert_accessible("not-found-vi").await;
    b.finish().await;
}

#[actix_web::test]
async fn the_english_link_switches_the_language_and_english_pages_pass_wcag() {
    let Some(b) = Browser::start(
        "the_english_link_switches_the_language_and_english_pages_pass_wcag",
        "vi",
    )
    .await
    else {
        return;
    };
    b.goto("/").await;
    assert_eq!(b.html_lang().await, "vi");
    b.click_and_wait(".lang-switch a[hreflang=en]").await;
    assert_eq!(
        b.path().await,
        "/",
        "the switch returns to the page it was used on"
    );
    assert_eq!(b.html_lang().await, "en");
    assert!(b.text_of("h1").await.contains("your personal data store"));
    assert_eq!(b.text_of(".lang-switch [aria-current]").await, "English");
    for path in PUBLIC_PAGES {
        b.goto(path).await;
        assert_eq!(
            b.html_lang().await,
            "en",
            "{path}: the choice is remembered"
        );
        b.assert_accessible(&format!("{}-en", page_name(path)))
            .await;
    }

    b.goto(MISSING).await;
    assert_eq!(b.html_lang().await, "en");
    assert_eq!(b.text_of("h1").await, "Something went wrong");
    assert!(b.text_of(".error-message").await.contains("not found"));
    b.assert_accessible("not-found-en").await;

    // And back to Vietnamese from the error page, which leads home (it does not echo the path).
    b.click_and_wait(".lang-switch a[hreflang=vi]").await;
    assert_eq!(b.path().await, "/");
    assert_eq!(b.html_lang().await, "vi");
    assert!(b.text_of("h1").await.contains("kho dữ liệu số cá nhân"));
    b.finish().await;
}

/// The checks are not vacuous: with the page's Content-Security-Policy in force (inline script
/// blocked), axe-core still runs and reports an unlabelled input, the assertion fails on it,
/// and the width check sees a page wider than the phone.
#[actix_web::test]
async fn the_checks_catch_an_unlabelled_input_and_a_too_wide_page_under_the_pages_csp() {
    let Some(b) = Browser::start(
        "the_checks_catch_an_unlabelled_input_and_a_too_wide_page_under_the_pages_csp",
        "en",
    )
    .await
    else {
        return;
    };
    b.goto("/login").await;
    assert_no_violations("login-en", &b.axe_violations().await);

    // The app's CSP is enforced in this browser: an inline script does not run.
    let ran = b
        .eval(
            "window.__cspViolations = [];
             document.addEventListener('securitypolicyviolation',
                 e => window.__cspViolations.push(e.effectiveDirective));
             window.__inlineRan = false;
             const s = document.createElement('script');
             s.textContent = 'window.__inlineRan = true;';
             document.body.appendChild(s);
             return window.__inlineRan;",
            vec![],
        )
        .await;
    assert_eq!(ran, json!(false), "the page's CSP must block inline script");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = b.eval("return window.__cspViolations;", vec![]).await;
        if seen.as_array().is_some_and(|v| !v.is_empty()) {
            assert!(seen.to_string().contains("script-src"), "{seen}");
            break;
        }
        assert!(Instant::now() < deadline, "no CSP violation reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An input nobody labelled.
    b.eval(
        "const i = document.createElement('input');
         i.type = 'text'; i.id = 'cds-unlabelled';
         document.querySelector('main').appendChild(i);",
        vec![],
    )
    .await;
    let violations = b.axe_violations().await;
    let label = violations
        .iter()
        .find(|v| v["id"] == "label")
        .unwrap_or_else(|| panic!("axe must report the unlabelled input: {violations:?}"));
    assert!(label["nodes"].to_string().contains("#cds-unlabelled"));
    assert!(
        label["tags"].as_array().is_some_and(|tags| tags
            .iter()
            .any(|t| WCAG_21_AA.contains(&t.as_str().unwrap_or("")))),
        "{label}"
    );
    let report = check_no_violations("tampered", &violations).expect_err("the check must fail");
    assert!(
        report.contains("- label (critical)") && report.contains("#cds-unlabelled"),
        "{report}"
    );

    // Something wider than the phone (sized through the DOM: the CSP forbids inline styles).
    b.eval(
        "const d = document.createElement('div');
         d.style.width = '600px'; d.style.height = '1px';
         document.querySelector('main').appendChild(d);",
        vec![],
    )
    .await;
    let widths = page_widths(&b.client).await;
    check_fits_phone("too-wide", &widths).expect_err("the width check must fail");
    b.finish().await;
}

/// A test that panics half-way leaves no Chromium, chromedriver or app server behind.
#[actix_web::test]
async fn chromium_chromedriver_and_the_server_stop_when_a_test_panics() {
    let mut seen = None;
    let outcome = std::panic::AssertUnwindSafe(async {
        let Some(b) = Browser::start(
            "chromium_chromedriver_and_the_server_stop_when_a_test_panics",
            "vi",
        )
        .await
        else {
            return;
        };
        b.goto("/").await;
        let profile = b.driver.profile().display().to_string();
        assert!(
            !processes_mentioning(&profile).is_empty(),
            "Chromium runs with its own profile"
        );
        seen = Some((profile, b.driver.pid(), b.server.addr));
        panic!("deliberate panic with the browser open (expected)");
    })
    .catch_unwind()
    .await;
    let Some((profile, driver, addr)) = seen else {
        return; // skipped
    };
    assert!(outcome.is_err());
    assert_eq!(
        processes_mentioning(&profile),
        Vec::<u32>::new(),
        "Chromium processes outlived the test"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{driver}")).exists(),
        "chromedriver outlived the test"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the app server still listens on {addr}"
    );
}
