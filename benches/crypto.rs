//! STREAM vs raw AES-256-GCM throughput on a 64 MiB buffer.
//!
//! Run: `cargo bench --bench crypto -- --warm-up-time 1 --measurement-time 3 --sample-size 10`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use congdanso::crypto::{
    DEFAULT_CHUNK_SIZE, DataKey, HEADER_LEN, StreamContext, StreamDecryptor, StreamEncryptor,
    decrypt_document, encrypt_document,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uuid::Uuid;

const SIZE: usize = 64 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let plaintext: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let key = DataKey::generate().unwrap();
    let ctx = StreamContext {
        owner: Uuid::new_v4(),
        document: Uuid::now_v7(),
    };
    let blob = encrypt_document(&key, &ctx, &plaintext, DEFAULT_CHUNK_SIZE).unwrap();

    let raw = Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
    // Fixed nonce is fine for a benchmark only; never reuse nonces for real data.
    let nonce = [0u8; 12].into();
    let mut raw_ct = plaintext.clone();
    let raw_tag = raw
        .encrypt_inout_detached(&nonce, b"", raw_ct.as_mut_slice().into())
        .unwrap();

    let mut g = c.benchmark_group("aes256gcm_64MiB");
    g.throughput(Throughput::Bytes(SIZE as u64));

    // Every variant copies its input once into an output buffer. The "raw" and
    // "reused_out" variants write into a pre-allocated buffer (pure crypto +
    // memcpy); the one-shot `*_document` helpers allocate 64 MiB per call.
    let mut raw_buf = vec![0u8; SIZE];
    g.bench_function("raw_encrypt_one_call", |b| {
        b.iter(|| {
            raw_buf.copy_from_slice(black_box(&plaintext));
            let tag = raw
                .encrypt_inout_detached(&nonce, b"", raw_buf.as_mut_slice().into())
                .unwrap();
            black_box(tag)
        });
    });
    g.bench_function("stream_encrypt_64KiB_chunks", |b| {
        b.iter(|| {
            black_box(
                encrypt_document(&key, &ctx, black_box(&plaintext), DEFAULT_CHUNK_SIZE).unwrap(),
            )
        });
    });
    let mut out = Vec::with_capacity(blob.len());
    g.bench_function("stream_encrypt_push_1MiB_pieces_reused_out", |b| {
        b.iter(|| {
            out.clear();
            let (mut e, header) = StreamEncryptor::new(&key, &ctx, DEFAULT_CHUNK_SIZE).unwrap();
            out.extend_from_slice(&header);
            for piece in black_box(&plaintext).chunks(1 << 20) {
                e.push_into(piece, &mut out).unwrap();
            }
            e.finish_into(&mut out).unwrap();
            black_box(out.len())
        });
    });
    g.bench_function("raw_decrypt_one_call", |b| {
        b.iter(|| {
            raw_buf.copy_from_slice(black_box(&raw_ct));
            raw.decrypt_inout_detached(&nonce, b"", raw_buf.as_mut_slice().into(), &raw_tag)
                .unwrap();
            black_box(raw_buf.len())
        });
    });
    g.bench_function("stream_decrypt_64KiB_chunks", |b| {
        b.iter(|| black_box(decrypt_document(&key, &ctx, black_box(&blob)).unwrap()));
    });
    g.bench_function("stream_decrypt_push_1MiB_pieces_reused_out", |b| {
        b.iter(|| {
            out.clear();
            let mut d = StreamDecryptor::new(&key, &ctx, &blob[..HEADER_LEN]).unwrap();
            for piece in black_box(&blob[HEADER_LEN..]).chunks(1 << 20) {
                d.push_into(piece, &mut out).unwrap();
            }
            d.finish_into(&mut out).unwrap();
            black_box(out.len())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
