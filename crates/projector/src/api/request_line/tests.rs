use super::*;

/// What hyper reads of `input` when it arrives in pieces of `piece` bytes.
fn filtered(input: &[u8], piece: usize) -> Vec<u8> {
    let mut limit = TargetLimit::default();
    let mut out = Vec::new();
    for chunk in input.chunks(piece) {
        limit.feed(chunk, &mut out);
    }
    out
}

/// [`filtered`] for every piece size from 1 to 40 and the whole at once,
/// which must all agree.
fn filtered_every_way(input: &[u8]) -> Vec<u8> {
    let whole = filtered(input, input.len().max(1));
    for piece in 1..=40 {
        assert_eq!(filtered(input, piece), whole, "pieces of {piece} bytes");
    }
    whole
}

fn long_query(chars: usize) -> String {
    // 渋 percent-encoded: 9 bytes a character.
    "%E6%B8%8B".repeat(chars)
}

#[test]
fn a_request_within_the_limit_passes_unchanged() {
    let request =
        b"GET /api/entries?q=%E6%B8%8B HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n\r\n";
    assert_eq!(filtered_every_way(request), request);
}

#[test]
fn an_over_long_target_is_replaced_and_the_headers_kept() {
    let request = format!(
        "GET /api/entries?q={} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n\r\n",
        long_query(10_000)
    );
    assert_eq!(
        String::from_utf8(filtered_every_way(request.as_bytes())).unwrap(),
        "GET /.too-long HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n\r\n"
    );
}

#[test]
fn the_method_and_version_of_an_over_long_line_are_kept() {
    let request = format!(
        "HEAD /search?q={} HTTP/1.0\n\n",
        "a".repeat(MAX_REQUEST_LINE)
    );
    assert_eq!(
        filtered_every_way(request.as_bytes()),
        b"HEAD /.too-long HTTP/1.0\r\n\n"
    );
    let garbage = format!("{}\r\n\r\n", "a".repeat(MAX_REQUEST_LINE + 1));
    assert_eq!(
        filtered_every_way(garbage.as_bytes()),
        b"GET /.too-long HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn a_line_just_at_the_limit_passes() {
    let start = "GET /?q=";
    let end = " HTTP/1.1\r\n";
    let fill = MAX_REQUEST_LINE - start.len() - end.len();
    let at = format!("{start}{}{end}\r\n", "a".repeat(fill));
    assert_eq!(filtered_every_way(at.as_bytes()), at.as_bytes());
    let over = format!("{start}{}{end}\r\n", "a".repeat(fill + 1));
    assert_eq!(
        filtered_every_way(over.as_bytes()),
        b"GET /.too-long HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn pipelined_requests_are_each_checked() {
    let first = "GET /api/status HTTP/1.1\r\nHost: a\r\n\r\n";
    let second = format!(
        "GET /api/entries?q={} HTTP/1.1\r\nHost: a\r\n\r\n",
        long_query(8_000)
    );
    let third = "\r\nGET /api/pages HTTP/1.1\r\nHost: a\r\n\r\n";
    let out = filtered_every_way(format!("{first}{second}{third}").as_bytes());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{first}GET /.too-long HTTP/1.1\r\nHost: a\r\n\r\n{third}")
    );
}

#[test]
fn a_request_with_a_body_leaves_the_rest_alone() {
    for header in [
        "Content-Length: 20000",
        "transfer-encoding: chunked",
        "Upgrade: h2c",
    ] {
        let request = format!(
            "POST /api/pages HTTP/1.1\r\n{header}\r\n\r\n{}GET /{} HTTP/1.1\r\n\r\n",
            "x".repeat(20_000),
            "a".repeat(MAX_REQUEST_LINE)
        );
        assert_eq!(
            filtered_every_way(request.as_bytes()),
            request.as_bytes(),
            "{header}"
        );
    }
    // An empty body announced is no body.
    let request = format!(
        "GET / HTTP/1.1\r\ncontent-length: 0\r\n\r\nGET /{} HTTP/1.1\r\n\r\n",
        "a".repeat(MAX_REQUEST_LINE)
    );
    assert_eq!(
        filtered_every_way(request.as_bytes()),
        b"GET / HTTP/1.1\r\ncontent-length: 0\r\n\r\nGET /.too-long HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn http2_passes_through() {
    let mut request = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(0x17, 3 * MAX_REQUEST_LINE));
    assert_eq!(filtered_every_way(&request), request);
}

#[test]
fn an_endless_line_holds_a_bounded_amount() {
    let mut limit = TargetLimit::default();
    let mut out = Vec::new();
    let chunk = [b'a'; 8192];
    for _ in 0..2_000 {
        limit.feed(&chunk, &mut out);
    }
    assert!(out.is_empty());
    match &limit.state {
        State::Skipping { method, tail } => {
            assert_eq!(method.as_slice(), b"GET");
            assert_eq!(tail.len(), TAIL);
        }
        other => panic!("after 16 MB of one line: {other:?}"),
    }
    limit.feed(b" HTTP/1.1\r\n\r\n", &mut out);
    assert_eq!(out, b"GET /.too-long HTTP/1.1\r\n\r\n");
}
