//! The `tandem` command: daemon, configuration check, status client, demo.

use std::process::ExitCode;

fn main() -> ExitCode {
    tandem::cli::main()
}
