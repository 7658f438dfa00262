//! Account pages: registration, TOTP enrolment, login, second factor, step-up, the account page.
//! Thin: extract → service → render.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::service::{self, RegistrationInput, STATUS_PENDING_TOTP};
use super::{device, totp};
use crate::auth::csrf::{self, CsrfForm};
use crate::auth::session::{self, ClientInfo, Stage};
use crate::auth::{AnySession, PendingSession};
use crate::error::AppError;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render as html, see_other, with_retry_after};
use crate::state::AppState;

/// Redirects with the cookie of a session just started or promoted.
fn redirect_with_session(state: &AppState, location: &str, token: &str) -> Page {
    let mut response = see_other(location);
    response
        .add_cookie(&session::cookie(token, secure(state)))
        .map_err(AppError::internal)?;
    Ok(response)
}

/// Only local paths are followed after login, so the parameter cannot send people elsewhere
/// (see [`crate::site::safe_next`]).
fn safe_next(next: Option<&str>) -> Option<String> {
    next.and_then(crate::site::safe_next)
}

fn secure(state: &AppState) -> bool {
    state.config.cookies_secure()
}

// ------------------------------------------------------------------ registration

#[derive(Template)]
#[template(path = "accounts/register.html")]
struct RegisterPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
}

pub async fn register_form(req: HttpRequest, lang: Lang) -> Page {
    html(
        StatusCode::OK,
        &RegisterPage {
            lang,
            chrome: Chrome::new(&req, None)?,
            form: FormState::new(),
        },
    )
}

pub async fn register(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    CsrfForm(input): CsrfForm<RegistrationInput>,
) -> Page {
    let kept = FormState::new()
        .with_value("national_id", &input.national_id)
        .with_value("full_name", &input.full_name)
        .with_value("birth_date", &input.birth_date)
        .with_value("phone", &input.phone)
        .with_value("email", &input.email);
    let client = ClientInfo::of(&req);
    match service::register_from(&state, input, client.ip.as_deref()).await {
        Ok(account) => {
            let new = session::start(&state, account.id, Stage::Enrolment, &client).await?;
            csrf::renew(&req)?;
            redirect_with_session(&state, "/enroll", &new.token)
        }
        Err(error) => {
            let mut form = kept.from_error(lang, error)?;
            let retry = form.retry_after();
            if let Some(retry) = retry {
                let minutes = retry.as_secs().div_ceil(60).max(1);
                form.banner = Some(
                    lang.t("field_error.registration_rate_limited")
                        .replace("%{minutes}", &minutes.to_string()),
                );
            }
            let page = html(
                if retry.is_some() {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                },
                &RegisterPage {
                    lang,
                    chrome: Chrome::new(&req, None)?,
                    form,
                },
            );
            with_retry_after(page, retry)
        }
    }
}

// ------------------------------------------------------------------ TOTP enrolment

#[derive(Template)]
#[template(path = "accounts/enroll.html")]
struct EnrollPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    qr_svg: String,
    secret_groups: String,
    otpauth_uri: String,
}

fn enroll_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    pending: &PendingSession,
    form: FormState,
) -> Page {
    let secret = service::totp_secret(state, &pending.account)?;
    let label = service::masked_login(&pending.account);
    let uri = totp::otpauth_uri(&secret, "Công dân số", &label);
    let status = form.status();
    html(
        status,
        &EnrollPage {
            lang,
            chrome: Chrome::new(req, None)?,
            form,
            qr_svg: totp::qr_svg(&uri, &lang.t("enroll.qr_title")).map_err(AppError::internal)?,
            secret_groups: secret.display_groups(),
            otpauth_uri: uri,
        },
    )
}

