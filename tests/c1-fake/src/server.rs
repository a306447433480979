//! The listener: one TCP port, TLS with tokio-rustls, HTTP/1.1 or HTTP/2
//! (hyper-util's auto server), routed by path to the token endpoint or to
//! gRPC. Also the connection-level faults.
//!
//! Decisions:
//! - Each connection is served by its own task in one `JoinSet`;
//!   `drop_connections` aborts them all, which drops the TLS
//!   stream and closes the socket under the client's feet (in-flight RPCs
//!   see a transport error, not a gRPC status).
//! - "Refusing" means accepting and immediately closing the socket, before
//!   the TLS handshake: a client sees the connection drop and has to
//!   reconnect with backoff. A real refusal (RST on SYN) cannot be made
//!   with a listening socket that must stay bound to the same port.
//! - Accepted connections are counted whether refused or served.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::{Inner, grpc, token};

/// Connection bookkeeping shared by the accept loop and the API.
#[derive(Default)]
pub(crate) struct Connections {
    pub accepted: AtomicUsize,
    pub refuse: AtomicBool,
    open: Mutex<JoinSet<()>>,
}

impl Connections {
    fn open(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Aborts every connection task; their sockets close.
    pub fn drop_all(&self) {
        self.open().abort_all();
    }
}

/// The accept loop on `listener`; it runs as long as the test's runtime.
pub(crate) async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, inner: Arc<Inner>) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors or similar: back off briefly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        inner.conns.accepted.fetch_add(1, Ordering::SeqCst);
        inner.notify();
        if inner.conns.refuse.load(Ordering::SeqCst) {
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let route_inner = inner.clone();
        let acceptor = acceptor.clone();
        let mut open = inner.conns.open();
        // Forget the connections that ended.
        while open.try_join_next().is_some() {}
        open.spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let inner = route_inner.clone();
                    async move {
                        Ok::<_, Infallible>(if req.uri().path() == token::TOKEN_PATH {
                            token::handle(inner, req).await
                        } else {
                            grpc::dispatch(inner, req).await
                        })
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
        });
    }
}
