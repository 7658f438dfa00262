//! The access log: golden vectors, tamper evidence (edit, delete, reorder, insert straight in
//! the database), the citizen's export verified offline, concurrent appends on SQLite and
//! PostgreSQL, checkpoints served and consistent, erasure, the newest-first page.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use congdanso::audit::model::{self, Content, GENESIS, entry_leaf_hash, leaf_data};
use congdanso::audit::service::{self, EntryRef, PageQuery};
use congdanso::audit::{Action, Actor, Authorization, Entry, Object, Outcome, Purpose};
use congdanso::clock::Clock;
use congdanso::crypto::merkle;
use congdanso::crypto::note::Checkpoint;
use congdanso::vault::model::DocumentType;
use entity::access_log_entry;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

// ------------------------------------------------------------------ helpers

fn citizen() -> Uuid {
    Uuid::now_v7()
}

/// A varied entry: the `n`th read of one of two documents by a clerk or an agency.
fn sample_entry(account: Uuid, n: u32, clerk: Uuid, document: Uuid) -> Entry {
    let agency = Uuid::from_u128(0xa9e7);
    let (actor, authorization) = if n.is_multiple_of(2) {
        (
            Actor::Staff {
                account: clerk,
                agency,
            },
            Authorization::Request(Uuid::from_u128(u128::from(n))),
        )
    } else {
        (
            Actor::Agency {
                credential: Uuid::from_u128(0xc4ed),
                agency,
            },
            Authorization::Grant(Uuid::from_u128(0x6a47)),
        )
    };
    Entry {
        account,
        actor,
        action: Action::DocumentOpen,
        object: Object::Document {
            id: document,
            doc_type: DocumentType::Cccd,
        },
        purpose: Purpose::parse(&format!("Đăng ký thường trú, lần {n}")),
        authorization,
        outcome: Outcome::Allowed,
    }
}

/// Appends in its own transaction, as a feature would with its action.
/// Appends in its own transaction, as a feature would with its action, then runs the
/// sequencer (the background task's job) and returns where the entry landed.
async fn append(app: &TestApp, entry: &Entry) -> EntryRef {
    let txn = app.state.db.begin().await.unwrap();
    let id = service::append(&txn, app.clock.now(), entry).await.unwrap();
    txn.commit().await.unwrap();
    service::integrate(&app.state.db, app.clock.now())
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::seconds(1));
    service::entry_ref(&app.state.db, id)
        .await
        .unwrap()
        .unwrap()
}

struct World {
    app: TestApp,
    a: Uuid,
    a_entries: Vec<EntryRef>,
}

/// Citizen A with 5 entries and citizen B with 3, interleaved; a checkpoint of all 8.
async fn world() -> World {
    let app = spawn_app().await;
    let (a, b) = (citizen(), citizen());
    let (clerk, doc) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a_entries = Vec::new();
    for n in 0..5 {
        a_entries.push(append(&app, &sample_entry(a, n, clerk, doc)).await);
        if n < 3 {
            append(&app, &sample_entry(b, n, clerk, doc)).await;
        }
    }
    service::publish_checkpoint(&app.state)
        .await
        .unwrap()
        .unwrap();
    let report = service::verify_database(&app.state.db).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 8);
    assert_eq!(report.tree_size, 8);
    World { app, a, a_entries }
}

async fn problems(app: &TestApp) -> Vec<service::Problem> {
    let report = service::verify_database(&app.state.db).await.unwrap();
    assert!(!report.is_ok(), "tampering went unnoticed");
    report.problems
}

// ------------------------------------------------------------------ golden vectors

fn golden_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares with the checked-in file, or rewrites it with `UPDATE_GOLDEN=1`.
fn check_golden(name: &str, computed: &Value) {
    let path = golden_path(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        let mut text = serde_json::to_string_pretty(computed).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        &stored, computed,
        "{name} changed: the access-log format moved"
    );
}

