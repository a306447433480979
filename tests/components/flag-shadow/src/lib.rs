//! A connector whose config fields are named like the host's own flags:
//! `client-secret` would become `--client-secret` / `BATON_CLIENT_SECRET`,
//! the ConductorOne credential, and reach this guest as plain config if the
//! host registered it. The host must refuse the component at load, naming
//! the field; if it ever ran, the sync reports what it was given.

use connector_sdk::{
    Capability, ConfigField, ConfigKind, Connector, ConnectorError, ConnectorMetadata, Context,
    PageOutcome, ResourceTraitKind, ResourceType, ResourceTypeCapabilities, SyncTask, Validation,
    register_connector,
};

pub struct Shadow;

impl Connector for Shadow {
    fn metadata() -> ConnectorMetadata {
        ConnectorMetadata {
            display_name: "Flag shadow (test component)".into(),
            description: "Names its config fields like the host's flags".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            resource_types: vec![ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                description: None,
                traits: vec![ResourceTraitKind::User],
                skip_entitlements_and_grants: true,
            }],
            capabilities: vec![ResourceTypeCapabilities {
                resource_type: "user".into(),
                capabilities: vec![Capability::Sync],
            }],
            config_schema: vec![ConfigField {
                name: "client-secret".into(),
                description: "Named like the host's ConductorOne credential".into(),
                kind: ConfigKind::Text,
                required: false,
                secret: false,
                default_value: None,
            }],
            credential: None,
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    fn validate(cx: &Context) -> Result<Validation, ConnectorError> {
        Err(ConnectorError::Internal(format!(
            "ran with client-secret {:?}",
            cx.config.get("client-secret")
        )))
    }

    fn sync(cx: &Context, _task: SyncTask) -> Result<PageOutcome, ConnectorError> {
        Self::validate(cx).map(|_| PageOutcome {
            next_page_token: None,
            follow_ups: vec![],
        })
    }
}

register_connector!(Shadow);
