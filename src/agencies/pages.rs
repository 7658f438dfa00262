//! Staff-side pages: the counter staff home, the agency admin's staff list, the operator's
//! agency list. Who may open each is decided by its extractor.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{Contact, repo, service};
use crate::accounts::service as accounts;
use crate::auth::csrf::CsrfForm;
use crate::auth::{AgencyAdminSession, OperatorSession, Role};
use crate::error::AppError;
use crate::forms::FormState;
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render as html};
use crate::state::AppState;

/// A person in a staff list.
pub struct PersonView {
    pub login: String,
    pub name: String,
    pub role_key: &'static str,
    pub status_key: &'static str,
}

fn person_view(state: &AppState, row: &entity::account::Model) -> PersonView {
    let role = Role::parse(&row.role).unwrap_or(Role::CounterStaff);
    PersonView {
        login: row.login.clone(),
        name: accounts::profile(state, row)
            .ok()
            .flatten()
            .map(|p| p.full_name)
            .unwrap_or_default(),
        role_key: role.label_key(),
        status_key: if row.status == accounts::STATUS_ACTIVE {
            "status.active"
        } else {
            "status.pending_totp"
        },
    }
}

// ------------------------------------------------------------------ agency admin

#[derive(Template)]
#[template(path = "staff/agency.html")]
struct AgencyPage {
    lang: Lang,
    chrome: Chrome,
    agency_name: String,
    people: Vec<PersonView>,
    form: FormState,
    action: String,
    allow_role_choice: bool,
    contact: Contact,
    /// The operator's form for the contact (`None` on the agency admin's page, which only shows
    /// it).
    contact_form: Option<FormState>,
}

#[derive(Template)]
#[template(path = "staff/created.html")]
struct CreatedPage {
    lang: Lang,
    chrome: Chrome,
    login: String,
    initial_password: String,
    back_to: String,
}

async fn agency_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    admin: &AgencyAdminSession,
    form: FormState,
) -> Page {
    let agency_id = admin
        .account
        .agency_id
        .ok_or_else(|| AppError::internal("agency admin without agency"))?;
    let agency = service::get(state, agency_id).await?;
    let contact = Contact::of(&agency);
    let people = crate::accounts::repo::list_for_agency(&state.db, agency_id)
        .await?
        .iter()
        .map(|row| person_view(state, row))
        .collect();
    let status = form.status();
    html(
        status,
        &AgencyPage {
            lang,
            chrome: Chrome::new(req, Some(&admin.0))?,
            agency_name: agency.name,
            people,
            form,
            action: "/agency/staff".to_owned(),
            allow_role_choice: true,
            contact,
            contact_form: None,
        },
    )
}

pub async fn agency_home(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
) -> Page {
    agency_page(&req, lang, &state, &admin, FormState::new()).await
}

#[derive(Deserialize)]
pub struct NewPersonInput {
    #[serde(default)]
    login: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    role: String,
}

pub async fn create_staff(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
    CsrfForm(input): CsrfForm<NewPersonInput>,
) -> Page {
    if let Some(step_up) = crate::auth::session::step_up_redirect(&state, &admin.session, "/agency")
    {
        return Ok(step_up);
    }
    // An agency admin can only add people to their own agency, as staff or fellow admins.
    let role = match input.role.as_str() {
        "agency_admin" => Role::AgencyAdmin,
        _ => Role::CounterStaff,
    };
    let outcome = accounts::create_staff_account(
        &state,
        role,
        &input.login,
        &input.full_name,
        admin.account.agency_id,
    )
    .await;
    match outcome {
        Ok((row, initial)) => html(
            StatusCode::OK,
            &CreatedPage {
                lang,
                chrome: Chrome::new(&req, Some(&admin.0))?,
                login: row.login,
                initial_password: initial.to_string(),
                back_to: "/agency".to_owned(),
            },
        ),
        Err(error) => {
            let form = FormState::new()
                .with_value("login", &input.login)
                .with_value("full_name", &input.full_name)
                .from_error(lang, error)?;
            agency_page(&req, lang, &state, &admin, form).await
        }
    }
}

// ------------------------------------------------------------------ operator

/// An agency in the operator's list.
pub struct AgencyView {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind_key: String,
}

#[derive(Template)]
#[template(path = "staff/admin.html")]
struct AdminPage {
    lang: Lang,
    chrome: Chrome,
    agencies: Vec<AgencyView>,
    form: FormState,
    kinds: Vec<(&'static str, String)>,
}

async fn admin_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    operator: &OperatorSession,
    form: FormState,
) -> Page {
    let agencies = repo::list(&state.db)
        .await?
        .into_iter()
        .map(|a| AgencyView {
            id: a.id.to_string(),
            code: a.code,
            name: a.name,
            kind_key: format!("agency_kind.{}", a.kind),
        })
        .collect();
    let kinds = service::AGENCY_KINDS
        .iter()
        .map(|k| (*k, format!("agency_kind.{k}")))
        .collect();
    let status = form.status();
    html(
        status,
        &AdminPage {
            lang,
            chrome: Chrome::new(req, Some(&operator.0))?,
            agencies,
            form,
            kinds,
        },
    )
}

