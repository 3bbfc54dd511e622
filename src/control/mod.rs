//! Control socket: a Unix stream socket (mode 0600) through which `tandem status` talks to the
//! running daemon. Protocol: the client writes one command line (`status`), the daemon answers
//! one JSON document and closes the connection.

pub mod client;
pub mod server;

/// The only command for now; a line protocol leaves room for more (`reload`, `drain REAL`).
pub const STATUS_COMMAND: &str = "status";
