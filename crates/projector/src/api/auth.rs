//! The optional bearer token: [`ApiToken`] keeps only its digest and
//! compares in constant time; [`Bearer`] checks every request against it
//! (and takes it as a Basic password for the feeds).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
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

/// Checks `Authorization: Bearer <token>`; under `/feeds/`, also HTTP
/// Basic with the token as the password (any user name), which feed
/// readers can send where they cannot send a bearer token.
#[derive(Clone)]
pub(super) struct Bearer(pub(super) ApiToken);

/// Where Basic credentials are taken too.
const FEEDS: &str = "/feeds/";

impl<B> ValidateRequest<B> for Bearer {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response> {
        let feed = request.uri().path().starts_with(FEEDS);
        let authorization = request.headers().get(header::AUTHORIZATION);
        let presented = authorization.and_then(|v| credential(v.as_bytes(), b"Bearer "));
        let presented = match presented {
            None if feed => authorization.and_then(|v| basic_password(v.as_bytes())),
            bearer => bearer,
        };
        match presented {
            Some(token) if self.0.matches(&token) => Ok(()),
            _ => {
                let mut answer = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    if feed {
                        "this feed needs the node's token: `Authorization: Bearer <token>`, \
                         or HTTP Basic with the token as the password"
                    } else {
                        "this API needs `Authorization: Bearer <token>` with the node's token"
                    },
                )
                .into_response();
                let challenges = answer.headers_mut();
                challenges.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                if feed {
                    challenges.append(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"pagefeed\", charset=\"UTF-8\""),
                    );
                }
                Err(answer)
            }
        }
    }
}

/// The credential after `scheme` (with its space) in an `Authorization`
/// value; the scheme is case-insensitive (RFC 9110, 11.1).
fn credential(value: &[u8], scheme: &[u8]) -> Option<Vec<u8>> {
    let (given, credential) = value.split_at_checked(scheme.len())?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credential.to_vec())
}

/// The password of HTTP Basic credentials (RFC 7617): what follows the
/// first `:` of their base64.
fn basic_password(value: &[u8]) -> Option<Vec<u8>> {
    let encoded = credential(value, b"Basic ")?;
    let decoded = BASE64.decode(encoded.trim_ascii()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}
