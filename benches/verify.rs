//! Verifying signed documents: one full `verify::check` (payload parse, RFC 8785 bytes, two
//! Ed25519 verifications with the receipt, timeline), and reading a package (tar parsing and
//! SHA-256 of the file as it streams).
//!
//! Run: `cargo bench --bench verify -- --warm-up-time 1 --measurement-time 3 --sample-size 20`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use congdanso::crypto::sign;
use congdanso::verify::package::{self, FileEntry, Manifest, PackageWriter};
use congdanso::verify::trust::{PlatformKey, TrustedAuthority, TrustedIssuer, TrustedKey};
use congdanso::verify::{self, Evidence, PlatformKeys, Receipt, SignedReceipt, TrustList};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};

const FILE: usize = 64 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let agency = SigningKey::from_bytes(&[1; 32]);
    let platform = SigningKey::from_bytes(&[2; 32]);
    let key_id = sign::key_id_for("ik", &agency.verifying_key());
    let platform_id = congdanso::keys::signing_key_id(&platform.verifying_key());
    let file: Vec<u8> = (0..FILE).map(|i| (i % 251) as u8).collect();
    let file_sha = hex::encode(Sha256::digest(&file));
    let payload = json!({
        "version": 1, "kind": "issued", "type": "other",
        "fields": { "number": "123/QĐ", "title": "Giấy phép xây dựng", "issue_date": "2026-11-23" },
        "citizen_national_id": "001099000001", "file_sha256": file_sha,
        "issued_at": "2026-11-23T08:00:00Z", "valid_until": null,
        "issuer_id": "SXD-DANANG", "key_id": key_id,
    });
    let signature = sign::sign_json(&agency, &payload).unwrap();
    let digest = hex::encode(Sha256::digest(sign::canonical_json(&payload).unwrap()));
    let receipt = Receipt {
        version: 1,
        kind: "receipt".into(),
        document_id: "0193a000-0000-7000-8000-000000000000".into(),
        payload_sha256: digest,
        accepted_at: "2026-11-23T08:00:01Z".into(),
    };
    let receipt = SignedReceipt {
        signature: sign::sign_json(&platform, &serde_json::to_value(&receipt).unwrap()).unwrap(),
        receipt,
        platform_key_id: platform_id.clone(),
    };
    let trust = TrustList {
        format: congdanso::issuers::service::TRUST_LIST_FORMAT.into(),
        issued_at: "2026-11-23T08:00:00+00:00".into(),
        issuers: vec![TrustedIssuer {
            agency_id: "a".into(),
            code: "SXD-DANANG".into(),
            name: "Sở Xây dựng".into(),
            keys: vec![TrustedKey {
                key_id,
                public_key: B64.encode(agency.verifying_key().as_bytes()),
                purpose: "issuing".into(),
                valid_from: "2026-01-01T00:00:00+00:00".into(),
                valid_until: None,
                status: "active".into(),
                status_changed_at: None,
            }],
            authorities: vec![TrustedAuthority {
                doc_type: "other".into(),
                valid_from: "2026-01-01T00:00:00+00:00".into(),
                valid_until: None,
            }],
        }],
    };
    let platform_keys = PlatformKeys {
        keys: vec![PlatformKey {
            key_id: platform_id,
            public_key: B64.encode(platform.verifying_key().as_bytes()),
        }],
    };
    let evidence = Evidence {
        payload: &payload,
        signature: &signature,
        receipt: Some(&receipt),
        file_sha256: Some(&file_sha),
    };
    assert!(verify::check(&evidence, &trust, Some(&platform_keys)).is_ok());
    c.bench_function(
        "verify::check (payload, signature, receipt, timeline)",
        |b| b.iter(|| verify::check(black_box(&evidence), &trust, Some(&platform_keys)).unwrap()),
    );

    let manifest = Manifest {
        format: package::PACKAGE_FORMAT.into(),
        payload: payload.clone(),
        signature: signature.clone(),
        receipt: Some(receipt.clone()),
        file: Some(FileEntry {
            name: "document.pdf".into(),
            content_type: "application/pdf".into(),
            size: FILE as u64,
        }),
    };
    let writer = PackageWriter::new(&manifest, 0).unwrap();
    let pieces: Vec<Result<Bytes, std::io::Error>> = file
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let archive: Vec<u8> = runtime.block_on(async {
        let parts: Vec<Bytes> = writer
            .into_stream(Some(futures_util::stream::iter(pieces)))
            .map(|r: Result<Bytes, std::io::Error>| r.unwrap())
            .collect()
            .await;
        parts.concat()
    });
    let chunks: Vec<Bytes> = archive
        .chunks(1 << 20)
        .map(Bytes::copy_from_slice)
        .collect();
    let mut g = c.benchmark_group("package");
    g.throughput(Throughput::Bytes(archive.len() as u64));
    g.bench_function("read 64 MiB package (tar + SHA-256)", |b| {
        b.iter(|| {
            let stream =
                futures_util::stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
            runtime.block_on(package::read(stream, u64::MAX)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
