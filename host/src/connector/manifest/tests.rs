use super::*;

const CRM: &str = r#"
name: zoho-crm
component: zoho_crm.wasm
base_path: /crm/v8
data_centers:
  com: { api: "https://www.zohoapis.com", accounts: "https://accounts.zoho.com" }
  eu:  { api: "https://www.zohoapis.eu", accounts: "https://accounts.zoho.eu" }
  in:  { api: "https://www.zohoapis.in", accounts: "https://accounts.zoho.in" }
sandbox: { url: "http://127.0.0.1:8900" }
auth: { kind: oauth2-refresh-token, token_path: /oauth/v2/token, header: "Zoho-oauthtoken {token}" }
rate_limit: { requests_per_minute: 100, concurrency: 10 }
settings:
  organization_id: { required: true, description: "The organisation" }
"#;

fn manifest() -> Manifest {
    let m: Manifest = serde_yaml::from_str(CRM).unwrap();
    m.check().unwrap();
    m
}

#[test]
fn a_data_centres_content_origin_is_allowed_and_credentialed() {
    let m: Manifest = serde_yaml::from_str(&CRM.replace(
        r#"eu:  { api: "https://www.zohoapis.eu", accounts: "https://accounts.zoho.eu" }"#,
        r#"eu:  { api: "https://www.zohoapis.eu", accounts: "https://accounts.zoho.eu", content: "https://content.zohoapis.eu" }"#,
    ))
    .unwrap();
    let eu = m.endpoints(Target::DataCenter("eu")).unwrap();
    assert!(
        eu.allowed_hosts
            .contains(&"content.zohoapis.eu".to_string())
    );
    assert_eq!(
        eu.credentialed,
        ["https://content.zohoapis.eu".parse::<url::Url>().unwrap()]
    );
    // Another data centre names none; a sandbox is one origin.
    assert!(
        m.endpoints(Target::DataCenter("com"))
            .unwrap()
            .credentialed
            .is_empty()
    );
    assert!(
        m.endpoints(Target::Sandbox(None))
            .unwrap()
            .credentialed
            .is_empty()
    );
}

#[test]
fn a_connection_naming_no_data_centre_gets_the_only_one_or_an_error() {
    use crate::connection::TargetSpec;
    let several = manifest();
    let err = TargetSpec::Default.of(&several).unwrap_err();
    assert!(
        err.contains("no `data_center:` given") && err.contains("`com`, `eu`, `in`"),
        "{err}"
    );
    let mut one = manifest();
    one.data_centers.retain(|name, _| name == "eu");
    assert_eq!(
        TargetSpec::Default.of(&one).unwrap(),
        Target::DataCenter("eu")
    );
}

#[test]
fn data_centres_give_their_own_hosts() {
    let eu = manifest().endpoints(Target::DataCenter("eu")).unwrap();
    assert_eq!(eu.base_url.as_str(), "https://www.zohoapis.eu/crm/v8");
    assert_eq!(eu.accounts.unwrap().as_str(), "https://accounts.zoho.eu/");
    assert_eq!(eu.allowed_hosts, ["www.zohoapis.eu", "accounts.zoho.eu"]);
    let india = manifest().endpoints(Target::DataCenter("in")).unwrap();
    assert_eq!(india.allowed_hosts, ["www.zohoapis.in", "accounts.zoho.in"]);
    let err = manifest()
        .endpoints(Target::DataCenter("mars"))
        .unwrap_err();
    assert!(
        err.contains("no data centre `mars`") && err.contains("com, eu, in"),
        "{err}"
    );
}

#[test]
fn auth_schemes_name_their_secrets_and_sandbox_clients_give_them() {
    let parse = |auth: &str, client: &str| {
        let text = CRM
            .replace(
                r#"auth: { kind: oauth2-refresh-token, token_path: /oauth/v2/token, header: "Zoho-oauthtoken {token}" }"#,
                auth,
            )
            .replace(
                r#"sandbox: { url: "http://127.0.0.1:8900" }"#,
                &format!(r#"sandbox: {{ url: "http://127.0.0.1:8900", client: {client} }}"#),
            );
        let m: Manifest = serde_yaml::from_str(&text).unwrap();
        m.check().map(|()| m)
    };
    let cc = parse(
        "auth: { kind: oauth2-client-credentials, token_path: /oauth/token, scopes: [read] }",
        "{ client_id: a, client_secret: b }",
    )
    .unwrap();
    let Some(AuthScheme::Oauth2ClientCredentials {
        header, refresh_on, ..
    }) = &cc.auth
    else {
        panic!("{:?}", cc.auth)
    };
    assert_eq!(header, "Bearer {token}");
    assert_eq!(refresh_on.status, [401]);
    assert_eq!(
        cc.auth.as_ref().unwrap().secrets().required,
        ["client_id", "client_secret"]
    );

    let key = parse(
        "auth: { kind: api-key, header: X-API-Key }",
        "{ api_key: k }",
    )
    .unwrap();
    assert_eq!(
        key.auth.as_ref().unwrap().example(),
        "auth: { api_key: env:… }"
    );
    let basic = parse("auth: { kind: basic }", "{ username: u }").unwrap();
    assert_eq!(basic.auth.unwrap().secrets().optional, ["password"]);

    let err = parse(
        "auth: { kind: api-key, header: X-API-Key }",
        "{ client_id: a }",
    )
    .unwrap_err();
    assert!(err.contains("lacks `api_key`"), "{err}");
    let err = parse("auth: { kind: basic }", "{ username: u, api_key: k }").unwrap_err();
    assert!(err.contains("`sandbox.client.api_key`"), "{err}");
}

#[test]
fn sandbox_serves_api_and_accounts_on_one_origin() {
    let local = manifest()
        .endpoints(Target::Sandbox(Some("http://127.0.0.1:9999")))
        .unwrap();
    assert_eq!(local.base_url.as_str(), "http://127.0.0.1:9999/crm/v8");
    assert_eq!(local.allowed_hosts, ["127.0.0.1:9999"]);
    let default = manifest().endpoints(Target::Sandbox(None)).unwrap();
    assert_eq!(default.base_url.as_str(), "http://127.0.0.1:8900/crm/v8");
}

#[test]
fn manifests_must_use_https_for_data_centres() {
    let m: Manifest =
        serde_yaml::from_str(&CRM.replace("https://www.zohoapis.eu", "http://www.zohoapis.eu"))
            .unwrap();
    assert!(m.check().unwrap_err().contains("must use https"));
    assert!(serde_yaml::from_str::<Manifest>(&format!("{CRM}\nbogus: 1")).is_err());
}
