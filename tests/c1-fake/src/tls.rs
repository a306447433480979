//! TLS for the fake: a throwaway CA and a server certificate for 127.0.0.1
//! and localhost, generated at start and served with rustls on the ring
//! provider, by the same generator as the PingOne simulator's TLS mode.
//!
//! Decisions: the client under test must trust the CA explicitly (the fake
//! exposes its PEM), exactly as it would have to for any non-public endpoint;
//! ALPN offers `h2` first (gRPC needs HTTP/2) and `http/1.1` second, because
//! the token endpoint shares the listener and a plain HTTPS client may only
//! speak HTTP/1.1.

pub(crate) use pingone_sim::tls::TlsMaterial;

pub(crate) fn generate() -> anyhow::Result<TlsMaterial> {
    pingone_sim::tls::generate_named("c1-fake test CA", &[b"h2", b"http/1.1"])
}
