//! `tandem run`: the daemon's lifecycle. One tokio runtime; the director task owns the state;
//! signals and the control socket feed it commands.

use std::path::Path;
use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::LogFormat;
use crate::config;
use crate::director::{Director, DirectorCommand};

pub fn run(config_path: &Path, log_format: LogFormat) -> ExitCode {
    crate::logging::init(log_format);
    let config = match config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors.iter() {
                tracing::error!("{e}");
            }
            tracing::error!(
                errors = errors.len(),
                "invalid configuration; not starting (run `tandem check -c {}`)",
                config_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("tandem")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let absolute = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_path_buf());
    runtime.block_on(run_async(absolute, config))
}

async fn run_async(config_path: std::path::PathBuf, config: config::Config) -> ExitCode {
    let socket_path = config.global.control_socket.clone();
    let listener = match crate::control::server::bind(&socket_path).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, socket = %socket_path.display(), "cannot open the control socket");
            return ExitCode::FAILURE;
        }
    };
    let (mut hup, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            tracing::error!("cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };

    let summary = config.summary();
    let (tx, rx) = mpsc::channel(1024);
    let metrics = crate::metrics::Metrics::new();
    // The HTTP endpoint binds before anything starts: a wrong `http_listen` is a startup error.
    let http_listener = match config.global.http_listen {
        Some(addr) => match crate::http::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the HTTP endpoint (global.http_listen)");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let director = match Director::new(config_path.clone(), config, metrics.clone()) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let director_task = tokio::spawn(director.run(rx));
    tokio::spawn(crate::control::server::serve(
        listener,
        socket_path.clone(),
        tx.clone(),
    ));
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(http_listener) = http_listener {
        let status_tx = tx.clone();
        let provider = move || {
            let status_tx = status_tx.clone();
            async move {
                let (reply, answer) = tokio::sync::oneshot::channel();
                if status_tx
                    .send(DirectorCommand::Status(reply))
                    .await
                    .is_err()
                {
                    return crate::director::status::Status::default();
                }
                answer.await.unwrap_or_default()
            }
        };
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = http_stopped.await;
            };
            if let Err(e) = crate::http::serve(
                http_listener,
                metrics,
                std::sync::Arc::new(provider),
                shutdown,
            )
            .await
            {
                tracing::error!(error = %e, "HTTP endpoint stopped");
            }
        });
    }

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config_path.display(),
        "tandem started: {summary}"
    );
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&summary),
    ]);

    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                let _ = tx.send(DirectorCommand::Reload).await;
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = http_stop.send(());
    let _ = tx.send(DirectorCommand::Shutdown).await;
    drop(tx);
    let _ = director_task.await;
    let _ = std::fs::remove_file(&socket_path);
    tracing::info!("tandem stopped");
    ExitCode::SUCCESS
}
