//! The one error envelope every 4xx and 5xx uses:
//! `{"error": {"code": "out_of_stock", "message": "...", "details": {...}}}`.
//!
//! `code` is for programs ([`ErrorCode`]), `message` for people, and
//! `details` (optional) names what a program needs to act on the error, such
//! as the lines an order could not have.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::products::Shortage;

/// What went wrong, for programs. New codes may be added; existing ones keep
/// their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request: syntax, unknown query parameter, missing header.
    BadRequest,
    /// No valid access token (or wrong password).
    Unauthorized,
    /// A valid caller that may not do this.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// The request conflicts with the current state (a taken email or sku,
    /// an order that can no longer change).
    Conflict,
    /// Well-formed but invalid values (422).
    Invalid,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A backend or the request itself took too long.
    Timeout,
    /// Too many requests; `Retry-After` says when to try again.
    RateLimited,
    /// A dependency is down; retry later.
    Unavailable,
    /// A fault of ours; the details are in our log, not in the reply.
    Internal,
    /// An order could not have its stock; `details.shortages` names the lines.
    OutOfStock,
    /// An order names products that do not exist; `details.unknown_products`.
    UnknownProduct,
    /// An order was rejected for another reason.
    Rejected,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::OutOfStock => "out_of_stock",
            Self::UnknownProduct => "unknown_product",
            Self::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }
}

/// What a program needs to act on an error; each member only where it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetails {
    /// The lines that could not be had, with what is available.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<Shortage>,
    /// Product ids that name no product.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_products: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_as_their_names() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::OutOfStock,
            ErrorCode::RateLimited,
        ] {
            let json = serde_json::to_value(code).expect("json");
            assert_eq!(json, code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(json).expect("parse"), code);
        }
    }

    #[test]
    fn details_are_left_out_when_there_are_none() {
        let body = ErrorEnvelope {
            error: ErrorBody::new(ErrorCode::NotFound, "not found"),
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"error":{"code":"not_found","message":"not found"}}"#
        );
    }
}
