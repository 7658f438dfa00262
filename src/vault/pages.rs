//! Vault pages for citizens: the document list with the upload form, a document's page,
//! download (with Range), rename, delete (with step-up). Thin: extract → service → render.

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{self, DocumentSource, DocumentType, Position};
use super::repo;
use super::service::{self, NewDocument};
use crate::access::{self, DocumentId, Purpose, Reader};
use crate::auth::csrf::{self, CsrfForm};
use crate::auth::{CitizenSession, session};
use crate::error::AppError;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;

/// A document in the list.
pub struct DocumentRow {
    pub id: String,
    pub title: String,
    pub type_key: String,
    pub source: String,
    pub source_key: String,
    pub date: String,
    pub size: String,
}

/// Sizes people read: "1.4 MB", "320 kB", "12 B".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[derive(Template)]
#[template(path = "vault/list.html")]
struct ListPage {
    lang: Lang,
    chrome: Chrome,
    documents: Vec<DocumentRow>,
    form: FormState,
    types: Vec<(&'static str, String)>,
    sources: Vec<(&'static str, String)>,
    filter: ListFilter,
    older: Option<String>,
    newer: Option<String>,
    used: String,
    quota: String,
    used_percent: u64,
    max_upload: String,
    notice: Option<String>,
}

/// The list's filters as the page shows them (empty: any).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub doc_type: String,
    pub source: String,
}

impl ListFilter {
    /// `type=..&source=..&` for links that keep the filters.
    fn query_prefix(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if !self.doc_type.is_empty() {
            out.append_pair("type", &self.doc_type);
        }
        if !self.source.is_empty() {
            out.append_pair("source", &self.source);
        }
        let mut query = out.finish();
        if !query.is_empty() {
            query.push('&');
        }
        query
    }
}

async fn list_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    citizen: &CitizenSession,
    query: &ListQuery,
    form: FormState,
    notice: Option<String>,
) -> Page {
    let doc_type = query.doc_type.as_deref().and_then(DocumentType::parse);
    let source = query.source.as_deref().and_then(DocumentSource::parse);
    // A cursor that is not one gives the first page (it can only name a place in the
    // citizen's own list anyway).
    let from = match (query.after.as_deref(), query.before.as_deref()) {
        (Some(after), _) => Position::from_cursor(after).map(repo::Direction::Older),
        (None, Some(before)) => Position::from_cursor(before).map(repo::Direction::Newer),
        (None, None) => None,
    };
    let page = access::list(
        state,
        &citizen.account,
        &repo::PageQuery {
            doc_type: doc_type.map(|t| t.as_str().to_owned()),
            source: source.map(|s| s.as_str().to_owned()),
            from,
        },
    )
    .await?;
    let filter = ListFilter {
        doc_type: doc_type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        source: source.map(|s| s.as_str().to_owned()).unwrap_or_default(),
    };
    let prefix = filter.query_prefix();
    let documents = page
        .rows
        .into_iter()
        .map(|(row, title)| DocumentRow {
            id: row.id.to_string(),
            title,
            type_key: format!("doc_type.{}", row.doc_type),
            source_key: format!("doc_source.{}", row.source),
            source: row.source,
            date: row.created_at.format("%Y-%m-%d").to_string(),
            size: human_size(u64::try_from(row.size_bytes).unwrap_or(0)),
        })
        .collect();
    let (used, quota) = service::usage(state, &citizen.account).await?;
    let types = DocumentType::ALL
        .iter()
        .map(|t| (t.as_str(), t.label_key()))
        .collect();
    let sources = DocumentSource::ALL
        .iter()
        .map(|s| (s.as_str(), s.label_key()))
        .collect();
    render(
        form.status(),
        &ListPage {
            lang,
            chrome: Chrome::new(req, Some(&citizen.0))?,
            documents,
            form,
            types,
            sources,
            older: page
                .older
                .map(|p| format!("/documents?{prefix}after={}", p.cursor())),
            newer: page
                .newer
                .map(|p| format!("/documents?{prefix}before={}", p.cursor())),
            filter,
            used: human_size(used),
            quota: human_size(quota),
            used_percent: (used.saturating_mul(100) / quota.max(1)).min(100),
            max_upload: human_size(state.config.max_upload_bytes),
            notice,
        },
    )
}

