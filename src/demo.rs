//! Demo data for trying the product on a laptop: an operator, an agency with an admin and a
//! counter clerk, and a citizen, all with one known password. Each sets up TOTP at first login,
//! like real accounts. Refused outside development.

use zeroize::Zeroizing;

use crate::accounts::{password, repo, service};
use crate::auth::Role;
use crate::config::AppEnv;
use crate::error::AppError;
use crate::state::AppState;

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
                birth_date: "1990-01-15".into(),
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
    Ok(out)
}
