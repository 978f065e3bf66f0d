//! Field-level errors, shaped like Kubernetes' `field.Error`, so the API server can turn them
//! into `Status` causes (`{reason: FieldValueRequired, field: "spec.replicas", message: ...}`).

use std::fmt;

/// Why a field was rejected; maps one-to-one onto Kubernetes' `CauseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorReason {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    TooLong,
    TooMany,
    Forbidden,
    TypeInvalid,
    /// A field the schema does not know (reported under `fieldValidation=Strict`).
    Unknown,
}

impl FieldErrorReason {
    /// The `reason` string Kubernetes puts in a `StatusCause`.
    pub fn as_cause(&self) -> &'static str {
        match self {
            FieldErrorReason::Required => "FieldValueRequired",
            FieldErrorReason::Invalid => "FieldValueInvalid",
            FieldErrorReason::NotSupported => "FieldValueNotSupported",
            FieldErrorReason::Duplicate => "FieldValueDuplicate",
            FieldErrorReason::TooLong => "FieldValueTooLong",
            FieldErrorReason::TooMany => "FieldValueTooMany",
            FieldErrorReason::Forbidden => "FieldValueForbidden",
            FieldErrorReason::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorReason::Unknown => "FieldValueInvalid",
        }
    }
}

/// One rejected field: its path (`spec.template.spec.containers[0].image`), why, and a
/// message in Kubernetes' wording (`Required value`, `Invalid value: "x": ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: FieldErrorReason,
    pub message: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::Required,
            message: "Required value".into(),
        }
    }
    /// `Not found: <value>` (Kubernetes' `field.NotFound`, e.g. a volumeMount naming no volume).
    /// `FieldErrorReason` has no `NotFound` variant, so the cause is reported as invalid.
    pub fn not_found(field: impl Into<String>, value: impl fmt::Display) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::Invalid,
            message: format!("Not found: {value}"),
        }
    }
    /// `Invalid value: <json of value>: <detail>`
    pub fn invalid(
        field: impl Into<String>,
        value: impl fmt::Display,
        detail: impl fmt::Display,
    ) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::Invalid,
            message: format!("Invalid value: {value}: {detail}"),
        }
    }
    pub fn not_supported(
        field: impl Into<String>,
        value: impl fmt::Display,
        supported: &[&str],
    ) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::NotSupported,
            message: format!("Unsupported value: {value}: supported values: {list}"),
        }
    }
    pub fn duplicate(field: impl Into<String>, value: impl fmt::Display) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::Duplicate,
            message: format!("Duplicate value: {value}"),
        }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl fmt::Display) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::Forbidden,
            message: format!("Forbidden: {detail}"),
        }
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::TooLong,
            message: format!("Too long: may not be more than {max} bytes"),
        }
    }
    pub fn type_invalid(field: impl Into<String>, detail: impl fmt::Display) -> Self {
        FieldError {
            field: field.into(),
            reason: FieldErrorReason::TypeInvalid,
            message: format!("Invalid value: {detail}"),
        }
    }
    /// Append a detail to the message (`Required value: name or generateName is required`).
    pub fn with_message(mut self, detail: impl fmt::Display) -> Self {
        self.message = format!("{}: {detail}", self.message);
        self
    }
    pub fn unknown(field: impl Into<String>) -> Self {
        let field = field.into();
        FieldError {
            message: format!("unknown field \"{field}\""),
            field,
            reason: FieldErrorReason::Unknown,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
