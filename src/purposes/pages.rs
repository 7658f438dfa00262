//! The operator's pages for an agency's purposes: the list (retired ones marked), the form
//! that registers or replaces one, and retiring one. Changes need a fresh step-up, like the
//! agency's keys and authorities.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use askama::Template;

use super::service::{self, NewPurpose};
use super::{DocScope, Purpose};
use crate::auth::OperatorSession;
use crate::auth::csrf::CsrfForm;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::issuers::catalogue;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;
use crate::vault::model::DocumentType;

/// What a purpose covers of one document type, as listed.
pub struct ScopeView {
    pub label: String,
    pub file: bool,
    pub fields: Vec<String>,
}

/// A purpose in the list.
pub struct PurposeView {
    pub id: String,
    pub code: String,
    pub description_vi: String,
    pub description_en: String,
    pub legal_basis: String,
    pub retention_days: u32,
    pub scope: Vec<ScopeView>,
    pub retired: bool,
}

/// A checkbox of the form.
pub struct BoxView {
    pub name: String,
    pub label: String,
    pub checked: bool,
}

/// One document type's group of checkboxes: its file, then its fields.
pub struct TypeView {
    /// The type's code, also the field name its problems are reported under.
    pub doc_type: &'static str,
    pub label: String,
    pub file: BoxView,
    pub fields: Vec<BoxView>,
}

#[derive(Template)]
#[template(path = "staff/purposes.html")]
struct PurposesPage {
    lang: Lang,
    chrome: Chrome,
    agency_name: String,
    base: String,
    purposes: Vec<PurposeView>,
    types: Vec<TypeView>,
    form: FormState,
}

fn field_label(lang: Lang, name: &str) -> String {
    lang.t(&format!("docfield.{name}")).into_owned()
}

fn type_label(lang: Lang, doc_type: &str) -> String {
    DocumentType::parse(doc_type)
        .map(|t| lang.t(&t.label_key()).into_owned())
        .unwrap_or_else(|| doc_type.to_owned())
}

fn file_box(doc_type: &str) -> String {
    format!("file_{doc_type}")
}

fn field_box(doc_type: &str, field: &str) -> String {
    format!("field_{doc_type}_{field}")
}

fn purpose_view(lang: Lang, p: Purpose) -> PurposeView {
    PurposeView {
        id: p.id.to_string(),
        scope: p
            .scope
            .iter()
            .map(|(doc_type, covered)| ScopeView {
                label: type_label(lang, doc_type),
                file: covered.file,
                fields: covered
                    .fields
                    .iter()
                    .map(|f| field_label(lang, f))
                    .collect(),
            })
            .collect(),
        code: p.code,
        description_vi: p.description_vi,
        description_en: p.description_en,
        legal_basis: p.legal_basis,
        retention_days: p.retention_days,
        retired: p.retired,
    }
}

/// Every catalogue type with its boxes, ticked only where the form being shown again had them
/// ticked (a fresh form has none).
fn type_views(lang: Lang, form: &FormState) -> Vec<TypeView> {
    let ticked = |name: &str| form.value(name) == "on";
    DocumentType::ALL
        .iter()
        .map(|t| {
            let doc_type = t.as_str();
            TypeView {
                doc_type,
                label: lang.t(&t.label_key()).into_owned(),
                file: BoxView {
                    name: file_box(doc_type),
                    label: lang.t("purposes.file").into_owned(),
                    checked: ticked(&file_box(doc_type)),
                },
                fields: catalogue::fields_for(*t)
                    .iter()
                    .map(|f| BoxView {
                        name: field_box(doc_type, f.name),
                        label: field_label(lang, f.name),
                        checked: ticked(&field_box(doc_type, f.name)),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn purposes_path(agency_id: Uuid) -> String {
    format!("/admin/agencies/{agency_id}/purposes")
}

async fn purposes_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    operator: &OperatorSession,
    agency_id: Uuid,
    form: FormState,
) -> Page {
    let agency = crate::agencies::service::get(state, agency_id).await?;
    let purposes = service::list(state, agency_id)
        .await?
        .into_iter()
        .map(|p| purpose_view(lang, p))
        .collect();
    render(
        form.status(),
        &PurposesPage {
            lang,
            chrome: Chrome::new(req, Some(&operator.0))?,
            agency_name: format!("{} ({})", agency.name, agency.code),
            base: format!("/admin/agencies/{agency_id}"),
            purposes,
            types: type_views(lang, &form),
            form,
        },
    )
}

/// `GET /admin/agencies/{id}/purposes`
pub async fn purposes(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
) -> Page {
    purposes_page(
        &req,
        lang,
        &state,
        &operator,
        path.into_inner(),
        FormState::new(),
    )
    .await
}

/// What an agency may ask for is the heart of consent: every change needs a fresh step-up and
/// comes back to the purposes page after it.
fn purposes_step_up(
    state: &AppState,
    operator: &OperatorSession,
    agency_id: Uuid,
) -> Option<HttpResponse> {
    crate::auth::session::step_up_redirect(state, &operator.session, &purposes_path(agency_id))
}

/// The purpose the form describes: its text fields, and per catalogue type the boxes ticked
/// (names outside the catalogue are ignored; a type with nothing ticked is left out).
fn purpose_from(form: &BTreeMap<String, String>) -> NewPurpose {
    let text = |name: &str| form.get(name).cloned().unwrap_or_default();
    let mut scope = BTreeMap::new();
    for t in DocumentType::ALL {
        let doc_type = t.as_str();
        let file = form.contains_key(&file_box(doc_type));
        let fields: BTreeSet<String> = catalogue::fields_for(t)
            .iter()
            .filter(|f| form.contains_key(&field_box(doc_type, f.name)))
            .map(|f| f.name.to_owned())
            .collect();
        if file || !fields.is_empty() {
            scope.insert(doc_type.to_owned(), DocScope { file, fields });
        }
    }
    NewPurpose {
        code: text("code"),
        description_vi: text("description_vi"),
        description_en: text("description_en"),
        legal_basis: text("legal_basis"),
        // Not a whole number of days: out of range, refused with the range in the message.
        retention_days: text("retention_days").trim().parse().unwrap_or(u32::MAX),
        scope,
    }
}

/// `POST /admin/agencies/{id}/purposes`: registers a purpose, or replaces the one with its code.
pub async fn register(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<BTreeMap<String, String>>,
) -> Page {
    let agency_id = path.into_inner();
    if let Some(step_up) = purposes_step_up(&state, &operator, agency_id) {
        return Ok(step_up);
    }
    crate::agencies::service::get(&state, agency_id).await?;
    match service::register(&state, agency_id, &purpose_from(&input)).await {
        Ok(()) => Ok(see_other(&purposes_path(agency_id))),
        Err(error) => {
            // Everything typed or ticked comes back (the form has no secrets).
            let form = input
                .iter()
                .filter(|(name, _)| name.as_str() != "csrf_token")
                .fold(FormState::new(), |form, (name, value)| {
                    form.with_value(name, value)
                })
                .from_error(lang, error)?;
            purposes_page(&req, lang, &state, &operator, agency_id, form).await
        }
    }
}

/// `POST /admin/agencies/{id}/purposes/{purpose}/retire`
pub async fn retire(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, id) = path.into_inner();
    if let Some(step_up) = purposes_step_up(&state, &operator, agency_id) {
        return Ok(step_up);
    }
    service::retire(&state, agency_id, id).await?;
    Ok(see_other(&purposes_path(agency_id)))
}
