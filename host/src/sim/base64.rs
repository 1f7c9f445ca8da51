//! Standard base64 (RFC 4648 with padding), as the API uses for Secret data,
//! kubeconfig certificate data and continue tokens.
//!
//! Encoding goes through `k8s_openapi::ByteString`, whose JSON form is exactly this
//! encoding, so the simulator needs no base64 crate of its own.

use k8s_openapi::ByteString;
use serde_json::Value;

/// Encodes `bytes` as standard base64 with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    match serde_json::to_value(ByteString(bytes.to_vec())) {
        Ok(Value::String(text)) => text,
        _ => unreachable!("ByteString always serializes to a JSON string"),
    }
}

/// Decodes standard base64, or returns `None` when `text` is not valid base64.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    serde_json::from_value::<ByteString>(Value::String(text.to_string()))
        .ok()
        .map(|bytes| bytes.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(encode(b"hello"), "aGVsbG8=");
        assert_eq!(decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode("not base64!"), None);
    }
}
