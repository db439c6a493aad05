//! The fake's own behaviour, one model per test.

use chrono::FixedOffset;
use serde_json::json;

use super::*;

fn books() -> FakeVendor {
    FakeVendor::new("books").module(
        FakeModule::new("contacts", "contact_id")
            .modified("last_modified_time")
            .utc_offset(FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
            .fields(&["contact_name", "email", "website", "status"])
            .list_omits(&["website"])
            .unique("contact_name")
            .batch(2)
            .page_size(2)
            .action("void", "status", "void"),
    )
}

fn rec(v: Value) -> Record {
    object(v)
}

fn ids(records: &[Record]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["contact_id"].as_str().unwrap())
        .collect()
}

fn error(e: CallError) -> ConnectorError {
    e.connector_error().cloned().unwrap()
}

#[tokio::test]
async fn lists_in_pages_with_a_cursor() {
    let fake = books();
    for n in 0..5 {
        fake.insert("contacts", json!({"contact_name": format!("c{n}")}));
        fake.clock().advance(Duration::from_secs(1));
    }
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = fake
            .list("contacts", None, cursor.as_deref())
            .await
            .unwrap();
        seen.extend(page.records);
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want = [
        "contacts-1",
        "contacts-2",
        "contacts-3",
        "contacts-4",
        "contacts-5",
    ];
    assert_eq!(ids(&seen), want);
    let bad = fake.list("contacts", None, Some("x")).await.unwrap_err();
    assert!(matches!(error(bad), ConnectorError::Invalid { field, .. } if field == "cursor"));
}

#[tokio::test]
async fn since_compares_instants_at_one_second_granularity() {
    let fake = books();
    let clock = fake.clock();
    let a = fake.insert("contacts", json!({"contact_name": "A"}));
    clock.advance(Duration::from_millis(1200));
    let b = fake.insert("contacts", json!({"contact_name": "B"}));
    clock.advance(Duration::from_millis(300));
    let c = fake.insert("contacts", json!({"contact_name": "C"}));
    let stamp = |id: &str| fake.get_now("contacts", id).unwrap()["last_modified_time"].clone();
    // 12:00:01.2 and 12:00:01.5 share a stamp, written Books-style.
    assert_eq!(stamp(&b), stamp(&c));
    assert_eq!(stamp(&b), json!("2024-05-01T17:30:01+0530"));
    assert_ne!(stamp(&a), stamp(&b));
    // The same instant in another zone and style.
    let page = fake
        .list("contacts", Some("2024-05-01T12:00:01+00:00"), None)
        .await
        .unwrap();
    assert_eq!(ids(&page.records), [b.as_str(), c.as_str()]);
    // A's edit in that second gives it the same stamp; equal stamps list
    // by id, so A now comes first.
    fake.edit("contacts", &a, json!({"email": "a@x.test"}));
    let page = fake
        .list("contacts", Some("2024-05-01T17:30:01+0530"), None)
        .await
        .unwrap();
    assert_eq!(ids(&page.records), [a.as_str(), b.as_str()]);
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
    let rest = fake
        .list("contacts", Some("2024-05-01T17:30:01+0530"), Some("2"))
        .await;
    assert_eq!(ids(&rest.unwrap().records), [c.as_str()]);
}

#[tokio::test]
async fn millisecond_modules_write_crm_times() {
    let fake = FakeVendor::new("crm").module(
        FakeModule::new("Accounts", "id")
            .modified("Modified_Time")
            .time_style(TimeStyle::Rfc3339)
            .granularity(Duration::from_millis(1))
            .without(Operation::Find),
    );
    fake.clock().advance(Duration::from_micros(1500));
    let id = fake.insert("Accounts", json!({}));
    let stored = fake.get_now("Accounts", &id).unwrap();
    assert_eq!(
        stored["Modified_Time"],
        json!("2024-05-01T12:00:00.001+00:00")
    );
    let info = fake.describe().await.unwrap();
    let module = info.module("Accounts").unwrap();
    assert!(module.supports(Operation::Incremental) && !module.supports(Operation::Find));
    let refused = fake.find("Accounts", &rec(json!({"id": id}))).await;
    assert!(matches!(
        error(refused.unwrap_err()),
        ConnectorError::Unsupported(_)
    ));
    // Like a real call, a future never polled does nothing.
    drop(fake.delete("Accounts", std::slice::from_ref(&id)));
    assert!(fake.get_now("Accounts", &id).is_some());
    assert_eq!(fake.calls(Op::Delete), 0);
}

