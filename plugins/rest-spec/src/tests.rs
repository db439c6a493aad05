use serde_json::json;

use super::*;

fn spec(yaml: &str) -> Spec {
    serde_json::from_value(serde_yaml_like(yaml)).unwrap()
}

/// The tests write specs as JSON (the host reads YAML; the types are the
/// same either way).
fn serde_yaml_like(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn templates_fill_placeholders_and_refuse_missing_values() {
    let t = Template::try_from("/lists/{settings.list}/members/{id}?x={{y}}".to_string()).unwrap();
    let settings = json!({"list": "L 1"});
    let vars = Vars {
        settings: settings.as_object(),
        id: Some("7"),
        ..Vars::default()
    };
    assert_eq!(t.render(&vars).unwrap(), "/lists/L 1/members/7?x={y}");
    assert_eq!(
        t.render_with(&vars, &|s| s.replace(' ', "%20")).unwrap(),
        "/lists/L%201/members/7?x={y}"
    );
    let err = t.render(&Vars::default()).unwrap_err();
    assert!(err.0.contains("no value for `{settings.list}`"), "{err}");

    let record = json!({"email": "a@b", "n": 3, "gone": null});
    let vars = Vars {
        record: record.as_object(),
        ..Vars::default()
    };
    let whole = Template::try_from("{record:json}".to_string()).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&whole.render(&vars).unwrap()).unwrap(),
        record
    );
    let n = Template::try_from("{record.n}-{record.email}".to_string()).unwrap();
    assert_eq!(n.render(&vars).unwrap(), "3-a@b");
    let gone = Template::try_from("{record.gone}".to_string()).unwrap();
    assert!(gone.render(&vars).is_err(), "null is no value");

    for bad in ["{}", "a}b", "{record..x}"] {
        assert!(Template::try_from(bad.to_string()).is_err(), "{bad}");
    }
}

#[test]
fn checks_name_where_a_placeholder_has_no_value() {
    let s = spec(
        r#"{"modules": {"customers": {
            "fields": {"id": {}, "email": {"kind": "email"}},
            "list": {"path": "/customers/{id}", "records": "data"},
            "create": {"path": "/customers", "query": {"mail": "{criteria.email}"}},
            "find": {"path": "/customers", "query": {"email": "{criteria.email}"}}
        }, "orphans": {"fields": {"id": {}, "owner": {"kind": "lookup", "lookup": "people"}}}}}"#,
    );
    let problems = s.check().unwrap_err();
    let has = |part: &str| problems.iter().any(|p| p.contains(part));
    assert!(
        has("modules.customers.list.path: `{id}` has no value here"),
        "{problems:#?}"
    );
    assert!(
        has("modules.customers.create.query.mail: `{criteria}`"),
        "{problems:#?}"
    );
    assert!(
        has("modules.orphans: neither `list` nor `get`"),
        "{problems:#?}"
    );
    assert!(
        has("modules.orphans.fields.owner.lookup: no module `people`"),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn pagination_styles_read_as_documented() {
    let s = spec(
        r#"{"pagination": {"style": "cursor", "param": "after", "next": "end_cursor",
              "has_more": "has_next_page", "size": {"param": "limit", "value": 100}},
            "modules": {"m": {"list": {"path": "/m", "records": "data",
              "pagination": {"style": "offset", "param": "fromindex", "start": 1,
                             "size": {"param": "range", "value": 50}}}}}}"#,
    );
    assert!(matches!(s.pagination, Pagination::Cursor { ref next, .. } if next == "end_cursor"));
    let list = s.modules["m"].list.as_ref().unwrap();
    assert!(matches!(
        list.pagination,
        Some(Pagination::Offset { start: 1, .. })
    ));
    assert!(s.check().is_ok());
}

#[test]
fn paths_reach_into_answers() {
    let v = json!({"data": [{"id": 1}], "page": {"next": "c2"}});
    assert_eq!(at(&v, "page.next"), Some(&json!("c2")));
    assert_eq!(at(&v, "data.0.id"), Some(&json!(1)));
    assert_eq!(at(&v, ""), Some(&v));
    assert_eq!(at(&v, "nope"), None);
}

#[test]
fn write_names_rename_written_fields_and_are_checked() {
    let s = spec(
        r#"{"modules": {"subscribers": {"id": "contact_email",
            "fields": {"contact_email": {}, "firstname": {}},
            "write_names": {"contact_email": "Contact Email", "firstname": "First Name"},
            "write_id": true,
            "list": {"path": "/subs", "records": "list_of_details"}}}}"#,
    );
    s.check().unwrap();
    let m = &s.modules["subscribers"];
    assert!(m.write_id);
    let rec = json!({"contact_email": "a@x.com", "firstname": "Ann", "other": 1});
    let w = m.written(rec.as_object().unwrap());
    assert_eq!(
        serde_json::Value::Object(w),
        json!({"Contact Email": "a@x.com", "First Name": "Ann", "other": 1})
    );
    let bad = spec(
        r#"{"modules": {"s": {"fields": {"id": {}}, "write_names": {"nope": "No"},
            "write_params": ["gone"], "list": {"path": "/s"}}}}"#,
    );
    let problems = bad.check().unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("write_names.nope")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("s.write_params.gone")),
        "{problems:?}"
    );
}