fn golden_entry(seq: u32) -> (Entry, DateTime<Utc>, [u8; 32]) {
    let account = Uuid::parse_str("019ade00-0000-7000-8000-00000000c1d2").unwrap();
    let entry = Entry {
        account,
        actor: Actor::Agency {
            credential: Uuid::parse_str("019ade00-0000-7000-8000-0000000000c1").unwrap(),
            agency: Uuid::parse_str("019ade00-0000-7000-8000-0000000000a9").unwrap(),
        },
        action: if seq == 2 {
            Action::DocumentFields
        } else {
            Action::DocumentOpen
        },
        object: Object::Document {
            id: Uuid::parse_str("019ade00-0000-7000-8000-0000000000d0").unwrap(),
            doc_type: DocumentType::Cccd,
        },
        purpose: Purpose::parse("Xác minh nhân thân khi đăng ký thường trú"),
        authorization: Authorization::Grant(
            Uuid::parse_str("019ade00-0000-7000-8000-0000000000e1").unwrap(),
        ),
        outcome: if seq == 3 {
            Outcome::Denied
        } else {
            Outcome::Allowed
        },
    };
    let at = DateTime::parse_from_rfc3339("2026-12-02T08:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::seconds(i64::from(seq));
    let salt = [seq as u8; 32];
    (entry, at, salt)
}

#[test]
fn golden_vectors_are_recomputed() {
    // One entry: content bytes, salted hash, leaf data, leaf hash.
    let (entry, at, salt) = golden_entry(1);
    let content = Content::new(&entry, at);
    let content_hash = content.hash(&salt).unwrap();
    let d = leaf_data(entry.account, 1, 0, &GENESIS, &content_hash);
    check_golden(
        "access-log-entry.json",
        &json!({
            "account": entry.account.to_string(),
            "seq": 1,
            "leaf_index": 0,
            "prev_hash": hex::encode(GENESIS),
            "salt": hex::encode(salt),
            "content": content,
            "content_bytes": hex::encode(content.encode().unwrap()),
            "content_hash": hex::encode(content_hash),
            "leaf_data": hex::encode(&d),
            "leaf_hash": hex::encode(merkle::leaf_hash(&d)),
        }),
    );

    // A chain of three entries, the tree of their leaves, and the RFC 6962 reference tree.
    let mut prev = GENESIS;
    let mut leaves = Vec::new();
    for seq in 1..=3u32 {
        let (entry, at, salt) = golden_entry(seq);
        let content_hash = Content::new(&entry, at).hash(&salt).unwrap();
        let leaf = entry_leaf_hash(
            entry.account,
            u64::from(seq),
            u64::from(seq - 1),
            &prev,
            &content_hash,
        );
        leaves.push(leaf);
        prev = leaf;
    }
    let reference: Vec<[u8; 32]> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|l| merkle::leaf_hash(&hex::decode(l).unwrap()))
    .collect();
    let root = merkle::root(&leaves);
    check_golden(
        "access-log-tree.json",
        &json!({
            "leaf_hashes": leaves.iter().map(hex::encode).collect::<Vec<_>>(),
            "root": hex::encode(root),
            "rfc6962_reference_root_8": hex::encode(merkle::root(&reference)),
        }),
    );
    assert_eq!(
        hex::encode(merkle::root(&reference)),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );

    // The checkpoint note of that tree, signed by a fixed test key (Ed25519 is
    // deterministic), and the C2SP example checkpoint body.
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x42; 32]);
    let checkpoint = Checkpoint {
        origin: "congdanso.example/access-log".to_owned(),
        size: 3,
        root,
        extensions: Vec::new(),
    };
    let note = checkpoint.sign(&key).unwrap();
    check_golden(
        "access-log-checkpoint.json",
        &json!({
            "signing_key_seed": hex::encode([0x42; 32]),
            "verifier_key": congdanso::crypto::note::verifier_key(&checkpoint.origin, &key.verifying_key()).unwrap(),
            "note": note,
        }),
    );
    assert_eq!(
        Checkpoint::open(&note, &checkpoint.origin, &key.verifying_key()).unwrap(),
        checkpoint
    );
}

// ------------------------------------------------------------------ tampering

