use sea_orm::entity::prelude::*;

/// Anyone who logs in: a citizen (login = national ID number), counter staff, an agency admin or
/// a platform operator (login = user name). Personal details and the TOTP secret are sealed
/// under the account's data key, which is stored only wrapped by the master key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub role: String,
    #[sea_orm(unique)]
    pub login: String,
    pub agency_id: Option<Uuid>,
    pub status: String,
    pub password_hash: String,
    pub password_changed_at: DateTimeUtc,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub wrapped_data_key: Vec<u8>,
    pub master_key_id: String,
    pub profile: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::agency::Entity",
        from = "Column::AgencyId",
        to = "super::agency::Column::Id"
    )]
    Agency,
}

impl Related<super::agency::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Agency.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
