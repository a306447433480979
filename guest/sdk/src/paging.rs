//! Page tokens: a connector's private state between calls, kept by the host.
//!
//! Decision: tokens are base64url JSON of a connector-defined type, so they
//! survive a checkpoint, are opaque to the host, and fail loudly (not
//! silently restart) when a resumed sync hands back something unreadable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};

use crate::ConnectorError;

/// Encodes a page state as an opaque token.
pub fn encode<T: Serialize>(state: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(state).expect("serializing a page token"))
}

/// Decodes a token made by [`encode`]; `None` for the first page.
pub fn decode<T: DeserializeOwned>(token: Option<&str>) -> Result<Option<T>, ConnectorError> {
    let Some(token) = token else { return Ok(None) };
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|e| ConnectorError::InvalidArgument(format!("unreadable page token: {e}")))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ConnectorError::InvalidArgument(format!("unreadable page token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct State {
        next: String,
        phase: u8,
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let s = State {
            next: "https://api/x?cursor=a&b".into(),
            phase: 2,
        };
        let t = encode(&s);
        assert!(!t.contains('&') && !t.contains('='));
        assert_eq!(decode::<State>(Some(&t)).unwrap(), Some(s));
        assert_eq!(decode::<State>(None).unwrap(), None);
        assert!(matches!(
            decode::<State>(Some("!!")),
            Err(ConnectorError::InvalidArgument(_))
        ));
    }
}
