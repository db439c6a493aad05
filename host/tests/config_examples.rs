//! The example workspaces in `connectors/examples/` validate against the
//! describe fixtures and pass their own `*.test.yaml` cases.

use std::path::{Path, PathBuf};

use ferry::cli::test::run_tests;
use ferry::config::{self, LoadOptions, SecretMode, StaticCatalog, Workspace};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn describe() -> PathBuf {
    root().join("host/tests/fixtures/config/describe")
}

#[test]
fn examples_validate_cleanly() {
    let dir = root().join("connectors/examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        n += 1;
        let ws = Workspace::load_with(
            &p,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
        let (mut cat, problems) = StaticCatalog::from_describe_dir(&describe(), &ws);
        assert!(problems.is_empty(), "{problems:?}");
        cat.load_manifests(&root().join("connectors"));
        let d = config::validate(&ws, &cat);
        assert!(!d.has_errors(), "{name}:\n{}", d.render(false));
        assert!(
            d.iter().all(|x| x.severity != config::Severity::Note),
            "{name}: every connection is described:\n{}",
            d.render_short()
        );
    }
    assert!(n >= 3);
}

#[test]
fn example_tests_pass() {
    // The repository's manifests: declarative connectors (Zoho Campaigns)
    // are known by their manifest alone.
    let report = run_tests(
        &root().join("connectors/examples"),
        Some(&describe()),
        Some(&root().join("connectors")),
        None,
    );
    let failures: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| {
            c.failure
                .as_ref()
                .map(|f| format!("{} / {}: {f}", c.file, c.name))
        })
        .chain(report.broken.iter().map(|(f, w)| format!("{f}: {w}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(report.passed() >= 15, "only {} cases ran", report.passed());
}

#[test]
fn a_failing_case_shows_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("connectors/examples/crm-invoice.yaml"),
        dir.path().join("ws.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ws.test.yaml"),
        "tests:\n  - name: wrong\n    sync: contacts\n    input: { id: \"1\", Account_Name: A, Account_Type: Customer }\n    expect: { contact_name: B }\n  - name: typo\n    sync: contacs\n    input: {}\n    expect: {}\n",
    )
    .unwrap();
    let report = run_tests(dir.path(), Some(&describe()), None, None);
    assert_eq!(report.passed(), 0);
    let wrong = report.cases[0].failure.as_ref().unwrap();
    let has = |sign: char, text: &str| {
        wrong
            .lines()
            .any(|l| l.starts_with(sign) && l.contains(text))
    };
    assert!(
        has('-', "\"contact_name\": \"B\"") && has('+', "\"contact_name\": \"A\""),
        "{wrong}"
    );
    let typo = report.cases[1].failure.as_ref().unwrap();
    assert!(
        typo.contains("ws.test.yaml:7:11") && typo.contains("did you mean `contacts`?"),
        "{typo}"
    );
}
