//! Command-line interface (clap).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config;

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "High-availability manager for Linux Virtual Server directors: VRRP failover, health checks, IPVS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground (logs to stderr, or journald under systemd).
    Run {
        /// Configuration file.
        #[arg(short, long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Log format on stderr.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Validate a configuration file: exit 0 with a summary, or 1 with every error found.
    Check {
        /// Configuration file.
        #[arg(short, long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Show the running daemon's VRRP instances and virtual servers.
    Status {
        /// Control socket of the daemon.
        #[arg(short, long, default_value = config::DEFAULT_CONTROL_SOCKET)]
        socket: PathBuf,
        /// Print the daemon's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the configuration file.
    Schema,
    /// Show a director pair failing over, in network namespaces (needs root).
    Demo,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    Text,
    Json,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, log_format } => crate::daemon::run(&config, log_format),
        Command::Check { config } => check(&config),
        Command::Status { socket, json } => crate::control::client::status(&socket, json),
        Command::Demo => crate::demo::run(),
        Command::Schema => {
            print!("{}", config::json_schema());
            ExitCode::SUCCESS
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            println!("configuration OK: {}", cfg.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors.iter() {
                eprintln!("{e}");
            }
            eprintln!(
                "{}: {} error{} found",
                path.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}