fn require_stage(pending: &PendingSession, stage: Stage) -> Result<(), AppError> {
    if pending.stage == stage {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn enroll_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    pending: PendingSession,
) -> Page {
    require_stage(&pending, Stage::Enrolment)?;
    enroll_page(&req, lang, &state, &pending, FormState::new())
}

#[derive(Deserialize)]
pub struct CodeInput {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/recovery_codes.html")]
struct RecoveryCodesPage {
    lang: Lang,
    chrome: Chrome,
    codes: Vec<String>,
    continue_to: String,
}

pub async fn enroll(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    pending: PendingSession,
    CsrfForm(input): CsrfForm<CodeInput>,
) -> Page {
    require_stage(&pending, Stage::Enrolment)?;
    let client = ClientInfo::of(&req);
    match service::confirm_enrolment(&state, &pending.account, &input.code, client.ip.as_deref())
        .await
    {
        Ok(codes) => {
            let new = session::promote(&state, &pending.session, Stage::Full, &client).await?;
            // The page below is answered with the new session: its forms belong to it.
            csrf::renew_for_session(&req, &new.token)?;
            let body = RecoveryCodesPage {
                lang,
                chrome: Chrome::new(&req, None)?,
                codes,
                continue_to: pending.role.home().to_owned(),
            }
            .render()
            .map_err(AppError::internal)?;
            let mut response = HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(body);
            response
                .add_cookie(&session::cookie(&new.token, secure(&state)))
                .map_err(AppError::internal)?;
            // Enrolment completes the first login: this browser becomes a known device.
            let known = device::issue(&state, pending.account.id, state.clock.now())?;
            response
                .add_cookie(&device::cookie(known, secure(&state)))
                .map_err(AppError::internal)?;
            Ok(response)
        }
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            enroll_page(&req, lang, &state, &pending, form)
        }
    }
}

// ------------------------------------------------------------------ login

#[derive(Template)]
#[template(path = "accounts/login.html")]
struct LoginPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    staff: bool,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(req: &HttpRequest, lang: Lang, form: FormState, staff: bool, next: String) -> Page {
    let status = if form
        .banner
        .as_deref()
        .is_some_and(|_| form.value("rate_limited") == "1")
    {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        form.status()
    };
    let retry_after = form.retry_after();
    with_retry_after(
        html(
            status,
            &LoginPage {
                lang,
                chrome: Chrome::new(req, None)?,
                form,
                staff,
                next,
            },
        ),
        retry_after,
    )
}

pub async fn login_form(req: HttpRequest, lang: Lang, query: web::Query<NextQuery>) -> Page {
    let next = safe_next(query.next.as_deref()).unwrap_or_default();
    login_page(&req, lang, FormState::new(), false, next)
}

pub async fn staff_login_form(req: HttpRequest, lang: Lang, query: web::Query<NextQuery>) -> Page {
    let next = safe_next(query.next.as_deref()).unwrap_or_default();
    login_page(&req, lang, FormState::new(), true, next)
}

#[derive(Deserialize)]
pub struct LoginInput {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    next: Option<String>,
}

async fn do_login(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    input: LoginInput,
    staff: bool,
) -> Page {
    let client = ClientInfo::of(&req);
    let next = safe_next(input.next.as_deref()).unwrap_or_default();
    // Case-insensitive: login names are stored lowercase, national IDs are digits.
    let login = service::normalize_login(&input.login.split_whitespace().collect::<String>());
    let device = req.cookie(device::DEVICE_COOKIE);
    match service::check_password_login(
        &state,
        &login,
        input.password,
        staff,
        client.ip.as_deref(),
        device.as_ref().map(|c| c.value()),
    )
    .await
    {
        Ok(account) => {
            let (stage, target) = if account.status == STATUS_PENDING_TOTP {
                (Stage::Enrolment, "/enroll".to_owned())
            } else if next.is_empty() {
                (Stage::SecondFactor, "/login/verify".to_owned())
            } else {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                (Stage::SecondFactor, format!("/login/verify?next={encoded}"))
            };
            let new = session::start(&state, account.id, stage, &client).await?;
            csrf::renew(&req)?;
            redirect_with_session(&state, &target, &new.token)
        }
        Err(error) => {
            let mut form = FormState::new()
                .with_value("login", &login)
                .from_error(lang, error)?;
            if form.retry_after().is_some() {
                form = form.with_value("rate_limited", "1");
            }
            login_page(&req, lang, form, staff, next)
        }
    }
}

pub async fn login(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    CsrfForm(input): CsrfForm<LoginInput>,
) -> Page {
    do_login(req, lang, state, input, false).await
}

pub async fn staff_login(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    CsrfForm(input): CsrfForm<LoginInput>,
) -> Page {
    do_login(req, lang, state, input, true).await
}

#[derive(Template)]
#[template(path = "accounts/verify.html")]
struct VerifyPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    action: String,
    heading_key: String,
    next: String,
}