#[actix_web::test]
async fn editing_an_entry_in_the_database_is_named_by_audit_verify() {
    let w = world().await;
    let target = w.a_entries[2];
    let edited = access_log_entry::Entity::update_many()
        .col_expr(
            access_log_entry::Column::Purpose,
            Expr::value("Mục đích khác"),
        )
        .filter(access_log_entry::Column::Id.eq(target.id))
        .exec(&w.app.state.db)
        .await
        .unwrap();
    assert_eq!(edited.rows_affected, 1);
    let problems = problems(&w.app).await;
    assert_eq!(problems[0].entry, Some(target.id), "{problems:?}");
    assert_eq!(problems[0].seq, Some(3));
    assert!(problems[0].what.contains("salted hash"), "{problems:?}");
}

#[actix_web::test]
async fn deleting_an_entry_in_the_database_is_named_by_audit_verify() {
    let w = world().await;
    let target = w.a_entries[2];
    access_log_entry::Entity::delete_many()
        .filter(access_log_entry::Column::Id.eq(target.id))
        .exec(&w.app.state.db)
        .await
        .unwrap();
    let problems = problems(&w.app).await;
    // The first entry after the hole is named, with what is missing.
    let after = access_log_entry::Entity::find()
        .filter(access_log_entry::Column::LeafIndex.eq(target.leaf_index + 1))
        .one(&w.app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(problems[0].entry, Some(after.id), "{problems:?}");
    assert!(problems[0].what.contains("missing"), "{problems:?}");
    // The citizen's next entry no longer links to its predecessor.
    let next = w.a_entries[3];
    assert!(
        problems
            .iter()
            .any(|p| p.entry == Some(next.id) && p.what.contains("seq 3 expected")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.what.contains("checkpoint")));
    // The server refuses to sign a checkpoint over the damaged tree.
    append(
        &w.app,
        &sample_entry(w.a, 9, Uuid::now_v7(), Uuid::now_v7()),
    )
    .await;
    assert!(service::publish_checkpoint(&w.app.state).await.is_err());
}

#[actix_web::test]
async fn reordering_entries_in_the_database_is_named_by_audit_verify() {
    let w = world().await;
    let (second, fourth) = (w.a_entries[1], w.a_entries[3]);
    let db = &w.app.state.db;
    for (id, leaf) in [
        (second.id, -1),
        (fourth.id, second.leaf_index),
        (second.id, fourth.leaf_index),
    ] {
        access_log_entry::Entity::update_many()
            .col_expr(access_log_entry::Column::LeafIndex, Expr::value(leaf))
            .filter(access_log_entry::Column::Id.eq(id))
            .exec(db)
            .await
            .unwrap();
    }
    let problems = problems(&w.app).await;
    assert_eq!(problems[0].entry, Some(fourth.id), "{problems:?}");
    assert!(problems[0].what.contains("seq 2 expected"), "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.what.contains("checkpoint") && p.what.contains("root"))
    );
}

#[actix_web::test]
async fn inserting_an_entry_in_the_database_is_named_by_audit_verify() {
    let w = world().await;
    let last = *w.a_entries.last().unwrap();
    // A forged entry whose hashes are all correct: only the heads give it away.
    let entry = sample_entry(w.a, 99, Uuid::now_v7(), Uuid::now_v7());
    let at = model::truncate_to_micros(w.app.clock.now());
    let content = Content::new(&entry, at);
    let salt = [7u8; 32];
    let content_hash = content.hash(&salt).unwrap();
    let leaf = entry_leaf_hash(w.a, 6, 8, &last.leaf_hash, &content_hash);
    let forged = Uuid::now_v7();
    access_log_entry::Entity::insert(access_log_entry::ActiveModel::from(
        access_log_entry::Model {
            id: forged,
            account_id: w.a,
            seq: 6,
            leaf_index: 8,
            prev_hash: last.leaf_hash.to_vec(),
            content_hash: content_hash.to_vec(),
            leaf_hash: leaf.to_vec(),
            salt: Some(salt.to_vec()),
            occurred_at: at,
            actor_kind: Some(content.actor_kind),
            actor_id: Some(content.actor_id),
            actor_agency_id: Some(content.actor_agency),
            action: Some(content.action),
            object_type: Some(content.object_type),
            object_id: Some(content.object_id),
            purpose: Some(content.purpose),
            authorization: Some(content.authorization),
            outcome: Some(content.outcome),
            erased: false,
            erased_at: None,
        },
    ))
    .exec_without_returning(&w.app.state.db)
    .await
    .unwrap();
    let problems = problems(&w.app).await;
    assert_eq!(problems[0].entry, Some(forged), "{problems:?}");
    assert!(problems[0].what.contains("inserted"), "{problems:?}");
}

// ------------------------------------------------------------------ export

async fn platform_keys_json(app: &TestApp) -> String {
    let service = actix_web::test::init_service(congdanso::startup::app(app.state.clone())).await;
    let mut client = crate::helpers::Client::new(service);
    let reply = client
        .get("/.well-known/congdanso/platform-keys.json")
        .await;
    assert_eq!(reply.status, 200);
    reply.body
}

#[actix_web::test]
async fn an_export_verifies_offline_after_the_server_is_gone_and_any_changed_byte_fails() {
    let app = spawn_app().await;
    let (a, b) = (citizen(), citizen());
    let (clerk, doc) = (Uuid::now_v7(), Uuid::now_v7());
    for n in 0..3 {
        append(&app, &sample_entry(a, n, clerk, doc)).await;
        append(&app, &sample_entry(b, n, clerk, doc)).await;
    }
    let first = service::publish_checkpoint(&app.state)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.tree_size, 6);
    let mut erased = None;
    for n in 3..6 {
        let r = append(&app, &sample_entry(a, n, clerk, doc)).await;
        erased.get_or_insert(r);
        append(&app, &sample_entry(b, n, clerk, doc)).await;
    }
    let latest = service::publish_checkpoint(&app.state)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.tree_size, 12);
    // One more, newer than the latest checkpoint: exported as pending.
    append(&app, &sample_entry(a, 6, clerk, doc)).await;
    // The citizen erases one entry's content: the proofs must still hold.
    let erased = erased.unwrap();
    let txn = app.state.db.begin().await.unwrap();
    assert_eq!(
        service::erase(&txn, a, Some(erased.id), app.clock.now())
            .await
            .unwrap(),
        1
    );
    txn.commit().await.unwrap();

    let export = service::export_for_citizen(&app.state.db, a).await.unwrap();
    assert_eq!(export.entries.len(), 7);
    assert_eq!(export.checkpoints.len(), 2);
    let erased_entry = &export.entries[3];
    assert!(erased_entry.erased && erased_entry.content.is_none() && erased_entry.salt.is_none());
    let bytes = export.to_bytes().unwrap();
    let keys_file = platform_keys_json(&app).await;
    let published_key = congdanso::crypto::sign::parse_public_key(
        serde_json::from_str::<Value>(&keys_file).unwrap()["keys"][0]["public_key"]
            .as_str()
            .unwrap(),
    )
    .unwrap();

    // The server goes away: database closed and its folder deleted.
    app.state.db.clone().close().await.unwrap();
    drop(app);

    let verified = service::verify_export(&bytes, &[published_key]).unwrap();
    assert_eq!(verified.entries, 7);
    assert_eq!(verified.erased, 1);
    assert_eq!(verified.included, 6);
    assert_eq!(verified.pending, 1);
    assert_eq!(
        (verified.first_checkpoint, verified.latest_checkpoint),
        (6, 12)
    );

    // Another key does not verify it.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
    assert!(service::verify_export(&bytes, &[stranger]).is_err());

    // Every single changed byte is refused.
    for i in 0..bytes.len() {
        for replacement in [bytes[i] ^ 0x01, b' '] {
            if replacement == bytes[i] {
                continue;
            }
            let mut changed = bytes.clone();
            changed[i] = replacement;
            assert!(
                service::verify_export(&changed, &[published_key]).is_err(),
                "byte {i} changed to {replacement:#04x} went unnoticed: {}",
                String::from_utf8_lossy(&changed[i.saturating_sub(40)..(i + 40).min(bytes.len())])
            );
        }
    }

    // The command line, with nothing but the export and the published keys file.
    let dir = tempfile::tempdir().unwrap();
    let export_path = dir.path().join("access-log.json");
    let keys_path = dir.path().join("platform-keys.json");
    std::fs::write(&export_path, &bytes).unwrap();
    std::fs::write(&keys_path, keys_file).unwrap();
    let run = |path: &std::path::Path| {
        crate::verify::cli()
            .args(["audit", "verify", "--export"])
            .arg(path)
            .arg("--platform-keys")
            .arg(&keys_path)
            .output()
            .unwrap()
    };
    let ok = run(&export_path);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid: 7 entries (1 erased)"));
    let mut changed = bytes.clone();
    let at = bytes.len() / 2;
    changed[at] ^= 0x01;
    std::fs::write(&export_path, &changed).unwrap();
    assert_eq!(run(&export_path).status.code(), Some(1));
}

