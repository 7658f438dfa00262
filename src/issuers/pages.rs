//! Operator pages for an agency's public keys, and API credential pages for operators (any
//! agency) and agency admins (their own agency).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::service;
use crate::auth::csrf::CsrfForm;
use crate::auth::{AgencyAdminSession, CurrentSession, OperatorSession};
use crate::error::AppError;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;

/// A key in the list.
pub struct KeyView {
    pub key_id: String,
    pub public_key: String,
    pub purpose_key: String,
    pub status_key: String,
    pub valid_from: String,
    pub valid_until: String,
    pub changed: String,
    pub active: bool,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "issuers/keys.html")]
struct KeysPage {
    lang: Lang,
    chrome: Chrome,
    agency_name: String,
    base: String,
    keys: Vec<KeyView>,
    form: FormState,
}

async fn keys_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    operator: &OperatorSession,
    agency_id: Uuid,
    form: FormState,
) -> Page {
    let agency = crate::agencies::service::get(state, agency_id).await?;
    // A key is valid from an instant, not a day: show the time and its zone.
    let date = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let keys = super::repo::keys_for_agency(&state.db, agency_id)
        .await?
        .into_iter()
        .map(|k| KeyView {
            active: k.status == "active",
            revoked: k.status == "revoked",
            key_id: k.key_id,
            public_key: k.public_key,
            purpose_key: format!("key_purpose.{}", k.purpose),
            status_key: format!("key_status.{}", k.status),
            valid_from: date(k.valid_from),
            valid_until: k.valid_until.map(date).unwrap_or_default(),
            changed: k
                .status_changed_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
        })
        .collect();
    render(
        form.status(),
        &KeysPage {
            lang,
            chrome: Chrome::new(req, Some(&operator.0))?,
            agency_name: format!("{} ({})", agency.name, agency.code),
            base: format!("/admin/agencies/{agency_id}"),
            keys,
            form,
        },
    )
}

pub async fn keys(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
) -> Page {
    keys_page(
        &req,
        lang,
        &state,
        &operator,
        path.into_inner(),
        FormState::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct KeyInput {
    #[serde(default)]
    public_key: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_until: String,
}

fn optional_date(raw: &str, field: &'static str) -> Result<Option<NaiveDate>, AppError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| AppError::field(field, "date_format"))
}

pub async fn register_key(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<KeyInput>,
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
    let outcome = async {
        let from = optional_date(&input.valid_from, "valid_from")?;
        let until = optional_date(&input.valid_until, "valid_until")?;
        service::register_key(
            &state,
            agency_id,
            &input.public_key,
            &input.purpose,
            from,
            until,
        )
        .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/admin/agencies/{agency_id}/keys"))),
        Err(error) => {
            let form = FormState::new()
                .with_value("public_key", &input.public_key)
                .with_value("valid_from", &input.valid_from)
                .with_value("valid_until", &input.valid_until)
                .from_error(lang, error)?;
            keys_page(&req, lang, &state, &operator, agency_id, form).await
        }
    }
}

pub async fn retire_key(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, String)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, key_id) = path.into_inner();
    if let Some(step_up) = crate::auth::session::step_up_redirect(
        &state,
        &operator.session,
        &format!("/admin/agencies/{agency_id}/keys"),
    ) {
        return Ok(step_up);
    }
    service::retire_key(&state, agency_id, &key_id).await?;
    Ok(see_other(&format!("/admin/agencies/{agency_id}/keys")))
}

pub async fn revoke_key(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, String)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, key_id) = path.into_inner();
    if let Some(step_up) = crate::auth::session::step_up_redirect(
        &state,
        &operator.session,
        &format!("/admin/agencies/{agency_id}/keys"),
    ) {
        return Ok(step_up);
    }
    service::revoke_key(&state, agency_id, &key_id, None).await?;
    Ok(see_other(&format!("/admin/agencies/{agency_id}/keys")))
}

// ------------------------------------------------------------------ API credentials

/// A credential in the list (never the token).
pub struct CredentialView {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
    /// Whether it has a webhook signing key (one made before webhooks has none until rotated).
    pub has_webhook_key: bool,
}

/// A secret shown once, after creating a credential (its token and webhook key) or rotating its
/// webhook key (the key only).
pub struct Shown {
    pub token: Option<String>,
    pub webhook_secret: String,
    /// The credential's name, for a rotation.
    pub credential_name: String,
}

