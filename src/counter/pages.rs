//! The clerk's counter pages: the "open counter session" form (on the certification review
//! page, later on the scan result), the session page (polled while it can change; a refresh
//! button without JavaScript), the granted file, "end session", and the list on the staff home
//! page.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::service::{self, Origin, Status};
use crate::audit::plain;
use crate::auth::StaffSession;
use crate::auth::csrf::CsrfForm;
use crate::error::AppError;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;
use crate::vault::pages::{SignatureView, signature_view};

/// The "open counter session" form, included (`staff/counter_open_form.html`) wherever the
/// clerk has just identified a citizen. `origin_field` / `origin_id` is the hidden field that
/// names how (`certification_request` = the claimed request's id).
pub struct OpenForm {
    pub origin_field: &'static str,
    pub origin_id: String,
    /// (code, name) of each procedure of the catalogue.
    pub procedures: Vec<(String, String)>,
    pub selected: String,
    /// The agency has no live counter purpose: the form explains instead of offering a button.
    pub purpose_missing: bool,
    pub form: FormState,
}

impl OpenForm {
    pub async fn new(
        state: &AppState,
        lang: Lang,
        agency: Uuid,
        origin: Origin,
        form: FormState,
    ) -> Result<Self, AppError> {
        let procedures = crate::purposes::repo::all_procedures(&state.db)
            .await?
            .into_iter()
            .map(|p| {
                let name = match lang {
                    Lang::En => p.name_en,
                    _ => p.name_vi,
                };
                (p.code, name)
            })
            .collect();
        let purpose =
            crate::purposes::repo::find_purpose(&state.db, agency, service::COUNTER_PURPOSE)
                .await?;
        Ok(Self {
            origin_field: origin.kind(),
            origin_id: origin.id().to_string(),
            procedures,
            selected: form.value("procedure").to_owned(),
            purpose_missing: purpose.is_none_or(|p| p.retired),
            form,
        })
    }
}

#[derive(Template)]
#[template(path = "staff/counter_open.html")]
struct OpenPage {
    lang: Lang,
    chrome: Chrome,
    counter: OpenForm,
}

/// The form of `POST /staff/counter/sessions`: the procedure and the field naming the origin.
/// Exactly one origin field is expected; a new kind of origin adds its field here and its arm
/// in [`OpenInput::origin`].
#[derive(Deserialize)]
pub struct OpenInput {
    #[serde(default)]
    procedure: String,
    #[serde(default)]
    certification_request: Option<Uuid>,
    #[serde(default)]
    scan: Option<Uuid>,
}

impl OpenInput {
    fn origin(&self) -> Result<Origin, AppError> {
        match (self.certification_request, self.scan) {
            (Some(id), None) => Ok(Origin::CertificationRequest(id)),
            (None, Some(id)) => Ok(Origin::Scan(id)),
            _ => Err(AppError::NotFound),
        }
    }
}

/// `POST /staff/counter/sessions`: opens a session for the citizen the origin identified.
pub async fn open(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    CsrfForm(input): CsrfForm<OpenInput>,
) -> Page {
    let origin = input.origin()?;
    let citizen = service::origin_citizen(&state, &staff, origin).await?;
    match service::open_session(&state, &staff, citizen, &input.procedure, origin).await {
        Ok(session) => Ok(see_other(&format!(
            "/staff/counter/sessions/{}",
            session.id
        ))),
        Err(error) => {
            let form = FormState::new()
                .with_value("procedure", &input.procedure)
                .from_error(lang, error)?;
            let desk = service::Desk::of(&state, &staff).await?;
            let counter = OpenForm::new(&state, lang, desk.agency.id, origin, form).await?;
            render(
                counter.form.status(),
                &OpenPage {
                    lang,
                    chrome: Chrome::new(&req, Some(&staff.0))?,
                    counter,
                },
            )
        }
    }
}

