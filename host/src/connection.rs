//! Opening a workspace connection: its connector's manifest, its plugin,
//! and the capabilities the host grants it, wired into one [`Connector`].
//!
//! Everything vendor-specific comes from the manifest (data-centre hosts,
//! auth scheme, pacing); everything customer-specific from the connection
//! (data centre, settings, credentials). Plugins never see either half
//! directly: they get a base URL to resolve relative requests against.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::capability::auth::{Auth, Fixed, Grant};
use crate::capability::{
    AllowedHosts, Capabilities, HostPattern, HttpCapability, HttpConfig, HttpSettings, OAuth,
    OAuthConfig, SharedPacing, TokenStore,
};
use crate::config;
use crate::connector::{Endpoints, RefreshOn};
use crate::plugin::{
    AuthScheme, Connector, Limits, LoadError, Manifest, ManifestError, Plugin, Runtime, Target,
};
use crate::secret::Secret;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("connection `{connection}`: no connector manifest named `{connector}`; known: {known}")]
    UnknownConnector {
        connection: String,
        connector: String,
        known: String,
    },
    #[error(
        "connector `{connector}`: component `{component}` not found in {searched}; build plugins with `scripts/build-plugins`"
    )]
    ComponentMissing {
        connector: String,
        component: String,
        searched: String,
    },
    #[error(
        "no connector manifests found: this `ferry` carries none (install it with `scripts/install`), and no `--connectors` directory was given"
    )]
    NoConnectors,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("connection `{connection}`: {message}")]
    Invalid { connection: String, message: String },
}

/// Where a connection points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A data centre named in the manifest (`com`, `eu`, `in`, …).
    DataCenter(String),
    /// The local sandbox, at this origin or the manifest's default.
    Sandbox(Option<String>),
    /// Not said: the manifest's only data centre, if it has just one.
    Default,
}