#[derive(Template)]
#[template(path = "issuers/credentials.html")]
struct CredentialsPage {
    lang: Lang,
    chrome: Chrome,
    agency_name: String,
    base: String,
    credentials: Vec<CredentialView>,
    form: FormState,
    shown: Option<Shown>,
}

/// Whose credentials a page manages, and the URL its forms post to.
struct Target {
    agency_id: Uuid,
    base: String,
}

async fn credentials_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    who: &CurrentSession,
    Target { agency_id, base }: Target,
    form: FormState,
    shown: Option<Shown>,
) -> Page {
    let agency = crate::agencies::service::get(state, agency_id).await?;
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let credentials = super::repo::credentials_for_agency(&state.db, agency_id)
        .await?
        .into_iter()
        .map(|c| CredentialView {
            id: c.id.to_string(),
            has_webhook_key: c.webhook_key_wrapped.is_some(),
            name: c.name,
            created: time(c.created_at),
            last_used: c.last_used_at.map(time).unwrap_or_default(),
            revoked: c.revoked_at.is_some(),
        })
        .collect();
    let status = if shown.is_some() {
        StatusCode::OK
    } else {
        form.status()
    };
    render(
        status,
        &CredentialsPage {
            lang,
            chrome: Chrome::new(req, Some(who))?,
            agency_name: format!("{} ({})", agency.name, agency.code),
            base,
            credentials,
            form,
            shown,
        },
    )
}

/// Which agency a credential page is about, and who is looking.
fn own_agency(admin: &AgencyAdminSession) -> Result<Uuid, AppError> {
    admin
        .account
        .agency_id
        .ok_or_else(|| AppError::internal("agency admin without agency"))
}

pub async fn operator_credentials(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
) -> Page {
    let agency_id = path.into_inner();
    let base = format!("/admin/agencies/{agency_id}/credentials");
    credentials_page(
        &req,
        lang,
        &state,
        &operator.0,
        Target { agency_id, base },
        FormState::new(),
        None,
    )
    .await
}

pub async fn admin_credentials(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
) -> Page {
    let agency_id = own_agency(&admin)?;
    let base = "/agency/credentials".to_owned();
    credentials_page(
        &req,
        lang,
        &state,
        &admin.0,
        Target { agency_id, base },
        FormState::new(),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct CredentialInput {
    #[serde(default)]
    name: String,
}

async fn create(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    who: &CurrentSession,
    target: Target,
    name: &str,
) -> Page {
    let created = async {
        let (row, token) = service::create_credential(state, target.agency_id, name).await?;
        let secret = service::webhook_secret(state, &row)?
            .ok_or_else(|| AppError::internal("new credential without a webhook key"))?;
        Ok::<_, AppError>(Shown {
            token: Some(token.to_string()),
            webhook_secret: secret.to_string(),
            credential_name: row.name,
        })
    }
    .await;
    match created {
        Ok(shown) => {
            credentials_page(req, lang, state, who, target, FormState::new(), Some(shown)).await
        }
        Err(error) => {
            let form = FormState::new()
                .with_value("name", name)
                .from_error(lang, error)?;
            credentials_page(req, lang, state, who, target, form, None).await
        }
    }
}

pub async fn operator_create_credential(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<CredentialInput>,
) -> Page {
    let agency_id = path.into_inner();
    let base = format!("/admin/agencies/{agency_id}/credentials");
    if let Some(step_up) = crate::auth::session::step_up_redirect(&state, &operator.session, &base)
    {
        return Ok(step_up);
    }
    crate::agencies::service::get(&state, agency_id).await?;
    create(
        &req,
        lang,
        &state,
        &operator.0,
        Target { agency_id, base },
        &input.name,
    )
    .await
}

pub async fn admin_create_credential(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
    CsrfForm(input): CsrfForm<CredentialInput>,
) -> Page {
    if let Some(step_up) =
        crate::auth::session::step_up_redirect(&state, &admin.session, "/agency/credentials")
    {
        return Ok(step_up);
    }
    let agency_id = own_agency(&admin)?;
    create(
        &req,
        lang,
        &state,
        &admin.0,
        Target {
            agency_id,
            base: "/agency/credentials".into(),
        },
        &input.name,
    )
    .await
}

pub async fn operator_revoke_credential(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, id) = path.into_inner();
    if let Some(step_up) = crate::auth::session::step_up_redirect(
        &state,
        &operator.session,
        &format!("/admin/agencies/{agency_id}/credentials"),
    ) {
        return Ok(step_up);
    }
    service::revoke_credential(&state, agency_id, id).await?;
    Ok(see_other(&format!(
        "/admin/agencies/{agency_id}/credentials"
    )))
}

pub async fn admin_revoke_credential(
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    if let Some(step_up) =
        crate::auth::session::step_up_redirect(&state, &admin.session, "/agency/credentials")
    {
        return Ok(step_up);
    }
    let agency_id = own_agency(&admin)?;
    service::revoke_credential(&state, agency_id, path.into_inner()).await?;
    Ok(see_other("/agency/credentials"))
}

/// A new webhook key for credential `id` of the target agency, shown once on the page.
async fn rotate(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    who: &CurrentSession,
    target: Target,
    id: Uuid,
) -> Page {
    let (row, secret) = service::rotate_webhook_key(state, target.agency_id, id).await?;
    let shown = Shown {
        token: None,
        webhook_secret: secret.to_string(),
        credential_name: row.name,
    };
    credentials_page(req, lang, state, who, target, FormState::new(), Some(shown)).await
}

/// `POST /admin/agencies/{id}/credentials/{credential}/rotate-webhook-key`
pub async fn operator_rotate_webhook_key(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, id) = path.into_inner();
    let base = format!("/admin/agencies/{agency_id}/credentials");
    if let Some(step_up) = crate::auth::session::step_up_redirect(&state, &operator.session, &base)
    {
        return Ok(step_up);
    }
    crate::agencies::service::get(&state, agency_id).await?;
    let target = Target { agency_id, base };
    rotate(&req, lang, &state, &operator.0, target, id).await
}

