//! tutti-core: the pure heart of tutti's API.
//!
//! It owns the resource registry (which kinds exist, their group/version, plural and scope),
//! decoding with field paths, defaulting, validation, label and field selectors, quantities,
//! and the patch formats (JSON merge, JSON patch, strategic merge). No IO, no tokio: every
//! function here is a plain function over `serde_json::Value` or k8s-openapi types.

pub mod decode;
pub mod defaults;
pub mod duration;
pub mod error;
pub mod fields;
pub mod labels;
pub mod names;
pub mod patch;
pub mod quantity;
pub mod registry;
pub mod validation;

pub use error::{FieldError, FieldErrorReason};