impl TargetSpec {
    /// The manifest's endpoint this names.
    pub fn of<'a>(&'a self, manifest: &'a Manifest) -> Result<Target<'a>, String> {
        Ok(match self {
            TargetSpec::DataCenter(dc) => Target::DataCenter(dc),
            TargetSpec::Sandbox(url) => Target::Sandbox(url.as_deref()),
            // Guessing among several would send credentials and records
            // to the wrong region: the connection must say which.
            TargetSpec::Default => match manifest.data_centers.keys().collect::<Vec<_>>()[..] {
                [only] => Target::DataCenter(only),
                [] => {
                    return Err(format!(
                        "connector `{}` has no data centres; give `sandbox:`",
                        manifest.name
                    ));
                }
                ref several => {
                    return Err(format!(
                        "no `data_center:` given; connector `{}` has {}",
                        manifest.name,
                        several
                            .iter()
                            .map(|d| format!("`{d}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            },
        })
    }
}

/// A connection's secrets by name (`client_id`, `refresh_token`,
/// `api_key`, …); which ones it needs is its auth scheme's to say.
#[derive(Debug, Clone, Default)]
pub struct Credentials(pub BTreeMap<String, Secret>);

impl Credentials {
    /// OAuth client credentials and a refresh token (Zoho's scheme).
    pub fn refresh_token(client_id: &str, client_secret: &str, refresh_token: &str) -> Credentials {
        Credentials(BTreeMap::from([
            ("client_id".into(), Secret::new(client_id)),
            ("client_secret".into(), Secret::new(client_secret)),
            ("refresh_token".into(), Secret::new(refresh_token)),
        ]))
    }

    /// The secret `name`.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }
}

/// Everything needed to open one connection.
#[derive(Debug, Clone)]
pub struct ConnectionSpec {
    /// Connection name (`crm`); keys its stored token.
    pub name: String,
    /// Connector (manifest) name (`zoho-crm`).
    pub connector: String,
    pub target: TargetSpec,
    /// Settings handed to the plugin (`organization_id`).
    pub settings: Value,
    /// Required when the manifest declares an auth scheme.
    pub credentials: Option<Credentials>,
    pub limits: Limits,
    pub http: HttpSettings,
    /// The workspace's own allow-list; the connection may reach only hosts
    /// both the manifest and this list allow. `None` trusts the manifest.
    pub allowed_hosts: Option<Vec<String>>,
    /// The workspace's pacing, replacing the manifest's where set.
    pub rate_limit: config::RateLimitOverride,
    /// Fixed DNS answers (tests), checked like real ones.
    pub dns_overrides: HashMap<String, Vec<IpAddr>>,
    /// Record the connection's HTTP into a cassette, or replay it from one.
    pub tape: Option<crate::capability::cassette::Tape>,
    /// Where the vendor's metadata answers (the manifest's
    /// `metadata_paths`) are kept between runs, and whether those kept
    /// may be used (the connection's describe was reused too).
    pub metadata: Option<(std::path::PathBuf, bool)>,
    /// Pace the vendor organisation's requests with every process sharing
    /// this (a cluster's store), not this process alone.
    pub pacer: Option<Arc<dyn crate::capability::Pacer>>,
}

impl ConnectionSpec {
    /// A spec with empty settings, no credentials and default limits.
    pub fn new(name: &str, connector: &str, target: TargetSpec) -> ConnectionSpec {
        ConnectionSpec {
            name: name.to_string(),
            connector: connector.to_string(),
            target,
            settings: Value::Object(Default::default()),
            credentials: None,
            limits: Limits::default(),
            http: HttpSettings::default(),
            allowed_hosts: None,
            rate_limit: config::RateLimitOverride::default(),
            dns_overrides: HashMap::new(),
            tape: None,
            metadata: None,
            pacer: None,
        }
    }

    /// The spec of a workspace connection. Its secrets must be resolved.
    pub fn from_config(connection: &config::Connection) -> Result<ConnectionSpec, ConnectionError> {
        let name = connection.name.value.clone();
        let invalid = |message: String| ConnectionError::Invalid {
            connection: name.clone(),
            message,
        };
        let target = match &connection.endpoint {
            config::Endpoint::DataCenter(dc) => TargetSpec::DataCenter(dc.value.clone()),
            config::Endpoint::Sandbox(url) => TargetSpec::Sandbox(Some(url.value.clone())),
            config::Endpoint::Default => TargetSpec::Default,
        };
        let settings = Value::Object(
            connection
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
        );
        // Which secrets the scheme needs is checked when the connection is
        // opened, against its connector's manifest.
        let credentials = if connection.auth.is_empty() {
            None
        } else {
            let mut secrets = BTreeMap::new();
            for (key, entry) in &connection.auth {
                let secret = entry.value.value().cloned().ok_or_else(|| {
                    invalid(format!(
                        "`auth.{key}` ({:?}) was not read; load the workspace with secrets",
                        entry.value.reference()
                    ))
                })?;
                secrets.insert(key.clone(), secret);
            }
            Some(Credentials(secrets))
        };
        let mut spec = ConnectionSpec::new(&name, &connection.connector.value, target);
        spec.settings = settings;
        spec.credentials = credentials;
        if let Some(limits) = &connection.limits {
            spec.limits = *limits;
        }
        spec.allowed_hosts = connection.allowed_hosts.clone();
        spec.rate_limit = connection.rate_limit;
        Ok(spec)
    }
}

/// The connector manifests and their components, loaded once.
pub struct ConnectorRegistry {
    runtime: Runtime,
    manifests: BTreeMap<String, (Manifest, PathBuf)>,
    plugin_dirs: Vec<PathBuf>,
    plugins: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl ConnectorRegistry {
    /// Read every manifest in `manifest_dir`; components are looked up
    /// beside the manifests, then in `plugin_dir`.
    pub fn load(
        runtime: Runtime,
        manifest_dir: &Path,
        plugin_dir: &Path,
    ) -> Result<ConnectorRegistry, ConnectionError> {
        ConnectorRegistry::load_dirs(
            runtime,
            &[manifest_dir.to_owned()],
            &[plugin_dir.to_owned()],
        )
    }

    /// Manifests from `manifest_dirs` (a later directory's manifest
    /// overrides an earlier one of the same name); components from the
    /// manifest's own directory, then `plugin_dirs` in order.
    pub fn load_dirs(
        runtime: Runtime,
        manifest_dirs: &[PathBuf],
        plugin_dirs: &[PathBuf],
    ) -> Result<ConnectorRegistry, ConnectionError> {
        let mut manifests = BTreeMap::new();
        for dir in manifest_dirs {
            for manifest in Manifest::load_dir(dir)? {
                manifests.insert(manifest.name.clone(), (manifest, dir.to_owned()));
            }
        }
        if manifests.is_empty() {
            return Err(ConnectionError::NoConnectors);
        }
        let mut dirs = manifest_dirs.to_vec();
        dirs.extend(plugin_dirs.iter().cloned());
        Ok(ConnectorRegistry {
            runtime,
            manifests,
            plugin_dirs: dirs,
            plugins: Mutex::new(HashMap::new()),
        })
    }

    /// The manifest named `connector`.
    pub fn manifest(&self, connector: &str) -> Option<&Manifest> {
        self.manifests.get(connector).map(|(m, _)| m)
    }

    /// Names of all known connectors.
    pub fn connectors(&self) -> impl Iterator<Item = &str> {
        self.manifests.keys().map(String::as_str)
    }

    /// The plugin implementing `connector`, loaded (and compiled or taken
    /// from the cache) on first use.
    pub fn plugin(&self, connector: &str) -> Result<Arc<Plugin>, ConnectionError> {
        let manifest = self.known(connector, connector)?;
        if let Some(plugin) = self.plugins.lock().unwrap().get(connector) {
            return Ok(Arc::clone(plugin));
        }
        let path = self
            .plugin_dirs
            .iter()
            .map(|dir| dir.join(&manifest.component))
            .find(|p| p.is_file())
            .ok_or_else(|| ConnectionError::ComponentMissing {
                connector: connector.to_string(),
                component: manifest.component.clone(),
                searched: self
                    .plugin_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let plugin = self.runtime.load(&path)?;
        self.plugins
            .lock()
            .unwrap()
            .insert(connector.to_string(), Arc::clone(&plugin));
        Ok(plugin)
    }

    /// Open `spec`: build its HTTP capability and OAuth from the manifest,
    /// and bind the plugin to them.
    pub fn open(
        &self,
        spec: &ConnectionSpec,
        tokens: Arc<dyn TokenStore>,
    ) -> Result<Connector, ConnectionError> {
        let manifest = self.known(&spec.name, &spec.connector)?;
        let invalid = |message: String| ConnectionError::Invalid {
            connection: spec.name.clone(),
            message,
        };
        for (key, setting) in &manifest.settings {
            if setting.required && spec.settings.get(key).is_none_or(Value::is_null) {
                return Err(invalid(format!(
                    "setting `{key}` is required by `{}`: {}",
                    manifest.name, setting.description
                )));
            }
        }
        let target = spec.target.of(manifest).map_err(&invalid)?;
        let endpoints = manifest.endpoints(target).map_err(&invalid)?;
        // The contract hands plugins the connection's settings plus where
        // they point: `base_url` and `data_center`.
        let mut settings = spec.settings.clone();
        if let Value::Object(map) = &mut settings {
            let data_center = match target {
                Target::DataCenter(dc) => dc,
                Target::Sandbox(_) => "sandbox",
            };
            map.insert(
                "base_url".into(),
                Value::String(endpoints.base_url.as_str().trim_end_matches('/').into()),
            );
            map.insert("data_center".into(), Value::String(data_center.into()));
        }
        // A sandbox connection without credentials of its own uses the
        // sandbox's test client: `--sandbox` drops a connection's
        // data-centre credentials, so a real secret never leaves for a
        // sandbox origin.
        let sandbox_client = match (target, &manifest.sandbox) {
            (Target::Sandbox(_), Some(entry)) => entry
                .client
                .as_ref()
                .map(|c| Credentials(c.iter().map(|(k, v)| (k.clone(), Secret::new(v))).collect())),
            _ => None,
        };
        let credentials = spec.credentials.as_ref().or(sandbox_client.as_ref());
        let auth = match (&manifest.auth, credentials) {
            (None, _) => None,
            (Some(scheme), None) => {
                return Err(invalid(format!(
                    "connector `{}` needs `auth` ({}): {}",
                    manifest.name,
                    scheme.secrets().required.join(", "),
                    scheme.example()
                )));
            }
            (Some(scheme), Some(credentials)) => Some(Arc::new(authenticate(
                spec,
                manifest,
                &endpoints,
                scheme,
                credentials,
                tokens,
            )?)),
        };
        let manifest_hosts = endpoints
            .allowed_hosts
            .iter()
            .map(|h| HostPattern::new(h))
            .collect();
        let workspace_hosts = spec
            .allowed_hosts
            .as_ref()
            .map(|hosts| hosts.iter().map(|h| HostPattern::new(h)).collect());
        let requests_per_minute = spec
            .rate_limit
            .requests_per_minute
            .unwrap_or(manifest.rate_limit.requests_per_minute);
        // The vendor's per-second cap stays unless pacing is off.
        let requests_per_second = match spec.rate_limit.requests_per_minute {
            Some(None) => None,
            _ => manifest.rate_limit.requests_per_second,
        };
        let shared = spec.pacer.clone().and_then(|pacer| {
            SharedPacing::new(
                pacer,
                pacing_key(
                    &spec.connector,
                    &endpoints.base_url,
                    &spec.settings,
                    credentials,
                ),
                requests_per_minute,
                requests_per_second,
            )
        });
        let credentialed = endpoints.credentialed.clone();
        let http = HttpCapability::new(
            HttpConfig {
                base_url: endpoints.base_url,
                allowed_hosts: AllowedHosts::new(manifest_hosts, workspace_hosts),
                requests_per_minute,
                requests_per_second,
                concurrency: spec
                    .rate_limit
                    .concurrency
                    .unwrap_or(manifest.rate_limit.concurrency),
                settings: spec.http.clone(),
                dns_overrides: spec.dns_overrides.clone(),
            },
            auth,
        )
        .map_err(|e| invalid(e.to_string()))?
        .with_credentialed(&credentialed)
        .with_tape(spec.tape.clone())
        .with_metadata(
            spec.metadata
                .clone()
                .filter(|_| !manifest.metadata_paths.is_empty())
                .map(|(dir, reuse)| {
                    crate::capability::MetadataCache::open(dir, &manifest.metadata_paths, reuse)
                }),
        )
        .with_shared_pacing(shared);
        let plugin = self.plugin(&spec.connector)?;
        let capabilities = Capabilities::new(plugin.name(), &spec.name, http);
        let settings = manifest.component_settings(settings);
        Ok(plugin.connect(Some(capabilities), spec.limits, settings))
    }

    fn known(&self, connection: &str, connector: &str) -> Result<&Manifest, ConnectionError> {
        self.manifest(connector)
            .ok_or_else(|| ConnectionError::UnknownConnector {
                connection: connection.to_string(),
                connector: connector.to_string(),
                known: self.connectors().collect::<Vec<_>>().join(", "),
            })
    }
}

/// The host's credential for one connection, per its manifest's scheme.
fn authenticate(
    spec: &ConnectionSpec,
    manifest: &Manifest,
    endpoints: &Endpoints,
    scheme: &AuthScheme,
    credentials: &Credentials,
    tokens: Arc<dyn TokenStore>,
) -> Result<Auth, ConnectionError> {
    let invalid = |message: String| ConnectionError::Invalid {
        connection: spec.name.clone(),
        message,
    };
    let names = scheme.secrets();
    if let Some(unknown) = credentials
        .0
        .keys()
        .find(|k| !names.required.contains(&k.as_str()) && !names.optional.contains(&k.as_str()))
    {
        let mut known = names.required.to_vec();
        known.extend(names.optional);
        return Err(invalid(format!(
            "`auth.{unknown}` is not a secret of `{}` ({} auth takes {})",
            manifest.name,
            scheme.kind(),
            known.join(", ")
        )));
    }
    let secret = |name: &str| {
        credentials.get(name).cloned().ok_or_else(|| {
            invalid(format!(
                "`auth.{name}` is missing: `{}` authenticates with {} ({})",
                manifest.name,
                scheme.kind(),
                names.required.join(", ")
            ))
        })
    };
    let oauth = |token_path: &str, grant: Grant, header: &str, refresh_on: &RefreshOn| {
        // Client credentials may be granted by the API's own origin (no
        // separate accounts server); the refresh-token grant never is.
        let accounts = match (&endpoints.accounts, &grant) {
            (Some(accounts), _) => accounts.clone(),
            (None, Grant::ClientCredentials { .. }) => endpoints.base_url.clone(),
            (None, Grant::RefreshToken { .. }) => {
                return Err(invalid(format!(
                    "connector `{}` authenticates but its data centre has no accounts server",
                    manifest.name
                )));
            }
        };
        // Appended, not joined: an accounts root with a path (a sandbox's
        // `/ap`) keeps it.
        let token_url = url::Url::parse(&format!(
            "{}{token_path}",
            accounts.as_str().trim_end_matches('/')
        ))
        .map_err(|e| invalid(format!("token path `{token_path}`: {e}")))?;
        // Tokens are kept per connection *and* accounts origin: a sandbox's
        // token never goes to production, nor the reverse.
        let store_key = format!("{}@{}", spec.name, token_url.origin().ascii_serialization());
        Ok(Auth::from(OAuth::new(
            OAuthConfig {
                connection: spec.name.clone(),
                store_key,
                token_url,
                client_id: secret("client_id")?,
                client_secret: secret("client_secret")?,
                grant,
                header_template: header.to_string(),
                refresh_on: refresh_on.clone(),
            },
            tokens.clone(),
        )))
    };
    match scheme {
        AuthScheme::Oauth2RefreshToken {
            token_path,
            header,
            refresh_on,
            ..
        } => oauth(
            token_path,
            Grant::RefreshToken {
                refresh_token: secret("refresh_token")?,
            },
            header,
            refresh_on,
        ),
        AuthScheme::Oauth2ClientCredentials {
            token_path,
            header,
            scopes,
            refresh_on,
        } => oauth(
            token_path,
            Grant::ClientCredentials {
                scopes: scopes.clone(),
            },
            header,
            refresh_on,
        ),
        AuthScheme::ApiKey { header, value } => {
            let key = secret("api_key")?;
            Ok(Auth::Fixed(Fixed::header(
                header,
                Secret::new(value.replace("{key}", key.expose())),
            )))
        }
        AuthScheme::Basic {} => Ok(Auth::Fixed(Fixed::basic(
            &secret("username")?,
            credentials.get("password"),
        ))),
    }
}

/// Which vendor account a connection's requests count against, as far as
/// Ferry can tell without asking: the connector, its endpoint, and the
/// organisation setting (Zoho's finance products) or else the OAuth
/// client (Zoho CRM counts per organisation, one client per organisation
/// is the usual set-up). Workspaces whose connections have the same key
/// share one pace. The client id is hashed: keys are stored in plain text.
fn pacing_key(
    connector: &str,
    base_url: &url::Url,
    settings: &Value,
    credentials: Option<&Credentials>,
) -> String {
    use sha2::Digest;
    let account = match settings.get("organization_id").and_then(Value::as_str) {
        Some(org) => format!("org {org}"),
        None => {
            let client = credentials
                .and_then(|c| c.0.get("client_id"))
                .map_or("", |s| s.expose());
            let digest = sha2::Sha256::digest(client.as_bytes());
            format!("client {}", &hex::encode(digest)[..16])
        }
    };
    format!(
        "{connector} {} {account}",
        base_url.origin().ascii_serialization()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::MemoryTokenStore;

    fn open(auth: &str, secrets: &[(&str, &str)]) -> Result<Auth, String> {
        let manifest: Manifest = serde_yaml::from_str(&format!(
            r#"
name: vendor
component: vendor.wasm
data_centers:
  us: {{ api: "https://api.vendor.test" }}
auth: {auth}
"#
        ))
        .unwrap();
        let endpoints = manifest.endpoints(Target::DataCenter("us")).unwrap();
        let spec = ConnectionSpec::new("v", "vendor", TargetSpec::Default);
        let credentials = Credentials(
            secrets
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
        );
        authenticate(
            &spec,
            &manifest,
            &endpoints,
            manifest.auth.as_ref().unwrap(),
            &credentials,
            Arc::new(MemoryTokenStore::default()),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn each_scheme_takes_its_own_secrets_and_no_others() {
        let cc = "{ kind: oauth2-client-credentials, token_path: /oauth/token }";
        let key = "{ kind: api-key, header: X-API-Key, value: 'Key {key}' }";
        let basic = "{ kind: basic }";
        let zoho = "{ kind: oauth2-refresh-token, token_path: /t, header: 'Z {token}' }";
        // Scheme, secrets given, the header it attaches or part of the error.
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Result<&'a str, &'a str>);
        let cases: &[Case] = &[
            (
                cc,
                &[("client_id", "i"), ("client_secret", "s")],
                Ok("authorization"),
            ),
            (
                cc,
                &[("client_id", "i")],
                Err("`auth.client_secret` is missing"),
            ),
            (
                cc,
                &[
                    ("client_id", "i"),
                    ("client_secret", "s"),
                    ("refresh_token", "r"),
                ],
                Err("`auth.refresh_token` is not a secret of `vendor`"),
            ),
            (key, &[("api_key", "k")], Ok("x-api-key")),
            (key, &[], Err("`auth.api_key` is missing")),
            (basic, &[("username", "u")], Ok("authorization")),
            (
                basic,
                &[("username", "u"), ("password", "p")],
                Ok("authorization"),
            ),
            (
                basic,
                &[("password", "p")],
                Err("`auth.username` is missing"),
            ),
            // A refresh token needs an accounts server: this vendor has none.
            (
                zoho,
                &[
                    ("client_id", "i"),
                    ("client_secret", "s"),
                    ("refresh_token", "r"),
                ],
                Err("no accounts server"),
            ),
        ];
        for (scheme, secrets, expected) in cases {
            match (open(scheme, secrets), expected) {
                (Ok(auth), Ok(header)) => assert_eq!(auth.header_name(), *header, "{scheme}"),
                (Err(err), Err(part)) => assert!(err.contains(part), "{scheme}: {err}"),
                (Ok(_), Err(part)) => panic!("{scheme} {secrets:?}: opened, expected `{part}`"),
                (Err(err), Ok(_)) => panic!("{scheme} {secrets:?}: {err}"),
            }
        }
    }

    #[tokio::test]
    async fn an_api_key_fills_its_value_template() {
        let auth = open(
            "{ kind: api-key, header: Authorization, value: 'Bearer {key}' }",
            &[("api_key", "k-1")],
        )
        .unwrap();
        crate::capability::install_crypto_provider();
        let token = auth.token(&reqwest::Client::new()).await.unwrap();
        assert_eq!(
            (token.name.as_str(), token.header.as_str()),
            ("authorization", "Bearer k-1")
        );
    }
}