pub async fn verify_form(
    req: HttpRequest,
    lang: Lang,
    pending: PendingSession,
    query: web::Query<NextQuery>,
) -> Page {
    if pending.stage == Stage::Enrolment {
        return Ok(see_other("/enroll"));
    }
    html(
        StatusCode::OK,
        &VerifyPage {
            lang,
            chrome: Chrome::new(&req, None)?,
            form: FormState::new(),
            action: "/login/verify".to_owned(),
            heading_key: "verify.title".to_owned(),
            next: safe_next(query.next.as_deref()).unwrap_or_default(),
        },
    )
}

pub async fn verify(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    pending: PendingSession,
    CsrfForm(input): CsrfForm<CodeInput>,
) -> Page {
    require_stage(&pending, Stage::SecondFactor)?;
    let client = ClientInfo::of(&req);
    let next = safe_next(input.next.as_deref());
    let known = req.cookie(device::DEVICE_COOKIE);
    let address = service::second_factor_address(
        &state,
        pending.account.id,
        client.ip.as_deref(),
        known.as_ref().map(|c| c.value()),
    );
    match service::verify_second_factor(
        &state,
        &pending.account,
        &input.code,
        service::Accept::TotpOrRecoveryCode,
        address,
    )
    .await
    {
        Ok(_) => {
            let known_device = known.as_ref().is_some_and(|c| {
                device::is_known(&state, c.value(), pending.account.id, state.clock.now())
            });
            let new =
                service::complete_login(&state, &pending.session, &client, known_device).await?;
            csrf::renew(&req)?;
            let target = next.unwrap_or_else(|| pending.role.home().to_owned());
            // This browser has now logged in to the account: it becomes a known device.
            let known = device::issue(&state, pending.account.id, state.clock.now())?;
            let mut response = redirect_with_session(&state, &target, &new.token)?;
            response
                .add_cookie(&device::cookie(known, secure(&state)))
                .map_err(AppError::internal)?;
            Ok(response)
        }
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            let retry_after = form.retry_after();
            let limited = retry_after.is_some();
            let page = VerifyPage {
                lang,
                chrome: Chrome::new(&req, None)?,
                form,
                action: "/login/verify".to_owned(),
                heading_key: "verify.title".to_owned(),
                next: next.unwrap_or_default(),
            };
            with_retry_after(
                html(
                    if limited {
                        StatusCode::TOO_MANY_REQUESTS
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    },
                    &page,
                ),
                retry_after,
            )
        }
    }
}

/// Ends the current session (at any stage) and forgets the cookie.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    if let Some(cookie) = req.cookie(session::SESSION_COOKIE)
        && let Some(row) = session::load(&state, cookie.value()).await?
    {
        service::log_out(&state, &row).await?;
    }
    let mut response = see_other("/");
    response
        .add_cookie(&session::removal_cookie(secure(&state)))
        .map_err(AppError::internal)?;
    Ok(response)
}

// ------------------------------------------------------------------ step-up

