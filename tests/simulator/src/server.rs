//! The accept loop: HTTP/1.1 over plain TCP or rustls, one task per
//! connection, keep-alive, TCP_NODELAY.
//!
//! Serving hyper directly (rather than `axum::serve`) is what lets a
//! handler close a connection without any response (the reset fault: the
//! service returns an error and hyper drops the socket) and lets TLS and
//! plain share one code path. Shutdown stops accepting and aborts open
//! connections.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::faults::ResetConnection;

async fn serve_conn<I>(io: I, router: Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut router = router.clone();
        async move {
            let resp = match router.call(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            if resp.extensions().get::<ResetConnection>().is_some() {
                return Err(std::io::Error::other("connection reset by the simulator"));
            }
            Ok(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// Serves `router` on `listener` until `shutdown` flips to true.
pub async fn run(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                match &acceptor {
                    None => {
                        conns.spawn(serve_conn(stream, router));
                    }
                    Some(acc) => {
                        let acc = acc.clone();
                        conns.spawn(async move {
                            if let Ok(tls) = acc.accept(stream).await {
                                serve_conn(tls, router).await;
                            }
                        });
                    }
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
