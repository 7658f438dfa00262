//! Demo data for trying the product on a laptop: an operator, an agency with an admin and a
//! counter clerk, and a citizen, all with one known password. Each sets up TOTP at first login,
//! like real accounts. The citizen's vault holds a CCCD issued and signed by a demo police
//! department; the demo district has a counter key for certifying copies. Each agency has the
//! issuing authority it would have in life: the police department for CCCDs and passports, the
//! district for birth certificates and residence records. Refused outside development.

use zeroize::Zeroizing;

use crate::accounts::{password, repo, service};
use crate::auth::Role;
use crate::config::AppEnv;
use crate::error::AppError;
use crate::state::AppState;
use crate::vault::model::DocumentType;

/// Since when the demo agencies hold their authorities.
const DEMO_AUTHORITY_FROM: Option<chrono::NaiveDate> = chrono::NaiveDate::from_ymd_opt(2020, 1, 1);

/// Gives a demo agency a (made-up, `.invalid`) contact unless it has one, so consent records
/// and request pages show the agency's contact as they would in production.
async fn ensure_contact(
    state: &AppState,
    agency: entity::agency::Model,
    email: &str,
    phone: &str,
    address: &str,
) -> Result<entity::agency::Model, AppError> {
    if !crate::agencies::Contact::of(&agency).is_empty() {
        return Ok(agency);
    }
    crate::agencies::service::update_contact(state, agency.id, email, phone, address).await?;
    crate::agencies::service::get(state, agency.id).await
}

/// Registers the authorities an agency lacks (safe to run at every start).
async fn ensure_authorities(
    state: &AppState,
    agency_id: uuid::Uuid,
    types: &[DocumentType],
) -> Result<(), AppError> {
    use crate::issuers::{repo as issuers_repo, service as issuers};
    let held = issuers_repo::authorities_for_agency(&state.db, agency_id).await?;
    for doc_type in types {
        if !held.iter().any(|a| a.doc_type == doc_type.as_str()) {
            issuers::register_authority(
                state,
                agency_id,
                doc_type.as_str(),
                DEMO_AUTHORITY_FROM,
                None,
                None,
            )
            .await?;
        }
    }
    Ok(())
}

/// The password every demo account gets (development only).
pub const DEMO_PASSWORD: &str = "Demo-Cong-Dan-So-2026";
pub const DEMO_CITIZEN_ID: &str = "001099000001";

/// One demo account, for the start-up message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub login: String,
    pub role: Role,
    pub login_page: &'static str,
    pub created: bool,
}

async fn set_known_password(state: &AppState, login: &str) -> Result<(), AppError> {
    let account = repo::find_by_login(&state.db, login)
        .await?
        .ok_or(AppError::NotFound)?;
    let hash = tokio::task::spawn_blocking(|| password::hash_password(DEMO_PASSWORD))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    repo::set_password(&state.db, account.id, hash, state.clock.now()).await?;
    Ok(())
}