pub async fn step_up_form(
    req: HttpRequest,
    lang: Lang,
    current: AnySession,
    query: web::Query<NextQuery>,
) -> Page {
    html(
        StatusCode::OK,
        &VerifyPage {
            lang,
            chrome: Chrome::new(&req, Some(&current.0))?,
            form: FormState::new(),
            action: "/step-up".to_owned(),
            heading_key: "step_up.title".to_owned(),
            next: safe_next(query.next.as_deref()).unwrap_or_else(|| "/account".to_owned()),
        },
    )
}

pub async fn step_up(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
    CsrfForm(input): CsrfForm<CodeInput>,
) -> Page {
    let client = ClientInfo::of(&req);
    let next = safe_next(input.next.as_deref()).unwrap_or_else(|| "/account".to_owned());
    // Only a TOTP code unlocks sensitive actions; a recovery code is for getting in (the form
    // says so, and a recovery code typed here is told so, not "wrong or expired").
    let outcome = service::verify_second_factor(
        &state,
        &current.account,
        &input.code,
        service::Accept::TotpOnly,
        client.ip.as_deref(),
    )
    .await;
    match outcome {
        Ok(_) => {
            session::grant_step_up(&state, &current.session).await?;
            Ok(see_other(&next))
        }
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            let retry_after = form.retry_after();
            let status = if retry_after.is_some() {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            with_retry_after(
                html(
                    status,
                    &VerifyPage {
                        lang,
                        chrome: Chrome::new(&req, Some(&current.0))?,
                        form,
                        action: "/step-up".to_owned(),
                        heading_key: "step_up.title".to_owned(),
                        next,
                    },
                ),
                retry_after,
            )
        }
    }
}

// ------------------------------------------------------------------ account page

/// One session in the list.
pub struct SessionView {
    pub id: String,
    pub started: String,
    pub last_seen: String,
    pub device: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "accounts/account.html")]
struct AccountPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    full_name: String,
    masked_login: String,
    role_key: &'static str,
    sessions: Vec<SessionView>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

async fn account_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    current: &AnySession,
    form: FormState,
    notice: Option<String>,
) -> Page {
    let now = state.clock.now();
    let sessions = crate::auth::repo::live_for_account(&state.db, current.account.id, now)
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id.to_string(),
            started: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_seen: s.last_seen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            device: s.user_agent.clone().unwrap_or_default(),
            current: s.id == current.session.id,
        })
        .collect();
    let profile = service::profile(state, &current.account)?;
    let status = form.status();
    html(
        status,
        &AccountPage {
            lang,
            chrome: Chrome::new(req, Some(&current.0))?,
            form,
            full_name: profile.map(|p| p.full_name).unwrap_or_default(),
            masked_login: service::masked_login(&current.account),
            role_key: current.role.label_key(),
            sessions,
            notice,
        },
    )
}

pub async fn account(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
    query: web::Query<NoticeQuery>,
) -> Page {
    let notice = match query.done.as_deref() {
        Some("password") => Some(lang.t("account.password_changed").into_owned()),
        Some("sessions") => Some(lang.t("account.sessions_ended").into_owned()),
        Some("authenticator") => Some(lang.t("account.authenticator_changed").into_owned()),
        _ => None,
    };
    account_page(&req, lang, &state, &current, FormState::new(), notice).await
}

#[derive(Deserialize)]
pub struct PasswordInput {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    password_confirm: Zeroizing<String>,
}

