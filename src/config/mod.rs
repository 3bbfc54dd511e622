//! Configuration: the YAML model, its parsing with located errors, and its validation.
//!
//! `load` / `parse` return either a fully validated [`Config`] or every problem found, each
//! as `FILE:LINE:COL: message`. Syntax, type and unknown-key errors stop the YAML parser at the
//! first one; range errors (garde) and semantic errors (duplicates, references, interval
//! rules) are all collected in one run.

mod address;
mod alerts;
mod duration;
mod error;
mod located;
mod model;
mod validate;
pub use validate::parse_status_range;

use std::borrow::Cow;
use std::path::Path;

use serde_saphyr::MessageFormatter;

pub use address::{Cidr, Endpoint};
pub use duration::ConfigDuration;
pub use error::{ConfigError, ConfigErrors};
pub use located::{At, Position};
pub use model::*;

/// Path used when `-c` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/tandem/tandem.yaml";

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            pos: Position::default(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(&file, &text)
}

fn parser_options() -> serde_saphyr::Options {
    // Defaults already reject duplicate keys and bound alias expansion (billion laughs); the
    // budget is large enough for tens of thousands of real servers.
    serde_saphyr::Options::default()
}

/// Parses and validates configuration text; `file` names it in error messages.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    // Fast path first: plain deserialization, then garde on the value. Recording the YAML path
    // of every node (needed only to locate garde's findings) costs 4x the time and memory of
    // the parse, so it runs only when a range rule actually failed.
    let config = match serde_saphyr::from_str_with_options::<Config>(text, parser_options()) {
        Ok(config) => {
            if garde::Validate::validate(&config).is_err()
                && let Err(err) =
                    serde_saphyr::from_str_with_options_valid::<Config>(text, parser_options())
            {
                collect_parse_errors(file, &err, &mut errors);
            }
            Some(config)
        }
        Err(err) => {
            collect_parse_errors(file, &err, &mut errors);
            None
        }
    };
    if let Some(config) = &config {
        for (pos, message) in validate::semantic_errors(config) {
            errors.push(ConfigError {
                file: file.to_string(),
                pos,
                message: without_control_chars(&message),
            });
        }
    }
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            errors.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.message.cmp(&b.message)));
            errors.dedup();
            Err(ConfigErrors(errors))
        }
    }
}

/// Turns a serde-saphyr error into located errors.
fn collect_parse_errors(file: &str, err: &serde_saphyr::Error, out: &mut Vec<ConfigError>) {
    let err = err.without_snippet();
    match err {
        serde_saphyr::Error::ValidationError {
            issues, locations, ..
        } => {
            for issue in issues {
                let pos = locations
                    .locations_for(&issue.path)
                    .and_then(|l| l.primary_location())
                    .map(|l| Position {
                        line: l.line(),
                        column: l.column(),
                    })
                    .unwrap_or_default();
                let path = display_path(&issue.path);
                let what =
                    readable_rule(&issue.message.clone().unwrap_or_else(|| issue.code.clone()));
                out.push(ConfigError {
                    file: file.to_string(),
                    pos,
                    message: format!("{path}: {what}"),
                });
            }
        }
        serde_saphyr::Error::ValidationErrors { errors, .. } => {
            for e in errors {
                collect_parse_errors(file, e, out);
            }
        }
        other => {
            let pos = other
                .location()
                .map(|l| Position {
                    line: l.line(),
                    column: l.column(),
                })
                .unwrap_or_default();
            let message: Cow<'_, str> = serde_saphyr::DefaultMessageFormatter.format_message(other);
            out.push(ConfigError {
                file: file.to_string(),
                pos,
                message: operator_wording(&without_control_chars(&message)),
            });
        }
    }
}

/// garde words its range rules as "greater than 255"; say what the value must be instead.
fn readable_rule(message: &str) -> String {
    if let Some(max) = message.strip_prefix("greater than ") {
        format!("must be at most {max}")
    } else if let Some(min) = message.strip_prefix("lower than ") {
        format!("must be at least {min}")
    } else if message == "length is lower than 1" {
        "must not be empty".to_string()
    } else if let Some(min) = message.strip_prefix("length is lower than ") {
        format!("must have a length of at least {min}")
    } else if let Some(max) = message.strip_prefix("length is greater than ") {
        format!("must have a length of at most {max}")
    } else {
        message.to_string()
    }
}

/// The YAML library speaks to Rust developers in a few messages; reword those for operators.
fn operator_wording(message: &str) -> String {
    if let Some((head, _)) = message.split_once(", set DuplicateKeyPolicy") {
        return format!("{head} (each key may appear once)");
    }
    match message {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" => {
            "expected a whole number".to_string()
        }
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" => {
            "expected a whole number (may be negative)".to_string()
        }
        _ => message.to_string(),
    }
}

/// Error text can quote the file: keep it on one line and free of terminal control sequences.
fn without_control_chars(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn display_path(path: &serde_saphyr::path_map::PathKey) -> String {
    let mut text = String::new();
    for (kind, name) in path.segments() {
        if name.is_empty() {
            continue; // garde's `inner` rule on an Option adds an unnamed segment
        }
        match kind {
            serde_saphyr::path_map::PathKind::Index => {
                text.push('[');
                text.push_str(name);
                text.push(']');
            }
            _ => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(name);
            }
        }
    }
    text
}

/// The JSON Schema of the configuration, generated from the same types the parser uses.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Config);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

impl Config {
    /// Number of real servers over all virtual servers.
    pub fn real_server_count(&self) -> usize {
        self.virtual_servers
            .iter()
            .map(|v| v.real_servers.len())
            .sum()
    }

    /// One-line summary printed by `tandem check`.
    pub fn summary(&self) -> String {
        format!(
            "{} vrrp instances, {} virtual servers, {} real servers",
            self.vrrp_instances.len(),
            self.virtual_servers.len(),
            self.real_server_count()
        )
    }
}
