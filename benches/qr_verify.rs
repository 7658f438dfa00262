//! Verifying a QR identity token without the database: parse (`CDS1:` prefix, Base45, the
//! 121-byte layout) and the Ed25519 signature with the validity check — the CPU part of every
//! scan (`qr::service::check_offline`, which the server's `verify` runs before its one
//! transaction). Separately: parse only, and signature only.
//!
//! Run: `cargo bench --bench qr_verify -- --warm-up-time 1 --measurement-time 3 --sample-size 20`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use congdanso::qr::service::check_offline;
use congdanso::qr::token::{self, Claims};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[5; 32]);
    let public = key.verifying_key();
    let key_id = token::key_id_bytes(&congdanso::keys::signing_key_id(&public)).unwrap();
    let claims = Claims {
        version: token::VERSION_PHONE,
        key_id,
        handle: [0x11; token::HANDLE_LEN],
        issued_at: 1_800_000_000,
        expires_at: 1_800_000_120,
        nonce: [0x22; token::NONCE_LEN],
    };
    let text = token::issue(&key, &claims);
    let now = Utc.timestamp_opt(1_800_000_060, 0).unwrap();

    let mut group = c.benchmark_group("qr");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            let parsed = check_offline(
                black_box(&text),
                |id| (*id == key_id).then_some(public),
                now,
            );
            assert!(parsed.is_ok());
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| token::parse(black_box(&text)).unwrap())
    });
    let parsed = token::parse(&text).unwrap();
    group.bench_function("signature_only", |b| {
        b.iter(|| assert!(black_box(&parsed).signed_by(&public)))
    });
    // The reference in the same run: ed25519-dalek's strict check on the same bytes.
    let bytes = parsed.bytes();
    let body: [u8; token::BODY_LEN] = bytes[..token::BODY_LEN].try_into().unwrap();
    let signature: [u8; 64] = bytes[token::BODY_LEN..].try_into().unwrap();
    let message = token::signed_message(&body);
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    group.bench_function("signature_only_verify_strict", |b| {
        b.iter(|| {
            assert!(
                public
                    .verify_strict(black_box(&message), black_box(&signature))
                    .is_ok()
            )
        })
    });
    group.bench_function("signature_only_verify", |b| {
        b.iter(|| {
            use ed25519_dalek::Verifier;
            assert!(
                public
                    .verify(black_box(&message), black_box(&signature))
                    .is_ok()
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
