//! Connector manifests (`connectors/<name>.yaml`): which component
//! implements a connector, where its vendor lives, how it authenticates and
//! how hard it may be driven. A new connector is a plugin plus one manifest;
//! nothing in the host changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A connector manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Connector name, used by workspaces (`connector: zoho-crm`).
    pub name: String,
    /// One line for people.
    #[serde(default)]
    pub description: String,
    /// A compiled connector (a component of its own) or a declarative one
    /// (the generic REST component runs its `rest:` section).
    #[serde(default)]
    pub kind: ManifestKind,
    /// The component file, relative to the manifest's directory or to the
    /// plugin directory (`zoho_crm.wasm`); `rest.wasm` for declarative
    /// connectors unless given.
    #[serde(default)]
    pub component: String,
    /// A declarative connector's modules and requests
    /// ([`ferry_rest_spec::Spec`], documented in `docs/connectors.md`).
    #[serde(default)]
    pub rest: Option<ferry_rest_spec::Spec>,
    /// The contract the component implements (`ferry:connector@0.1.0`).
    #[serde(default = "default_contract")]
    pub contract: String,
    /// Path appended to a data centre's API origin to form the base URL the
    /// plugin's relative requests resolve against (`/crm/v8`).
    #[serde(default)]
    pub base_path: String,
    /// Data centres by name (`com`, `eu`, `in`, …).
    #[serde(default)]
    pub data_centers: BTreeMap<String, DataCenter>,
    /// The local sandbox, used when a connection says `sandbox: <url>`.
    #[serde(default)]
    pub sandbox: Option<SandboxEntry>,
    /// Extra hosts the connector may reach besides its data centre's API and
    /// accounts hosts.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// How the host authenticates requests.
    #[serde(default)]
    pub auth: Option<AuthScheme>,
    /// Rate limit and concurrency per connection.
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Settings a connection must or may give.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// Modules whose records move through stages that carry a probability
    /// (CRM Deals), by module name: trigger rules may then say
    /// `when: { stage: won }` (probability 100) or `lost` (0).
    #[serde(default)]
    pub stages: BTreeMap<String, StageTable>,
    /// The field that names a record for people, by module (`Accounts:
    /// Account_Name`, `invoices: invoice_number`): shown beside ids in the
    /// ledger. Modules not listed use a field called `name`,
    /// `display_name`, `<Module>_Name` or `…_number` when they have one.
    #[serde(default)]
    pub titles: BTreeMap<String, String>,
    /// Push notifications the connector can open (CRM watch channels).
    #[serde(default)]
    pub notifications: Option<NotificationChannels>,
    /// Where the connection's own organisation is read, for its base
    /// currency (a sync of amounts between two base currencies is refused).
    #[serde(default)]
    pub organization: Option<OrganizationRecord>,
    /// Paths (relative to the base URL) whose `GET` answers describe the
    /// vendor's set-up, not its records (`/settings/fields`): kept in the
    /// state with the connection's described schema and reused with it.
    #[serde(default)]
    pub metadata_paths: Vec<String>,
    /// Field pairs a sync between one of this connector's modules and
    /// another connector's module uses when it gives no `fields`.
    #[serde(default)]
    pub field_pairs: Vec<FieldPairs>,
    /// Modules a sync may add fields to (`new_field: true` on a mapping),
    /// by module: how a field is made, as a record of another module.
    #[serde(default)]
    pub new_fields: BTreeMap<String, NewFields>,
}

/// How to add a field to a module: create a record of `module` with the
/// field's name in `name` and its type in `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFields {
    /// The module whose records are fields (Zoho Campaigns' `fields`).
    pub module: String,
    /// Its field taking the new field's name (`DISPLAY_NAME`).
    pub name: String,
    /// Its field taking the new field's type (`FIELD_TYPE`).
    pub kind: String,
    /// The vendor's type for each mapping `type:` (`text`, `integer`,
    /// `decimal`, `boolean`, `date`, `datetime`); a mapping without one
    /// is `text`.
    pub kinds: BTreeMap<String, String>,
}

/// What runs a connector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestKind {
    /// Its own component.
    #[default]
    Component,
    /// The generic REST component, driven by the manifest's `rest:`.
    Declarative,
}

/// The generic REST component's file.
pub const REST_COMPONENT: &str = "rest.wasm";

/// Default field pairs: `fields` maps this connector's field to the other
/// module's (`name: Product_Name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldPairs {
    /// This connector's module (`items`).
    pub module: String,
    /// The other side, as `connector.Module` (`zoho-crm.Products`).
    pub with: String,
    pub fields: BTreeMap<String, String>,
}

