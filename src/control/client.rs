//! `tandem status`: asks the daemon over its control socket and prints the answer.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::director::status::Status;

/// Sends one command and returns the daemon's raw JSON answer.
pub fn request(socket: &Path, command: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(command.as_bytes())?;
    stream.write_all(b"\n")?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    Ok(answer)
}

pub fn status(socket: &Path, json: bool) -> ExitCode {
    let answer = match request(socket, super::STATUS_COMMAND) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "cannot reach the tandem daemon on {}: {e} (is it running? is -s right?)",
                socket.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if json {
        print!("{answer}");
        return ExitCode::SUCCESS;
    }
    match serde_json::from_str::<Status>(&answer) {
        Ok(status) => {
            print!("{}", status.render_table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unexpected answer from the daemon ({e}): {answer}");
            ExitCode::FAILURE
        }
    }
}