#[tokio::test]
async fn list_rows_omit_fields_that_get_has() {
    let fake = books();
    let id = fake.insert(
        "contacts",
        json!({"contact_name": "A", "website": "a.test"}),
    );
    let page = fake.list("contacts", None, None).await.unwrap();
    assert!(!page.records[0].contains_key("website"));
    let full = fake.get("contacts", &id).await.unwrap();
    assert_eq!(full["website"], json!("a.test"));
    let missing = fake.get("contacts", "contacts-99").await.unwrap_err();
    assert!(matches!(error(missing), ConnectorError::NotFound(_)));
}

#[tokio::test]
async fn unique_refuses_per_record_and_update_needs_an_existing_id() {
    let fake = books();
    fake.insert("contacts", json!({"contact_name": "Acme"}));
    let batch = [
        rec(json!({"contact_name": "ACME"})),
        rec(json!({"contact_name": "Beta"})),
    ];
    let results = fake.create("contacts", &batch).await.unwrap();
    assert!(matches!(&results[0], Err(ConnectorError::Conflict(m)) if m.contains("contacts-1")));
    assert_eq!(
        results[1].as_ref().unwrap()["contact_id"],
        json!("contacts-2")
    );
    // Within one batch too: the second is refused.
    let batch = [
        rec(json!({"contact_name": "C"})),
        rec(json!({"contact_name": "c"})),
    ];
    let results = fake.create("contacts", &batch).await.unwrap();
    assert!(results[0].is_ok() && results[1].is_err());
    let too_many = [batch[0].clone(), batch[0].clone(), batch[0].clone()];
    assert!(fake.create("contacts", &too_many).await.is_err());

    let updates = [
        rec(json!({"contact_id": "contacts-2", "email": "b@x.test"})),
        rec(json!({"contact_id": "contacts-9", "email": "z@x.test"})),
    ];
    let results = fake.update("contacts", &updates).await.unwrap();
    let merged = results[0].as_ref().unwrap();
    assert_eq!(
        (&merged["contact_name"], &merged["email"]),
        (&json!("Beta"), &json!("b@x.test"))
    );
    assert!(matches!(results[1], Err(ConnectorError::NotFound(_))));
    let rename = [rec(
        json!({"contact_id": "contacts-2", "contact_name": "acme"}),
    )];
    let results = fake.update("contacts", &rename).await.unwrap();
    assert!(matches!(results[0], Err(ConnectorError::Conflict(_))));
    assert_eq!(fake.records("contacts").len(), 3);
}

#[tokio::test]
async fn search_lags_writes_by_calls() {
    let fake = books().search_lag(1);
    let by_name = rec(json!({"contact_name": "acme"}));
    let created = fake
        .create("contacts", &[rec(json!({"contact_name": "Acme"}))])
        .await;
    assert!(created.unwrap()[0].is_ok());
    assert!(fake.find("contacts", &by_name).await.unwrap().is_empty());
    let found = fake.find("contacts", &by_name).await.unwrap();
    assert_eq!(ids(&found), ["contacts-1"]);
    // A person's rename: the old name is found until the index catches up.
    fake.edit(
        "contacts",
        "contacts-1",
        json!({"contact_name": "Acme Ltd"}),
    );
    assert_eq!(fake.find("contacts", &by_name).await.unwrap().len(), 1);
    fake.index_now();
    assert!(fake.find("contacts", &by_name).await.unwrap().is_empty());
    let renamed = rec(json!({"contact_name": "ACME LTD"}));
    assert_eq!(fake.find("contacts", &renamed).await.unwrap().len(), 1);
}

