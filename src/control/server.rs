//! Daemon side of the control socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::director::DirectorCommand;

/// Binds the control socket. A stale socket file left by a killed daemon is replaced; a live
/// daemon answering on it is an error (two daemons would fight over the VIPs).
pub async fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another tandem daemon is answering on {} (stop it first)",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    // Status exposes topology: only root (the socket owner) may read it.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the control socket until `director` goes away.
pub async fn serve(listener: UnixListener, path: PathBuf, director: mpsc::Sender<DirectorCommand>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler_director = director.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, handler_director).await {
                tracing::debug!(error = %e, "control connection ended with an error");
            }
        });
        if director_is_gone(&director) {
            break;
        }
    }
    let _ = std::fs::remove_file(&path);
}

fn director_is_gone(director: &mpsc::Sender<DirectorCommand>) -> bool {
    director.is_closed()
}

async fn handle(
    stream: UnixStream,
    director: mpsc::Sender<DirectorCommand>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take_line_limit();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no command"))??;
    let reply = match line.trim() {
        super::STATUS_COMMAND => {
            let (tx, rx) = oneshot::channel();
            if director.send(DirectorCommand::Status(tx)).await.is_err() {
                r#"{"error":"daemon is shutting down"}"#.to_string()
            } else {
                match rx.await {
                    Ok(status) => serde_json::to_string(&status)
                        .unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#)),
                    Err(_) => r#"{"error":"daemon is shutting down"}"#.to_string(),
                }
            }
        }
        other => serde_json::json!({ "error": format!("unknown command {other:?}") }).to_string(),
    };
    write.write_all(reply.as_bytes()).await?;
    write.write_all(b"\n").await?;
    write.shutdown().await
}

/// Bounds how much a client can make the daemon buffer for one command line.
trait TakeLineLimit: Sized {
    fn take_line_limit(self) -> tokio::io::Take<Self>;
}

impl<R: tokio::io::AsyncRead> TakeLineLimit for BufReader<R> {
    fn take_line_limit(self) -> tokio::io::Take<Self> {
        tokio::io::AsyncReadExt::take(self, 4096)
    }
}
