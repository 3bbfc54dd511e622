//! The `alerts:` section: where events go besides the log (SNMP traps, syslog).

use garde::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Alert sinks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {}
