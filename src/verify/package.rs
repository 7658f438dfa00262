//! The verification package a citizen downloads: a POSIX ustar archive (opens with `tar`,
//! 7-Zip, or the file manager) holding
//!
//! 1. `congdanso-package.json`, the manifest: format tag, the signed payload as signed, the
//!    signature, the platform's acceptance receipt and a description of the file;
//! 2. the file itself (when the document has one), named in the manifest.
//!
//! Written and read as streams, so a package of hundreds of MB needs only a few KiB of memory.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::payload::{Refusal, from_slice_unique};
use super::{PlatformKeys, Problem, Report, SignedReceipt, TrustList};

pub const PACKAGE_FORMAT: &str = "congdanso-package/v1";
/// Name of the manifest entry (always the first).
pub const MANIFEST_NAME: &str = "congdanso-package.json";
/// Media type of a package.
pub const CONTENT_TYPE: &str = "application/x-tar";
const BLOCK: u64 = 512;
const MAX_MANIFEST: u64 = 1024 * 1024;
/// The tar record: writers (GNU tar, bsdtar) pad an archive with zeros to a multiple of it, so
/// a reader accepts zeros up to the next record boundary after the end-of-archive marker, and
/// nothing more.
pub const RECORD: u64 = 20 * BLOCK;

fn malformed(detail: impl Into<String>) -> Refusal {
    Refusal {
        problem: Problem::PackageMalformed,
        field: None,
        detail: Some(detail.into()),
    }
}

/// The manifest entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// The payload exactly as signed.
    pub payload: Value,
    pub signature: String,
    pub receipt: Option<SignedReceipt>,
    pub file: Option<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Entry name inside the archive, e.g. `document.pdf`.
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// A ustar header for a regular file.
fn header(name: &str, size: u64, mtime: u64) -> Result<Bytes, Problem> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .map_err(|_| Problem::PackageMalformed)?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(Bytes::copy_from_slice(header.as_bytes()))
}

/// A safe entry name for the file: `document.<ext>`.
pub fn file_entry_name(extension: &str) -> String {
    let ext: String = extension
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    if ext.is_empty() {
        "document".to_owned()
    } else {
        format!("document.{ext}")
    }
}

/// A package being written: its exact length (for Content-Length) and its bytes as a stream.
pub struct PackageWriter {
    pub len: u64,
    head: Vec<Bytes>,
    file_padding: u64,
}

impl PackageWriter {
    /// Prepares a package; `mtime` is the time stamped on the entries (seconds since 1970).
    pub fn new(manifest: &Manifest, mtime: u64) -> Result<Self, Problem> {
        let manifest_bytes = Bytes::from(
            serde_json::to_vec_pretty(manifest).map_err(|_| Problem::PackageMalformed)?,
        );
        let manifest_len = manifest_bytes.len() as u64;
        let mut head = vec![
            header(MANIFEST_NAME, manifest_len, mtime)?,
            manifest_bytes,
            Bytes::from(vec![0u8; padding(manifest_len) as usize]),
        ];
        let mut len = BLOCK + manifest_len + padding(manifest_len);
        let mut file_padding = 0;
        if let Some(file) = &manifest.file {
            head.push(header(&file.name, file.size, mtime)?);
            file_padding = padding(file.size);
            len += BLOCK + file.size + file_padding;
        }
        len += 2 * BLOCK;
        Ok(Self {
            len,
            head,
            file_padding,
        })
    }

    /// The archive bytes: the head, then `file` (which must yield exactly the manifest's file
    /// size), then the padding and the end-of-archive blocks.
    pub fn into_stream<S, E>(self, file: Option<S>) -> impl Stream<Item = Result<Bytes, E>>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let head = futures_util::stream::iter(self.head.into_iter().map(Ok));
        let body = futures_util::stream::iter(file).flatten();
        let mut tail = vec![0u8; self.file_padding as usize];
        tail.extend_from_slice(&[0u8; 2 * BLOCK as usize]);
        head.chain(body).chain(futures_util::stream::once(
            async move { Ok(Bytes::from(tail)) },
        ))
    }
}

/// What reading a package found.
#[derive(Debug, Clone)]
pub struct ReadPackage {
    pub manifest: Manifest,
    /// SHA-256 (hex) and size of the file entry, if there is one.
    pub file: Option<(String, u64)>,
}

