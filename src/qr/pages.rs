//! QR pages: the citizen's code (on the home page, refreshed by a plain link or by
//! `web/static/qr.js` from `GET /qr/token.json`), and the staff scan page `/staff/scan`
//! ("Quét mã"): paste the text, upload a photo decoded on the server, or — where the browser
//! has `BarcodeDetector` — the live camera filling the paste field.

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use entity::account;
use futures_util::StreamExt;
use serde::Deserialize;

use super::render;
use super::service::{self, Failure, Verified};
use crate::auth::csrf::{self, CsrfForm};
use crate::auth::{CitizenSession, StaffSession};
use crate::counter::pages::OpenForm;
use crate::counter::service::{Desk, Origin};
use crate::error::AppError;
use crate::forms::FormState;
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render as render_page};
use crate::state::AppState;

/// Most bytes of a photo the scan page accepts.
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;

/// Vietnam time (UTC+7), as the pages state times.
fn local(at: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
    at.with_timezone(&crate::audit::plain::vietnam())
}

/// A moment as the staff pages state it: Vietnam time to the second.
fn local_seconds(at: DateTime<Utc>) -> String {
    local(at).format("%H:%M:%S %d/%m/%Y").to_string()
}

/// The citizen's code as the home page shows it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub svg: String,
    pub text: String,
    /// "14:02:30" in Vietnam time.
    pub expires_local: String,
    pub expires_at: String,
    pub ttl_seconds: u64,
}