/// A granted document on the session page.
pub struct DocumentView {
    pub id: String,
    pub title: String,
    pub type_key: String,
    pub file: bool,
    /// Self-uploaded with its file granted: the clerk may certify it as a step of the session.
    pub certifiable: bool,
    pub signature: Option<SignatureView>,
}

#[derive(Template)]
#[template(path = "staff/counter_session.html")]
struct SessionPage {
    lang: Lang,
    chrome: Chrome,
    id: String,
    status: &'static str,
    status_key: String,
    live: bool,
    procedure: String,
    opened: String,
    until: String,
    citizen_name: String,
    citizen_id: String,
    documents: Vec<DocumentView>,
    script_href: &'static str,
}

fn procedure_name(lang: Lang, session: &service::Session) -> String {
    match (&session.procedure, lang) {
        (Some(p), Lang::En) => p.name_en.clone(),
        (Some(p), _) => p.name_vi.clone(),
        (None, _) => session.row.procedure_code.clone(),
    }
}

/// `GET /staff/counter/sessions/{id}`: where the session stands; once approved, the citizen
/// and the granted documents, each read through the door (entries naming the clerk).
pub async fn session(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<Uuid>,
) -> Page {
    let now = state.clock.now();
    let session = service::session(&state, &staff, path.into_inner()).await?;
    let (citizen_name, citizen_id, documents) = if session.status == Status::Active {
        let (citizen, shown) = service::documents(&state, &staff, &session).await?;
        let documents = shown
            .into_iter()
            .map(|s| {
                Ok(DocumentView {
                    id: s.document.row.id.to_string(),
                    title: s.document.title()?,
                    type_key: format!("doc_type.{}", s.document.row.doc_type),
                    file: s.covered.file,
                    certifiable: s.covered.file && s.document.row.source == "self",
                    signature: s.signature.map(signature_view),
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        (
            citizen.full_name.unwrap_or_default(),
            citizen.national_id,
            documents,
        )
    } else {
        (String::new(), String::new(), Vec::new())
    };
    let mut response = render(
        StatusCode::OK,
        &SessionPage {
            lang,
            chrome: Chrome::new(&req, Some(&staff.0))?,
            id: session.row.id.to_string(),
            status: session.status.as_str(),
            status_key: format!("counter.status_{}", session.status.as_str()),
            live: session.status.is_live(),
            procedure: procedure_name(lang, &session),
            opened: plain::when(lang, session.row.created_at, now),
            until: plain::when(lang, session.until(), now),
            citizen_name,
            citizen_id,
            documents,
            script_href: crate::site::counter_script_href(),
        },
    )?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// `GET /staff/counter/sessions/{id}/status`: the session's status for the page's script
/// (no citizen data, no entry).
pub async fn status(
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let session = service::session(&state, &staff, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(serde_json::json!({ "status": session.status.as_str() })))
}

/// `GET /staff/counter/sessions/{id}/documents/{document}/file`: a granted file, inline.
pub async fn file(
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (session, document) = path.into_inner();
    let doc = service::open_file(&state, &staff, session, document).await?;
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

#[derive(Template)]
#[template(path = "staff/counter_certify.html")]
struct CertifyPage {
    lang: Lang,
    chrome: Chrome,
    session_id: String,
    document_id: String,
    title: String,
    type_key: String,
    content_type: String,
    is_image: bool,
    citizen_name: String,
    citizen_id: String,
    agency_name: String,
    form: FormState,
}

async fn certify_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    staff: &StaffSession,
    (session_id, document): (Uuid, Uuid),
    form: FormState,
) -> Page {
    let (session, doc) = service::certifiable(state, staff, session_id, document).await?;
    let desk = service::Desk::of(state, staff).await?;
    let grant = session.grant.as_ref().ok_or(AppError::NotFound)?;
    let covered = crate::grants::repo::grant_document(&state.db, grant.id, document)
        .await?
        .ok_or(AppError::NotFound)?;
    let citizen = crate::access::profile(
        state,
        &crate::access::Reader::Clerk {
            clerk: desk.clerk,
            agency: desk.agency.id,
            authority: crate::access::ClerkAuthority::Counter {
                session: &session.row,
                grant,
                covered: &covered,
            },
        },
    )
    .await?;
    render(
        form.status(),
        &CertifyPage {
            lang,
            chrome: Chrome::new(req, Some(&staff.0))?,
            session_id: session.row.id.to_string(),
            document_id: doc.row.id.to_string(),
            title: doc.title()?,
            type_key: format!("doc_type.{}", doc.row.doc_type),
            content_type: doc.row.content_type.clone(),
            is_image: doc.row.content_type.starts_with("image/")
                && doc.row.content_type != "image/heic",
            citizen_name: citizen.full_name.unwrap_or_default(),
            citizen_id: citizen.national_id,
            agency_name: desk.agency.name,
            form,
        },
    )
}

/// `GET /staff/counter/sessions/{id}/documents/{document}/certify`: a granted self-uploaded
/// scan and whose it is, to compare with the original the citizen brought.
pub async fn certify_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<(Uuid, Uuid)>,
) -> Page {
    certify_page(
        &req,
        lang,
        &state,
        &staff,
        path.into_inner(),
        FormState::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct CertifyInput {
    #[serde(default)]
    seen_original: Option<String>,
}

/// `POST /staff/counter/sessions/{id}/documents/{document}/certify`: the clerk confirms the
/// comparison; the copy is certified and the session page shows it so.
pub async fn certify(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<(Uuid, Uuid)>,
    CsrfForm(input): CsrfForm<CertifyInput>,
) -> Page {
    let (session, document) = path.into_inner();
    let outcome = async {
        if input.seen_original.as_deref() != Some("yes") {
            return Err(AppError::field("seen_original", "seen_original_required"));
        }
        service::certify(&state, &staff, session, document).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/staff/counter/sessions/{session}"))),
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            certify_page(&req, lang, &state, &staff, (session, document), form).await
        }
    }
}

/// `POST /staff/counter/sessions/{id}/end`: ends the session and withdraws its grant.
pub async fn end(
    state: web::Data<AppState>,
    staff: StaffSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let id = path.into_inner();
    service::end(&state, &staff, id).await?;
    Ok(see_other(&format!("/staff/counter/sessions/{id}")))
}

/// A session in the staff home page's list.
pub struct SessionRow {
    pub id: String,
    pub procedure: String,
    pub opened: String,
    pub status_key: String,
}

/// The clerk's open sessions, for the staff home page ("Quầy / Counter").
pub async fn open_rows(
    state: &AppState,
    lang: Lang,
    staff: &StaffSession,
) -> Result<Vec<SessionRow>, AppError> {
    let now = state.clock.now();
    Ok(service::open_sessions(state, staff)
        .await?
        .iter()
        .map(|s| SessionRow {
            id: s.row.id.to_string(),
            procedure: procedure_name(lang, s),
            opened: plain::when(lang, s.row.created_at, now),
            status_key: format!("counter.status_{}", s.status.as_str()),
        })
        .collect())
}

#[derive(Template)]
#[template(path = "staff/home.html")]
struct StaffHome {
    lang: Lang,
    chrome: Chrome,
    agency_name: String,
    agency_code: String,
    role_key: &'static str,
    /// The clerk's open counter sessions ("Quầy / Counter").
    counter: Vec<SessionRow>,
}

/// `GET /staff`: the counter's home — scan, certify, revoke a lost card, the open sessions.
pub async fn staff_home(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    staff: StaffSession,
) -> Page {
    let desk = service::Desk::of(&state, &staff).await?;
    let counter = open_rows(&state, lang, &staff).await?;
    render(
        StatusCode::OK,
        &StaffHome {
            lang,
            chrome: Chrome::new(&req, Some(&staff.0))?,
            agency_name: desk.agency.name,
            agency_code: desk.agency.code,
            role_key: staff.role.label_key(),
            counter,
        },
    )
}