/// `GET /documents`: filters and the page position are plain GET fields, so the list works
/// without JavaScript.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    done: Option<String>,
    #[serde(rename = "type")]
    doc_type: Option<String>,
    source: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    query: web::Query<ListQuery>,
) -> Page {
    let notice = match query.done.as_deref() {
        Some("deleted") => Some(lang.t("vault.deleted").into_owned()),
        _ => None,
    };
    list_page(
        &req,
        lang,
        &state,
        &citizen,
        &query,
        FormState::new(),
        notice,
    )
    .await
}

/// Reads a small text part of a multipart form (at most `limit` bytes).
async fn text_part(field: &mut actix_multipart::Field, limit: usize) -> Result<String, AppError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| AppError::invalid("malformed_form", e.to_string()))?;
        if out.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).map_err(|_| AppError::invalid("malformed_form", "not UTF-8"))
}

/// Upload: a multipart form whose parts come in page order — `csrf_token`, `doc_type`,
/// `title`, then `file`. The token and the fields are checked before a byte of the file is
/// stored; the file streams through encryption into the blob store.
pub async fn upload(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    mut payload: Multipart,
) -> Page {
    let mut token = String::new();
    let mut doc_type = String::new();
    let mut title = String::new();
    let mut outcome: Option<Result<Uuid, AppError>> = None;
    while let Some(part) = payload.next().await {
        let mut field = part.map_err(|e| AppError::invalid("malformed_form", e.to_string()))?;
        match field.name().unwrap_or_default() {
            "csrf_token" => token = text_part(&mut field, 128).await?,
            "doc_type" => doc_type = text_part(&mut field, 64).await?,
            "title" => title = text_part(&mut field, 2048).await?,
            "file" => {
                if !csrf::verify(&req, &token) {
                    return Err(AppError::CsrfRejected);
                }
                // Cleaned by the service (last path component, no hidden controls).
                let file_name = field
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .unwrap_or("")
                    .chars()
                    .take(1024)
                    .collect::<String>();
                let result = async {
                    let doc_type = DocumentType::parse(&doc_type)
                        .ok_or_else(|| AppError::field("doc_type", "doc_type_required"))?;
                    let title = service::clean_title(&title)?;
                    let body = (&mut field).map_err(|e| e.to_string());
                    // The request's length bounds the file's: reserved up front.
                    let expected = req
                        .headers()
                        .get(header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    service::store_document(
                        &state,
                        &citizen.account,
                        NewDocument {
                            doc_type,
                            title,
                            file_name,
                        },
                        expected,
                        body,
                    )
                    .await
                    .map(|row| row.id)
                }
                .await;
                outcome = Some(result);
                break;
            }
            _ => {
                text_part(&mut field, 1024).await?;
            }
        }
    }
    if !csrf::verify(&req, &token) {
        return Err(AppError::CsrfRejected);
    }
    let result = outcome.unwrap_or_else(|| Err(AppError::field("file", "file_required")));
    match result {
        // To the new document's page, so a client learns its id from `Location`.
        Ok(id) => Ok(see_other(&format!("/documents/{id}?done=uploaded"))),
        Err(error) => {
            let form = FormState::new()
                .with_value("title", &title)
                .from_error(lang, error)?;
            let query = ListQuery::default();
            list_page(&req, lang, &state, &citizen, &query, form, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "vault/detail.html")]
struct DetailPage {
    lang: Lang,
    chrome: Chrome,
    id: String,
    title: String,
    file_name: String,
    type_key: String,
    content_type: String,
    size: String,
    date: String,
    sha256: String,
    form: FormState,
    signature: Option<SignatureView>,
    history: Vec<(String, String)>,
    can_certify: bool,
    notice: Option<String>,
}

/// The signature part of a document page.
pub struct SignatureView {
    /// `verified`, `certified` or `invalid` (CSS class and which sentence to show).
    pub state: &'static str,
    pub agency: String,
    pub date: String,
    /// Translation key of why it no longer verifies.
    pub problem_key: String,
    pub fields: Vec<(String, String)>,
    pub superseded_by: Option<String>,
    pub superseded_at: String,
    pub has_file: bool,
}

/// A signed date shown the way people write it here: 15/01/1990.
fn readable_date(value: &str) -> String {
    match crate::verify::payload::parse_date(value) {
        Some(date) => date.format("%d/%m/%Y").to_string(),
        None => value.to_owned(),
    }
}

pub fn signature_view(status: crate::issuers::verification::SignatureStatus) -> SignatureView {
    use crate::verify::Kind;
    let record = &status.record;
    let (state, agency, problem_key) = match &status.outcome {
        Ok(verified) => (
            if status.kind == Kind::CertifiedCopy {
                "certified"
            } else {
                "verified"
            },
            verified.issuer_name.clone(),
            String::new(),
        ),
        Err(problem) => (
            "invalid",
            String::new(),
            format!("verify.problem.{}", problem.code()),
        ),
    };
    SignatureView {
        state,
        agency,
        date: record.issued_at.format("%d/%m/%Y").to_string(),
        problem_key,
        fields: status
            .fields
            .iter()
            .map(|(name, value)| {
                let shown = if crate::verify::payload::parse_date(value).is_some() {
                    readable_date(value)
                } else {
                    value.clone()
                };
                (format!("docfield.{name}"), shown)
            })
            .collect(),
        superseded_by: record.superseded_by.map(|id| id.to_string()),
        superseded_at: record
            .superseded_at
            .map(|t| t.format("%d/%m/%Y").to_string())
            .unwrap_or_default(),
        has_file: status.has_file,
    }
}

async fn detail_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    citizen: &CitizenSession,
    id: Uuid,
    form: FormState,
    notice: Option<String>,
) -> Page {
    let doc = access::open(
        state,
        &Reader::Owner(&citizen.account),
        DocumentId(id),
        Purpose::View,
    )
    .await?;
    let signature = crate::issuers::verification::status(state, &doc)
        .await?
        .map(signature_view);
    let history = crate::issuers::verification::history(state, &doc)
        .await?
        .into_iter()
        .map(|(id, date)| (id.to_string(), date))
        .collect();
    let can_certify = doc.row.source == "self";
    render(
        form.status(),
        &DetailPage {
            lang,
            chrome: Chrome::new(req, Some(&citizen.0))?,
            id: doc.row.id.to_string(),
            title: doc.title()?,
            file_name: doc.file_name()?,
            type_key: format!("doc_type.{}", doc.row.doc_type),
            content_type: doc.row.content_type.clone(),
            size: human_size(doc.size()),
            date: doc.row.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            sha256: doc.row.sha256.clone(),
            form,
            signature,
            history,
            can_certify,
            notice,
        },
    )
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn detail(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    query: web::Query<DoneQuery>,
) -> Page {
    let notice = match query.done.as_deref() {
        Some("uploaded") => Some(lang.t("vault.uploaded").into_owned()),
        _ => None,
    };
    detail_page(
        &req,
        lang,
        &state,
        &citizen,
        path.into_inner(),
        FormState::new(),
        notice,
    )
    .await
}

/// A single byte range asked for by `Range`, resolved against the document length.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    // Several ranges are answered with the whole document, as RFC 9110 allows.
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let parsed = match (start.is_empty(), end.is_empty()) {
        (true, false) => end
            .parse::<u64>()
            .ok()
            .map(|n| (len.saturating_sub(n), len)),
        (false, _) => start.parse::<u64>().ok().and_then(|s| {
            if end.is_empty() {
                Some((s, len))
            } else {
                end.parse::<u64>()
                    .ok()
                    .map(|e| (s, e.saturating_add(1).min(len)))
            }
        }),
        (true, true) => None,
    };
    match parsed {
        Some((s, e)) if s < e && s < len => RangeAsk::Part(s, e),
        Some(_) => RangeAsk::Unsatisfiable,
        None => RangeAsk::Whole,
    }
}

/// `filename*` per RFC 6266 / 8187 (UTF-8, percent-encoded) with an ASCII fallback.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let doc = access::open(
        &state,
        &Reader::Owner(&citizen.account),
        DocumentId(path.into_inner()),
        Purpose::Open,
    )
    .await?;
    let len = doc.size();
    // Only the file name is opened; the title only when there is no file name.
    let name = match doc.file_name()? {
        n if !n.is_empty() => n,
        _ => format!(
            "{}.{}",
            doc.title()?,
            model::extension(&doc.row.content_type)
        ),
    };
    let content_type = doc.row.content_type.clone();
    let range_header = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, start, end) = match parse_range(range_header.as_deref(), len) {
        RangeAsk::Whole => (StatusCode::OK, 0, len),
        RangeAsk::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        RangeAsk::Unsatisfiable => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .finish());
        }
    };
    let body = doc.stream(state.get_ref().clone(), start..end).await?;
    let mut response = HttpResponse::build(status);
    response
        .content_type(content_type)
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&name)))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        response.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1),
        ));
    }
    Ok(response.streaming(body))
}

