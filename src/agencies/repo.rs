//! Agency rows. Never sees actix types.

use entity::agency;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

pub async fn insert(db: &impl ConnectionTrait, row: agency::Model) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<agency::Model>, DbErr> {
    agency::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_code(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<agency::Model>, DbErr> {
    agency::Entity::find()
        .filter(agency::Column::Code.eq(code))
        .one(db)
        .await
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<agency::Model>, DbErr> {
    agency::Entity::find()
        .order_by_asc(agency::Column::Code)
        .all(db)
        .await
}

/// Replaces the agency's contact (each part `None` clears it).
pub async fn update_contact(
    db: &impl ConnectionTrait,
    id: Uuid,
    contact: &super::Contact,
) -> Result<(), DbErr> {
    agency::Entity::update_many()
        .col_expr(
            agency::Column::ContactEmail,
            Expr::value(contact.email.clone()),
        )
        .col_expr(
            agency::Column::ContactPhone,
            Expr::value(contact.phone.clone()),
        )
        .col_expr(
            agency::Column::ContactAddress,
            Expr::value(contact.address.clone()),
        )
        .filter(agency::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
