//! TLS for the fake: a throwaway CA and a server certificate for 127.0.0.1
//! and localhost, generated at start and served with rustls on the ring
//! provider.
//!
//! Decisions: the client under test must trust the CA explicitly (the fake
//! exposes its PEM), exactly as it would have to for any non-public endpoint;
//! ALPN offers `h2` first (gRPC needs HTTP/2) and `http/1.1` second, because
//! the token endpoint shares the listener and a plain HTTPS client may only
//! speak HTTP/1.1. The same approach as the PingOne simulator's TLS mode.

use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA a client must trust, and the server side configuration.
pub(crate) struct TlsMaterial {
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

pub(crate) fn generate() -> anyhow::Result<TlsMaterial> {
    let ca_key = KeyPair::generate().context("CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "c1-fake test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).context("CA certificate")?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().context("server key")?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .context("server certificate")?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .context("TLS server configuration")?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    })
}
