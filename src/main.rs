//! The `tandem` command: daemon, configuration check, status client, demo.

use std::process::ExitCode;

mod libm_pow;

fn main() -> ExitCode {
    tandem::cli::main()
}
