//! Baton's one-shot provisioning: grant, revoke, create account, delete.
//!
//! As in Baton, grant and revoke resolve the entitlement, principal and grant
//! from the c1z at `--file` (the last finished sync), so an operator names
//! objects by the IDs `inspect` shows, and a typo fails before any API call.
//! Account creation and deletion need no c1z. Each result is printed once; a
//! generated password goes to stdout only, never to logs.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use c1z::{C1zReader, GrantFilter, pb};
use connector_runtime::bindings::{meta, prov, types};
use connector_runtime::convert::{entitlement_ref, grant_ref, split_grant_id, wit_resource_id};
use connector_runtime::{InstanceCtx, Operation, Output, Plugin};

/// One provisioning request, as the CLI flags or the admin API give it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Request {
    Grant {
        entitlement: String,
        principal: String,
        principal_type: String,
    },
    Revoke {
        grant: String,
    },
    CreateAccount {
        login: Option<String>,
        email: Option<String>,
        profile: Option<serde_json::Value>,
        #[serde(default = "default_credential")]
        credential: String,
    },
    Delete {
        resource: String,
        resource_type: String,
    },
}

fn default_credential() -> String {
    "random-password".into()
}

/// What a provisioning call did, for people (`message`) and programs.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    /// `granted`, `already-exists`, `revoked`, `already-revoked`,
    /// `created`, `account-already-exists`, `deleted`, `already-gone`.
    pub result: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// A generated password, printed once by a one-shot run and never
    /// logged. Never serialized: the admin API answers with it encrypted
    /// to the caller's key or not at all, so a serialized `Outcome` cannot
    /// carry it by mistake.
    #[serde(skip)]
    pub one_time_password: Option<String>,
}

/// Runs a one-shot operation and prints its outcome.
pub async fn run(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    req: &Request,
    file: &Path,
) -> anyhow::Result<()> {
    let o = execute(plugin, instance, req, file).await?;
    println!("{}", o.message);
    if let Some(pw) = o.one_time_password {
        println!("one-time password (shown once): {pw}");
    }
    Ok(())
}

/// Resolves `req` against the c1z at `file` (grant and revoke), calls the
/// component, and describes the result.
pub async fn execute(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    req: &Request,
    file: &Path,
) -> anyhow::Result<Outcome> {
    let op = operation(req, file)?;
    let (output, _) = plugin
        .call(instance, op)
        .await
        .map_err(|e| anyhow::anyhow!("provisioning failed: {e}"))?;
    describe(output)
}

fn describe(output: Output) -> anyhow::Result<Outcome> {
    let o = |result, message: &str| Outcome {
        result,
        message: message.into(),
        resource: None,
        one_time_password: None,
    };
    Ok(match output {
        Output::Granted(prov::GrantResult::Granted) => o("granted", "granted"),
        Output::Granted(prov::GrantResult::AlreadyExists) => o(
            "already-exists",
            "granted (already existed: GrantAlreadyExists)",
        ),
        Output::Revoked(prov::RevokeResult::Revoked) => o("revoked", "revoked"),
        Output::Revoked(prov::RevokeResult::AlreadyRevoked) => o(
            "already-revoked",
            "revoked (already gone: GrantAlreadyRevoked)",
        ),
        Output::AccountCreated(a) => {
            let id = &a.account.id;
            let resource = connector_runtime::convert::resource_id(id).external_id();
            let (result, message) = match a.status {
                prov::CreateAccountResult::Created => {
                    ("created", format!("created account {resource}"))
                }
                prov::CreateAccountResult::AlreadyExists => (
                    "account-already-exists",
                    format!(
                        "account already exists: {resource} ({})",
                        a.account.display_name
                    ),
                ),
            };
            Outcome {
                result,
                message,
                resource: Some(resource),
                one_time_password: a.one_time_password,
            }
        }
        Output::Deleted(prov::DeleteResult::Deleted) => o("deleted", "deleted"),
        Output::Deleted(prov::DeleteResult::AlreadyGone) => {
            o("already-gone", "deleted (already gone)")
        }
        other => bail!("the connector answered {other:?}"),
    })
}

