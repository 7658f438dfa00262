//! Pages for certifying copies: the citizen's code, the clerk's code entry, review (with the
//! scan) and signature, and the operator's button that creates a platform-held counter key.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::certify;
use crate::auth::csrf::CsrfForm;
use crate::auth::{CitizenSession, OperatorSession, StaffSession};
use crate::error::AppError;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "vault/certification_code.html")]
struct CodePage {
    lang: Lang,
    chrome: Chrome,
    id: String,
    code: String,
    minutes: i64,
}

/// `POST /documents/{id}/certification`: the citizen gets a code to read to the clerk.
pub async fn request_code(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let id = path.into_inner();
    let code = certify::request(&state, &citizen.account, id).await?;
    // Shown as "ABCD-EFGH" so it is easy to read out.
    let shown = format!("{}-{}", &code[..4], &code[4..]);
    let mut response = render(
        StatusCode::OK,
        &CodePage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            id: id.to_string(),
            code: shown,
            minutes: certify::CODE_MINUTES,
        },
    )?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "staff/certify.html")]
struct EnterCodePage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /staff/certify`: the clerk types the citizen's code.
pub async fn enter_code_form(
    req: HttpRequest,
    lang: Lang,
    staff: StaffSession,
    query: web::Query<DoneQuery>,
) -> Page {
    let notice = query
        .done
        .is_some()
        .then(|| lang.t("certify.done").into_owned());
    render(
        StatusCode::OK,
        &EnterCodePage {
            lang,
            chrome: Chrome::new(&req, Some(&staff.0))?,
            form: FormState::new(),
            notice,
        },
    )
}

#[derive(Deserialize)]
pub struct CodeInput {
    code: String,
}

/// `POST /staff/certify`: an open request for that code opens its review page.
pub async fn enter_code(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    CsrfForm(input): CsrfForm<CodeInput>,
) -> Page {
    let outcome = async {
        let agency = agency_of(&state, &staff).await?;
        certify::claim(
            &state,
            certify::Desk::of(&staff.account, &agency),
            &input.code,
        )
        .await
    }
    .await;
    match outcome {
        Ok(request) => Ok(see_other(&format!("/staff/certify/{}", request.id))),
        Err(error) => {
            let form = FormState::new()
                .with_value("code", &input.code)
                .from_error(lang, error)?;
            render(
                form.status(),
                &EnterCodePage {
                    lang,
                    chrome: Chrome::new(&req, Some(&staff.0))?,
                    form,
                    notice: None,
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "staff/certify_review.html")]
struct ReviewPage {
    lang: Lang,
    chrome: Chrome,
    request_id: String,
    title: String,
    type_key: String,
    content_type: String,
    is_image: bool,
    citizen_name: String,
    citizen_id: String,
    agency_name: String,
    form: FormState,
    /// "Open counter session" for the citizen whose code was entered.
    counter: crate::counter::pages::OpenForm,
}

async fn agency_of(
    state: &AppState,
    staff: &StaffSession,
) -> Result<entity::agency::Model, AppError> {
    let id = staff
        .account
        .agency_id
        .ok_or_else(|| AppError::internal("staff account without agency"))?;
    crate::agencies::service::get(state, id).await
}

async fn review_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    staff: &StaffSession,
    request_id: Uuid,
    form: FormState,
) -> Page {
    let agency = agency_of(state, staff).await?;
    let review = certify::review(
        state,
        certify::Desk::of(&staff.account, &agency),
        request_id,
    )
    .await?;
    let doc = &review.document;
    let counter = crate::counter::pages::OpenForm::new(
        state,
        lang,
        agency.id,
        crate::counter::service::Origin::CertificationRequest(review.request.id),
        FormState::new(),
    )
    .await?;
    render(
        form.status(),
        &ReviewPage {
            lang,
            chrome: Chrome::new(req, Some(&staff.0))?,
            request_id: review.request.id.to_string(),
            title: doc.title()?,
            type_key: format!("doc_type.{}", doc.row.doc_type),
            is_image: doc.row.content_type.starts_with("image/")
                && doc.row.content_type != "image/heic",
            content_type: doc.row.content_type.clone(),
            citizen_name: review.citizen.full_name.clone().unwrap_or_default(),
            citizen_id: review.citizen.national_id.clone(),
            agency_name: agency.name,
            form,
            counter,
        },
    )
}

/// `GET /staff/certify/{request}`: the scan and who it belongs to, to compare with the original.
pub async fn review(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<Uuid>,
) -> Page {
    review_page(
        &req,
        lang,
        &state,
        &staff,
        path.into_inner(),
        FormState::new(),
    )
    .await
}

/// `GET /staff/certify/{request}/file`: the scan itself, shown inline, while the request is open.
pub async fn file(
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let agency = agency_of(&state, &staff).await?;
    let desk = certify::Desk::of(&staff.account, &agency);
    let doc = certify::open_file(&state, desk, path.into_inner()).await?;
    let len = doc.size();
    let content_type = doc.row.content_type.clone();
    let body = doc.stream(state.get_ref().clone(), 0..len).await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, "inline"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(len)
        .streaming(body))
}

#[derive(Deserialize)]
pub struct ConfirmInput {
    #[serde(default)]
    seen_original: Option<String>,
}

/// `POST /staff/certify/{request}`: the clerk confirms they compared it with the original.
pub async fn certify(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<ConfirmInput>,
) -> Page {
    let request_id = path.into_inner();
    let outcome = async {
        if input.seen_original.as_deref() != Some("yes") {
            return Err(AppError::field("seen_original", "seen_original_required"));
        }
        let agency = agency_of(&state, &staff).await?;
        certify::certify(&state, &staff.account, &agency, request_id).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/staff/certify?done=1")),
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            review_page(&req, lang, &state, &staff, request_id, form).await
        }
    }
}

/// `POST /admin/agencies/{id}/keys/counter`: the operator creates a platform-held counter key.
pub async fn create_counter_key(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let agency_id = path.into_inner();
    if let Some(step_up) = crate::auth::session::step_up_redirect(
        &state,
        &operator.session,
        &format!("/admin/agencies/{agency_id}/keys"),
    ) {
        return Ok(step_up);
    }
    crate::agencies::service::get(&state, agency_id).await?;
    certify::create_counter_key(&state, agency_id).await?;
    Ok(see_other(&format!("/admin/agencies/{agency_id}/keys")))
}
