//! `At<T>`: a configuration value that remembers where in the YAML file it was written.
//!
//! Semantic checks (duplicates, cross references, v2/v3 interval rules) run after parsing, so
//! the values they inspect must carry their line and column to report `FILE:LINE:COL`. `At<T>`
//! deserializes through serde-saphyr's `Spanned<T>` and is otherwise transparent: it derefs to
//! `T`, validates with garde's range rule like `T`, and has `T`'s JSON Schema.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Line and column (both 1-based) of a value in the configuration file; (0, 0) when unknown
/// (values built in code, defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value with its position in the source YAML.
#[derive(Clone, Default)]
pub struct At<T> {
    pub value: T,
    pub pos: Position,
}

impl<T> At<T> {
    /// A value built in code (defaults, tests): it has no source position.
    pub fn new(value: T) -> Self {
        At {
            value,
            pos: Position::default(),
        }
    }
}

impl<T> Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for At<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for At<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// Equality ignores the position: a reload that only moved a value to another line is no change.
impl<T: PartialEq> PartialEq for At<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for At<T> {}

impl<T: PartialOrd> PartialOrd for At<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: std::hash::Hash> std::hash::Hash for At<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(At {
            value: spanned.value,
            pos: Position {
                line: spanned.referenced.line(),
                column: spanned.referenced.column(),
            },
        })
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for At<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<T: garde::rules::range::Bounds> garde::rules::range::Bounds for At<T> {
    type Size = T::Size;
    const MIN: Self::Size = T::MIN;
    const MAX: Self::Size = T::MAX;
    fn validate_bounds(
        &self,
        lower_bound: Self::Size,
        upper_bound: Self::Size,
    ) -> Result<(), garde::rules::range::OutOfBounds> {
        self.value.validate_bounds(lower_bound, upper_bound)
    }
}

impl<T: garde::Validate> garde::Validate for At<T> {
    type Context = T::Context;
    fn validate_into(
        &self,
        ctx: &Self::Context,
        parent: &mut dyn FnMut() -> garde::Path,
        report: &mut garde::Report,
    ) {
        self.value.validate_into(ctx, parent, report)
    }
}

impl<T: garde::rules::length::HasSimpleLength> garde::rules::length::HasSimpleLength for At<T> {
    fn length(&self) -> usize {
        self.value.length()
    }
}