/// Creates the demo accounts that do not exist yet (safe to run at every start).
pub async fn seed(state: &AppState) -> Result<Vec<DemoAccount>, AppError> {
    if state.config.app_env == AppEnv::Production {
        return Err(AppError::Forbidden);
    }
    let mut out = Vec::new();

    let citizen_exists = repo::login_exists(&state.db, DEMO_CITIZEN_ID).await?;
    if !citizen_exists {
        service::register(
            state,
            service::RegistrationInput {
                national_id: DEMO_CITIZEN_ID.into(),
                full_name: "Nguyễn Văn Thử".into(),
                birth_date: "1999-01-15".into(),
                phone: "0905000001".into(),
                email: String::new(),
                password: Zeroizing::new(DEMO_PASSWORD.into()),
                password_confirm: Zeroizing::new(DEMO_PASSWORD.into()),
            },
        )
        .await?;
    }
    out.push(DemoAccount {
        login: DEMO_CITIZEN_ID.into(),
        role: Role::Citizen,
        login_page: "/login",
        created: !citizen_exists,
    });

    let agency = match crate::agencies::repo::find_by_code(&state.db, "DEMO-HAICHAU").await? {
        Some(agency) => agency,
        None => {
            crate::agencies::service::create_agency(
                state,
                "DEMO-HAICHAU",
                "UBND quận Hải Châu (demo)",
                "district",
            )
            .await?
        }
    };
    let agency = ensure_contact(
        state,
        agency,
        "motcua@haichau.demo.invalid",
        "0236 3000 001",
        "Số 1 đường Demo, quận Hải Châu, Đà Nẵng (demo)",
    )
    .await?;
    for (login, name, role, agency_id) in [
        ("demo.operator", "Trần Quản Trị", Role::Operator, None),
        (
            "demo.admin",
            "Lê Thị Cơ Quan",
            Role::AgencyAdmin,
            Some(agency.id),
        ),
        (
            "demo.clerk",
            "Phạm Văn Một Cửa",
            Role::CounterStaff,
            Some(agency.id),
        ),
    ] {
        let exists = repo::login_exists(&state.db, login).await?;
        if !exists {
            service::create_staff_account(state, role, login, name, agency_id).await?;
            set_known_password(state, login).await?;
        }
        out.push(DemoAccount {
            login: login.into(),
            role,
            login_page: "/staff/login",
            created: !exists,
        });
    }
    seed_signed_documents(state, &agency).await?;
    seed_sharing(state, &agency).await?;
    Ok(out)
}

/// The procedure catalogue shipped with the source.
pub const SHIPPED_PROCEDURES: &[u8] = include_bytes!("../catalogue/procedures.json");