impl ReadPackage {
    /// What the package presents for [`super::check`]: the payload, signature and receipt of
    /// its manifest and the hash of the file actually in it.
    pub fn evidence(&self) -> super::Evidence<'_> {
        super::Evidence {
            payload: &self.manifest.payload,
            signature: &self.manifest.signature,
            receipt: self.manifest.receipt.as_ref(),
            file_sha256: self.file.as_ref().map(|(hash, _)| hash.as_str()),
        }
    }

    /// The report of `POST /api/v1/verify` and `congdanso verify`: [`super::check`] with the
    /// receipt required, and a refused payload's member and expected form in `message`.
    pub fn report(
        &self,
        trust: &TrustList,
        platform: &PlatformKeys,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Report {
        let outcome = super::check(&self.evidence(), trust, Some(platform));
        let mut report = Report::new(&outcome, Some(trust), now);
        if outcome.is_err()
            && let Err(refusal) = super::payload::parse(&self.manifest.payload)
        {
            report.message = refusal.to_string();
        }
        report
    }
}

/// The report for a package that could not be read (its problem code and detail).
pub fn refused_report(
    refusal: &Refusal,
    trust: Option<&TrustList>,
    now: chrono::DateTime<chrono::Utc>,
) -> Report {
    let mut report = Report::new(&Err(refusal.problem), trust, now);
    report.message = refusal.to_string();
    report
}

/// Pulls exact byte counts out of a stream of chunks.
struct Pull<S> {
    stream: S,
    buffer: BytesMut,
    /// Bytes taken out so far: the position in the archive.
    position: u64,
}

impl<S, E> Pull<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    /// Reads one more chunk into the buffer; false at the end of the stream.
    async fn more(&mut self) -> Result<bool, Refusal> {
        match self.stream.next().await {
            Some(Ok(chunk)) => {
                self.buffer.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(_)) => Err(malformed("the package could not be read to its end")),
            None => Ok(false),
        }
    }

    async fn fill(&mut self, n: usize) -> Result<(), Refusal> {
        while self.buffer.len() < n {
            if !self.more().await? {
                return Err(malformed(format!(
                    "the package ends early, at byte {}",
                    self.position + self.buffer.len() as u64
                )));
            }
        }
        Ok(())
    }

    async fn take(&mut self, n: u64) -> Result<Bytes, Refusal> {
        let n = usize::try_from(n).map_err(|_| malformed("an entry is too large"))?;
        self.fill(n).await?;
        self.position += n as u64;
        Ok(self.buffer.split_to(n).freeze())
    }

    /// Consumes `n` bytes, feeding them to `sink` piece by piece (bounded memory).
    async fn consume(&mut self, mut n: u64, mut sink: impl FnMut(&[u8])) -> Result<(), Refusal> {
        while n > 0 {
            if self.buffer.is_empty() {
                self.fill(1).await?;
            }
            let take = (self.buffer.len() as u64).min(n) as usize;
            sink(&self.buffer[..take]);
            let _ = self.buffer.split_to(take);
            self.position += take as u64;
            n -= take as u64;
        }
        Ok(())
    }

    /// After the last entry: the end-of-archive marker (two zero blocks), then zeros up to the
    /// next [`RECORD`] boundary at most. Reads no further than one chunk past that bound, so a
    /// package followed by gigabytes of zeros is refused after a few KiB.
    async fn end_of_archive(&mut self) -> Result<(), Refusal> {
        let marker = self.take(2 * BLOCK).await.map_err(|_| {
            malformed("the end-of-archive marker (two zero blocks) is missing after the last entry")
        })?;
        if marker.iter().any(|&b| b != 0) {
            return Err(malformed(
                "something other than zeros follows the last entry",
            ));
        }
        let limit = self.position.div_ceil(RECORD) * RECORD;
        loop {
            if self.buffer.iter().any(|&b| b != 0) {
                return Err(malformed(
                    "something other than zeros follows the last entry",
                ));
            }
            let end = self.position + self.buffer.len() as u64;
            if end > limit {
                return Err(Refusal {
                    problem: Problem::PackageTrailingData,
                    field: None,
                    detail: Some(format!(
                        "the package goes on past byte {limit}: after the end-of-archive marker \
                         only zeros up to the next {RECORD}-byte record boundary may follow"
                    )),
                });
            }
            self.position = end;
            self.buffer.clear();
            if !self.more().await? {
                return Ok(());
            }
        }
    }
}

/// A parsed ustar header: entry name and size, after checking the checksum and type.
fn parse_header(block: &[u8]) -> Result<(String, u64), Refusal> {
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok())
        .ok_or_else(|| malformed("a tar header has no checksum"))?;
    let computed: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    if stored != computed {
        return Err(malformed("a tar header's checksum is wrong"));
    }
    let header = tar::Header::from_byte_slice(block);
    if !matches!(header.entry_type(), tar::EntryType::Regular) {
        return Err(malformed("an entry is not a regular file"));
    }
    let size = header
        .entry_size()
        .map_err(|_| malformed("a tar header's size is unreadable"))?;
    let name = String::from_utf8(header.path_bytes().into_owned())
        .map_err(|_| malformed("an entry name is not UTF-8"))?;
    Ok((name, size))
}

