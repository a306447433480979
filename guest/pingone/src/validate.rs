//! `validate`: one round trip that tells the operator what is wrong.
//!
//! Decision: two requests in one batch. `GET /environments/{env}` names the
//! environment and is the only call that answers 404 for a missing
//! environment (everything under it answers 403, §7 quirk 3);
//! `GET /environments/{env}/populations` needs the read permission
//! the sync needs. Together they separate the usual failures:
//! - the token exchange fails → the host reports PingOne's `invalid_client`
//!   text: wrong client id or secret, or a worker app from another
//!   environment or region; or "Unsupported authentication method": the app
//!   is set to another token endpoint auth method than
//!   `pingone-token-auth-method`, which the error names;
//! - 404 on the environment → wrong environment id or region;
//! - 403 on the populations → the worker app lacks an admin role
//!   (Identity Data Read Only for sync, Identity Data Admin for provisioning);
//! - the gateway's odd 403 on an unknown path → a wrong API URL.

use connector_sdk::{Config, ConnectorError, Context, Validation};

use crate::client::api::Api;
use crate::client::errors::{self, ROLE_HINT};
use crate::client::model::{Environment, IdOnly};
use crate::client::paging::{parse_one, parse_page};
use crate::config::{
    API_URL, AUTH_URL, CLIENT_ID, CLIENT_SECRET, ENVIRONMENT_ID, REGION, Settings, auth_method_hint,
};