/// The organisation as a module with one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRecord {
    /// The module listing the organisation (`Organization`).
    pub module: String,
    /// Its field holding the base currency's ISO code (`iso_code`).
    pub currency: String,
}

/// How to open a notification channel: create a record in `module` with
/// `channel_id`, `events`, `notify_url`, `token` and `channel_expiry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationChannels {
    /// The module whose records are channels (`Notifications`).
    pub module: String,
    /// One event per watched module; `{module}` is replaced
    /// (`{module}.all`).
    pub event: String,
    /// How long a channel is opened for, as a duration (`1d`); renewed at
    /// half of it.
    pub lifetime: String,
}

/// Where a module's stage–probability mapping is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTable {
    /// The record field holding the stage (`Stage`).
    pub field: String,
    /// The module listing the stages: records with `id` (the stage value)
    /// and `probability` (0–100).
    pub module: String,
}

fn default_contract() -> String {
    super::CONTRACT_V0_1.to_string()
}

/// Where one data centre's API and accounts server are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCenter {
    /// API origin (`https://www.zohoapis.eu`).
    pub api: String,
    /// Accounts (OAuth) origin (`https://accounts.zoho.eu`).
    #[serde(default)]
    pub accounts: Option<String>,
    /// Another origin of the same API that takes its credentials (Zoho's
    /// `https://content.zohoapis.eu`, where CRM's Bulk Write uploads go).
    #[serde(default)]
    pub content: Option<String>,
}

/// The sandbox entry: its API and accounts are both under one local origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxEntry {
    /// Default local origin (`http://127.0.0.1:8900`); a connection may
    /// override it.
    pub url: String,
    /// Where the sandbox serves this vendor under that origin (`/ap`); its
    /// API and token endpoint both sit under it. Empty: at the root.
    #[serde(default)]
    pub path: String,
    /// The sandbox's own OAuth client (public test credentials). A
    /// connection sent to a sandbox by `--sandbox` authenticates with this,
    /// never with the credentials it has for its data centre.
    #[serde(default)]
    pub client: Option<SandboxClient>,
}

/// Test credentials a sandbox accepts, by the auth scheme's secret names
/// (`client_id`, `client_secret`, `refresh_token`; `api_key`; …); not
/// secrets.
pub type SandboxClient = BTreeMap<String, String>;

/// How the host obtains and attaches credentials. The connection's `auth:`
/// block gives the secrets each scheme names ([`AuthScheme::secrets`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthScheme {
    /// OAuth 2 refresh-token grant; parameters in the query string (Zoho).
    Oauth2RefreshToken {
        /// Token endpoint path on the accounts server (`/oauth/v2/token`).
        token_path: String,
        /// `Authorization` value; `{token}` is replaced by the access token
        /// (`Zoho-oauthtoken {token}`).
        header: String,
        /// Responses that mean "token expired": refresh once and retry.
        #[serde(default)]
        refresh_on: RefreshOn,
        /// The accounts server's authorisation (consent) page, for the
        /// browser flow of `ferry connect` (`/oauth/v2/auth`); without it
        /// only a pasted grant code can connect.
        #[serde(default)]
        authorize_path: Option<String>,
        /// Scopes `ferry connect` asks for: what the connector's calls need.
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// OAuth 2 client-credentials grant (RFC 6749 §4.4): the client's id and
    /// secret as HTTP Basic, a form body, no refresh token; a new token is
    /// requested when one expires or is refused.
    Oauth2ClientCredentials {
        /// Token endpoint path, on the accounts origin if the data centre
        /// has one, else on the API origin (`/oauth/token`).
        token_path: String,
        /// `Authorization` value with `{token}`.
        #[serde(default = "bearer")]
        header: String,
        /// Scopes asked for (`read`, `write`); none sends no `scope`.
        #[serde(default)]
        scopes: Vec<String>,
        /// Responses that mean "token expired" (default: HTTP 401).
        #[serde(default = "unauthorized_status")]
        refresh_on: RefreshOn,
    },
    /// A key sent in a header of every request, from the secret `api_key`.
    ApiKey {
        /// Header name (`X-API-Key`, `Authorization`).
        header: String,
        /// The header's value; `{key}` is replaced by the key (`Bearer {key}`).
        #[serde(default = "key_only")]
        value: String,
    },
    /// HTTP Basic from the secrets `username` and `password` (optional:
    /// a key used as the user name with no password, as CustomerSuccessBox
    /// does).
    Basic {},
}

fn bearer() -> String {
    "Bearer {token}".into()
}

fn key_only() -> String {
    "{key}".into()
}