// ------------------------------------------------------------------ concurrency

/// 50 appends for one citizen and 10 for another, all in flight at once, each in its own
/// transaction, and every third one followed at once by a sequencer run (several sequencers
/// race each other and the appends, as on several instances): one linear chain per citizen,
/// seq 1..=50 without gap, leaf indexes 0..60 each used once, and the whole log verifies.
async fn fifty_concurrent_appends(app: TestApp) {
    let (a, b) = (citizen(), citizen());
    let (clerk, doc) = (Uuid::now_v7(), Uuid::now_v7());
    let tasks = (0..60u32).map(|n| {
        let state = app.state.clone();
        let account = if n % 6 == 5 { b } else { a };
        let entry = sample_entry(account, n, clerk, doc);
        async move {
            let txn = state.db.begin().await?;
            let id = service::append(&txn, state.clock.now(), &entry)
                .await
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            txn.commit().await?;
            if n % 3 == 0 {
                service::integrate(&state.db, state.clock.now())
                    .await
                    .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            }
            Ok::<_, sea_orm::DbErr>(id)
        }
    });
    let results = futures_util::future::join_all(tasks).await;
    let ids: Vec<Uuid> = results
        .into_iter()
        .map(|r| r.expect("every concurrent append and sequencer run succeeds"))
        .collect();
    service::integrate(&app.state.db, app.clock.now())
        .await
        .unwrap();
    let mut refs: Vec<EntryRef> = Vec::new();
    for id in ids {
        refs.push(
            service::entry_ref(&app.state.db, id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let mut leaves: Vec<i64> = refs.iter().map(|r| r.leaf_index).collect();
    leaves.sort_unstable();
    assert_eq!(leaves, (0..60).collect::<Vec<i64>>());

    let rows = congdanso::audit::repo::entries_of(&app.state.db, a)
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    let mut prev = GENESIS.to_vec();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1, "gap or fork in the chain");
        assert_eq!(
            row.prev_hash, prev,
            "seq {} does not link to seq {}",
            row.seq, i
        );
        prev = row.leaf_hash.clone();
    }
    let head = congdanso::audit::repo::chain_head(&app.state.db, a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((head.seq, head.head_hash), (50, prev));
    service::publish_checkpoint(&app.state)
        .await
        .unwrap()
        .unwrap();
    let report = service::verify_database(&app.state.db).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.entries, report.tree_size, report.chains),
        (60, 60, 2)
    );
}

