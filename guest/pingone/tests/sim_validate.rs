//! `validate` against the simulator: the operator-facing messages for the
//! usual mistakes.

mod common;

use common::{CallHost, Transport, sim_config};
use connector_sdk::{Config, Connector, ConnectorError, Context, Validation};
use pingone_connector::PingOne;
use pingone_sim::{ClientAccess, ClientConfig, SimConfig, SimHandle};

struct Sim {
    rt: tokio::runtime::Runtime,
    handle: Option<SimHandle>,
}

impl Sim {
    fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt
            .block_on(pingone_sim::start(config, Default::default()))
            .unwrap();
        Sim {
            rt,
            handle: Some(handle),
        }
    }

    fn h(&self) -> &SimHandle {
        self.handle.as_ref().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn validate(
    sim: &Sim,
    client: &str,
    secret: &str,
    env: &str,
    api: &str,
) -> Result<Validation, ConnectorError> {
    let token_url = format!("{}/{env}/as/token", sim.h().auth_base_url());
    let transport = Transport::new(&token_url, client, secret);
    let host = CallHost::new(&transport);
    let config = Config::new(sim_config(api, sim.h().auth_base_url(), env, client));
    PingOne::validate(&Context {
        host: &host,
        config: &config,
    })
}

fn sim_with_clients() -> Sim {
    let mut config = SimConfig::tiny(3);
    config.clients.push(ClientConfig {
        client_id: "no-roles".into(),
        client_secret: "s2".into(),
        access: ClientAccess::None,
        ..ClientConfig::default()
    });
    Sim::start(config)
}

#[test]
fn good_credentials_summarise_the_environment() {
    let sim = sim_with_clients();
    let h = sim.h();
    let v = validate(
        &sim,
        h.client_id(),
        h.client_secret(),
        h.environment_id(),
        h.api_base_url(),
    )
    .unwrap();
    assert_eq!(
        v.summary,
        "environment Simulated (NA), sandbox, 2 populations"
    );
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn a_wrong_secret_names_the_credentials() {
    let sim = sim_with_clients();
    let h = sim.h();
    let e = validate(
        &sim,
        h.client_id(),
        "wrong",
        h.environment_id(),
        h.api_base_url(),
    )
    .unwrap_err();
    let ConnectorError::Unauthenticated(m) = &e else {
        panic!("{e:?}")
    };
    assert!(m.contains("rejected the client id or secret"), "{m}");
    assert!(
        m.contains("invalid_client"),
        "PingOne's own text is kept: {m}"
    );
    assert!(m.contains("pingone-client-secret"), "{m}");
}

#[test]
fn a_worker_app_without_roles_is_told_which_role() {
    let sim = sim_with_clients();
    let h = sim.h();
    let e = validate(&sim, "no-roles", "s2", h.environment_id(), h.api_base_url()).unwrap_err();
    let ConnectorError::PermissionDenied(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains("Identity Data Read Only") && m.contains("Identity Data Admin"),
        "{m}"
    );
    assert!(m.contains("not p1:* scopes"), "{m}");
}

#[test]
fn another_environment_is_refused_at_the_token() {
    let sim = sim_with_clients();
    let h = sim.h();
    let e = validate(
        &sim,
        h.client_id(),
        h.client_secret(),
        h.other_environment_id(),
        h.api_base_url(),
    )
    .unwrap_err();
    let ConnectorError::Unauthenticated(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains(h.other_environment_id()) && m.contains("pingone-environment-id"),
        "{m}"
    );
}

#[test]
fn a_wrong_api_url_is_recognised() {
    let sim = sim_with_clients();
    let h = sim.h();
    let api = format!("{}/v1/management", h.api_base_url());
    let e = validate(
        &sim,
        h.client_id(),
        h.client_secret(),
        h.environment_id(),
        &api,
    )
    .unwrap_err();
    let ConnectorError::InvalidConfig(m) = &e else {
        panic!("{e:?}")
    };
    assert!(m.contains("pingone-api-url"), "{m}");
}
