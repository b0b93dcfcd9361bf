//! The body of a protocol `error` event.

use serde::{Deserialize, Serialize};

use super::item::Extra;

/// `{"type":"invalid_request_error","code":...,"message":...,"param":...,"event_id":...}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}/{}: {message}", code.as_deref().unwrap_or("-"))]
pub struct ProtocolError {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    pub message: String,
    #[serde(default)]
    pub param: Option<String>,
    /// The client `event_id` that caused the error, echoed back.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ProtocolError {
    pub fn new(code: &str, message: &str, param: Option<&str>) -> Self {
        ProtocolError {
            kind: "invalid_request_error".into(),
            code: Some(code.into()),
            message: message.into(),
            param: param.map(Into::into),
            event_id: None,
            extra: Extra::new(),
        }
    }

    pub fn with_kind(mut self, kind: &str) -> Self {
        self.kind = kind.into();
        self
    }

    pub fn with_event_id(mut self, event_id: Option<String>) -> Self {
        self.event_id = event_id;
        self
    }

    pub fn unknown_parameter(path: &str) -> Self {
        Self::new(
            "unknown_parameter",
            &format!("Unknown parameter: '{path}'."),
            Some(path),
        )
    }

    pub fn invalid_value(param: &str, got: &str, supported: &str) -> Self {
        Self::new(
            "invalid_value",
            &format!("Invalid value: '{got}'. Supported values are: {supported}."),
            Some(param),
        )
    }

    pub fn invalid_json(detail: &str) -> Self {
        Self::new(
            "invalid_json",
            &format!(
                "Invalid event: failed to parse JSON value. Please check the value to ensure it is valid JSON. ({detail})"
            ),
            None,
        )
    }

    pub fn invalid_type(param: &str, detail: &str) -> Self {
        Self::new(
            "invalid_type",
            &format!("Invalid type for '{param}': {detail}"),
            Some(param),
        )
    }

    pub fn missing_required(param: &str) -> Self {
        Self::new(
            "missing_required_parameter",
            &format!("Missing required parameter: '{param}'."),
            Some(param),
        )
    }
}