/// `POST /agency/credentials/{credential}/rotate-webhook-key`
pub async fn admin_rotate_webhook_key(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    if let Some(step_up) =
        crate::auth::session::step_up_redirect(&state, &admin.session, "/agency/credentials")
    {
        return Ok(step_up);
    }
    let target = Target {
        agency_id: own_agency(&admin)?,
        base: "/agency/credentials".into(),
    };
    rotate(&req, lang, &state, &admin.0, target, path.into_inner()).await
}

// ------------------------------------------------------------------ issuing authority

/// An authority in the list.
pub struct AuthorityView {
    pub id: String,
    pub type_key: String,
    pub valid_from: String,
    pub valid_until: String,
    /// `authority.state.current`, `.upcoming` or `.ended`.
    pub state_key: &'static str,
    pub can_end: bool,
}

/// Another agency in a succession.
pub struct SuccessionView {
    pub id: String,
    pub agency: String,
}

#[derive(Template)]
#[template(path = "issuers/authorities.html")]
struct AuthoritiesPage {
    lang: Lang,
    chrome: Chrome,
    agency_name: String,
    base: String,
    authorities: Vec<AuthorityView>,
    successors: Vec<SuccessionView>,
    predecessors: Vec<SuccessionView>,
    types: Vec<(&'static str, String)>,
    form: FormState,
    successor_form: FormState,
}

async fn authorities_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    operator: &OperatorSession,
    agency_id: Uuid,
    (form, successor_form): (FormState, FormState),
) -> Page {
    let agency = crate::agencies::service::get(state, agency_id).await?;
    let now = state.clock.now();
    let date = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let authorities = super::repo::authorities_for_agency(&state.db, agency_id)
        .await?
        .into_iter()
        .map(|a| {
            let ended = a.valid_until.is_some_and(|until| until <= now);
            AuthorityView {
                id: a.id.to_string(),
                type_key: format!("doc_type.{}", a.doc_type),
                valid_from: date(a.valid_from),
                valid_until: a.valid_until.map(date).unwrap_or_default(),
                state_key: if ended {
                    "authority.state.ended"
                } else if a.valid_from > now {
                    "authority.state.upcoming"
                } else {
                    "authority.state.current"
                },
                can_end: !ended,
            }
        })
        .collect();
    let agencies = crate::agencies::repo::list(&state.db).await?;
    let name_of = |id: Uuid| {
        agencies
            .iter()
            .find(|a| a.id == id)
            .map(|a| format!("{} ({})", a.name, a.code))
            .unwrap_or_default()
    };
    let successions = super::repo::all_successions(&state.db).await?;
    let successors = successions
        .iter()
        .filter(|s| s.predecessor_id == agency_id)
        .map(|s| SuccessionView {
            id: s.id.to_string(),
            agency: name_of(s.successor_id),
        })
        .collect();
    let predecessors = successions
        .iter()
        .filter(|s| s.successor_id == agency_id)
        .map(|s| SuccessionView {
            id: s.id.to_string(),
            agency: name_of(s.predecessor_id),
        })
        .collect();
    let status = if form.has_errors() {
        form.status()
    } else {
        successor_form.status()
    };
    render(
        status,
        &AuthoritiesPage {
            lang,
            chrome: Chrome::new(req, Some(&operator.0))?,
            agency_name: format!("{} ({})", agency.name, agency.code),
            base: format!("/admin/agencies/{agency_id}"),
            authorities,
            successors,
            predecessors,
            types: crate::vault::model::DocumentType::ALL
                .iter()
                .map(|t| (t.as_str(), t.label_key()))
                .collect(),
            form,
            successor_form,
        },
    )
}

