//! The bodies streamed as they are, uncompressed: the slow page (half,
//! a pause, the rest) and the oversized one (more than 6 MiB of filler).

use super::*;

/// Headers, then the first half of the page, then (after `slow_body`, or at
/// shutdown, as an error) the rest.
pub(super) fn slow_page(site: &Site, id: u64) -> Response {
    let now = site.opts.clock.now_unix();
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(TARGET_PAGE_BYTES + 512);
    render_page(&mut html, id, now, &schedule, Head::Utf8Meta, false);
    html.push_str(PAGE_END);
    // Split at a tag in the middle (a char boundary: the text is Japanese).
    let middle = (html.len() / 2..html.len())
        .find(|&i| html.is_char_boundary(i))
        .unwrap_or(html.len());
    let split = html[middle..].find('<').map_or(middle, |i| middle + i);
    let mut rest = Bytes::from(html);
    let first = rest.split_to(split);
    let pause = site.opts.slow_body;
    let shutdown = site.shutdown.clone();
    let stream = futures::stream::once(async move { Ok::<_, io::Error>(first) }).chain(
        futures::stream::once(async move {
            tokio::select! {
                _ = tokio::time::sleep(pause) => Ok(rest),
                _ = shutdown.cancelled() => Err(io::Error::other("sample site shutting down")),
            }
        }),
    );
    let mut resp = response(StatusCode::OK, HTML_UTF8, Body::from_stream(stream));
    resp.extensions_mut().insert(NoCompression);
    resp
}

/// A normal page with more than 6 MiB of filler before `</body></html>`,
/// streamed chunk by chunk (the chunk is built once and shared).
pub(super) fn oversized_page(site: &Site, id: u64) -> Response {
    let now = site.opts.clock.now_unix();
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(TARGET_PAGE_BYTES + 512);
    render_page(&mut html, id, now, &schedule, Head::Utf8Meta, false);
    let filler = filler_chunk();
    let chunks = OVERSIZED_BYTES.div_ceil(filler.len());
    let parts = std::iter::once(Bytes::from(html))
        .chain(std::iter::repeat_n(filler, chunks))
        .chain(std::iter::once(Bytes::from_static(PAGE_END.as_bytes())));
    let stream = futures::stream::iter(parts.map(Ok::<_, io::Error>));
    let mut resp = response(StatusCode::OK, HTML_UTF8, Body::from_stream(stream));
    resp.extensions_mut().insert(NoCompression);
    resp
}

pub(super) fn filler_chunk() -> Bytes {
    static FILLER: OnceLock<Bytes> = OnceLock::new();
    FILLER
        .get_or_init(|| {
            let mut s = String::with_capacity(70 * 1024);
            let mut i = 0usize;
            while s.len() < 64 * 1024 {
                s.push_str("<div class=\"filler\"><p>");
                for _ in 0..8 {
                    s.push_str(FEELING[i % FEELING.len()]);
                    i += 1;
                }
                s.push_str("</p></div>\n");
            }
            Bytes::from(s)
        })
        .clone()
}
