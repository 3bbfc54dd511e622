//! The HTTP endpoint (`global.http_listen`): `/metrics` (Prometheus text), `/status` (the JSON
//! of `tandem status --json`) and `/healthz` (liveness).
//!
//! Read-only and unauthenticated by design, like most exporters: it must be bound to loopback
//! or a management network behind a firewall (the examples use 127.0.0.1). It is bound only
//! when configured.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::director::status::Status;
use crate::metrics::Metrics;

/// Where `/status` comes from: the director's live state, the same source as the control
/// socket's `status`, so that `tandem status` and `/status` agree.
pub trait StatusProvider: Send + Sync + 'static {
    fn status(&self) -> Pin<Box<dyn Future<Output = Status> + Send + '_>>;
}

/// Any `Fn() -> impl Future<Output = Status>` is a provider (an async closure over a handle to
/// the director).
impl<F, Fut> StatusProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Status> + Send + 'static,
{
    fn status(&self) -> Pin<Box<dyn Future<Output = Status> + Send + '_>> {
        Box::pin(self())
    }
}

/// Why the endpoint could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    #[error("cannot listen on {addr} (global.http_listen): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP endpoint failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    status: Arc<dyn StatusProvider>,
}

/// Binds `addr` (separate from [`serve`] so that a bad address fails at startup, and tests can
/// bind port 0 and read the port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// The routes, for embedding or testing without a socket.
pub fn router(metrics: Metrics, status: Arc<dyn StatusProvider>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/status", get(status_handler))
        .route("/healthz", get(healthz_handler))
        .with_state(AppState { metrics, status })
}

/// Serves until `shutdown` completes (then finishes in-flight requests).
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    status: Arc<dyn StatusProvider>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(listen = %addr, "HTTP endpoint serving /metrics, /status, /healthz");
    }
    axum::serve(listener, router(metrics, status))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(HttpError::Serve)
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn status_handler(State(state): State<AppState>) -> Response {
    let status = state.status.status().await;
    match serde_json::to_string(&status) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn healthz_handler() -> &'static str {
    "ok\n"
}