/// `GET /admin/agencies/{id}/authorities`
pub async fn authorities(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
) -> Page {
    let forms = (FormState::new(), FormState::new());
    authorities_page(&req, lang, &state, &operator, path.into_inner(), forms).await
}

/// Who may issue what is as sensitive as the keys themselves: every change to authorities and
/// successions needs a fresh step-up, and comes back to the authorities page after it.
fn authorities_step_up(
    state: &AppState,
    operator: &OperatorSession,
    agency_id: Uuid,
) -> Option<HttpResponse> {
    crate::auth::session::step_up_redirect(state, &operator.session, &authorities_path(agency_id))
}

/// Where every authority and succession form returns to.
fn authorities_path(agency_id: Uuid) -> String {
    format!("/admin/agencies/{agency_id}/authorities")
}

#[derive(Deserialize)]
pub struct AuthorityInput {
    #[serde(default)]
    doc_type: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_until: String,
}

/// `POST /admin/agencies/{id}/authorities`
pub async fn register_authority(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<AuthorityInput>,
) -> Page {
    let agency_id = path.into_inner();
    if let Some(step_up) = authorities_step_up(&state, &operator, agency_id) {
        return Ok(step_up);
    }
    crate::agencies::service::get(&state, agency_id).await?;
    let outcome = async {
        let from = optional_date(&input.valid_from, "valid_from")?;
        let until = optional_date(&input.valid_until, "valid_until")?;
        service::register_authority(
            &state,
            agency_id,
            &input.doc_type,
            from,
            until,
            Some(operator.0.account.id),
        )
        .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&authorities_path(agency_id))),
        Err(error) => {
            let form = FormState::new()
                .with_value("valid_from", &input.valid_from)
                .with_value("valid_until", &input.valid_until)
                .from_error(lang, error)?;
            let forms = (form, FormState::new());
            authorities_page(&req, lang, &state, &operator, agency_id, forms).await
        }
    }
}

/// `POST /admin/agencies/{id}/authorities/{authority}/end`
pub async fn end_authority(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, id) = path.into_inner();
    if let Some(step_up) = authorities_step_up(&state, &operator, agency_id) {
        return Ok(step_up);
    }
    service::end_authority(&state, agency_id, id).await?;
    Ok(see_other(&authorities_path(agency_id)))
}

#[derive(Deserialize)]
pub struct SuccessorInput {
    #[serde(default)]
    successor: String,
}

/// `POST /admin/agencies/{id}/successors`
pub async fn register_successor(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<SuccessorInput>,
) -> Page {
    let agency_id = path.into_inner();
    if let Some(step_up) = authorities_step_up(&state, &operator, agency_id) {
        return Ok(step_up);
    }
    crate::agencies::service::get(&state, agency_id).await?;
    let registered_by = Some(operator.0.account.id);
    match service::register_successor(&state, agency_id, &input.successor, registered_by).await {
        Ok(_) => Ok(see_other(&authorities_path(agency_id))),
        Err(error) => {
            let form = FormState::new()
                .with_value("successor", &input.successor)
                .from_error(lang, error)?;
            let forms = (FormState::new(), form);
            authorities_page(&req, lang, &state, &operator, agency_id, forms).await
        }
    }
}

/// `POST /admin/agencies/{id}/successors/{succession}/remove`
pub async fn remove_successor(
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let (agency_id, id) = path.into_inner();
    if let Some(step_up) = authorities_step_up(&state, &operator, agency_id) {
        return Ok(step_up);
    }
    service::remove_successor(&state, agency_id, id).await?;
    Ok(see_other(&authorities_path(agency_id)))
}
