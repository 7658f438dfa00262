//! Signed documents: the signature record of an issued document or a certified copy (payload
//! sealed under the owner's data key, signature and key id in clear), the platform-held
//! counter keys that certify copies (private key wrapped by the master key), and the short-lived
//! codes a citizen shows at the counter to have a copy certified.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Document {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Agency {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum IssuerKey {
    Table,
    WrappedPrivateKey,
    MasterKeyId,
}

#[derive(DeriveIden)]
enum DocumentSignature {
    Table,
    DocumentId,
    OwnerId,
    Kind,
    DocType,
    AgencyId,
    KeyId,
    Payload,
    Signature,
    IssuedAt,
    ValidUntil,
    AcceptedAt,
    Receipt,
    SupersededBy,
    SupersededAt,
}

#[derive(DeriveIden)]
enum CertificationRequest {
    Table,
    Id,
    DocumentId,
    OwnerId,
    CodeHash,
    CreatedAt,
    ExpiresAt,
    CompletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IssuerKey::Table)
                    .add_column(blob_null(IssuerKey::WrappedPrivateKey))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IssuerKey::Table)
                    .add_column(string_len_null(IssuerKey::MasterKeyId, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DocumentSignature::Table)
                    .if_not_exists()
                    .col(uuid(DocumentSignature::DocumentId).primary_key())
                    .col(uuid(DocumentSignature::OwnerId))
                    .col(string_len(DocumentSignature::Kind, 16))
                    .col(string_len(DocumentSignature::DocType, 32))
                    .col(uuid(DocumentSignature::AgencyId))
                    .col(string_len(DocumentSignature::KeyId, 64))
                    .col(blob(DocumentSignature::Payload))
                    .col(string_len(DocumentSignature::Signature, 128))
                    .col(timestamp_with_time_zone(DocumentSignature::IssuedAt))
                    .col(timestamp_with_time_zone_null(DocumentSignature::ValidUntil))
                    .col(timestamp_with_time_zone(DocumentSignature::AcceptedAt))
                    .col(text(DocumentSignature::Receipt))
                    .col(uuid_null(DocumentSignature::SupersededBy))
                    .col(timestamp_with_time_zone_null(
                        DocumentSignature::SupersededAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_document_signature_document")
                            .from(DocumentSignature::Table, DocumentSignature::DocumentId)
                            .to(Document::Table, Document::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_document_signature_agency")
                            .from(DocumentSignature::Table, DocumentSignature::AgencyId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_document_signature_owner_type")
                    .table(DocumentSignature::Table)
                    .col(DocumentSignature::OwnerId)
                    .col(DocumentSignature::DocType)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CertificationRequest::Table)
                    .if_not_exists()
                    .col(uuid(CertificationRequest::Id).primary_key())
                    .col(uuid(CertificationRequest::DocumentId))
                    .col(uuid(CertificationRequest::OwnerId))
                    .col(string_len_uniq(CertificationRequest::CodeHash, 64))
                    .col(timestamp_with_time_zone(CertificationRequest::CreatedAt))
                    .col(timestamp_with_time_zone(CertificationRequest::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        CertificationRequest::CompletedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_certification_request_document")
                            .from(
                                CertificationRequest::Table,
                                CertificationRequest::DocumentId,
                            )
                            .to(Document::Table, Document::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CertificationRequest::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DocumentSignature::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IssuerKey::Table)
                    .drop_column(IssuerKey::MasterKeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IssuerKey::Table)
                    .drop_column(IssuerKey::WrappedPrivateKey)
                    .to_owned(),
            )
            .await
    }
}
