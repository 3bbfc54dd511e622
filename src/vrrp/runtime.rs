//! The thread VRRP instances run on: a single-threaded tokio runtime of their own.
//!
//! Why not the daemon's multi-thread runtime:
//! - **Timing isolation.** An advert every 10 ms and a Master_Down_Timer of ~30 ms must not
//!   queue behind thousands of health-check probes or an IPVS reconcile. keepalived runs VRRP
//!   in a process of its own for the same reason.
//! - **Idle cost.** On a multi-thread runtime every advert woke two workers (the timer fires on
//!   the thread parked on the driver, the task is handed to another, which is woken through
//!   the driver's eventfd): ~3 context switches and an extra `write` per advert. Here an advert
//!   is one `epoll_wait` timeout, one poll of the instance task and one `sendto`.
//!
//! Instance tasks talk to the director only through channels and a mutex-guarded snapshot,
//! which work across runtimes; everything the task opens (raw sockets registered with the
//! reactor, its rtnetlink connection task) belongs to this runtime because the task creates it
//! from inside.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

static VRRP_RUNTIME: OnceLock<Option<Handle>> = OnceLock::new();

/// Starts the runtime thread; None (logged) when the OS refuses a thread or an epoll instance.
fn start() -> Option<Handle> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the VRRP runtime; VRRP shares the main runtime");
            return None;
        }
    };
    let handle = runtime.handle().clone();
    let spawned = std::thread::Builder::new()
        .name("tandem-vrrp".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()));
    match spawned {
        Ok(_) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the VRRP thread; VRRP shares the main runtime");
            None
        }
    }
}

/// Spawns `task` on the VRRP thread (started on first use; it lives as long as the process),
/// or on the caller's runtime if that thread could not be started.
pub fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match VRRP_RUNTIME.get_or_init(start) {
        Some(handle) => handle.spawn(task),
        None => tokio::spawn(task),
    }
}