pub fn validate(cx: &Context) -> Result<Validation, ConnectorError> {
    let settings = Settings::from_config(cx.config)?;
    let api = Api::new(cx.host, &settings);
    let env_id = &settings.environment_id;
    let region = &settings.region;
    let urls = vec![api.environment(), api.populations()];
    let mut results = api.send_all(&urls, "validating the connection").into_iter();
    let (Some(env), Some(pops)) = (results.next(), results.next()) else {
        return Err(ConnectorError::Internal(
            "the host answered no validation requests".into(),
        ));
    };
    let env = env.map_err(|e| credential_hint(e, cx.config, env_id, region))?;
    let pops = pops.map_err(|e| credential_hint(e, cx.config, env_id, region))?;

    let mut warnings = Vec::new();
    let environment: Option<Environment> = match env.status {
        200..=299 => Some(parse_one(
            &env,
            "reading the environment (GET /environments/{env})",
        )?),
        404 => {
            return Err(ConnectorError::InvalidConfig(format!(
                "environment {env_id} was not found in region {region}: check {ENVIRONMENT_ID} and \
                 {REGION} (or {API_URL}/{AUTH_URL}); PingOne answered {}",
                errors::describe_body(&env)
            )));
        }
        _ => {
            // Reading the environment object needs more than the sync does;
            // the populations call below decides.
            warnings.push(format!(
                "could not read the environment object ({} {}); its name is not shown",
                env.status,
                errors::describe_body(&env)
            ));
            None
        }
    };
    let what = "reading populations (GET /environments/{env}/populations)";
    match pops.status {
        200..=299 => {}
        401 => {
            return Err(ConnectorError::Unauthenticated(format!(
                "PingOne refused the worker app's token for environment {env_id} ({}): check \
                 {CLIENT_ID} and {CLIENT_SECRET}",
                errors::describe_body(&pops)
            )));
        }
        403 => {
            return Err(match errors::status_error(&pops, what) {
                e @ ConnectorError::InvalidConfig(_) => e,
                _ => ConnectorError::PermissionDenied(format!(
                    "the worker app may not read environment {env_id} in region {region} ({}): \
                     {ROLE_HINT}. If the app has the role, check {ENVIRONMENT_ID} and {REGION}",
                    errors::describe_body(&pops)
                )),
            });
        }
        _ => return Err(errors::status_error(&pops, what)),
    }
    let count = parse_page::<IdOnly>(&pops, "populations", what)?.count;

    let name = environment
        .as_ref()
        .and_then(|e| e.name.clone())
        .unwrap_or_else(|| env_id.clone());
    let env_region = environment.as_ref().and_then(|e| e.region.clone());
    if let Some(r) = &env_region
        && !r.eq_ignore_ascii_case(region)
        // Only the region's own API URL says which region is meant (not
        // a proxy or a simulator).
        && cx.config.get(API_URL).is_none_or(|u| u.contains(".pingone."))
    {
        warnings.push(format!(
            "the environment reports region {r} but {REGION} is {region}"
        ));
    }
    let mut summary = format!(
        "environment {name} ({})",
        env_region.as_deref().unwrap_or(region)
    );
    if let Some(kind) = environment.as_ref().and_then(|e| e.kind.clone()) {
        summary.push_str(&format!(", {}", kind.to_ascii_lowercase()));
    }
    if let Some(n) = count {
        summary.push_str(&format!(
            ", {n} population{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    Ok(Validation { summary, warnings })
}

/// A failed token exchange, explained.
fn credential_hint(
    e: ConnectorError,
    config: &Config,
    env_id: &str,
    region: &str,
) -> ConnectorError {
    match e {
        // The secret may be right: the app is set to the other method.
        ConnectorError::Unauthenticated(m) if m.contains("Unsupported authentication method") => {
            ConnectorError::Unauthenticated(format!("{} ({m})", auth_method_hint(config)))
        }
        ConnectorError::Unauthenticated(m) => ConnectorError::Unauthenticated(format!(
            "PingOne rejected the client id or secret ({m}). Check {CLIENT_ID} and \
             {CLIENT_SECRET}, and that the worker app lives in environment {env_id} in region \
             {region} ({ENVIRONMENT_ID}, {REGION})."
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ENV, host, ok, status};
    use connector_sdk::http::HttpError;
    use serde_json::json;

    fn run(
        env: Result<connector_sdk::http::Response, HttpError>,
        pops: Result<connector_sdk::http::Response, HttpError>,
    ) -> Result<Validation, ConnectorError> {
        let base = format!("{}/v1/environments/{ENV}", crate::testutil::API);
        let h = host(vec![
            (base.clone(), env),
            (crate::testutil::urls().populations(), pops),
        ]);
        let config = crate::testutil::config();
        validate(&Context {
            host: &h,
            config: &config,
        })
    }

    fn pops(n: u64) -> Result<connector_sdk::http::Response, HttpError> {
        ok(json!({"_embedded": {"populations": [{"id": "p"}]}, "count": n, "size": 1}))
    }

    #[test]
    fn summary_names_the_environment() {
        let v = run(
            ok(json!({"id": ENV, "name": "Prod", "region": "NA", "type": "PRODUCTION"})),
            pops(3),
        )
        .unwrap();
        assert_eq!(
            v.summary,
            "environment Prod (NA), production, 3 populations"
        );
        let v = run(
            status(403, json!({"code": "ACCESS_FAILED", "message": "no"})),
            pops(1),
        )
        .unwrap();
        assert_eq!(v.summary, format!("environment {ENV} (NA), 1 population"));
        assert_eq!(v.warnings.len(), 1);
    }

    #[test]
    fn each_failure_says_what_to_fix() {
        let e = run(
            status(
                404,
                json!({"code": "NOT_FOUND", "message": "Unable to find environment"}),
            ),
            pops(1),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidConfig(m) if m.contains("not found in region NA") && m.contains(ENVIRONMENT_ID)),
            "{e:?}"
        );
        let e = run(ok(json!({"id": ENV})), status(403, json!({"code": "ACCESS_FAILED", "message": "The actor attempting to perform the request is not authorized."}))).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::PermissionDenied(m) if m.contains("Identity Data Read Only") && m.contains("not authorized")),
            "{e:?}"
        );
        let cred = || {
            Err(HttpError::Credential("token endpoint answered 401: {\"error\":\"invalid_client\",\"error_description\":\"Unsupported authentication method\"}".into()))
        };
        let e = run(cred(), cred()).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Unauthenticated(m)
                if m.contains("refused CLIENT_SECRET_BASIC")
                    && m.contains("--pingone-token-auth-method CLIENT_SECRET_POST")
                    && m.contains("Unsupported authentication method")),
            "{e:?}"
        );
        let e = run(
            ok(json!({"id": ENV})),
            status(401, json!({"code": "ACCESS_FAILED"})),
        )
        .unwrap_err();
        assert!(matches!(e, ConnectorError::Unauthenticated(_)));
        let gateway = json!({"message": "Invalid key=value pair (missing equal-sign) in Authorization header"});
        let e = run(status(403, gateway.clone()), status(403, gateway)).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidConfig(m) if m.contains(API_URL)),
            "{e:?}"
        );
        let e = run(ok(json!({"id": ENV})), status(503, json!({}))).unwrap_err();
        assert!(matches!(e, ConnectorError::Unavailable(_)));
    }
}
