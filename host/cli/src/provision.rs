//! Baton's one-shot provisioning: grant, revoke, create account, delete.
//!
//! As in Baton, grant and revoke resolve the entitlement, principal and grant
//! from the c1z at `--file` (the last finished sync), so an operator names
//! objects by the IDs `inspect` shows, and a typo fails before any API call.
//! Account creation and deletion need no c1z. Each result is printed once; a
//! generated password goes to stdout only, never to logs.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use c1z::{C1zReader, GrantFilter, pb};
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
        let Some(g) = reader.grant(grant_id)? else {
            let missing = format!("grant {grant_id} is not in {}", cli.file.display());
            match inherited_through(&reader, grant_id)? {
                Some(why) => bail!("{missing}: {why}"),
                None => bail!("{missing}"),
            }
        };
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
            })
            .or_else(|| expanded_only(&g, &ent_id));
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

/// Why a grant held only through grant expansion cannot be revoked, when a
/// c1z that Baton expanded records it: its `sources` name other
/// entitlements only (a direct grant lists itself or a direct source).
fn expanded_only(g: &pb::Grant, ent_id: &str) -> Option<String> {
    let sources = &g.sources.as_ref()?.sources;
    if sources.is_empty() || sources.contains_key(ent_id) || sources.values().any(|s| s.is_direct) {
        return None;
    }
    let via: Vec<&str> = sources.keys().map(String::as_str).collect();
    Some(format!(
        "it is inherited through {}, not held directly; revoke it there",
        via.join(", ")
    ))
}

/// Explains a grant the c1z does not have because the principal holds the
/// entitlement only through an expandable grant (a nested group, say): the
/// sync records the nesting and the membership in the nested group, not the
/// derived grant, and neither `DELETE` of the derived grant nor "already
/// revoked" would be true. `None` when no such path exists.
fn inherited_through(reader: &C1zReader, grant_id: &str) -> anyhow::Result<Option<String>> {
    // Baton's grant id: `{entitlement id}:{principal type}:{principal id}`.
    let mut parts = grant_id.rsplitn(3, ':');
    let (Some(pid), Some(ptype), Some(ent)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let Some(sync) = reader.default_sync()? else {
        return Ok(None);
    };
    let sid = &sync.sync_id;
    let principal = pb::ResourceId::new(ptype, pid);
    // The principal's grants, by entitlement id.
    let mut held = std::collections::BTreeMap::new();
    for g in reader.grants(
        sid,
        &GrantFilter {
            principal: Some(principal),
            ..GrantFilter::default()
        },
    ) {
        let g = g?;
        if let Some(e) = &g.entitlement {
            held.insert(e.id.clone(), g.id.clone());
        }
    }
    if held.is_empty() {
        return Ok(None);
    }
    // Breadth first from the entitlement through expandable grants, bounded.
    let mut queue = std::collections::VecDeque::from([ent.to_string()]);
    let mut seen = std::collections::BTreeSet::from([ent.to_string()]);
    while let Some(e) = queue.pop_front() {
        if seen.len() > 10_000 {
            break;
        }
        let filter = GrantFilter {
            entitlement: Some(e.clone()),
            ..GrantFilter::default()
        };
        for g in reader.grants(sid, &filter) {
            let g = g?;
            let Ok(Some(x)) = pb::find_annotation::<pb::GrantExpandable>(&g.annotations) else {
                continue;
            };
            if !x.resource_type_ids.is_empty() && !x.resource_type_ids.iter().any(|t| t == ptype) {
                continue;
            }
            for source in &x.entitlement_ids {
                if let Some(via) = held.get(source) {
                    return Ok(Some(format!(
                        "{ptype} {pid} holds {ent} only through {via}, which {} passes on \
                         (a nested membership); an inherited grant cannot be revoked \
                         directly: revoke {via} or {} instead",
                        g.id, g.id
                    )));
                }
                if !x.shallow && seen.insert(source.clone()) {
                    queue.push_back(source.clone());
                }
            }
        }
    }
    Ok(None)
}

fn open(cli: &Cli) -> anyhow::Result<C1zReader> {
    C1zReader::open(&cli.file).with_context(|| {
        format!(
            "grant and revoke read the last sync from --file ({}); run a sync first",
            cli.file.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(sources: &[(&str, bool)]) -> pb::Grant {
        pb::Grant {
            id: "group:p:member:user:u".into(),
            sources: Some(pb::GrantSources {
                sources: sources
                    .iter()
                    .map(|(k, d)| (k.to_string(), pb::GrantSource { is_direct: *d }))
                    .collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_grants_held_solely_through_expansion_are_refused() {
        let ent = "group:p:member";
        let why = expanded_only(&grant(&[("group:c:member", false)]), ent).unwrap();
        assert!(why.contains("inherited through group:c:member"), "{why}");
        // Direct, or direct as well: revocable.
        assert_eq!(expanded_only(&grant(&[]), ent), None);
        assert_eq!(expanded_only(&grant(&[(ent, false)]), ent), None);
        assert_eq!(
            expanded_only(&grant(&[("group:c:member", false), (ent, false)]), ent),
            None
        );
        assert_eq!(
            expanded_only(&grant(&[("group:c:member", true)]), ent),
            None
        );
        let plain = pb::Grant::default();
        assert_eq!(expanded_only(&plain, ent), None);
    }
}