pub async fn change_password(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
    CsrfForm(input): CsrfForm<PasswordInput>,
) -> Page {
    let client = ClientInfo::of(&req);
    match service::change_password(
        &state,
        &current.account,
        current.session.id,
        &input.code,
        input.password,
        input.password_confirm,
        client.ip.as_deref(),
    )
    .await
    {
        Ok(()) => Ok(see_other("/account?done=password")),
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            account_page(&req, lang, &state, &current, form, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/recovery_confirm.html")]
struct RecoveryConfirmPage {
    lang: Lang,
    chrome: Chrome,
}

pub async fn recovery_codes_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
) -> Page {
    if let Some(redirect) =
        session::step_up_redirect(&state, &current.session, "/account/recovery-codes")
    {
        return Ok(redirect);
    }
    html(
        StatusCode::OK,
        &RecoveryConfirmPage {
            lang,
            chrome: Chrome::new(&req, Some(&current.0))?,
        },
    )
}

pub async fn new_recovery_codes(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    if let Some(redirect) =
        session::step_up_redirect(&state, &current.session, "/account/recovery-codes")
    {
        return Ok(redirect);
    }
    let codes = service::new_recovery_codes(&state, current.account.id).await?;
    html(
        StatusCode::OK,
        &RecoveryCodesPage {
            lang,
            chrome: Chrome::new(&req, Some(&current.0))?,
            codes,
            continue_to: "/account".to_owned(),
        },
    )
}

// ------------------------------------------------------------------ change authenticator

#[derive(Template)]
#[template(path = "accounts/authenticator.html")]
struct AuthenticatorPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    qr_svg: String,
    secret_groups: String,
    otpauth_uri: String,
    offer: String,
}

fn authenticator_page(
    req: &HttpRequest,
    lang: Lang,
    current: &AnySession,
    secret: &totp::TotpSecret,
    offer: String,
    form: FormState,
) -> Page {
    let label = service::masked_login(&current.account);
    let uri = totp::otpauth_uri(secret, "Công dân số", &label);
    let status = form.status();
    html(
        status,
        &AuthenticatorPage {
            lang,
            chrome: Chrome::new(req, Some(&current.0))?,
            form,
            qr_svg: totp::qr_svg(&uri, &lang.t("enroll.qr_title")).map_err(AppError::internal)?,
            secret_groups: secret.display_groups(),
            otpauth_uri: uri,
            offer,
        },
    )
}

/// A new secret to add to the new app (nothing changes until its first code is confirmed).
pub async fn authenticator_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
) -> Page {
    if let Some(redirect) =
        session::step_up_redirect(&state, &current.session, "/account/authenticator")
    {
        return Ok(redirect);
    }
    let (secret, offer) =
        service::offer_authenticator(&state, &current.account, current.session.id)?;
    authenticator_page(&req, lang, &current, &secret, offer, FormState::new())
}

#[derive(Deserialize)]
pub struct AuthenticatorInput {
    #[serde(default)]
    code: String,
    #[serde(default)]
    offer: String,
}

pub async fn change_authenticator(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    current: AnySession,
    CsrfForm(input): CsrfForm<AuthenticatorInput>,
) -> Page {
    if let Some(redirect) =
        session::step_up_redirect(&state, &current.session, "/account/authenticator")
    {
        return Ok(redirect);
    }
    let client = ClientInfo::of(&req);
    match service::change_authenticator(
        &state,
        &current.account,
        current.session.id,
        &input.offer,
        &input.code,
        client.ip.as_deref(),
    )
    .await
    {
        Ok(()) => Ok(see_other("/account?done=authenticator")),
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            let retry_after = form.retry_after();
            // The same secret again: the person may have added it to the app already.
            let secret = service::open_authenticator_offer(
                &state,
                &current.account,
                current.session.id,
                &input.offer,
            )?;
            let page = authenticator_page(&req, lang, &current, &secret, input.offer, form);
            with_retry_after(page, retry_after)
        }
    }
}

pub async fn end_session(
    state: web::Data<AppState>,
    current: AnySession,
    path: web::Path<uuid::Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    service::end_session(&state, current.account.id, path.into_inner()).await?;
    Ok(see_other("/account?done=sessions"))
}

/// Log out everywhere, this device included.
pub async fn end_all_sessions(
    state: web::Data<AppState>,
    current: AnySession,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    service::end_all_sessions(&state, current.account.id).await?;
    let mut response = see_other("/");
    response
        .add_cookie(&session::removal_cookie(secure(&state)))
        .map_err(AppError::internal)?;
    Ok(response)
}
