//! A connector that tries to learn its own credentials: it makes one
//! authenticated request and writes everything it can observe (status,
//! response headers, body, the error if any) into an uploaded record, a log
//! line and its error message. Tests then look for the secret values in
//! those places: whatever this guest could see, any guest could leak.
//!
//! Config: `api-url` (allowed; requests go to `{api-url}/echo`), an OAuth2
//! client (`client-id`, secret `client-secret`, token endpoint
//! `{auth-url}/as/token`), an optional secret `api-token`, and `auth`:
//! `oauth2` for the brokered token, otherwise the `api-token` field.

use connector_sdk::http::Request;
use connector_sdk::{
    Auth, Capability, ClientAuthMethod, ConfigField, ConfigKind, Connector, ConnectorError,
    ConnectorMetadata, Context, CredentialRecipe, GroupTrait, Level, Oauth2ClientCredentials,
    PageOutcome, Resource, ResourceStatus, ResourceTrait, ResourceTraitKind, ResourceType,
    ResourceTypeCapabilities, SyncTask, UrlOptions, Validation, register_connector, resource_id,
};

pub struct Probe;

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
                field("api-url", url(), true, false),
                field("auth-url", url(), true, false),
                field("client-id", ConfigKind::Text, true, false),
                field("client-secret", ConfigKind::Text, true, true),
                field("api-token", ConfigKind::Text, false, true),
                field("auth", ConfigKind::Text, false, false),
            ],
            credential: Some(CredentialRecipe::Oauth2ClientCredentials(
                Oauth2ClientCredentials {
                    token_url: "{auth-url}/as/token".into(),
                    client_id_field: "client-id".into(),
                    client_secret_field: "client-secret".into(),
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
        let auth = match cx.config.get("auth") {
            Some("oauth2") => Auth::OAuth2,
            _ => Auth::SecretField("api-token".into()),
        };
        let url = format!(
            "{}/echo",
            cx.config.require("api-url")?.trim_end_matches('/')
        );
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