/// The component operation for `req`; grant and revoke read `file`.
pub fn operation(req: &Request, file: &Path) -> anyhow::Result<Operation> {
    Ok(match req {
        Request::Grant {
            entitlement: ent_id,
            principal,
            principal_type: ptype,
        } => {
            let reader = open(file)?;
            let ent = reader
                .entitlement(ent_id)?
                .with_context(|| format!("entitlement {ent_id} is not in {}", file.display()))?;
            let p = reader.resource(ptype, principal)?.with_context(|| {
                format!("principal {ptype}:{principal} is not in {}", file.display())
            })?;
            let pid = p.id.as_ref().context("principal without id")?;
            Operation::Grant(entitlement_ref(&ent)?, wit_resource_id(pid))
        }
        Request::Revoke { grant: grant_id } => {
            let reader = open(file)?;
            let Some(g) = reader.grant(grant_id)? else {
                let missing = format!("grant {grant_id} is not in {}", file.display());
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
            Operation::Revoke(grant_ref(&g, &ent)?)
        }
        Request::CreateAccount {
            login,
            email,
            profile,
            credential,
        } => {
            if let Some(p) = profile
                && !p.is_object()
            {
                bail!("the account profile (--create-account-profile) must be a JSON object");
            }
            let login = login
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
            let credential = match credential.as_str() {
                "random-password" => meta::CredentialOption::RandomPassword,
                "no-password" => meta::CredentialOption::NoPassword,
                other => bail!(
                    "the credential option must be random-password or no-password, got {other:?}"
                ),
            };
            Operation::CreateAccount(
                prov::AccountInfo {
                    login,
                    emails: email.iter().cloned().collect(),
                    // The component sets a profile's `password` member as
                    // the account's password; only a ConductorOne task's
                    // host-made password may reach it, so an operator's is
                    // dropped and the component generates one as before.
                    profile_json: profile.as_ref().map(|p| {
                        let mut p = p.clone();
                        if let Some(o) = p.as_object_mut() {
                            o.remove("password");
                        }
                        p.to_string()
                    }),
                },
                credential,
            )
        }
        Request::Delete {
            resource,
            resource_type,
        } => Operation::DeleteResource(types::ResourceId {
            resource_type: resource_type.clone(),
            resource: resource.clone(),
        }),
    })
}

/// Explains a grant the c1z does not have because the principal holds the
/// entitlement only through an expandable grant (a nested group, say): the
/// sync records the nesting and the membership in the nested group, not the
/// derived grant, and neither `DELETE` of the derived grant nor "already
/// revoked" would be true. `None` when no such path exists.
fn inherited_through(reader: &C1zReader, grant_id: &str) -> anyhow::Result<Option<String>> {
    let Some((ent, ptype, pid)) = split_grant_id(grant_id) else {
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

fn open(file: &Path) -> anyhow::Result<C1zReader> {
    C1zReader::open(file).with_context(|| {
        format!(
            "grant and revoke read the last sync from --file ({}); run a sync first",
            file.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_profile_password_never_reaches_the_component() {
        let req = Request::CreateAccount {
            login: Some("a.b".into()),
            email: None,
            profile: Some(serde_json::json!({"given_name": "A", "password": "chosen"})),
            credential: default_credential(),
        };
        let Operation::CreateAccount(info, _) = operation(&req, Path::new("unused.c1z")).unwrap()
        else {
            panic!("not a create-account operation");
        };
        let profile: serde_json::Value =
            serde_json::from_str(info.profile_json.as_deref().unwrap()).unwrap();
        assert_eq!(profile, serde_json::json!({"given_name": "A"}));
    }
}