/// Reads a package from a stream: the manifest, then the file (hashed as it passes, never
/// held whole), then the end of the archive (bounded: see [`RECORD`]). `max_file` bounds the
/// file entry. Member names in the manifest must be unique at every depth.
pub async fn read<S, E>(stream: S, max_file: u64) -> Result<ReadPackage, Refusal>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut pull = Pull {
        stream,
        buffer: BytesMut::new(),
        position: 0,
    };
    let (name, size) = parse_header(&pull.take(BLOCK).await?)?;
    if name != MANIFEST_NAME {
        return Err(malformed(format!("the first entry is not {MANIFEST_NAME}")));
    }
    if size > MAX_MANIFEST {
        return Err(malformed(format!(
            "{MANIFEST_NAME} is larger than {MAX_MANIFEST} bytes"
        )));
    }
    let manifest_bytes = pull.take(size).await?;
    pull.take(padding(size)).await?;
    let value = from_slice_unique(&manifest_bytes)
        .map_err(|e| e.refusal(Problem::PackageMalformed, MANIFEST_NAME))?;
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| malformed(format!("{MANIFEST_NAME}: {e}")))?;
    if manifest.format != PACKAGE_FORMAT {
        return Err(malformed(format!(
            "{MANIFEST_NAME}: format is not {PACKAGE_FORMAT}"
        )));
    }
    let file = match &manifest.file {
        None => None,
        Some(entry) => {
            let (name, size) = parse_header(&pull.take(BLOCK).await?)?;
            if name != entry.name || size != entry.size {
                return Err(malformed(
                    "the file entry's name or size differs from the manifest's",
                ));
            }
            if size > max_file {
                return Err(malformed(format!(
                    "the file entry is larger than {max_file} bytes"
                )));
            }
            let mut hasher = Sha256::new();
            pull.consume(size, |piece| hasher.update(piece)).await?;
            pull.take(padding(size)).await?;
            Some((hex::encode(hasher.finalize()), size))
        }
    };
    // What follows must be the end-of-archive marker: no hidden extra entries.
    pull.end_of_archive().await?;
    Ok(ReadPackage { manifest, file })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(file: Option<FileEntry>) -> Manifest {
        Manifest {
            format: PACKAGE_FORMAT.to_owned(),
            payload: json!({ "a": 1 }),
            signature: "sig".to_owned(),
            receipt: None,
            file,
        }
    }

    async fn write(manifest: &Manifest, file: Option<&[u8]>, piece: usize) -> Vec<u8> {
        let writer = PackageWriter::new(manifest, 1_700_000_000).unwrap();
        let len = writer.len;
        let chunks: Option<Vec<Result<Bytes, std::io::Error>>> = file.map(|f| {
            f.chunks(piece.max(1))
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect()
        });
        let stream = writer.into_stream(chunks.map(futures_util::stream::iter));
        let parts: Vec<Bytes> = stream
            .map(|r: Result<Bytes, std::io::Error>| r.unwrap())
            .collect()
            .await;
        let bytes = parts.concat();
        assert_eq!(bytes.len() as u64, len, "announced length is exact");
        bytes
    }

    fn chunks(
        bytes: &[u8],
        piece: usize,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            bytes
                .chunks(piece)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn packages_round_trip_in_any_chunking() {
        let file = b"%PDF-1.7 hello".repeat(100);
        let m = manifest(Some(FileEntry {
            name: "document.pdf".into(),
            content_type: "application/pdf".into(),
            size: file.len() as u64,
        }));
        let bytes = write(&m, Some(&file), 333).await;
        for piece in [1, 7, 512, 100_000] {
            let read = read(chunks(&bytes, piece), 10_000).await.unwrap();
            assert_eq!(read.manifest, m);
            assert_eq!(
                read.file,
                Some((hex::encode(Sha256::digest(&file)), file.len() as u64))
            );
        }
        let none = manifest(None);
        let bytes = write(&none, None, 1).await;
        assert!(read(chunks(&bytes, 64), 0).await.unwrap().file.is_none());
    }

    #[tokio::test]
    async fn damaged_or_padded_packages_are_refused() {
        let file = b"0123456789".to_vec();
        let m = manifest(Some(FileEntry {
            name: "document.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
        }));
        let bytes = write(&m, Some(&file), 4).await;
        // Truncated.
        assert!(
            read(chunks(&bytes[..bytes.len() - 1200], 100), 100)
                .await
                .is_err()
        );
        // Header checksum broken.
        let mut broken = bytes.clone();
        broken[0] ^= 1;
        assert_eq!(
            read(chunks(&broken, 100), 100).await.unwrap_err().problem,
            Problem::PackageMalformed
        );
        // Something hidden after the file.
        let mut extra = bytes.clone();
        let at = extra.len() - 100;
        extra[at] = 1;
        assert!(read(chunks(&extra, 100), 100).await.is_err());
        // File larger than allowed.
        assert!(read(chunks(&bytes, 100), 5).await.is_err());
        // Not a tar at all.
        assert!(read(chunks(b"hello", 100), 100).await.is_err());
    }

    /// A stream of `head` then `zeros` zero bytes in 64 KiB chunks, made as they are pulled;
    /// `pulled` counts the bytes handed out.
    fn followed_by_zeros(
        head: Vec<u8>,
        zeros: u64,
        pulled: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        let piece = 64 * 1024u64;
        let head = futures_util::stream::iter([Ok(Bytes::from(head))]);
        let tail = futures_util::stream::iter((0..zeros.div_ceil(piece)).map(move |i| {
            let n = piece.min(zeros - i * piece);
            Ok(Bytes::from(vec![0u8; n as usize]))
        }));
        Box::pin(head.chain(tail).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                pulled.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }))
    }

    #[tokio::test]
    async fn what_follows_the_archive_is_bounded_by_the_record_padding() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let file = b"%PDF-1.7 x".repeat(70);
        let m = manifest(Some(FileEntry {
            name: "document.pdf".into(),
            content_type: "application/pdf".into(),
            size: file.len() as u64,
        }));
        let bytes = write(&m, Some(&file), 100).await;
        let len = bytes.len() as u64;
        let padded = len.div_ceil(RECORD) * RECORD;
        assert!(padded > len, "the test needs room for record padding");

        // Padded to the record boundary, as `tar -cf` writes: accepted.
        let pulled = std::sync::Arc::new(AtomicU64::new(0));
        let stream = followed_by_zeros(bytes.clone(), padded - len, pulled.clone());
        assert!(read(stream, u64::MAX).await.is_ok());
        // One zero byte more: refused.
        let stream = followed_by_zeros(bytes.clone(), padded - len + 1, pulled.clone());
        assert_eq!(
            read(stream, u64::MAX).await.unwrap_err().problem,
            Problem::PackageTrailingData
        );

        // 256 MiB of zeros: refused having read at most one 64 KiB chunk past the bound.
        let pulled = std::sync::Arc::new(AtomicU64::new(0));
        let zeros = 256 * 1024 * 1024;
        let stream = followed_by_zeros(bytes.clone(), zeros, pulled.clone());
        let refusal = read(stream, u64::MAX).await.unwrap_err();
        assert_eq!(refusal.problem, Problem::PackageTrailingData);
        assert!(refusal.to_string().contains("record"), "{refusal}");
        let read_bytes = pulled.load(Ordering::Relaxed);
        assert!(
            read_bytes <= padded + 64 * 1024,
            "read {read_bytes} bytes of {}",
            len + zeros
        );

        // The end-of-archive marker is required.
        let cut = &bytes[..bytes.len() - 2 * BLOCK as usize];
        let refusal = read(chunks(cut, 100), u64::MAX).await.unwrap_err();
        assert_eq!(refusal.problem, Problem::PackageMalformed);
        assert!(refusal.to_string().contains("end-of-archive"), "{refusal}");
    }

    #[tokio::test]
    async fn a_manifest_with_a_duplicate_member_is_refused_naming_it() {
        let m = manifest(None);
        let bytes = write(&m, None, 1).await;
        // Same length, so the tar header stays right: `"a": 1` becomes `"a":1,"a":2` minus
        // the whitespace the pretty printer put in.
        let text = String::from_utf8(bytes).unwrap();
        let before = "\"payload\": {\n    \"a\": 1\n  }";
        assert!(text.contains(before), "{text}");
        let after = format!(
            "\"payload\": {{\"a\":1,\"a\":2{}}}",
            " ".repeat(before.len() - 24)
        );
        assert_eq!(before.len(), after.len());
        let text = text.replacen(before, &after, 1);
        let mut forged = text.into_bytes();
        let mut header = tar::Header::from_byte_slice(&forged[..512]).clone();
        header.set_cksum();
        forged[..512].copy_from_slice(header.as_bytes());
        let refusal = read(chunks(&forged, 100), 0).await.unwrap_err();
        assert_eq!(refusal.problem, Problem::PayloadDuplicateKey);
        assert_eq!(refusal.field, Some("payload"));
        assert!(refusal.to_string().starts_with("payload.a: "), "{refusal}");
    }

    #[test]
    fn entry_names_are_tame() {
        assert_eq!(file_entry_name("pdf"), "document.pdf");
        assert_eq!(file_entry_name("../x"), "document.x");
        assert_eq!(file_entry_name(""), "document");
    }
}
