use sea_orm::entity::prelude::*;

/// The signature behind an issued document (`kind` = `issued`) or a certified copy
/// (`certified_copy`). `payload` is the canonical signed JSON sealed under the owner's data key
/// (it holds personal data); the signature, key id and times stay in clear so status can be
/// shown without decrypting. `receipt` is the platform's signed acceptance record (JSON).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document_signature")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: Uuid,
    pub owner_id: Uuid,
    pub kind: String,
    pub doc_type: String,
    pub agency_id: Uuid,
    pub key_id: String,
    pub payload: Vec<u8>,
    pub signature: String,
    pub issued_at: DateTimeUtc,
    pub valid_until: Option<DateTimeUtc>,
    pub accepted_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub receipt: String,
    /// The newer document of the same type and number that replaced this one.
    pub superseded_by: Option<Uuid>,
    pub superseded_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