#[derive(Deserialize)]
pub struct RenameInput {
    #[serde(default)]
    title: String,
}

pub async fn rename(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<RenameInput>,
) -> Page {
    let id = path.into_inner();
    match service::rename(&state, &citizen.account, DocumentId(id), &input.title).await {
        Ok(()) => Ok(see_other(&format!("/documents/{id}"))),
        Err(error) => {
            let form = FormState::new()
                .with_value("title", &input.title)
                .from_error(lang, error)?;
            detail_page(&req, lang, &state, &citizen, id, form, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "vault/delete.html")]
struct DeletePage {
    lang: Lang,
    chrome: Chrome,
    id: String,
    title: String,
}

/// Confirmation page; needs a fresh TOTP code (step-up).
pub async fn delete_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Page {
    let id = path.into_inner();
    let doc = access::open(
        &state,
        &Reader::Owner(&citizen.account),
        DocumentId(id),
        Purpose::View,
    )
    .await?;
    if let Some(redirect) =
        session::step_up_redirect(&state, &citizen.session, &format!("/documents/{id}/delete"))
    {
        return Ok(redirect);
    }
    render(
        StatusCode::OK,
        &DeletePage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            id: id.to_string(),
            title: doc.title()?,
        },
    )
}

pub async fn delete(
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let id = path.into_inner();
    if let Some(redirect) =
        session::step_up_redirect(&state, &citizen.session, &format!("/documents/{id}/delete"))
    {
        return Ok(redirect);
    }
    service::delete(&state, &citizen.account, DocumentId(id)).await?;
    Ok(see_other("/documents?done=deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_length() {
        assert_eq!(parse_range(None, 100), RangeAsk::Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), RangeAsk::Part(0, 10));
        assert_eq!(parse_range(Some("bytes=90-"), 100), RangeAsk::Part(90, 100));
        assert_eq!(parse_range(Some("bytes=-10"), 100), RangeAsk::Part(90, 100));
        assert_eq!(
            parse_range(Some("bytes=95-200"), 100),
            RangeAsk::Part(95, 100)
        );
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeAsk::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=5-2"), 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeAsk::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), RangeAsk::Whole);
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(12), "12 B");
        assert_eq!(human_size(1_400_000), "1.4 MB");
        assert_eq!(human_size(320_000), "320 kB");
        assert_eq!(human_size(1_073_741_824), "1.1 GB");
    }

    #[test]
    fn download_names_survive_any_characters() {
        let header = content_disposition("Giấy khai sinh \"Bé\".pdf");
        assert!(header.starts_with("attachment; filename=\""));
        assert!(header.contains("filename*=UTF-8''Gi%E1%BA%A5y%20khai%20sinh%20%22B%C3%A9%22.pdf"));
        assert!(!header[..header.find(';').unwrap_or(0) + 40].contains('ấ'));
    }
}

