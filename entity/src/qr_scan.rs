use sea_orm::entity::prelude::*;

/// A successful verification of a citizen's QR token by a staff member of an agency: the
/// origin a counter session can be opened from (`counter_session.origin_kind` = `scan`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_scan")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub staff_id: Uuid,
    pub agency_id: Uuid,
    pub citizen_id: Uuid,
    /// `phone` (the token on the citizen's phone).
    pub token_kind: String,
    pub verified_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
