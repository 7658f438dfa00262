//! Blob put / streaming get / range / delete, on every store: local disk, memory and S3.

use bytes::Bytes;
use congdanso::config::{BlobStoreConfig, S3Settings, Secret};
use congdanso::storage::{BlobKey, BlobStore, PART_SIZE, StorageError};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::helpers::{s3_settings, skip};

/// Deterministic content of any size (no two parts alike, so misordering shows).
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

/// Streams `data` in uneven pieces, like a network body.
fn chunked(data: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let pieces: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(64 * 1024 + 7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces)
}

async fn exercise(store: &BlobStore) {
    // Empty, small, and larger than one part (forces a multipart upload).
    for (name, len) in [
        ("empty", 0usize),
        ("small", 1000),
        ("large", PART_SIZE * 2 + 12_345),
    ] {
        let key =
            BlobKey::parse(format!("tests/{name}-{}", uuid::Uuid::new_v4().simple())).unwrap();
        let data = content(len);
        let written = store.put_stream(&key, chunked(&data)).await.unwrap();
        assert_eq!(written, len as u64, "{name}");
        assert_eq!(store.size(&key).await.unwrap(), Some(len as u64), "{name}");

        let read = store.get_stream(&key).await.unwrap();
        assert_eq!(read.size, len as u64);
        let mut pieces = 0;
        let mut back = Vec::with_capacity(len);
        let mut body = read.stream;
        while let Some(chunk) = body.next().await {
            back.extend_from_slice(&chunk.unwrap());
            pieces += 1;
        }
        assert_eq!(back, data, "{name}: content differs");
        if len > PART_SIZE && store.backend() != congdanso::storage::BlobBackend::Memory {
            assert!(
                pieces > 1,
                "{name}: a large blob should stream in several pieces"
            );
        }

        if len > 10 {
            let range = store.get_range(&key, 3..10).await.unwrap();
            assert_eq!(&range[..], &data[3..10]);
        }

        store.delete(&key).await.unwrap();
        assert_eq!(store.size(&key).await.unwrap(), None, "{name}");
        assert!(matches!(
            store.get_stream(&key).await,
            Err(StorageError::NotFound)
        ));
        // Deleting twice is fine (deletes are retried).
        store.delete(&key).await.unwrap();
    }

    // A source that fails half-way leaves nothing behind under the key.
    let key = BlobKey::parse(format!("tests/broken-{}", uuid::Uuid::new_v4().simple())).unwrap();
    let first = content(PART_SIZE + 100);
    let failing = stream::iter(vec![
        Ok(Bytes::from(first)),
        Err(std::io::Error::other("client went away")),
    ]);
    let err = store.put_stream(&key, failing).await.unwrap_err();
    assert!(matches!(err, StorageError::Source(_)), "{err:?}");
    assert_eq!(store.size(&key).await.unwrap(), None);

    // Rename finalises an upload written under a temporary key.
    let tmp = BlobKey::parse(format!("tmp/{}", uuid::Uuid::new_v4().simple())).unwrap();
    let fin = BlobKey::parse(format!("final/{}", uuid::Uuid::new_v4().simple())).unwrap();
    store
        .put_bytes(&tmp, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    store.rename(&tmp, &fin).await.unwrap();
    assert_eq!(store.size(&tmp).await.unwrap(), None);
    assert_eq!(store.size(&fin).await.unwrap(), Some(5));
    let listed: Vec<BlobKey> = store
        .list(&BlobKey::parse("final").unwrap())
        .try_collect()
        .await
        .unwrap();
    assert!(listed.contains(&fin), "{listed:?}");
    store.delete(&fin).await.unwrap();

    store.check().await.unwrap();
}

#[actix_web::test]
async fn blobs_round_trip_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(
        &BlobStoreConfig::Local(dir.path().join("blobs")),
        &S3Settings::default(),
    )
    .unwrap();
    exercise(&store).await;
}

#[actix_web::test]
async fn blobs_round_trip_in_memory() {
    exercise(&BlobStore::memory()).await;
}

#[actix_web::test]
async fn blobs_round_trip_on_s3() {
    let Some(s3) = s3_settings() else {
        skip(
            "blobs_round_trip_on_s3",
            "TEST_S3_ENDPOINT / TEST_S3_BUCKET / credentials not set",
        );
        return;
    };
    let store = BlobStore::open(
        &BlobStoreConfig::S3 {
            bucket: s3.bucket,
            prefix: format!("storage-test-{}", uuid::Uuid::new_v4().simple()),
        },
        &S3Settings {
            endpoint: Some(s3.endpoint),
            region: Some(s3.region),
            access_key_id: Some(s3.access_key_id),
            secret_access_key: Some(Secret::new(s3.secret_access_key)),
            allow_http: true,
            virtual_hosted_style: false,
        },
    )
    .unwrap();
    exercise(&store).await;
}

#[actix_web::test]
async fn an_unreachable_s3_endpoint_fails_the_check() {
    let store = BlobStore::open(
        &BlobStoreConfig::S3 {
            bucket: "nowhere".into(),
            prefix: String::new(),
        },
        &S3Settings {
            // Port 9 (discard) on loopback: nothing listens there.
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("x".into()),
            secret_access_key: Some(Secret::new("y")),
            allow_http: true,
            virtual_hosted_style: false,
        },
    )
    .unwrap();
    // Either the request fails or it is still retrying when readiness would give up on it.
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), store.check()).await;
    assert!(matches!(outcome, Err(_) | Ok(Err(_))), "{outcome:?}");
}