#[derive(Template)]
#[template(path = "vault/delete_account.html")]
struct DeleteAccountPage {
    lang: Lang,
    chrome: Chrome,
    documents: u64,
    done: bool,
}

/// Confirmation before deleting the whole account; needs a fresh TOTP code.
pub async fn delete_account_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Page {
    if let Some(redirect) = session::step_up_redirect(&state, &citizen.session, "/account/delete") {
        return Ok(redirect);
    }
    let documents = repo::count_for_owner(&state.db, citizen.account.id).await?;
    render(
        StatusCode::OK,
        &DeleteAccountPage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            documents,
            done: false,
        },
    )
}

pub async fn delete_account(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    if let Some(redirect) = session::step_up_redirect(&state, &citizen.session, "/account/delete") {
        return Ok(redirect);
    }
    service::delete_account(&state, &citizen.account).await?;
    let body = DeleteAccountPage {
        lang,
        chrome: Chrome::new(&req, None)?,
        documents: 0,
        done: true,
    }
    .render()
    .map_err(AppError::internal)?;
    let mut response = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body);
    response
        .add_cookie(&session::removal_cookie(state.config.cookies_secure()))
        .map_err(AppError::internal)?;
    Ok(response)
}

/// `GET /documents/{id}/package`: the verification package of an issued or certified document
/// (a tar archive: manifest with payload, signature and receipt, then the file).
pub async fn package(
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let doc = access::open(
        &state,
        &Reader::Owner(&citizen.account),
        DocumentId(path.into_inner()),
        Purpose::Package,
    )
    .await?;
    let (len, name, body) = crate::issuers::verification::package(&state, doc).await?;
    Ok(HttpResponse::Ok()
        .content_type(crate::verify::package::CONTENT_TYPE)
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&name)))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(len)
        .streaming(body))
}