fn unauthorized_status() -> RefreshOn {
    RefreshOn {
        status: vec![401],
        body_codes: Vec::new(),
    }
}

/// The secrets a scheme takes from a connection's `auth:` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretNames {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

impl AuthScheme {
    /// The scheme's name as written in a manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthScheme::Oauth2RefreshToken { .. } => "oauth2-refresh-token",
            AuthScheme::Oauth2ClientCredentials { .. } => "oauth2-client-credentials",
            AuthScheme::ApiKey { .. } => "api-key",
            AuthScheme::Basic {} => "basic",
        }
    }

    /// Which `auth:` secrets a connection using this scheme gives.
    pub fn secrets(&self) -> SecretNames {
        let (required, optional): (&'static [&'static str], &'static [&'static str]) = match self {
            AuthScheme::Oauth2RefreshToken { .. } => {
                (&["client_id", "client_secret", "refresh_token"], &[])
            }
            AuthScheme::Oauth2ClientCredentials { .. } => (&["client_id", "client_secret"], &[]),
            AuthScheme::ApiKey { .. } => (&["api_key"], &[]),
            AuthScheme::Basic {} => (&["username"], &["password"]),
        };
        SecretNames { required, optional }
    }

    /// An example `auth:` block for messages (`{ api_key: env:… }`).
    pub fn example(&self) -> String {
        let names = self.secrets();
        let entries: Vec<String> = names
            .required
            .iter()
            .map(|n| format!("{n}: env:…"))
            .collect();
        format!("auth: {{ {} }}", entries.join(", "))
    }
}

/// Which responses make the host refresh the token and retry once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshOn {
    /// HTTP statuses (`401`).
    #[serde(default)]
    pub status: Vec<u16>,
    /// Vendor codes in the JSON body's `code` field (`INVALID_TOKEN`, `57`).
    #[serde(default)]
    pub body_codes: Vec<String>,
}

/// Request pacing for one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per minute (Zoho Books: 100 per organisation).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Requests per second, evenly spaced (Alternative Payments: 5).
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
}

fn default_concurrency() -> u32 {
    4
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests_per_minute: None,
            requests_per_second: None,
            concurrency: default_concurrency(),
        }
    }
}

/// One setting a connection gives in its `settings:` map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

/// A manifest that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read connector manifest {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("connector manifest {path}: {error}")]
    Parse {
        path: PathBuf,
        error: serde_yaml::Error,
    },
    #[error("connector manifest {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Manifest {
    /// The settings its component receives for a connection: the
    /// connection's own, plus a declarative connector's `rest:` section.
    pub fn component_settings(&self, mut settings: serde_json::Value) -> serde_json::Value {
        if let (Some(rest), serde_json::Value::Object(map)) = (&self.rest, &mut settings) {
            map.insert(
                ferry_rest_spec::SETTINGS_KEY.into(),
                serde_json::to_value(rest).unwrap_or_default(),
            );
        }
        settings
    }

    /// Load and check one manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.to_owned(),
            error,
        })?;
        let mut manifest: Manifest =
            serde_yaml::from_str(&text).map_err(|error| ManifestError::Parse {
                path: path.to_owned(),
                error,
            })?;
        if manifest.kind == ManifestKind::Declarative && manifest.component.is_empty() {
            manifest.component = REST_COMPONENT.into();
        }
        manifest.check().map_err(|message| ManifestError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(manifest)
    }

    /// Load every `*.yaml` manifest directly inside `dir`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
        let entries = std::fs::read_dir(dir).map_err(|error| ManifestError::Read {
            path: dir.to_owned(),
            error,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Manifest::load(p)).collect()
    }

    fn check(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("`name` is empty".into());
        }
        match (self.kind, &self.rest) {
            (ManifestKind::Declarative, None) => {
                return Err("`kind: declarative` needs a `rest:` section".into());
            }
            (ManifestKind::Component, Some(_)) => {
                return Err("`rest:` is read only with `kind: declarative`".into());
            }
            (ManifestKind::Component, None) if self.component.is_empty() => {
                return Err("`component` is missing".into());
            }
            (_, Some(rest)) => rest.check().map_err(|problems| {
                problems
                    .iter()
                    .map(|p| format!("rest.{p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?,
            _ => {}
        }
        for (dc, entry) in &self.data_centers {
            for origin in std::iter::once(&entry.api)
                .chain(entry.accounts.iter())
                .chain(entry.content.iter())
            {
                let url = url::Url::parse(origin)
                    .map_err(|e| format!("data centre `{dc}`: `{origin}` is not a URL: {e}"))?;
                if url.scheme() != "https" {
                    return Err(format!("data centre `{dc}`: `{origin}` must use https"));
                }
            }
        }
        if let (Some(scheme), Some(client)) = (
            &self.auth,
            self.sandbox.as_ref().and_then(|s| s.client.as_ref()),
        ) {
            let names = scheme.secrets();
            for name in names.required {
                if !client.contains_key(*name) {
                    return Err(format!(
                        "`sandbox.client` lacks `{name}`, which {} auth needs",
                        scheme.kind()
                    ));
                }
            }
            if let Some(extra) = client.keys().find(|k| {
                !names.required.contains(&k.as_str()) && !names.optional.contains(&k.as_str())
            }) {
                return Err(format!(
                    "`sandbox.client.{extra}` is not a secret of {} auth",
                    scheme.kind()
                ));
            }
        }
        if let Some(n) = &self.notifications {
            n.lifetime()?;
            if !n.event.contains("{module}") {
                return Err("`notifications.event` must contain `{module}`".into());
            }
        }
        Ok(())
    }

    /// The data centre called `name`, or an error listing the known ones.
    pub fn data_center(&self, name: &str) -> Result<&DataCenter, String> {
        self.data_centers.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.data_centers.keys().map(String::as_str).collect();
            format!(
                "connector `{}` has no data centre `{name}`; known: {}",
                self.name,
                known.join(", ")
            )
        })
    }
}

