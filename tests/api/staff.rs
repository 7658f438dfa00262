//! Staff and operators: bootstrap, agencies, agency admins, counter staff, and each role kept out
//! of the others' routes.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::service;
use congdanso::auth::Role;
use congdanso::startup::app;

use crate::accounts::{PASSWORD, code_for, register_citizen};
use crate::helpers::{Client, TestApp, spawn_app};

/// Logs a staff-side account in for the first time: initial password, TOTP enrolment.
pub async fn first_staff_login<S, B>(
    client: &mut Client<S>,
    t: &TestApp,
    login: &str,
    password: &str,
) where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    client.get("/staff/login").await;
    let reply = client
        .post("/staff/login", &[("login", login), ("password", password)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(
        reply.location(),
        "/enroll",
        "first login goes to TOTP enrolment"
    );
    let code = code_for(t, login, 0).await;
    let reply = client.post("/enroll", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Confirms a fresh TOTP code (step-up), as operators and agency admins must before they change
/// keys, credentials or accounts.
pub async fn step_up<S, B>(client: &mut Client<S>, t: &TestApp, login: &str)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let code = code_for(t, login, 1).await;
    let reply = client.post("/step-up", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

pub fn initial_password_in(html: &str) -> String {
    html.split(r#"<code id="initial-password">"#)
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("initial password shown")
        .replace("&#x2d;", "-")
        .replace("&#45;", "-")
}

#[actix_web::test]
async fn operator_agency_admin_and_counter_staff_each_do_their_part() {
    let t = spawn_app().await;
    let (_, initial) =
        service::create_staff_account(&t.state, Role::Operator, "van.hanh", "Trần Văn Hành", None)
            .await
            .unwrap();

    // The operator registers an agency and its admin.
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut operator, &t, "van.hanh", &initial).await;
    step_up(&mut operator, &t, "van.hanh").await;
    assert_eq!(operator.get("/admin").await.status, StatusCode::OK);
    let reply = operator
        .post(
            "/admin/agencies",
            &[
                ("code", "UBND-HAICHAU"),
                ("name", "UBND quận Hải Châu"),
                ("kind", "district"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let agency_path = reply.location().to_owned();
    let dup = operator
        .post(
            "/admin/agencies",
            &[
                ("code", "UBND-HAICHAU"),
                ("name", "Trùng mã"),
                ("kind", "district"),
            ],
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = operator
        .post(
            &format!("{agency_path}/admins"),
            &[("login", "admin.haichau"), ("full_name", "Lê Thị Quản")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let admin_password = initial_password_in(&reply.body);

    // The agency admin adds a counter clerk to their own agency.
    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut admin, &t, "admin.haichau", &admin_password).await;
    step_up(&mut admin, &t, "admin.haichau").await;
    let page = admin.get("/agency").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("UBND quận Hải Châu"));
    let reply = admin
        .post(
            "/agency/staff",
            &[
                ("login", "motcua.01"),
                ("full_name", "Phạm Văn Cửa"),
                ("role", "counter_staff"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let clerk_password = initial_password_in(&reply.body);
    // A user name that looks like a national ID is refused.
    let reply = admin
        .post(
            "/agency/staff",
            &[
                ("login", "079090001234"),
                ("full_name", "Số Thuần"),
                ("role", "counter_staff"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut clerk, &t, "motcua.01", &clerk_password).await;
    let home = clerk.get("/staff").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("UBND-HAICHAU"));

    // Each role is kept out of the others' pages (answered like a missing page).
    for path in ["/admin", "/agency"] {
        assert_eq!(
            clerk.get(path).await.status,
            StatusCode::NOT_FOUND,
            "clerk → {path}"
        );
    }
    assert_eq!(admin.get("/admin").await.status, StatusCode::NOT_FOUND);
    let reply = clerk
        .post(
            "/agency/staff",
            &[
                ("login", "sneaky"),
                ("full_name", "Kẻ Lạ"),
                ("role", "agency_admin"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = admin
        .post(
            "/admin/agencies",
            &[("code", "X-AGENCY"), ("name", "Khác"), ("kind", "other")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(operator.get("/staff").await.status, StatusCode::NOT_FOUND);

    // Staff cannot log in on the citizens' page, nor citizens on the staff page.
    let mut stranger = Client::new(test::init_service(app(t.state.clone())).await);
    stranger.get("/login").await;
    let reply = stranger
        .post(
            "/login",
            &[("login", "motcua.01"), ("password", &clerk_password)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn citizens_are_kept_out_of_staff_pages_and_strangers_are_sent_to_log_in() {
    let t = spawn_app().await;
    let mut citizen = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut citizen, &t, "079090001234").await;
    for path in ["/staff", "/agency", "/admin"] {
        assert_eq!(
            citizen.get(path).await.status,
            StatusCode::NOT_FOUND,
            "citizen → {path}"
        );
    }
    let reply = citizen
        .post(
            "/admin/agencies",
            &[("code", "HACK"), ("name", "Hack"), ("kind", "other")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    let mut citizen_on_staff_login = Client::new(test::init_service(app(t.state.clone())).await);
    citizen_on_staff_login.get("/staff/login").await;
    let reply = citizen_on_staff_login
        .post(
            "/staff/login",
            &[("login", "079090001234"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut stranger = Client::new(test::init_service(app(t.state.clone())).await);
    for (path, login) in [
        ("/account", "/login?next=%2Faccount"),
        ("/staff", "/staff/login?next=%2Fstaff"),
        ("/agency", "/staff/login?next=%2Fagency"),
        ("/admin", "/staff/login?next=%2Fadmin"),
        ("/enroll", "/login?next=%2Fenroll"),
    ] {
        let reply = stranger.get(path).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.location(), login, "{path}");
    }
}

#[actix_web::test]
async fn pages_work_in_vietnamese_and_english() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    let page = client.get("/register").await;
    assert!(page.body.contains(r#"<html lang="vi">"#));
    assert!(page.body.contains("Số căn cước công dân"));
    client.lang = Some("en");
    let page = client.get("/register").await;
    assert!(page.body.contains(r#"<html lang="en">"#));
    assert!(page.body.contains("National ID number"));
    let page = client.get("/staff/login").await;
    assert!(page.body.contains("Staff log-in"));
}

#[actix_web::test]
async fn demo_data_is_seeded_once_and_its_accounts_work() {
    let t = spawn_app().await;
    let first = congdanso::demo::seed(&t.state).await.unwrap();
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|a| a.created));
    let again = congdanso::demo::seed(&t.state).await.unwrap();
    assert!(again.iter().all(|a| !a.created), "idempotent");

    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut clerk, &t, "demo.clerk", congdanso::demo::DEMO_PASSWORD).await;
    assert_eq!(clerk.get("/staff").await.status, StatusCode::OK);
    let mut citizen = Client::new(test::init_service(app(t.state.clone())).await);
    citizen.get("/login").await;
    let reply = citizen
        .post(
            "/login",
            &[
                ("login", congdanso::demo::DEMO_CITIZEN_ID),
                ("password", congdanso::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.location(), "/enroll");
}

#[actix_web::test]
async fn demo_data_is_refused_in_production() {
    let t = crate::helpers::spawn_app_with(&[
        ("APP_ENV", "production"),
        ("PUBLIC_URL", "https://congdanso.example"),
        ("METRICS_TOKEN", "a-long-enough-metrics-token"),
        ("MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        (
            "SIGNING_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ])
    .await;
    assert!(congdanso::demo::seed(&t.state).await.is_err());
    assert!(
        !congdanso::accounts::repo::login_exists(&t.state.db, "demo.operator")
            .await
            .unwrap()
    );
}