#[actix_web::test]
async fn fifty_concurrent_appends_for_one_citizen_make_one_chain_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::helpers::concurrent_sqlite_app(&dir).await;
    fifty_concurrent_appends(app).await;
}

#[actix_web::test]
async fn fifty_concurrent_appends_for_one_citizen_make_one_chain_on_postgres() {
    let Some(app) = crate::helpers::concurrent_postgres_app(
        "fifty_concurrent_appends_for_one_citizen_make_one_chain_on_postgres",
    )
    .await
    else {
        return;
    };
    fifty_concurrent_appends(app).await;
}

// ------------------------------------------------------------------ checkpoints

#[actix_web::test]
async fn the_checkpoint_endpoint_serves_a_note_the_published_key_verifies_and_checkpoints_are_consistent()
 {
    let app = spawn_app().await;
    let service = actix_web::test::init_service(congdanso::startup::app(app.state.clone())).await;
    let mut client = crate::helpers::Client::new(service);
    let keys: Value = serde_json::from_str(
        &client
            .get("/.well-known/congdanso/platform-keys.json")
            .await
            .body,
    )
    .unwrap();
    let key =
        congdanso::crypto::sign::parse_public_key(keys["keys"][0]["public_key"].as_str().unwrap())
            .unwrap();
    let origin = service::origin(&app.state.config.public_url);

    // Before the first entry: the signed empty tree.
    let reply = client.get("/.well-known/congdanso/log/checkpoint").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let empty = Checkpoint::open(&reply.body, &origin, &key).unwrap();
    assert_eq!((empty.size, empty.root), (0, merkle::empty_root()));

    let a = citizen();
    let (clerk, doc) = (Uuid::now_v7(), Uuid::now_v7());
    for n in 0..3 {
        append(&app, &sample_entry(a, n, clerk, doc)).await;
    }
    service::publish_checkpoint(&app.state).await.unwrap();
    let first = Checkpoint::open(
        &client
            .get("/.well-known/congdanso/log/checkpoint")
            .await
            .body,
        &origin,
        &key,
    )
    .unwrap();
    assert_eq!(first.size, 3);
    // Not grown: nothing new to publish.
    assert!(
        service::publish_checkpoint(&app.state)
            .await
            .unwrap()
            .is_none()
    );
    for n in 3..8 {
        append(&app, &sample_entry(a, n, clerk, doc)).await;
    }
    service::publish_checkpoint(&app.state).await.unwrap();
    let second = Checkpoint::open(
        &client
            .get("/.well-known/congdanso/log/checkpoint")
            .await
            .body,
        &origin,
        &key,
    )
    .unwrap();
    assert_eq!(second.size, 8);

    // The export's consistency proof links the two published heads.
    let export = service::export_for_citizen(&app.state.db, a).await.unwrap();
    let proof: Vec<[u8; 32]> = export
        .consistency
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
    merkle::verify_consistency(first.size, second.size, &first.root, &second.root, &proof).unwrap();
    assert!(
        merkle::verify_consistency(first.size, second.size, &empty.root, &second.root, &proof)
            .is_err()
    );
    // The published key as a C2SP verifier key names the log.
    let vkey = congdanso::crypto::note::verifier_key(&origin, &key).unwrap();
    assert!(vkey.starts_with(&format!("{origin}+")));
    assert_eq!(
        B64.decode(vkey.splitn(3, '+').nth(2).unwrap()).unwrap()[1..],
        key.as_bytes()[..]
    );
}