impl NotificationChannels {
    /// The channel lifetime.
    pub fn lifetime(&self) -> Result<std::time::Duration, String> {
        humantime::parse_duration(&self.lifetime)
            .map_err(|e| format!("`notifications.lifetime` `{}`: {e}", self.lifetime))
    }

    /// The event that watches `module`.
    pub fn event_for(&self, module: &str) -> String {
        self.event.replace("{module}", module)
    }
}

/// Where a connection points: a named data centre, or the local sandbox
/// (at the manifest's default URL or an override).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    DataCenter(&'a str),
    Sandbox(Option<&'a str>),
}

/// A connection's endpoints, all derived from the manifest: plugins never
/// hard-code vendor hosts, so a data centre cannot be mixed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// API origin plus the manifest's `base_path` (`https://www.zohoapis.eu/crm/v8`).
    pub base_url: url::Url,
    /// The accounts (OAuth) origin, if the connector authenticates.
    pub accounts: Option<url::Url>,
    /// Hosts the manifest lets this connection reach.
    pub allowed_hosts: Vec<String>,
    /// Origins besides the API's that get its credentials (the data
    /// centre's `content` origin).
    pub credentialed: Vec<url::Url>,
}

impl Manifest {
    /// The endpoints of `target`.
    pub fn endpoints(&self, target: Target<'_>) -> Result<Endpoints, String> {
        let parse = |s: &str| url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"));
        let (api, accounts, credentialed, extra) = match target {
            Target::DataCenter(name) => {
                let dc = self.data_center(name)?;
                (
                    parse(&dc.api)?,
                    dc.accounts.as_deref().map(parse).transpose()?,
                    dc.content.as_deref().map(parse).transpose()?,
                    self.allowed_hosts.clone(),
                )
            }
            Target::Sandbox(url) => {
                let url = url
                    .or(self.sandbox.as_ref().map(|s| s.url.as_str()))
                    .ok_or_else(|| {
                        format!(
                            "connector `{}` has no sandbox entry; give the sandbox URL",
                            self.name
                        )
                    })?;
                // The sandbox serves the API and the accounts server on one
                // origin, under the vendor's path there (`/ap`), if any.
                let prefix = self.sandbox.as_ref().map_or("", |s| s.path.as_str());
                let root = parse(&format!("{}{prefix}", url.trim_end_matches('/')))?;
                // One origin: nothing else to credential.
                (
                    root.clone(),
                    self.auth.as_ref().map(|_| root),
                    None,
                    Vec::new(),
                )
            }
        };
        let base_url = parse(&format!(
            "{}{}",
            api.as_str().trim_end_matches('/'),
            self.base_path
        ))?;
        // Each origin with its port, when not the scheme's default: a
        // local sandbox allows its own port, not every loopback service.
        let mut allowed_hosts: Vec<String> = std::iter::once(&api)
            .chain(accounts.iter())
            .chain(credentialed.iter())
            .filter_map(|u| {
                let host = u.host_str()?;
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                })
            })
            .collect();
        allowed_hosts.extend(extra);
        allowed_hosts.dedup();
        Ok(Endpoints {
            base_url,
            accounts,
            allowed_hosts,
            credentialed: credentialed.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests;