/// `write_params` leave the record and are read as `{params.*}`; an
/// optional placeholder (`?`) with no value is written as nothing.
#[test]
fn write_params_leave_the_record_for_optional_placeholders() {
    let s = spec(
        r#"{"modules": {"subscribers": {"id": "contact_email",
            "fields": {"contact_email": {}, "topic_id": {}},
            "write_names": {"contact_email": "Contact Email"},
            "write_params": ["topic_id"],
            "list": {"path": "/subs"},
            "create": {"path": "/subscribe", "body": {"kind": "form",
                "fields": {"contactinfo": "{record:json}", "topic_id": "{params.topic_id?}"}}}}}}"#,
    );
    s.check().unwrap();
    let m = &s.modules["subscribers"];
    let rec = json!({"contact_email": "a@x.com", "topic_id": "7"});
    let rec = rec.as_object().unwrap();
    let (written, params) = (m.written(rec), m.params(rec));
    assert_eq!(
        serde_json::Value::Object(written.clone()),
        json!({"Contact Email": "a@x.com"})
    );
    let t = Template::try_from("{params.topic_id?}".to_string()).unwrap();
    assert!(t.optional());
    let with = Vars {
        params: Some(&params),
        ..Vars::default()
    };
    assert_eq!(t.render(&with).unwrap(), "7");
    let empty = serde_json::Map::new();
    let without = Vars {
        params: Some(&empty),
        ..Vars::default()
    };
    assert_eq!(t.render(&without).unwrap(), "");
    // Without `?` a missing value is an error, as before.
    let strict = Template::try_from("{params.topic_id}".to_string()).unwrap();
    assert!(!strict.optional());
    assert!(strict.render(&without).is_err());
    // `{params}` only where a record is written.
    let bad = spec(
        r#"{"modules": {"s": {"fields": {"id": {}}, "list": {"path": "/s", "query": {"t": "{params.x}"}}}}}"#,
    );
    assert!(
        bad.check()
            .unwrap_err()
            .iter()
            .any(|p| p.contains("`{params}` has no value here"))
    );
}

#[test]
fn failed_marks_error_bodies_whatever_the_status() {
    let s =
        spec(r#"{"errors": {"failed": {"field": "status", "equals": "error"}}, "modules": {}}"#);
    let f = s.errors.failed.as_ref().unwrap();
    assert!(f.matches(&json!({"status": "error", "code": "2501"})));
    assert!(f.matches(&json!({"status": "ERROR"})));
    assert!(!f.matches(&json!({"status": "success"})));
    assert!(!f.matches(&json!({"code": "0"})));
    // Older specs without it still load.
    let old = spec(r#"{"errors": {"code": "code"}, "modules": {}}"#);
    assert_eq!(old.errors.failed, None);
}

/// A bulk create: `{records.<field>}` joins the field's values with
/// commas, only in `create_many`; it needs `create` beside it and names
/// fields the module has.
#[test]
fn create_many_joins_its_records_and_is_checked() {
    let s = spec(
        r#"{"modules": {"subscribers": {"id": "contact_email",
            "fields": {"contact_email": {}, "phone": {}},
            "list": {"path": "/subs"},
            "create": {"path": "/subscribe"},
            "create_many": {"max": 10, "only": ["contact_email"],
                "request": {"path": "/bulk", "body": {"kind": "form",
                    "fields": {"emailids": "{records.contact_email}"}}}}}}}"#,
    );
    s.check().unwrap();
    let many = s.modules["subscribers"].create_many.as_ref().unwrap();
    let records: Vec<serde_json::Map<String, serde_json::Value>> = ["a@x.com", "b@x.com"]
        .iter()
        .map(|e| json!({"contact_email": e}).as_object().unwrap().clone())
        .collect();
    let vars = Vars {
        records: Some(&records),
        ..Vars::default()
    };
    let Body::Form { fields } = &many.request.body else {
        panic!("a form body")
    };
    assert_eq!(fields["emailids"].render(&vars).unwrap(), "a@x.com,b@x.com");

    let bad = spec(
        r#"{"modules": {"s": {"fields": {"id": {}}, "list": {"path": "/s"},
            "create": {"path": "/s", "query": {"x": "{records.id}"}},
            "create_many": {"max": 0, "only": ["nope"], "request": {"path": "/bulk"}},
            "update": {"path": "/s/{id}"}}},
          "query": {}}"#,
    );
    let problems = bad.check().unwrap_err();
    for expected in [
        "modules.s.create.query.x: `{records}` has no value here",
        "modules.s.create_many.max: at least 1",
        "modules.s.create_many.only.nope: not among its fields",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected}: {problems:?}"
        );
    }
    let lonely = spec(
        r#"{"modules": {"s": {"fields": {"id": {}}, "list": {"path": "/s"},
            "create_many": {"max": 10, "only": ["id"], "request": {"path": "/bulk"}}}}}"#,
    );
    assert!(
        lonely
            .check()
            .unwrap_err()
            .iter()
            .any(|p| p.contains("create_many: needs `create` too"))
    );
}