/// A purpose registered for the demo district and one request from it waiting in the demo
/// citizen's inbox ("Đã chia sẻ"), so sharing can be tried at once. Idempotent: the request is
/// sent with a fixed `Idempotency-Key`.
async fn seed_sharing(state: &AppState, agency: &entity::agency::Model) -> Result<(), AppError> {
    crate::purposes::service::import_procedures(state, SHIPPED_PROCEDURES).await?;
    let scope = serde_json::json!({
        "cccd": { "file": false, "fields": ["full_name", "date_of_birth", "place_of_residence"] },
        "household_registration": { "file": true, "fields": [] },
    });
    crate::purposes::service::register(
        state,
        agency.id,
        &crate::purposes::service::NewPurpose {
            code: "cu-tru".into(),
            description_vi: "Xác minh nhân thân và nơi cư trú khi đăng ký thường trú".into(),
            description_en:
                "Checking identity and residence for a permanent residence registration".into(),
            legal_basis: "Luật Cư trú 2020, Điều 22; Luật 91/2025/QH15, Điều 9 (sự đồng ý)".into(),
            retention_days: 90,
            scope: serde_json::from_value(scope).map_err(AppError::internal)?,
        },
    )
    .await?;
    // The counter's purpose: what a clerk's counter session may ask for (src/counter).
    let counter_scope = serde_json::json!({
        "cccd": { "file": false, "fields": ["number", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin", "place_of_residence"] },
        "household_registration": { "file": true, "fields": [] },
        "birth_certificate": { "file": true, "fields": [] },
        "passport": { "file": true, "fields": [] },
        "other": { "file": true, "fields": [] },
    });
    crate::purposes::service::register(
        state,
        agency.id,
        &crate::purposes::service::NewPurpose {
            code: crate::counter::service::COUNTER_PURPOSE.into(),
            description_vi: "Giải quyết thủ tục hành chính tại quầy một cửa, khi công dân có mặt"
                .into(),
            description_en:
                "Handling an administrative procedure at the one-stop counter, with the citizen present"
                    .into(),
            legal_basis: "Nghị định 61/2018/NĐ-CP (cơ chế một cửa); Luật 91/2025/QH15, Điều 9 (sự đồng ý)"
                .into(),
            retention_days: 0,
            scope: serde_json::from_value(counter_scope).map_err(AppError::internal)?,
        },
    )
    .await?;
    let credential = match crate::issuers::repo::credentials_for_agency(&state.db, agency.id)
        .await?
        .into_iter()
        .find(|c| c.name == "Demo one-stop counter" && c.revoked_at.is_none())
    {
        Some(credential) => credential.id,
        None => {
            crate::issuers::service::create_credential(state, agency.id, "Demo one-stop counter")
                .await?
                .0
                .id
        }
    };
    let client = crate::issuers::api::AgencyClient {
        agency: agency.clone(),
        credential,
    };
    let body = serde_json::json!({
        "citizen_national_id": DEMO_CITIZEN_ID,
        "purpose": "cu-tru",
        "explanation": "Hồ sơ đăng ký thường trú số 2026/123: cần xác minh họ tên, ngày sinh.",
        "documents": [{ "type": "cccd", "fields": { "full_name": "required", "date_of_birth": "required", "place_of_residence": "optional" } }],
        "duration_days": 30,
        "max_uses": 1,
    });
    crate::grants::service::create_request(
        state,
        &client,
        body.to_string().as_bytes(),
        Some("demo-request"),
    )
    .await?;
    Ok(())
}

/// A demo police department that has issued the demo citizen's CCCD (signed with a key made for
/// the occasion and then thrown away, as only an agency would hold it), and a counter key for
/// the demo district so its clerk can certify copies.
async fn seed_signed_documents(
    state: &AppState,
    district: &entity::agency::Model,
) -> Result<(), AppError> {
    use crate::counter::certify;
    use crate::issuers::{issuing, repo as issuers_repo, service as issuers};
    use base64::Engine;

    if !issuers_repo::keys_for_agency(&state.db, district.id)
        .await?
        .iter()
        .any(|k| k.wrapped_private_key.is_some())
    {
        certify::create_counter_key(state, district.id).await?;
    }
    let (police, existed) =
        match crate::agencies::repo::find_by_code(&state.db, "DEMO-CA-DANANG").await? {
            Some(police) => (police, true),
            None => (
                crate::agencies::service::create_agency(
                    state,
                    "DEMO-CA-DANANG",
                    "Công an TP Đà Nẵng (demo)",
                    "department",
                )
                .await?,
                false,
            ),
        };
    let police = ensure_contact(
        state,
        police,
        "tiepdan@ca-danang.demo.invalid",
        "0236 3000 002",
        "Số 2 đường Demo, quận Hải Châu, Đà Nẵng (demo)",
    )
    .await?;
    ensure_authorities(
        state,
        police.id,
        &[DocumentType::Cccd, DocumentType::Passport],
    )
    .await?;
    ensure_authorities(
        state,
        district.id,
        &[
            DocumentType::BirthCertificate,
            DocumentType::HouseholdRegistration,
        ],
    )
    .await?;
    if existed {
        return Ok(());
    }
    let seed = crate::keys::random_key().map_err(AppError::internal)?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let row = issuers::register_key(state, police.id, &public, "issuing", None, None).await?;
    let payload = serde_json::json!({
        "version": 1,
        "kind": "issued",
        "type": "cccd",
        "fields": {
            "number": DEMO_CITIZEN_ID,
            "full_name": "Nguyễn Văn Thử",
            "date_of_birth": "1999-01-15",
            "sex": "Nam",
            "nationality": "Việt Nam",
            "place_of_origin": "Hải Châu, Đà Nẵng",
            "place_of_residence": "12 Bạch Đằng, Hải Châu, Đà Nẵng",
            "issue_date": state.clock.now().format("%Y-%m-%d").to_string(),
            "expiry": "2030-01-15"
        },
        "citizen_national_id": DEMO_CITIZEN_ID,
        "file_sha256": null,
        "issued_at": crate::verify::payload::format_time(state.clock.now()),
        "valid_until": "2030-01-15T00:00:00Z",
        "issuer_id": police.code,
        "key_id": row.key_id,
    });
    let signature = crate::crypto::sign::sign_json(&key, &payload).map_err(AppError::internal)?;
    let request = issuing::IssueRequest {
        payload,
        signature,
        title: None,
    };
    let checked = issuing::check_request(state, &police, &request).await?;
    // Issued as an agency system would: through an API credential of the police, which the
    // citizen's access log names.
    let (credential, _token) =
        issuers::create_credential(state, police.id, "Demo issuing system").await?;
    issuing::issue(state, checked, credential.id, issuing::NoFile::None).await?;
    Ok(())
}
