//! The feed routes: `/feeds/pages/{key}/{format}`,
//! `/feeds/sites/{site}/{format}` and `/feeds/search/{format}?q=`. A
//! request reads the replica's applied sequence first: while it has not
//! moved, a client whose copy is current gets 304 from the kept
//! validators, with nothing else read and nothing rendered.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use headers::HeaderMapExt as _;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::search::check_query;
use crate::api::state::{read, ApiState};

use super::caching::{Conditions, Validators};
use super::content::FeedContent;
use super::format::FeedFormat;
use super::target::FeedTarget;

pub(crate) async fn page_feed(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((key, format)) = path?;
    answer(&state, FeedTarget::Page(key), &format, &headers).await
}

pub(crate) async fn site_feed(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((site, format)) = path?;
    answer(&state, FeedTarget::Site(site), &format, &headers).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchQuery {
    q: Option<String>,
}

pub(crate) async fn search_feed(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<SearchQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(format) = path?;
    let Query(query) = query?;
    let q = query.q.unwrap_or_default();
    check_query(&q)?;
    answer(&state, FeedTarget::Search(q), &format, &headers).await
}

/// What a read decided.
enum Outcome {
    /// The client's copy is current.
    NotModified(Validators),
    /// The feed, rendered (or why it could not be).
    Fresh(Result<Vec<u8>, String>, Validators),
    /// No such page or site.
    Missing,
}

async fn answer(
    state: &ApiState,
    target: FeedTarget,
    format: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let Some(format) = FeedFormat::parse(format) else {
        return Err(ApiError::not_found(format!(
            "no feed format {format:?}: atom, rss or json"
        )));
    };
    let conditions = Conditions::of(headers);
    let cache = state.feeds.clone();
    let budget = state.options.search_budget;
    let zones = state.zones().clone();
    let t = target.clone();
    let outcome = read(state, move |s| {
        let seq = s.applied_seq()?;
        if let Some(v) = cache.get(&t, seq) {
            if conditions.not_modified(&v, format) {
                return Ok(Outcome::NotModified(v));
            }
        }
        let Some(content) = FeedContent::read(s, &t, budget, &zones)? else {
            return Ok(Outcome::Missing);
        };
        let v = Validators::of(&content);
        // Kept only if nothing was applied meanwhile: then the content is
        // that of `seq` exactly.
        if s.applied_seq()? == seq {
            cache.put(t.clone(), seq, v);
        }
        if conditions.not_modified(&v, format) {
            return Ok(Outcome::NotModified(v));
        }
        Ok(Outcome::Fresh(format.render(&t, &content), v))
    })
    .await?;
    let private = state.options.token.is_some();
    match outcome {
        Outcome::NotModified(v) => Ok(with_validators(
            StatusCode::NOT_MODIFIED.into_response(),
            &v,
            format,
            private,
        )),
        Outcome::Fresh(Ok(body), v) => {
            let mut answer = body.into_response();
            answer.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            Ok(with_validators(answer, &v, format, private))
        }
        Outcome::Fresh(Err(e), _) => {
            tracing::error!(error = %e, format = format.name(), "rendering a feed failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
        Outcome::Missing => Err(ApiError::not_found(match target {
            FeedTarget::Page(key) => format!("no page {key:?}"),
            FeedTarget::Site(site) => format!("no page of site {site:?}"),
            FeedTarget::Search(_) => "no such search".to_owned(),
        })),
    }
}

/// `answer` with the feed's `ETag`, `Last-Modified`, `Cache-Control`
/// (revalidate each time; `private` behind a token, so that no shared
/// cache keeps it) and `X-Content-Type-Options: nosniff`.
fn with_validators(
    mut answer: Response,
    v: &Validators,
    format: FeedFormat,
    private: bool,
) -> Response {
    let headers = answer.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&v.etag(format)) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(t) = v.last_modified() {
        headers.typed_insert(t);
    }
    // A feed is never a page to render, whatever its entries hold.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if private {
            "private, no-cache"
        } else {
            "no-cache"
        }),
    );
    answer
}
