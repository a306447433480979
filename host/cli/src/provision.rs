//! Baton's one-shot provisioning: grant, revoke, create account, delete.
//!
//! As in Baton, grant and revoke resolve the entitlement, principal and grant
//! from the c1z at `--file` (the last finished sync), so an operator names
//! objects by the IDs `inspect` shows, and a typo fails before any API call.
//! Account creation and deletion need no c1z. Each result is printed once; a
//! generated password goes to stdout only, never to logs.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use c1z::{C1zReader, pb};
use connector_runtime::bindings::{meta, prov, types};
use connector_runtime::convert::find_struct;
use connector_runtime::{InstanceCtx, Operation, Output, Plugin};

use crate::args::Cli;

/// Which one-shot operation the flags ask for, if any (Baton's precedence).
pub fn requested(cli: &Cli) -> bool {
    cli.grant_entitlement.is_some()
        || cli.revoke_grant.is_some()
        || cli.create_account_login.is_some()
        || cli.create_account_profile.is_some()
        || cli.delete_resource.is_some()
}

fn rid(id: &pb::ResourceId) -> types::ResourceId {
    types::ResourceId {
        resource_type: id.resource_type.clone(),
        resource: id.resource.clone(),
    }
}

fn entitlement_ref(e: &pb::Entitlement) -> anyhow::Result<prov::EntitlementRef> {
    let resource = e
        .resource
        .as_ref()
        .and_then(|r| r.id.as_ref())
        .with_context(|| format!("entitlement {} has no resource in the c1z", e.id))?;
    Ok(prov::EntitlementRef {
        id: e.id.clone(),
        resource: rid(resource),
        slug: e.slug.clone(),
        metadata_json: find_struct(&e.annotations).map(|v| v.to_string()),
    })
}

pub async fn run(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    cli: &Cli,
) -> anyhow::Result<()> {
    let op = if let Some(ent_id) = &cli.grant_entitlement {
        let (Some(principal), Some(ptype)) = (&cli.grant_principal, &cli.grant_principal_type)
        else {
            bail!("--grant-entitlement needs --grant-principal and --grant-principal-type");
        };
        let reader = open(cli)?;
        let ent = reader
            .entitlement(ent_id)?
            .with_context(|| format!("entitlement {ent_id} is not in {}", cli.file.display()))?;
        let p = reader.resource(ptype, principal)?.with_context(|| {
            format!(
                "principal {ptype}:{principal} is not in {}",
                cli.file.display()
            )
        })?;
        let pid = p.id.as_ref().context("principal without id")?;
        Operation::Grant(entitlement_ref(&ent)?, rid(pid))
    } else if let Some(grant_id) = &cli.revoke_grant {
        let reader = open(cli)?;
        let g = reader
            .grant(grant_id)?
            .with_context(|| format!("grant {grant_id} is not in {}", cli.file.display()))?;
        let ent_id = g
            .entitlement
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default();
        let ent = reader.entitlement(&ent_id)?.with_context(|| {
            format!("entitlement {ent_id} of grant {grant_id} is not in the c1z")
        })?;
        let principal = g
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .with_context(|| format!("grant {grant_id} has no principal"))?;
        let metadata = pb::find_annotation::<pb::GrantMetadata>(&g.annotations)
            .ok()
            .flatten()
            .and_then(|m| m.metadata)
            .map(|s| pb::struct_to_json(&s).to_string());
        let immutable = pb::find_annotation::<pb::GrantImmutable>(&g.annotations)
            .ok()
            .flatten()
            .map(|i| {
                i.metadata
                    .map(|s| {
                        pb::struct_to_json(&s)["reason"]
                            .as_str()
                            .unwrap_or("")
                            .to_string()
                    })
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "the grant is inherited".into())
            });
        Operation::Revoke(prov::GrantRef {
            id: g.id.clone(),
            entitlement: entitlement_ref(&ent)?,
            principal: rid(principal),
            metadata_json: metadata,
            immutable_reason: immutable,
        })
    } else if cli.create_account_login.is_some() || cli.create_account_profile.is_some() {
        let profile = match &cli.create_account_profile {
            Some(p) => {
                let v: serde_json::Value = serde_json::from_str(p).context(
                    "--create-account-profile (BATON_CREATE_ACCOUNT_PROFILE) must be a JSON object",
                )?;
                if !v.is_object() {
                    bail!(
                        "--create-account-profile (BATON_CREATE_ACCOUNT_PROFILE) must be a JSON object"
                    );
                }
                Some(v)
            }
            None => None,
        };
        let login = cli
            .create_account_login
            .clone()
            .or_else(|| {
                profile.as_ref().and_then(|p| {
                    p["login"]
                        .as_str()
                        .or(p["username"].as_str())
                        .map(String::from)
                })
            })
            .context("--create-account-login (BATON_CREATE_ACCOUNT_LOGIN) is required")?;
        let credential = match cli.create_account_credential.as_str() {
            "random-password" => meta::CredentialOption::RandomPassword,
            "no-password" => meta::CredentialOption::NoPassword,
            other => bail!(
                "--create-account-credential must be random-password or no-password, got {other:?}"
            ),
        };
        Operation::CreateAccount(
            prov::AccountInfo {
                login,
                emails: cli.create_account_email.iter().cloned().collect(),
                profile_json: profile.map(|p| p.to_string()),
            },
            credential,
        )
    } else if let Some(id) = &cli.delete_resource {
        let Some(rtype) = &cli.delete_resource_type else {
            bail!("--delete-resource needs --delete-resource-type");
        };
        Operation::DeleteResource(types::ResourceId {
            resource_type: rtype.clone(),
            resource: id.clone(),
        })
    } else {
        bail!("no provisioning operation was requested");
    };
    let (output, _) = plugin
        .call(instance, op)
        .await
        .map_err(|e| anyhow::anyhow!("provisioning failed: {e}"))?;
    match output {
        Output::Granted(prov::GrantResult::Granted) => println!("granted"),
        Output::Granted(prov::GrantResult::AlreadyExists) => {
            println!("granted (already existed: GrantAlreadyExists)")
        }
        Output::Revoked(prov::RevokeResult::Revoked) => println!("revoked"),
        Output::Revoked(prov::RevokeResult::AlreadyRevoked) => {
            println!("revoked (already gone: GrantAlreadyRevoked)")
        }
        Output::AccountCreated(o) => {
            let id = &o.account.id;
            match o.status {
                prov::CreateAccountResult::Created => {
                    println!("created account {}:{}", id.resource_type, id.resource)
                }
                prov::CreateAccountResult::AlreadyExists => println!(
                    "account already exists: {}:{} ({})",
                    id.resource_type, id.resource, o.account.display_name
                ),
            }
            if let Some(pw) = o.one_time_password {
                println!("one-time password (shown once): {pw}");
            }
        }
        Output::Deleted(prov::DeleteResult::Deleted) => println!("deleted"),
        Output::Deleted(prov::DeleteResult::AlreadyGone) => println!("deleted (already gone)"),
        other => bail!("the connector answered {other:?}"),
    }
    Ok(())
}

fn open(cli: &Cli) -> anyhow::Result<C1zReader> {
    C1zReader::open(&cli.file).with_context(|| {
        format!(
            "grant and revoke read the last sync from --file ({}); run a sync first",
            cli.file.display()
        )
    })
}
