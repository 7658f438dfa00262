//! Master-key rotation: every data key is unwrapped with the key that wrapped it and wrapped
//! again with the current master key. No blob is touched (blobs are encrypted under the data
//! keys, which do not change). Rows are rewritten one by one with a compare-and-set on the old
//! key id, so the command can be interrupted and run again, and two runs never conflict. The
//! agency counter keys the platform holds (see `counter::certify`) and the webhook signing keys
//! of live API credentials (see `outbox::webhook`) are rewrapped the same way. A revoked
//! credential's webhook key is never opened again and is left as it is.

use uuid::Uuid;

use crate::crypto::WrappedKey;
use crate::error::AppError;
use crate::state::AppState;

/// Accounts handled per database round trip.
const BATCH: u64 = 200;

/// What a rotation run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub rewrapped: u64,
    /// Accounts wrapped by a master key this instance does not hold (add it to
    /// `MASTER_KEY_PREVIOUS` and run again).
    pub unknown_key: Vec<String>,
}

/// Rewraps every data key under the current master key.
pub async fn rotate_master(state: &AppState) -> Result<RotationReport, AppError> {
    let current = state.keys.master.id().as_str().to_owned();
    let mut report = RotationReport::default();
    let mut skipped: Vec<Uuid> = Vec::new();
    loop {
        let batch =
            crate::accounts::repo::wrapped_by_other_than(&state.db, &current, &skipped, BATCH)
                .await?;
        if batch.is_empty() {
            break;
        }
        for account in batch {
            let Some(old) = state.keys.master_by_id(&account.master_key_id) else {
                if !report.unknown_key.contains(&account.master_key_id) {
                    report.unknown_key.push(account.master_key_id.clone());
                }
                skipped.push(account.id);
                continue;
            };
            let wrapped = WrappedKey {
                master_key_id: old.id().clone(),
                bytes: account.wrapped_data_key.clone(),
            };
            let rewrapped = old
                .rewrap(&wrapped, &account.id, &state.keys.master)
                .map_err(|e| AppError::internal(format!("rewrap {}: {e}", account.id)))?;
            if crate::accounts::repo::rewrap(
                &state.db,
                account.id,
                old.id().as_str(),
                &current,
                rewrapped.bytes,
            )
            .await?
            {
                report.rewrapped += 1;
            }
        }
    }
    // Counter keys the platform holds for agencies are wrapped the same way.
    for held in crate::issuers::repo::held_keys_wrapped_by_other_than(&state.db, &current).await? {
        let old_id = held.master_key_id.clone().unwrap_or_default();
        let Some(old) = state.keys.master_by_id(&old_id) else {
            if !report.unknown_key.contains(&old_id) {
                report.unknown_key.push(old_id);
            }
            continue;
        };
        let wrapped = WrappedKey {
            master_key_id: old.id().clone(),
            bytes: held.wrapped_private_key.clone().unwrap_or_default(),
        };
        let rewrapped = old
            .rewrap(&wrapped, &held.id, &state.keys.master)
            .map_err(|e| AppError::internal(format!("rewrap counter key {}: {e}", held.key_id)))?;
        if crate::issuers::repo::rewrap_held_key(
            &state.db,
            held.id,
            old.id().as_str(),
            &current,
            rewrapped.bytes,
        )
        .await?
        {
            report.rewrapped += 1;
        }
    }
    // Webhook signing keys of live API credentials, bound to the credential's id.
    for credential in
        crate::issuers::repo::webhook_keys_wrapped_by_other_than(&state.db, &current).await?
    {
        let old_id = credential.webhook_key_master_id.clone().unwrap_or_default();
        let Some(old) = state.keys.master_by_id(&old_id) else {
            if !report.unknown_key.contains(&old_id) {
                report.unknown_key.push(old_id);
            }
            continue;
        };
        let wrapped = WrappedKey {
            master_key_id: old.id().clone(),
            bytes: credential.webhook_key_wrapped.clone().unwrap_or_default(),
        };
        let rewrapped = old
            .rewrap(&wrapped, &credential.id, &state.keys.master)
            .map_err(|e| {
                AppError::internal(format!("rewrap webhook key of {}: {e}", credential.id))
            })?;
        if crate::issuers::repo::rewrap_webhook_key(
            &state.db,
            credential.id,
            old.id().as_str(),
            &current,
            rewrapped.bytes,
        )
        .await?
        {
            report.rewrapped += 1;
        }
    }
    Ok(report)
}

/// Marks a master key retired once no data key uses it; refuses the current key and keys
/// still in use.
pub async fn retire_master(state: &AppState, key_id: &str) -> Result<(), AppError> {
    if key_id == state.keys.master.id().as_str() {
        return Err(AppError::invalid(
            "key_in_use",
            "this is the current master key; rotate to a new one first",
        ));
    }
    let users = crate::accounts::repo::count_wrapped_by(&state.db, key_id).await?
        + crate::issuers::repo::count_held_keys_wrapped_by(&state.db, key_id).await?
        + crate::issuers::repo::count_webhook_keys_wrapped_by(&state.db, key_id).await?;
    if users > 0 {
        return Err(AppError::invalid(
            "key_in_use",
            format!(
                "{users} data keys (accounts, counter keys, webhook keys) still use this key; \
                 run `congdanso keys rotate-master`"
            ),
        ));
    }
    if !super::repo::retire(&state.db, key_id, state.clock.now()).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}
