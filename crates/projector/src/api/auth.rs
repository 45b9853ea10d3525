//! The optional bearer token: [`ApiToken`] keeps only its digest and
//! compares in constant time; [`Bearer`] checks every request against it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tower_http::validate_request::ValidateRequest;

use super::error::ApiError;

/// The API's bearer token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiToken(Arc<[u8; 32]>);

impl ApiToken {
    /// `None` for an empty token (surrounding whitespace is not part of
    /// it: a token file ends with a newline).
    pub fn new(token: &str) -> Option<ApiToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| ApiToken(Arc::new(Sha256::digest(token.as_bytes()).into())))
    }

    /// Compares the digests, in constant time: how long it takes says
    /// nothing of how much of the token was right, nor of its length.
    fn matches(&self, presented: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented).into();
        bool::from(presented.ct_eq(&self.0[..]))
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// Checks `Authorization: Bearer <token>`.
#[derive(Clone)]
pub(super) struct Bearer(pub(super) ApiToken);

impl<B> ValidateRequest<B> for Bearer {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response> {
        // The scheme is case-insensitive (RFC 9110, 11.1).
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().split_at_checked(7))
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case(b"Bearer ").then_some(token));
        match presented {
            Some(token) if self.0.matches(token) => Ok(()),
            _ => {
                let mut answer = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this API needs `Authorization: Bearer <token>` with the node's token",
                )
                .into_response();
                answer
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(answer)
            }
        }
    }
}
