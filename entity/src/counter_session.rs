use sea_orm::entity::prelude::*;

/// A clerk's session with a citizen at the counter of an agency, for one procedure. It sent
/// the citizen the access request `request_id`; the grant given on it (`access_request.grant_id`)
/// is what the clerk reads under. `origin_kind` / `origin_id` say how the clerk identified the
/// citizen (`certification_request`: the code the citizen read out); one session per origin.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub clerk_id: Uuid,
    pub citizen_id: Uuid,
    pub procedure_code: String,
    pub origin_kind: String,
    pub origin_id: Uuid,
    #[sea_orm(unique)]
    pub request_id: Uuid,
    pub created_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