#[tokio::test]
async fn search_can_see_deletions_at_once_while_lagging_writes() {
    let by_name = rec(json!({"contact_name": "acme"}));
    for at_once in [false, true] {
        let fake = books().search_lag(2);
        let fake = if at_once {
            fake.search_sees_deletes_at_once()
        } else {
            fake
        };
        let id = fake.insert("contacts", json!({"contact_name": "Acme"}));
        fake.index_now();
        fake.remove("contacts", &id);
        let found = fake.find("contacts", &by_name).await.unwrap();
        assert_eq!(found.is_empty(), at_once, "at once: {at_once}");
        fake.index_now();
        // A record deleted before its creation reached search never does.
        let id = fake.insert("contacts", json!({"contact_name": "Acme"}));
        fake.remove("contacts", &id);
        for _ in 0..3 {
            assert!(fake.find("contacts", &by_name).await.unwrap().is_empty());
        }
        // Creates lag either way.
        fake.insert("contacts", json!({"contact_name": "Acme"}));
        assert!(fake.find("contacts", &by_name).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_lost_answer_writes_then_errors() {
    let fake = books();
    fake.fail_next(Op::Create, Fault::LostAnswer);
    let err = fake
        .create("contacts", &[rec(json!({"contact_name": "A"}))])
        .await;
    let err = err.unwrap_err();
    assert!(
        matches!(&err, CallError::Connector { function: "create", plugin, .. } if plugin == "books")
    );
    assert!(matches!(error(err), ConnectorError::Transient(_)));
    assert_eq!(fake.records("contacts").len(), 1);
    assert_eq!(fake.writes()[0].by, By::Ferry);
    // A plain transient failure writes nothing.
    fake.fail_next(Op::Create, Fault::Transient);
    assert!(
        fake.create("contacts", &[rec(json!({"contact_name": "B"}))])
            .await
            .is_err()
    );
    assert_eq!(fake.records("contacts").len(), 1);
    assert_eq!(fake.calls(Op::Create), 2);
}

#[tokio::test]
async fn faults_are_consumed_once_in_order() {
    let fake = books();
    fake.fail_next(
        Op::List,
        Fault::RateLimited {
            retry_after_ms: Some(500),
        },
    );
    fake.fail_next(Op::List, Fault::Server5xx);
    let first = error(fake.list("contacts", None, None).await.unwrap_err());
    assert!(matches!(
        first,
        ConnectorError::RateLimited {
            retry_after_ms: Some(500),
            ..
        }
    ));
    // Faults belong to their operation.
    assert!(
        fake.get("contacts", "contacts-1")
            .await
            .is_err_and(|e| matches!(error(e), ConnectorError::NotFound(_)))
    );
    let second = error(fake.list("contacts", None, None).await.unwrap_err());
    assert!(matches!(
        second,
        ConnectorError::Vendor {
            http_status: 500,
            ..
        }
    ));
    assert!(fake.list("contacts", None, None).await.is_ok());
    assert_eq!(fake.calls(Op::List), 3);
    // Queued faults can be dropped, per operation.
    fake.fail_next(Op::List, Fault::Transient);
    fake.fail_next(Op::Get, Fault::Transient);
    fake.clear_faults(Op::List);
    assert!(fake.list("contacts", None, None).await.is_ok());
    assert!(
        fake.get("contacts", "contacts-1")
            .await
            .is_err_and(|e| matches!(error(e), ConnectorError::Transient(_)))
    );
}

#[tokio::test]
async fn deletions_reach_the_deleted_feed() {
    let fake = books();
    let a = fake.insert("contacts", json!({"contact_name": "A"}));
    let b = fake.insert("contacts", json!({"contact_name": "B"}));
    let results = fake
        .delete("contacts", &[a.clone(), "contacts-9".into()])
        .await
        .unwrap();
    assert!(results[0].is_ok() && matches!(results[1], Err(ConnectorError::NotFound(_))));
    fake.clock().advance(Duration::from_secs(60));
    fake.remove("contacts", &b);
    let all = fake.deleted("contacts", None, None).await.unwrap();
    let gone: Vec<_> = all.records.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(gone, [a.as_str(), b.as_str()]);
    assert_eq!(
        all.records[0].deleted_at.as_deref(),
        Some("2024-05-01T17:30:00+0530")
    );
    let later = fake
        .deleted("contacts", Some("2024-05-01T12:01:00Z"), None)
        .await
        .unwrap();
    assert_eq!(later.records.len(), 1);
    assert!(fake.records("contacts").is_empty());
}

#[tokio::test]
async fn actions_set_a_field_and_bump_the_modified_time() {
    let fake = books();
    let id = fake.insert("contacts", json!({"contact_name": "A", "status": "active"}));
    fake.clock().advance(Duration::from_secs(5));
    let after = fake
        .act("contacts", &id, "void", &Record::new())
        .await
        .unwrap();
    assert_eq!(after["status"], json!("void"));
    assert_eq!(
        after["last_modified_time"],
        json!("2024-05-01T17:30:05+0530")
    );
    let unknown = fake.act("contacts", &id, "explode", &Record::new()).await;
    assert!(matches!(
        error(unknown.unwrap_err()),
        ConnectorError::Unsupported(_)
    ));
    let info = fake.describe().await.unwrap();
    let module = info.module("contacts").unwrap();
    assert!(module.action("void").is_some() && module.supports(Operation::DeletedFeed));
    assert_eq!(module.max_batch, 2);
}

#[tokio::test]
async fn two_vendors_share_a_clock() {
    let clock = FakeClock::new();
    let a = books().with_clock(clock.clone());
    let b = books().with_clock(clock.clone());
    clock.advance(Duration::from_secs(3600));
    let ia = a.insert("contacts", json!({"contact_name": "A"}));
    let ib = b.insert("contacts", json!({"contact_name": "B"}));
    let t =
        |v: &FakeVendor, id: &str| v.get_now("contacts", id).unwrap()["last_modified_time"].clone();
    assert_eq!(t(&a, &ia), t(&b, &ib));
    let shared: Arc<dyn Vendor> = Arc::new(a.clone());
    assert!(shared.get("contacts", &ia).await.is_ok());
}