// ------------------------------------------------------------------ erasure and the page

#[actix_web::test]
async fn erasing_an_account_keeps_every_proof_and_hides_the_entries() {
    let w = world().await;
    let txn = w.app.state.db.begin().await.unwrap();
    assert_eq!(
        service::erase(&txn, w.a, None, w.app.clock.now())
            .await
            .unwrap(),
        5
    );
    txn.commit().await.unwrap();
    let report = service::verify_database(&w.app.state.db).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let rows = congdanso::audit::repo::entries_of(&w.app.state.db, w.a)
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.erased
        && r.salt.is_none()
        && r.purpose.is_none()
        && r.actor_id.is_none()
        && r.object_id.is_none()));
    let page = service::page(&w.app.state, w.a, &PageQuery::default(), 10)
        .await
        .unwrap();
    assert!(page.entries.is_empty());
    let export = service::export_for_citizen(&w.app.state.db, w.a)
        .await
        .unwrap();
    let key = w.app.state.keys.signing.verifying_key();
    let verified = service::verify_export(&export.to_bytes().unwrap(), &[key]).unwrap();
    assert_eq!((verified.entries, verified.erased), (5, 5));
}

#[actix_web::test]
async fn the_citizens_page_is_newest_first_by_keyset_with_filters() {
    let app = spawn_app().await;
    let a = citizen();
    let (clerk, doc1, doc2) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let start = app.clock.now();
    for n in 0..7u32 {
        let doc = if n < 4 { doc1 } else { doc2 };
        append(&app, &sample_entry(a, n, clerk, doc)).await;
    }
    // Someone else's entry never shows.
    append(&app, &sample_entry(citizen(), 0, clerk, doc1)).await;

    let mut query = PageQuery::default();
    let mut seen = Vec::new();
    loop {
        let page = service::page(&app.state, a, &query, 3).await.unwrap();
        assert!(page.entries.len() <= 3);
        seen.extend(page.entries.iter().map(|e| e.seq));
        match page.next_before {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1]);

    let first = service::page(&app.state, a, &PageQuery::default(), 1)
        .await
        .unwrap();
    let newest = &first.entries[0];
    assert_eq!(newest.action, Some(Action::DocumentOpen));
    assert_eq!(newest.outcome, Some(Outcome::Allowed));
    assert!(newest.purpose.as_deref().unwrap().starts_with("Đăng ký"));

    let by_clerk = service::page(
        &app.state,
        a,
        &PageQuery {
            actor: Some(clerk),
            ..PageQuery::default()
        },
        10,
    )
    .await
    .unwrap();
    // Even n were the clerk: 0, 2, 4, 6 → seq 1, 3, 5, 7.
    assert_eq!(
        by_clerk.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![7, 5, 3, 1]
    );
    let by_doc = service::page(
        &app.state,
        a,
        &PageQuery {
            document: Some(doc2),
            ..PageQuery::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        by_doc.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![7, 6, 5]
    );
    let period = service::page(
        &app.state,
        a,
        &PageQuery {
            from: Some(start + chrono::Duration::seconds(2)),
            until: Some(start + chrono::Duration::seconds(4)),
            ..PageQuery::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        period.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 3]
    );
}

// ------------------------------------------------------------------ the command line

#[actix_web::test]
async fn congdanso_audit_verify_names_the_first_bad_entry_and_exits_1() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        crate::verify::cli()
            .env("DATABASE_URL", &w.app.state.config.database_url)
            .env("DATA_DIR", dir.path())
            .env(
                "BLOB_STORE_URL",
                format!("file://{}/blobs", dir.path().display()),
            )
            .env("LOG_FILTER", "error")
            .args(args)
            .output()
            .unwrap()
    };
    let valid = run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&valid.stdout).into_owned();
    assert_eq!(valid.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("8 entries, 2 chains, tree of 8 leaves, 1 checkpoints"));

    // The citizen's export, written by the command line, verifies with the published key.
    let export_path = dir.path().join("export.json");
    let written = run(&[
        "audit",
        "export",
        "--account",
        &w.a.to_string(),
        "--out",
        export_path.to_str().unwrap(),
    ]);
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let key = B64.encode(w.app.state.keys.signing.verifying_key().as_bytes());
    let offline = run(&[
        "audit",
        "verify",
        "--export",
        export_path.to_str().unwrap(),
        "--platform-key",
        &key,
    ]);
    assert_eq!(
        offline.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&offline.stdout)
    );

    let target = w.a_entries[1];
    access_log_entry::Entity::update_many()
        .col_expr(access_log_entry::Column::Outcome, Expr::value("denied"))
        .filter(access_log_entry::Column::Id.eq(target.id))
        .exec(&w.app.state.db)
        .await
        .unwrap();
    let bad = run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&bad.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&bad.stderr).into_owned();
    assert_eq!(bad.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("first problem: entry {}", target.id)),
        "{stderr}"
    );
    assert!(stdout.contains("salted hash"), "{stdout}");
}

