use sea_orm::entity::prelude::*;

/// What a citizen's approval of an access request allows: one agency, one purpose, until
/// `expires_at` or withdrawal. `consent_record` is the platform-signed consent record (JSON).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_grant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub request_id: Uuid,
    pub agency_id: Uuid,
    pub credential_id: Uuid,
    pub citizen_id: Uuid,
    pub purpose_code: String,
    pub max_uses: i32,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub withdrawn_at: Option<DateTimeUtc>,
    pub consent_record: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
