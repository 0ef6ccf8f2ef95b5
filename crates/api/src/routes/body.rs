//! Request bodies are JSON whatever the Content-Type says: the seed's own curl commands send
//! JSON without one (curl then claims form encoding), and they must work as written.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Parses `body` as JSON into `T`: 400 when it is not JSON, 422 naming the field when a
/// field is missing, unknown or of the wrong type. An empty body counts as `{}`.
pub(crate) fn json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::malformed("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names unknown fields in the message, not the path.
        let field = if path == "." {
            inner
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "body".to_string())
        } else {
            path
        };
        ApiError::field(&field, inner)
    })
}