// ------------------------------------------------------------------ the page

#[actix_web::test]
async fn the_access_log_page_shows_the_citizen_who_saw_their_data_newest_first() {
    use actix_web::http::StatusCode;
    let app = spawn_app().await;
    let service = actix_web::test::init_service(congdanso::startup::app(app.state.clone())).await;
    let mut client = crate::helpers::Client::new(service);
    // Not signed in: no page.
    let anonymous = client.get("/access-log").await;
    assert_ne!(anonymous.status, StatusCode::OK);

    crate::accounts::register_citizen(&mut client, &app, "079090001234").await;
    let account = entity::account::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let empty = client.get("/access-log").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Ai đã xem dữ liệu của tôi"));
    assert!(empty.body.contains("Chưa có ai xem dữ liệu của bạn."));
    let home = client.get("/").await;
    assert!(
        home.body.contains(r#"href="/access-log""#),
        "linked from home"
    );

    let (clerk, doc1, doc2) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for n in 0..22u32 {
        let doc = if n == 21 { doc2 } else { doc1 };
        append(&app, &sample_entry(account, n, clerk, doc)).await;
    }
    // Someone else's log stays theirs.
    append(&app, &sample_entry(citizen(), 77, clerk, doc1)).await;

    let page = client.get("/access-log").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Đăng ký thường trú, lần 21"));
    assert!(!page.body.contains("lần 77"));
    assert!(!page.body.contains("lần 1)"), "only 20 on the first page");
    let newest = page.body.find("lần 21").unwrap();
    let older_entry = page.body.find("lần 20").unwrap();
    assert!(newest < older_entry, "newest first");
    let link = page
        .body
        .split(r#"href="/access-log?before="#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older entries");
    let older = client
        .get(&format!(
            "/access-log?before={}",
            link.replace("&amp;", "&")
        ))
        .await;
    assert!(older.body.contains("lần 0)"));
    assert!(!older.body.contains("lần 21"));

    let only_doc2 = client.get(&format!("/access-log?document={doc2}")).await;
    assert!(only_doc2.body.contains("lần 21"));
    assert!(!only_doc2.body.contains("lần 20"));
    let bad = client.get("/access-log?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    client.lang = Some("en");
    let english = client.get("/access-log").await;
    assert!(english.body.contains("Who saw my data"));
}

#[actix_web::test]
async fn the_access_log_page_passes_wcag_and_fits_a_phone() {
    let Some(b) =
        crate::browser::Browser::start("the_access_log_page_passes_wcag_and_fits_a_phone", "vi")
            .await
    else {
        return;
    };
    congdanso::demo::seed(&b.app.state).await.unwrap();
    let login = congdanso::demo::DEMO_CITIZEN_ID;
    b.goto("/login").await;
    b.fill("login", login).await;
    b.fill("password", congdanso::demo::DEMO_PASSWORD).await;
    b.submit().await;
    assert_eq!(b.path().await, "/enroll");
    let account = congdanso::accounts::repo::find_by_login(&b.app.state.db, login)
        .await
        .unwrap()
        .unwrap();
    let secret = congdanso::accounts::service::totp_secret(&b.app.state, &account).unwrap();
    let code = congdanso::accounts::totp::code_at(&secret, b.app.clock.now().timestamp() / 30);
    b.fill("code", &code).await;
    b.submit().await;
    b.goto("/access-log").await;
    b.assert_accessible("access-log-empty-vi").await;
    let (clerk, doc) = (Uuid::now_v7(), Uuid::now_v7());
    for n in 0..25u32 {
        append(&b.app, &sample_entry(account.id, n, clerk, doc)).await;
    }
    b.goto("/access-log").await;
    assert_eq!(b.path().await, "/access-log");
    b.assert_accessible("access-log-vi").await;
    b.finish().await;
}

#[actix_web::test]
async fn deleting_an_account_erases_its_log_content_in_the_same_transaction() {
    let app = spawn_app().await;
    crate::issuing::register_citizen_directly(&app, crate::issuing::CITIZEN).await;
    let owner = crate::issuing::citizen(&app).await;
    for n in 0..3 {
        append(
            &app,
            &sample_entry(owner.id, n, Uuid::now_v7(), Uuid::now_v7()),
        )
        .await;
    }
    // One more still waiting for the sequencer when the account goes: erased all the same.
    let txn = app.state.db.begin().await.unwrap();
    service::append(
        &txn,
        app.clock.now(),
        &sample_entry(owner.id, 3, Uuid::now_v7(), Uuid::now_v7()),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    congdanso::vault::service::delete_account(&app.state, &owner)
        .await
        .unwrap();
    service::integrate(&app.state.db, app.clock.now())
        .await
        .unwrap();
    let rows = congdanso::audit::repo::entries_of(&app.state.db, owner.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 5, "entries stay as proof, the deletion last");
    assert!(
        rows[..4]
            .iter()
            .all(|r| r.erased && r.salt.is_none() && r.object_id.is_none()),
        "their readable content went with the account"
    );
    let last = &rows[4];
    assert!(!last.erased, "the deletion itself stays readable");
    assert_eq!(last.action.as_deref(), Some("account.delete"));
    assert_eq!(last.object_type.as_deref(), Some("account"));
    let report = service::verify_database(&app.state.db).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