impl Shown {
    pub async fn fresh(
        state: &AppState,
        lang: Lang,
        account: &account::Model,
    ) -> Result<Self, AppError> {
        let issued = service::issue(state, account).await?;
        let svg = render::svg(&issued.text, &lang.t("qr.image_label"))
            .ok_or_else(|| AppError::internal("QR token too long for a QR code"))?;
        Ok(Self {
            svg,
            text: issued.text,
            expires_local: local(issued.expires_at).format("%H:%M:%S").to_string(),
            expires_at: issued.expires_at.to_rfc3339(),
            ttl_seconds: state.config.qr_ttl.as_secs(),
        })
    }
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `GET /qr/token.json`: a fresh token for the script that refreshes the home page's code.
pub async fn token_json(
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Result<HttpResponse, AppError> {
    state
        .qr_tokens
        .take(
            citizen.account.id,
            state.clock.now(),
            state.config.qr_tokens_per_minute,
        )
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    let shown = Shown::fresh(&state, lang, &citizen.account).await?;
    Ok(no_store(HttpResponse::Ok().json(serde_json::json!({
        "token": shown.text,
        "svg": shown.svg,
        "expires_at": shown.expires_at,
        "expires_local": shown.expires_local,
        "ttl_seconds": shown.ttl_seconds,
    }))))
}

/// `GET /qr`: the plain refresh (no script): back to the home page with a new code.
pub async fn refresh(_citizen: CitizenSession) -> HttpResponse {
    crate::site::see_other("/#qr")
}

#[derive(Template)]
#[template(path = "qr/card.html")]
struct CardPage {
    lang: Lang,
    chrome: Chrome,
    card: Option<CardView>,
    /// A one-time code just made: shown this once.
    code: Option<String>,
    /// The "report lost" confirmation step.
    confirm_revoke: bool,
}

struct CardView {
    svg: String,
    text: String,
    full_name: String,
    expires_local: String,
    status_index: i64,
}

async fn card_view(
    state: &AppState,
    lang: Lang,
    account: &account::Model,
) -> Result<Option<CardView>, AppError> {
    let Some(card) = service::current_card(state, account).await? else {
        return Ok(None);
    };
    let text = service::card_text(state, account, &card).await?;
    let svg = render::svg(&text, &lang.t("qr.card_image_label"))
        .ok_or_else(|| AppError::internal("QR card too long for a QR code"))?;
    // The owner's own name, through the door like every read of the profile.
    let full_name = crate::access::door::profile(state, &crate::access::Reader::Owner(account))
        .await?
        .full_name
        .unwrap_or_default();
    Ok(Some(CardView {
        svg,
        text,
        full_name,
        expires_local: local(card.expires_at).format("%d/%m/%Y").to_string(),
        status_index: card.status_index,
    }))
}

async fn card_render(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    citizen: &CitizenSession,
    code: Option<String>,
    confirm_revoke: bool,
) -> Page {
    let card = card_view(state, lang, &citizen.account).await?;
    render_page(
        StatusCode::OK,
        &CardPage {
            lang,
            chrome: Chrome::new(req, Some(&citizen.0))?,
            card,
            code,
            confirm_revoke,
        },
    )
    .map(no_store)
}

/// `GET /qr/card`: the citizen's printable card ("Thẻ QR in"), or the form to issue one.
pub async fn card_page(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Page {
    card_render(&req, lang, &state, &citizen, None, false).await
}

/// `POST /qr/card` (needs the step-up): issues a card unless one is in use.
pub async fn card_issue(
    state: web::Data<AppState>,
    citizen: CitizenSession,
    CsrfForm(_): CsrfForm<crate::forms::Empty>,
) -> Page {
    if let Some(step_up) =
        crate::auth::session::step_up_redirect(&state, &citizen.session, "/qr/card")
    {
        return Ok(step_up);
    }
    if service::current_card(&state, &citizen.account)
        .await?
        .is_none()
    {
        service::issue_card(&state, &citizen.account).await?;
    }
    Ok(crate::site::see_other("/qr/card"))
}

/// `POST /qr/card/code`: a fresh one-time code, shown once on this answer (never stored in
/// clear; a new one replaces the old).
pub async fn card_code(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    CsrfForm(_): CsrfForm<crate::forms::Empty>,
) -> Page {
    let (_, code) = service::new_code(&state, &citizen.account).await?;
    card_render(&req, lang, &state, &citizen, Some(code), false).await
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /qr/card/revoke` (needs the step-up): without `confirm=yes`, the confirmation that the
/// card stops working at once; with it, the card is revoked.
pub async fn card_revoke(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    CsrfForm(form): CsrfForm<RevokeForm>,
) -> Page {
    if let Some(step_up) =
        crate::auth::session::step_up_redirect(&state, &citizen.session, "/qr/card")
    {
        return Ok(step_up);
    }
    if form.confirm.as_deref() != Some("yes") {
        return card_render(&req, lang, &state, &citizen, None, true).await;
    }
    service::revoke_own_card(&state, &citizen.account).await?;
    Ok(crate::site::see_other("/qr/card"))
}

/// `GET /.well-known/congdanso/qr/status`: the signed revocation status list of printed cards
/// (for offline verifiers; the counter reads the database).
pub async fn status_list(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let revoked = super::repo::revoked_indexes(&state.db).await?;
    let indexes: Vec<u32> = revoked
        .into_iter()
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    let signing = &state.keys.signing;
    let document = super::status::document(
        signing.signing_key(),
        signing.id(),
        state.clock.now(),
        &indexes,
    )
    .map_err(AppError::internal)?;
    let mut response = HttpResponse::Ok().json(document);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_str(&format!(
            "public, max-age={}",
            super::status::MAX_AGE_SECONDS
        ))
        .map_err(AppError::internal)?,
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CardCodeForm {
    token: String,
    code: String,
}

/// `POST /staff/scan/card`: a printed card's text and the one-time code the citizen says.
pub async fn scan_card(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    CsrfForm(form): CsrfForm<CardCodeForm>,
) -> Page {
    result(&req, lang, &state, &staff, &form.token, Some(&form.code)).await
}

#[derive(Template)]
#[template(path = "staff/scan.html")]
struct ScanPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    script_href: &'static str,
    max_photo_mb: usize,
}

/// `GET /staff/scan`: the scan form.
pub async fn scan_form(req: HttpRequest, lang: Lang, staff: StaffSession) -> Page {
    scan_page(&req, lang, &staff, FormState::new(), StatusCode::OK)
}

fn scan_page(
    req: &HttpRequest,
    lang: Lang,
    staff: &StaffSession,
    form: FormState,
    status: StatusCode,
) -> Page {
    render_page(
        status,
        &ScanPage {
            lang,
            chrome: Chrome::new(req, Some(&staff.0))?,
            form,
            script_href: crate::site::qr_script_href(),
            max_photo_mb: MAX_PHOTO_BYTES / (1024 * 1024),
        },
    )
    .map(no_store)
}

#[derive(Template)]
#[template(path = "staff/scan_result.html")]
struct ResultPage {
    lang: Lang,
    chrome: Chrome,
    verified: Option<VerifiedView>,
    failure_code: String,
    failure_message: String,
    counter: Option<OpenForm>,
    /// A printed card checked so far: the form asking for the citizen's one-time code, carrying
    /// the card's text.
    card_token: Option<String>,
    /// On the code step: what asking for the code by SMS came to (a status, or a problem).
    sms_notice: Option<Notice>,
    form: FormState,
}

/// A line shown above a form: `alert` for a problem, else a status.
struct Notice {
    text: String,
    alert: bool,
}

struct VerifiedView {
    full_name: String,
    birth_date: String,
    masked_national_id: String,
    verified_local: String,
}

impl VerifiedView {
    fn of(lang: Lang, v: &Verified) -> Self {
        Self {
            full_name: v.full_name.clone().unwrap_or_else(|| "—".to_owned()),
            birth_date: v
                .birth_date
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_else(|| lang.t("qr.birth_date_unknown").into_owned()),
            masked_national_id: v.masked_national_id.clone(),
            verified_local: local_seconds(v.scan.verified_at),
        }
    }
}

#[derive(Deserialize)]
pub struct ScanInput {
    #[serde(default)]
    token: String,
}

/// `POST /staff/scan`: verifies the pasted (or camera-filled) token text.
pub async fn scan(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    CsrfForm(input): CsrfForm<ScanInput>,
) -> Page {
    if input.token.trim().is_empty() {
        let form =
            FormState::new().from_error(lang, AppError::field("token", "qr_token_required"))?;
        return scan_page(&req, lang, &staff, form, StatusCode::UNPROCESSABLE_ENTITY);
    }
    result(&req, lang, &state, &staff, &input.token, None).await
}

/// `POST /staff/scan/photo`: a multipart form (`csrf_token`, then `photo`), the photo decoded
/// on the server; its text then verified like a pasted one.
pub async fn scan_photo(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    mut payload: Multipart,
) -> Page {
    let mut token = String::new();
    let mut photo: Option<Vec<u8>> = None;
    while let Some(part) = payload.next().await {
        let mut field = part.map_err(|e| AppError::invalid("malformed_form", e.to_string()))?;
        let name = field.name().unwrap_or_default().to_owned();
        let limit = if name == "photo" {
            MAX_PHOTO_BYTES
        } else {
            1024
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| AppError::invalid("malformed_form", e.to_string()))?;
            if bytes.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => token = String::from_utf8(bytes).unwrap_or_default(),
            "photo" => photo = Some(bytes),
            _ => {}
        }
    }
    if !csrf::verify(&req, &token) {
        return Err(AppError::CsrfRejected);
    }
    let photo = photo.filter(|p| !p.is_empty());
    let Some(photo) = photo else {
        let form =
            FormState::new().from_error(lang, AppError::field("photo", "qr_photo_required"))?;
        return scan_page(&req, lang, &staff, form, StatusCode::UNPROCESSABLE_ENTITY);
    };
    // Decoding is CPU work: off the async threads.
    let text = web::block(move || render::decode_photo(&photo))
        .await
        .map_err(AppError::internal)?;
    let Some(text) = text else {
        let form =
            FormState::new().from_error(lang, AppError::field("photo", "qr_photo_unreadable"))?;
        return scan_page(&req, lang, &staff, form, StatusCode::UNPROCESSABLE_ENTITY);
    };
    result(&req, lang, &state, &staff, &text, None).await
}

async fn result(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    staff: &StaffSession,
    text: &str,
    code: Option<&str>,
) -> Page {
    let desk = Desk::of(state, staff).await?;
    let outcome = service::verify_with_code(state, desk.clerk, desk.agency.id, text, code).await?;
    let (status, page) = match outcome {
        Ok(verified) => {
            let counter = OpenForm::new(
                state,
                lang,
                desk.agency.id,
                Origin::Scan(verified.scan.id),
                FormState::new(),
            )
            .await?;
            (
                StatusCode::OK,
                ResultPage {
                    lang,
                    chrome: Chrome::new(req, Some(&staff.0))?,
                    verified: Some(VerifiedView::of(lang, &verified)),
                    failure_code: String::new(),
                    failure_message: String::new(),
                    counter: Some(counter),
                    card_token: None,
                    sms_notice: None,
                    form: FormState::new(),
                },
            )
        }
        Err(Failure::CodeRequired) => (StatusCode::OK, code_step(req, lang, staff, text, None)?),
        Err(failure) => (
            failure_status(failure),
            failure_page(req, lang, staff, failure)?,
        ),
    };
    render_page(status, &page).map(no_store)
}

/// A refused token: the reason in the staff member's words.
fn failure_page(
    req: &HttpRequest,
    lang: Lang,
    staff: &StaffSession,
    failure: Failure,
) -> Result<ResultPage, AppError> {
    Ok(ResultPage {
        lang,
        chrome: Chrome::new(req, Some(&staff.0))?,
        verified: None,
        failure_code: failure.code().to_owned(),
        failure_message: lang.t(&failure.message_key()).into_owned(),
        counter: None,
        card_token: None,
        sms_notice: None,
        form: FormState::new(),
    })
}

/// The printed card's code step: the form for the code the citizen says, and the button that
/// sends them one by SMS.
fn code_step(
    req: &HttpRequest,
    lang: Lang,
    staff: &StaffSession,
    text: &str,
    sms_notice: Option<Notice>,
) -> Result<ResultPage, AppError> {
    Ok(ResultPage {
        lang,
        chrome: Chrome::new(req, Some(&staff.0))?,
        verified: None,
        failure_code: String::new(),
        failure_message: String::new(),
        counter: None,
        card_token: Some(text.trim().to_owned()),
        sms_notice,
        form: FormState::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct CardSmsForm {
    token: String,
}

/// `POST /staff/scan/card/sms`: sends the card holder a fresh one-time code by SMS, then shows
/// the code step again with what became of it.
pub async fn scan_card_sms(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    CsrfForm(form): CsrfForm<CardSmsForm>,
) -> Page {
    let desk = Desk::of(&state, &staff).await?;
    let outcome =
        service::send_code_by_sms(&state, desk.clerk, desk.agency.id, &form.token).await?;
    let (status, text, alert) = match outcome {
        service::SmsCode::Sent { phone_tail } => (
            StatusCode::OK,
            lang.t("qr.card_sms_sent").replace("%{tail}", &phone_tail),
            false,
        ),
        service::SmsCode::NoPhone => (
            StatusCode::CONFLICT,
            lang.t("qr.card_sms_no_phone").into_owned(),
            true,
        ),
        service::SmsCode::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            lang.t("qr.card_sms_unavailable").into_owned(),
            true,
        ),
        service::SmsCode::TooSoon => (
            StatusCode::TOO_MANY_REQUESTS,
            lang.t("qr.card_sms_too_soon")
                .replace("%{seconds}", &service::SMS_CODE_INTERVAL_SECS.to_string()),
            true,
        ),
        service::SmsCode::Refused(failure) => {
            let page = failure_page(&req, lang, &staff, failure)?;
            return render_page(failure_status(failure), &page).map(no_store);
        }
    };
    let page = code_step(
        &req,
        lang,
        &staff,
        &form.token,
        Some(Notice { text, alert }),
    )?;
    render_page(status, &page).map(no_store)
}

fn failure_status(failure: Failure) -> StatusCode {
    match failure {
        Failure::Malformed => StatusCode::UNPROCESSABLE_ENTITY,
        Failure::AlreadyUsed => StatusCode::CONFLICT,
        Failure::StatusUnknown => StatusCode::SERVICE_UNAVAILABLE,
        Failure::Forged
        | Failure::Expired
        | Failure::Revoked
        | Failure::UnknownHandle
        | Failure::CodeRequired
        | Failure::WrongCode
        | Failure::CodeVoid => StatusCode::FORBIDDEN,
    }
}

#[derive(Template)]
#[template(path = "staff/card_revoke.html")]
struct RevokePage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    /// The card just revoked: the holder's masked number and the time.
    revoked: Option<(String, String)>,
}

fn revoke_page(
    req: &HttpRequest,
    lang: Lang,
    staff: &StaffSession,
    form: FormState,
    revoked: Option<(String, String)>,
    status: StatusCode,
) -> Page {
    render_page(
        status,
        &RevokePage {
            lang,
            chrome: Chrome::new(req, Some(&staff.0))?,
            form,
            revoked,
        },
    )
    .map(no_store)
}

/// `GET /staff/cards/revoke`: revoke a lost printed card for the person at the counter.
pub async fn revoke_form(req: HttpRequest, lang: Lang, staff: StaffSession) -> Page {
    revoke_page(&req, lang, &staff, FormState::new(), None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct InPersonRevokeForm {
    #[serde(default)]
    national_id: String,
    /// The staff member's statement that they checked the person's identity document.
    #[serde(default)]
    checked: Option<String>,
}

impl InPersonRevokeForm {
    /// The number, if it is one and the statement is ticked; else each problem at its field.
    fn validated(&self) -> Result<crate::accounts::model::NationalId, AppError> {
        use crate::error::FieldError;
        let national_id = crate::accounts::model::NationalId::parse(&self.national_id);
        let mut fields = Vec::new();
        if let Err(problem) = &national_id {
            fields.push(FieldError {
                field: problem.field,
                code: problem.code,
            });
        }
        if self.checked.as_deref() != Some("yes") {
            fields.push(FieldError {
                field: "checked",
                code: "in_person_check_required",
            });
        }
        match national_id {
            Ok(id) if fields.is_empty() => Ok(id),
            _ => Err(AppError::InvalidInput {
                code: "invalid_form",
                message: "card revocation form".into(),
                fields,
            }),
        }
    }
}

/// `POST /staff/cards/revoke`: the person's national ID number and the staff member's statement
/// that they checked it against the person's identity document; revokes the card in use.
pub async fn revoke_in_person(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    CsrfForm(input): CsrfForm<InPersonRevokeForm>,
) -> Page {
    let desk = Desk::of(&state, &staff).await?;
    let typed = FormState::new().with_value("national_id", &input.national_id);
    let national_id = match input.validated() {
        Ok(id) => id,
        Err(error) => {
            let form = typed.from_error(lang, error)?;
            return revoke_page(
                &req,
                lang,
                &staff,
                form,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    match service::revoke_in_person(&state, desk.clerk, desk.agency.id, &national_id).await? {
        Some(_) => {
            let shown = (
                service::mask_national_id(national_id.as_str()),
                local_seconds(state.clock.now()),
            );
            revoke_page(
                &req,
                lang,
                &staff,
                FormState::new(),
                Some(shown),
                StatusCode::OK,
            )
        }
        None => {
            let mut form = typed;
            form.banner = Some(lang.t("qr.card_revoke_none").into_owned());
            revoke_page(&req, lang, &staff, form, None, StatusCode::NOT_FOUND)
        }
    }
}