pub async fn admin_home(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
) -> Page {
    admin_page(&req, lang, &state, &operator, FormState::new()).await
}

#[derive(Deserialize)]
pub struct NewAgencyInput {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

pub async fn create_agency(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    CsrfForm(input): CsrfForm<NewAgencyInput>,
) -> Page {
    match service::create_agency(&state, &input.code, &input.name, &input.kind).await {
        Ok(agency) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/admin/agencies/{}", agency.id)))
            .finish()),
        Err(error) => {
            let form = FormState::new()
                .with_value("code", &input.code)
                .with_value("name", &input.name)
                .from_error(lang, error)?;
            admin_page(&req, lang, &state, &operator, form).await
        }
    }
}

/// The operator's view of an agency: its people, the form adding an admin (`form`) and the
/// contact form (`contact_form`; `None` shows the stored contact in it).
async fn operator_agency_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    operator: &OperatorSession,
    agency_id: Uuid,
    form: FormState,
    contact_form: Option<FormState>,
) -> Page {
    let agency = service::get(state, agency_id).await?;
    let contact = Contact::of(&agency);
    let contact_form = contact_form.unwrap_or_else(|| {
        FormState::new()
            .with_value(
                "contact_email",
                contact.email.as_deref().unwrap_or_default(),
            )
            .with_value(
                "contact_phone",
                contact.phone.as_deref().unwrap_or_default(),
            )
            .with_value(
                "contact_address",
                contact.address.as_deref().unwrap_or_default(),
            )
    });
    let people = crate::accounts::repo::list_for_agency(&state.db, agency_id)
        .await?
        .iter()
        .map(|row| person_view(state, row))
        .collect();
    let status = if form.has_errors() {
        form.status()
    } else {
        contact_form.status()
    };
    html(
        status,
        &AgencyPage {
            lang,
            chrome: Chrome::new(req, Some(&operator.0))?,
            agency_name: format!("{} ({})", agency.name, agency.code),
            people,
            form,
            action: format!("/admin/agencies/{agency_id}/admins"),
            allow_role_choice: false,
            contact,
            contact_form: Some(contact_form),
        },
    )
}

pub async fn operator_agency(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
) -> Page {
    operator_agency_page(
        &req,
        lang,
        &state,
        &operator,
        path.into_inner(),
        FormState::new(),
        None,
    )
    .await
}

/// Operators create agency admins; the admins then add their own staff.
pub async fn create_agency_admin(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<NewPersonInput>,
) -> Page {
    let agency_id = path.into_inner();
    if let Some(step_up) = crate::auth::session::step_up_redirect(
        &state,
        &operator.session,
        &format!("/admin/agencies/{agency_id}"),
    ) {
        return Ok(step_up);
    }
    service::get(&state, agency_id).await?;
    match accounts::create_staff_account(
        &state,
        Role::AgencyAdmin,
        &input.login,
        &input.full_name,
        Some(agency_id),
    )
    .await
    {
        Ok((row, initial)) => html(
            StatusCode::OK,
            &CreatedPage {
                lang,
                chrome: Chrome::new(&req, Some(&operator.0))?,
                login: row.login,
                initial_password: initial.to_string(),
                back_to: format!("/admin/agencies/{agency_id}"),
            },
        ),
        Err(error) => {
            let form = FormState::new()
                .with_value("login", &input.login)
                .with_value("full_name", &input.full_name)
                .from_error(lang, error)?;
            operator_agency_page(&req, lang, &state, &operator, agency_id, form, None).await
        }
    }
}

#[derive(Deserialize)]
pub struct ContactInput {
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    contact_address: String,
}

/// `POST /admin/agencies/{id}/contact`: how citizens reach the agency (named in consent records
/// and shown on its requests). A step-up first, like every change to an agency.
pub async fn update_contact(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<ContactInput>,
) -> Page {
    let agency_id = path.into_inner();
    let back = format!("/admin/agencies/{agency_id}");
    if let Some(step_up) = crate::auth::session::step_up_redirect(&state, &operator.session, &back)
    {
        return Ok(step_up);
    }
    match service::update_contact(
        &state,
        agency_id,
        &input.contact_email,
        &input.contact_phone,
        &input.contact_address,
    )
    .await
    {
        Ok(_) => Ok(crate::site::see_other(&back)),
        Err(error) => {
            let contact_form = FormState::new()
                .with_value("contact_email", &input.contact_email)
                .with_value("contact_phone", &input.contact_phone)
                .with_value("contact_address", &input.contact_address)
                .from_error(lang, error)?;
            operator_agency_page(
                &req,
                lang,
                &state,
                &operator,
                agency_id,
                FormState::new(),
                Some(contact_form),
            )
            .await
        }
    }
}
