use super::*;

const GOOD: &str = r#"
[nats]
url = "nats://127.0.0.1:4222"
replicas = 1

[[site]]
name = "sample"
url = "http://127.0.0.1:8700/recent_page_feed?page_id={id}"
ids = { first = 1, last = 500 }
batch = 100
interval = "10s"
retention = "7d"
timezone = "Asia/Tokyo"
[site.extract]
title = "title"
entry = "div.feedEntry"
text = "p.comment"
timestamp = "li.timeStamp"
timestamp_format = "%m月%d日 %H:%M"
link = "li.viewLink a"

[[site]]
name = "blogs"
pages = { rust = "https://blog.rust-lang.org/", nats = "https://nats.io/blog/" }
interval = "1h"
retention = "30d"
[site.extract]
entry = "article"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("pagefeed.toml"), text)
}

#[test]
fn good_config_parses() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.sites.len(), 2);
    assert_eq!(cfg.sites[0].batch, 100);
    assert_eq!(cfg.sites[0].interval, Duration::from_secs(10));
    assert_eq!(cfg.sites[0].retention, Duration::from_secs(7 * 86400));
    assert_eq!(cfg.sites[1].batch, 2);
    assert_eq!(cfg.longest_retention(), Duration::from_secs(30 * 86400));
}

#[test]
fn the_committed_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pagefeed.example.toml");
    let cfg = Config::load(&path).unwrap();
    assert!(cfg.site("sample").is_some());
}

#[test]
fn unknown_key_in_a_site_names_site_and_field() {
    let text = GOOD.replace("batch = 100", "batch = 100\nbatchsize = 3");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
    assert_eq!(e.field.as_deref(), Some("batchsize"), "{e}");
    let shown = e.to_string();
    assert!(shown.contains("pagefeed.toml"), "{shown}");
    assert!(shown.contains("site \"sample\""), "{shown}");
    assert!(shown.contains("unknown field `batchsize`"), "{shown}");
}

#[test]
fn unknown_key_in_extract_names_the_nested_field() {
    let text = GOOD.replace("entry = \"article\"", "entry = \"article\"\ntitel = \"h1\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("blogs"), "{e}");
    assert_eq!(e.field.as_deref(), Some("extract.titel"), "{e}");
}

#[test]
fn unknown_top_level_key_is_refused() {
    let e = parse(&format!("verbose = true\n{GOOD}")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("verbose"), "{e}");
    assert_eq!(e.site, None);
}

#[test]
fn bad_selector_names_site_and_field() {
    let text = GOOD.replace("entry = \"div.feedEntry\"", "entry = \"div..feedEntry[\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
    assert_eq!(e.field.as_deref(), Some("extract.entry"), "{e}");
    assert!(e.message.contains("bad CSS selector"), "{e}");
}

#[test]
fn bad_duration_names_site_and_field() {
    let text = GOOD.replace("interval = \"1h\"", "interval = \"every hour\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("blogs"), "{e}");
    assert_eq!(e.field.as_deref(), Some("interval"), "{e}");
    assert!(e.message.contains("invalid duration"), "{e}");
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn zero_duration_is_refused() {
    let text = GOOD.replace("retention = \"7d\"", "retention = \"0s\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("retention"), "{e}");
}

#[test]
fn empty_id_range_names_site_and_field() {
    let text = GOOD.replace("first = 1, last = 500", "first = 500, last = 1");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
    assert_eq!(e.field.as_deref(), Some("ids"), "{e}");
    assert!(e.message.contains("empty id range"), "{e}");
}

#[test]
fn duplicate_site_name_is_refused() {
    let text = GOOD.replace("name = \"blogs\"", "name = \"sample\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
    assert_eq!(e.field.as_deref(), Some("name"), "{e}");
    assert!(e.message.contains("duplicate site name"), "{e}");
}

#[test]
fn bad_site_name_is_refused() {
    let text = GOOD.replace("name = \"blogs\"", "name = \"My Blogs\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("name"), "{e}");
}

#[test]
fn url_without_id_placeholder_is_refused() {
    let text = GOOD.replace("page_id={id}", "page_id=1");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("url"), "{e}");
}

#[test]
fn non_http_url_is_refused() {
    let text = GOOD.replace("https://nats.io/blog/", "ftp://nats.io/blog/");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.site.as_deref(), Some("blogs"), "{e}");
    assert_eq!(e.field.as_deref(), Some("pages.nats"), "{e}");
}

#[test]
fn toml_syntax_error_gives_the_line() {
    let e = parse("[nats]\nurl = \n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn bad_timestamp_format_is_refused() {
    let text = GOOD.replace("%m月%d日 %H:%M", "%m月%d日 %Q");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("extract.timestamp_format"), "{e}");
}

#[test]
fn a_site_has_its_time_zone_or_utc() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.sites[0].timezone, chrono_tz::Asia::Tokyo);
    assert_eq!(cfg.sites[1].timezone, chrono_tz::UTC);
}

#[test]
fn unknown_time_zone_names_site_and_field() {
    for bad in ["Asia/Tokio", "JST+9", "", "asia/tokyo"] {
        let text = GOOD.replace("\"Asia/Tokyo\"", &format!("\"{bad}\""));
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some("timezone"), "{e}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("\"{bad}\" is not a time zone")),
            "{shown}"
        );
    }
    let text = GOOD.replace("\"Asia/Tokyo\"", "9");
    let e = parse(&text).unwrap_err();
    assert_eq!(
        (e.site.as_deref(), e.field.as_deref()),
        (Some("sample"), Some("timezone")),
        "{e}"
    );
}

#[test]
fn fetcher_settings_have_defaults_and_are_checked() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.fetcher, FetcherConfig::default());
    assert!(cfg.fetcher.user_agent.starts_with("pagefeed/"));
    let text = format!("[fetcher]\nconcurrency = 8\nper_host_delay = \"0s\"\n{GOOD}");
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.fetcher.concurrency, 8);
    assert_eq!(cfg.fetcher.per_host_delay, Duration::ZERO);
    let e = parse(&format!("[fetcher]\nconcurrency = 0\n{GOOD}")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("fetcher.concurrency"), "{e}");
    let e = parse(&format!("[fetcher]\ntimeout = \"soon\"\n{GOOD}")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("fetcher.timeout"), "{e}");
}

#[test]
fn extraction_caps_have_defaults_and_are_checked() {
    let d = parse(GOOD).unwrap().fetcher;
    assert_eq!(d.max_entries, 10_000);
    assert_eq!(d.max_entry_text_bytes, limits::MAX_TEXT_BYTES);
    assert_eq!(d.max_title_bytes, limits::MAX_TITLE_BYTES);
    assert_eq!(d.parse_deadline, Duration::from_secs(10));

    let text = format!(
        "[fetcher]\nmax_entries = 50\nmax_entry_text_bytes = 1000\n\
         max_title_bytes = 100\nparse_deadline = \"250ms\"\n{GOOD}"
    );
    let f = parse(&text).unwrap().fetcher;
    assert_eq!(
        (f.max_entries, f.max_entry_text_bytes, f.max_title_bytes),
        (50, 1000, 100)
    );
    assert_eq!(f.parse_deadline, Duration::from_millis(250));

    let refused = [
        ("max_entries = 0", "fetcher.max_entries"),
        ("max_entries = 20001", "fetcher.max_entries"),
        ("max_entry_text_bytes = 0", "fetcher.max_entry_text_bytes"),
        (
            "max_entry_text_bytes = 65537",
            "fetcher.max_entry_text_bytes",
        ),
        ("max_title_bytes = 0", "fetcher.max_title_bytes"),
        ("max_title_bytes = 4097", "fetcher.max_title_bytes"),
        ("parse_deadline = \"0s\"", "fetcher.parse_deadline"),
        ("parse_deadline = \"soon\"", "fetcher.parse_deadline"),
        ("parse_deadline = \"11m\"", "fetcher.parse_deadline"),
        ("max_entries = -1", "fetcher.max_entries"),
    ];
    for (line, field) in refused {
        let e = parse(&format!("[fetcher]\n{line}\n{GOOD}")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{line}: {e}");
        assert!(e.to_string().contains(field), "{line}: {e}");
    }
}

#[test]
fn batch_larger_than_the_range_is_the_whole_range() {
    let text = GOOD.replace("batch = 100", "batch = 1000");
    assert_eq!(parse(&text).unwrap().sites[0].batch, 500);
}

#[test]
fn allow_networks_are_cidrs() {
    let cfg = parse(GOOD).unwrap();
    assert!(cfg.sites[0].allow_networks.is_empty());
    let text = GOOD.replace(
        "batch = 100",
        "batch = 100\nallow_networks = [\"127.0.0.0/8\", \"10.1.0.0/16\", \"fd00::/8\"]",
    );
    let nets = &parse(&text).unwrap().sites[0].allow_networks;
    assert_eq!(nets.len(), 3);
    assert!(nets[1].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
    for bad in [
        "\"10.1.0.0\"",
        "\"intranet\"",
        "\"10.1.2.0/8\"",
        "\"10.0.0.0/33\"",
    ] {
        let text = GOOD.replace(
            "batch = 100",
            &format!("batch = 100\nallow_networks = [{bad}]"),
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{bad}: {e}");
        assert_eq!(e.field.as_deref(), Some("allow_networks"), "{bad}: {e}");
    }
}

#[test]
fn page_urls_come_from_the_config() {
    let cfg = parse(GOOD).unwrap();
    let ids = &cfg.sites[0];
    assert_eq!(
        ids.page_url("42").as_deref(),
        Some("http://127.0.0.1:8700/recent_page_feed?page_id=42")
    );
    for bad in ["0", "501", "042", "+42", "-1", "4 2", "x", ""] {
        assert_eq!(ids.page_url(bad), None, "{bad}");
    }
    let list = &cfg.sites[1];
    assert_eq!(
        list.page_url("rust").as_deref(),
        Some("https://blog.rust-lang.org/")
    );
    assert_eq!(list.page_url("go"), None);
}

#[test]
fn the_id_goes_in_the_path_or_query_not_the_host() {
    let text = GOOD.replace(
        "http://127.0.0.1:8700/recent_page_feed?page_id={id}",
        "https://p{id}.example.com/",
    );
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("url"), "{e}");
    assert!(e.message.contains("not the host"), "{e}");
}

#[test]
fn urls_are_shown_without_credentials() {
    let text = GOOD.replace("https://nats.io/blog/", "ftp://me:secret@nats.io/blog/");
    let e = parse(&text).unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
    let text = GOOD
        .replace("page_id={id}", "page_id=1")
        .replace("http://", "http://me:secret@");
    let e = parse(&text).unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
}

#[test]
fn relative_creds_resolve_against_the_config_dir() {
    let text = GOOD.replace("replicas = 1", "replicas = 1\ncreds = \"user.creds\"");
    let cfg = Config::parse(Path::new("/etc/pagefeed/pagefeed.toml"), &text).unwrap();
    assert_eq!(
        cfg.nats.creds.as_deref(),
        Some(Path::new("/etc/pagefeed/user.creds"))
    );
}

#[test]
fn a_secret_is_never_shown_in_an_error() {
    for (bad, secret) in [
        ("password = 9876543210", "9876543210"),
        ("token = 9876543210", "9876543210"),
        ("password = [\"hunter2-secret\"]", "hunter2-secret"),
    ] {
        let text = GOOD.replace(
            "replicas = 1",
            &format!("replicas = 1\nuser = \"u\"\n{bad}"),
        );
        let shown = parse(&text).unwrap_err().to_string();
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("nats."), "names the field: {shown}");
    }
    let text = GOOD.replace(
        "https://blog.rust-lang.org/",
        "ftp://reader:hunter2-secret@blog.rust-lang.org/",
    );
    let shown = parse(&text).unwrap_err().to_string();
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    assert!(shown.contains("blog.rust-lang.org/"), "{shown}");
}

#[test]
fn a_user_without_a_password_is_refused() {
    let text = GOOD.replace("replicas = 1", "replicas = 1\nuser = \"u\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("nats.password"), "{e}");
}

/// The cases `pagefeed-scheduler`'s CLI tests ran through the binary, kept
/// here: the line of an unknown key, a file that cannot be read, a bad NATS
/// URL given as a flag or in `PAGEFEED_NATS_URL`.
#[test]
fn unknown_keys_give_their_line() {
    let text = GOOD.replace("batch = 100", "batch = 100\nbatchsize = 3");
    let line = text.lines().position(|l| l == "batchsize = 3").unwrap() + 1;
    assert_eq!(parse(&text).unwrap_err().line, Some(line));
    let text = format!("{GOOD}bogus = \"h1\"\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("extract.bogus"), "{e}");
    assert_eq!(e.line, Some(text.lines().count()), "{e}");
    let e = parse(&format!("verbose = true\n{GOOD}")).unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    assert!(!e.to_string().contains("site \""), "no site to name: {e}");
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("pagefeed.toml");
    let shown = Config::load(&missing).unwrap_err().to_string();
    assert!(
        shown.starts_with(&format!(
            "bad config {}: cannot read it: ",
            missing.display()
        )),
        "{shown}"
    );
}

#[test]
fn the_sweep_period_has_a_default_and_is_checked() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.scheduler.sweep_every, Duration::from_secs(30));
    // A short task_ttl shortens the default: a task is seen twice before
    // it expires.
    let short = GOOD.replace("replicas = 1", "replicas = 1\ntask_ttl = \"1h\"");
    let short = short.replace("interval = \"1h\"", "interval = \"1m\"");
    let short = short.replace("task_ttl = \"1h\"", "task_ttl = \"1m\"");
    assert_eq!(
        parse(&short).unwrap().scheduler.sweep_every,
        Duration::from_secs(15)
    );
    let text = format!("[scheduler]\nsweep_every = \"5s\"\n{GOOD}");
    assert_eq!(
        parse(&text).unwrap().scheduler.sweep_every,
        Duration::from_secs(5)
    );
    for bad in ["0s", "16m"] {
        let text = format!("[scheduler]\nsweep_every = \"{bad}\"\n{GOOD}");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("scheduler.sweep_every"), "{e}");
    }
    let text = format!("[scheduler]\nsweep_every = \"16m\"\n{GOOD}");
    assert!(parse(&text).unwrap_err().to_string().contains("task_ttl"));
}

#[test]
fn destinations_parse_with_their_kind_and_site() {
    let text = format!(
        "{GOOD}\n[notifier]\nack_wait = \"5s\"\n\n[[notify]]\nname = \"ops\"\nsite = \"sample\"\n\
         webhook = \"https://hooks.example.com/T0/B0/k3y\"\n\n[[notify]]\nname = \"phone\"\n\
         ntfy = \"https://ntfy.sh/pagefeed-42\"\ntoken = \"tk_s3cret\"\n"
    );
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.notify.len(), 2);
    assert_eq!(cfg.notify[0].name, "ops");
    assert_eq!(cfg.notify[0].site.as_deref(), Some("sample"));
    assert_eq!(cfg.notify[0].target.kind(), "webhook");
    assert_eq!(cfg.notify[1].site, None, "every site");
    assert!(
        cfg.notify[1].target
            == NotifyTarget::Ntfy {
                url: "https://ntfy.sh/pagefeed-42".into(),
                token: Some("tk_s3cret".into())
            }
    );
    assert_eq!(cfg.notifier.ack_wait, Duration::from_secs(5));
    assert_eq!(cfg.notifier.concurrency, 4);
    // What a log line would show of them: no URL, no token.
    let shown = format!("{:?}", cfg.notify);
    assert!(!shown.contains("k3y") && !shown.contains("tk_s3cret") && !shown.contains("ntfy.sh"));
    assert!(parse(GOOD).unwrap().notify.is_empty(), "none by default");
}

#[test]
fn a_bad_destination_names_its_field_and_shows_no_secret() {
    let cases = [
        (
            "name = \"Ops!\"\nwebhook = \"https://h/k3y\"",
            "notify.#1.name",
            "[a-z0-9_-]+",
        ),
        (
            "name = \"ops\"\nsite = \"nope\"\nwebhook = \"https://h/k3y\"",
            "notify.ops.site",
            "no [[site]]",
        ),
        ("name = \"ops\"", "notify.ops.webhook", "needs `webhook"),
        (
            "name = \"ops\"\nwebhook = \"https://h/k3y\"\nntfy = \"https://n/k3y\"",
            "notify.ops.ntfy",
            "not both",
        ),
        (
            "name = \"ops\"\nwebhook = \"ftp://h/k3y\"",
            "notify.ops.webhook",
            "http:// or https://",
        ),
        (
            "name = \"ops\"\nntfy = \"https:///k3y\"",
            "notify.ops.ntfy",
            "no host",
        ),
        (
            "name = \"ops\"\nwebhook = \"https://h/k3y\"\ntoken = \"k3y\"",
            "notify.ops.token",
            "goes with `ntfy`",
        ),
        (
            "name = \"ops\"\nntfy = \"https://h/t\"\ntoken = \"k3y k3y\"",
            "notify.ops.token",
            "printable",
        ),
        (
            "name = \"ops\"\nntfy = \"https://h/t\"\ntokn = \"k3y\"",
            "notify.ops.tokn",
            "unknown field",
        ),
        (
            "name = \"ops\"\nntfy = \"https://h/t\"\ntoken = 3141592",
            "notify.ops.token",
            "not shown",
        ),
    ];
    for (body, field, says) in cases {
        let text = format!("{GOOD}\n[[notify]]\n{body}\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{body}: {e}");
        let shown = e.to_string();
        assert!(shown.contains(says), "{body}: {shown}");
        assert!(
            !shown.contains("k3y") && !shown.contains("3141592"),
            "{body}: {shown}"
        );
    }
    let twice = format!(
        "{GOOD}\n[[notify]]\nname = \"ops\"\nwebhook = \"https://h/1\"\n\
         [[notify]]\nname = \"ops\"\nntfy = \"https://h/2\"\n"
    );
    let e = parse(&twice).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("notify.ops.name"), "{e}");
    assert!(e.to_string().contains("duplicate destination"), "{e}");
    let e = parse(&format!("{GOOD}\n[notifier]\nconcurrency = 0\n")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("notifier.concurrency"), "{e}");
}

/// GOOD with `lines` added to the "sample" site.
fn with_sample(lines: &str) -> String {
    GOOD.replace(
        "timezone = \"Asia/Tokyo\"",
        &format!("timezone = \"Asia/Tokyo\"\n{lines}"),
    )
}

#[test]
fn site_request_settings_parse() {
    let text = with_sample(
        "headers = { \"User-Agent\" = \"Mozilla/5.0 (compatible; pagefeed)\", \
         \"Accept-Language\" = \"ja,en;q=0.5\" }\n\
         cookies = { session = \"abc123\", \"theme\" = \"\\\"dark\\\"\" }\n\
         timeout = \"5s\"\nconnect_timeout = \"2s\"\ncharset = \"shift_jis\"",
    );
    let cfg = parse(&text).unwrap();
    let site = &cfg.sites[0];
    let request = &site.request;
    assert_eq!(
        request.headers.get("user-agent").unwrap(),
        "Mozilla/5.0 (compatible; pagefeed)"
    );
    assert_eq!(
        request.headers.get("accept-language").unwrap(),
        "ja,en;q=0.5"
    );
    assert_eq!(request.timeout, Some(Duration::from_secs(5)));
    assert_eq!(request.connect_timeout, Some(Duration::from_secs(2)));
    assert_eq!(site.charset, Some(encoding_rs::SHIFT_JIS));
    let cookie = request.cookie_header().unwrap();
    assert_eq!(cookie, "session=abc123; theme=\"dark\"");
    assert!(cookie.is_sensitive());
    // The other site keeps the [fetcher] settings.
    let other = &cfg.sites[1];
    assert_eq!(other.request, SiteRequest::default());
    assert_eq!(other.request.cookie_header(), None);
    assert_eq!(other.charset, None);
}

#[test]
fn cookie_and_header_values_are_not_in_debug_output() {
    let text = with_sample(
        "headers = { Authorization = \"Bearer tok-4711\" }\ncookies = { session = \"sess-0815\" }",
    );
    let cfg = parse(&text).unwrap();
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("sess-0815"), "{shown}");
    assert!(!shown.contains("tok-4711"), "{shown}");
    assert!(shown.contains("session"), "cookie names are shown: {shown}");
}

#[test]
fn bad_headers_name_the_site_and_the_header() {
    for (headers, field, says) in [
        (
            "{ Host = \"example.com\" }",
            "headers.Host",
            "the host is the URL's",
        ),
        (
            "{ \"Content-Length\" = \"0\" }",
            "headers.Content-Length",
            "may not be set",
        ),
        (
            "{ \"transfer-encoding\" = \"chunked\" }",
            "headers.transfer-encoding",
            "may not be set",
        ),
        (
            "{ Connection = \"close\" }",
            "headers.Connection",
            "connections",
        ),
        ("{ Cookie = \"a=b\" }", "headers.Cookie", "`cookies`"),
        (
            "{ \"If-None-Match\" = \"x\" }",
            "headers.If-None-Match",
            "validators",
        ),
        (
            "{ \"Bad Name\" = \"x\" }",
            "headers.Bad Name",
            "not a valid HTTP header name",
        ),
        (
            "{ \"\" = \"x\" }",
            "headers.",
            "not a valid HTTP header name",
        ),
        (
            "{ \"X-Token\" = \"line\\nbreak-secret\" }",
            "headers.X-Token",
            "not a valid HTTP header value",
        ),
        (
            "{ \"X-A\" = \"1\", \"x-a\" = \"2\" }",
            "headers.x-a",
            "given twice",
        ),
    ] {
        let e = parse(&with_sample(&format!("headers = {headers}"))).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        let shown = e.to_string();
        assert!(shown.contains(says), "{shown}");
        assert!(!shown.contains("break-secret"), "{shown}");
    }
}

#[test]
fn bad_cookies_name_the_site_and_the_cookie_but_not_the_value() {
    for (cookies, field, says) in [
        (
            "{ \"a b\" = \"v\" }",
            "cookies.a b",
            "not a valid cookie name",
        ),
        ("{ \"\" = \"v\" }", "cookies.", "not a valid cookie name"),
        (
            "{ session = \"has space-secret\" }",
            "cookies.session",
            "may not",
        ),
        (
            "{ session = \"semi;colon-secret\" }",
            "cookies.session",
            "may not",
        ),
        (
            "{ session = \"caf\u{e9}-secret\" }",
            "cookies.session",
            "may not",
        ),
    ] {
        let e = parse(&with_sample(&format!("cookies = {cookies}"))).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        let shown = e.to_string();
        assert!(shown.contains(says), "{shown}");
        assert!(!shown.contains("-secret"), "{shown}");
    }
    // Type errors come from the TOML reader, which would quote the value.
    for (bad, secret) in [
        ("cookies = { session = 4711081512 }", "4711081512"),
        ("cookies = \"session=secret-4711\"", "secret-4711"),
        ("cookies = { session = [\"secret-4711\"] }", "secret-4711"),
        ("headers = { Authorization = 4711081512 }", "4711081512"),
        ("headers = \"Authorization: secret-4711\"", "secret-4711"),
    ] {
        let e = parse(&with_sample(bad)).unwrap_err();
        let shown = e.to_string();
        assert_eq!(e.site.as_deref(), Some("sample"), "{shown}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(
            shown.contains("cookies") || shown.contains("headers"),
            "names the field: {shown}"
        );
    }
}

#[test]
fn an_unknown_charset_names_the_field() {
    for (label, says) in [
        ("klingon", "not an encoding label"),
        ("iso-2022-kr", "replacement character"),
    ] {
        let e = parse(&with_sample(&format!("charset = \"{label}\""))).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some("charset"), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
    for (label, name) in [
        ("EUC-JP", "EUC-JP"),
        ("sjis", "Shift_JIS"),
        (" utf-8 ", "UTF-8"),
    ] {
        let cfg = parse(&with_sample(&format!("charset = \"{label}\""))).unwrap();
        assert_eq!(cfg.sites[0].charset.map(|e| e.name()), Some(name));
    }
}

#[test]
fn a_site_timeout_must_be_a_duration_above_zero() {
    for (line, field) in [
        ("timeout = \"0s\"", "timeout"),
        ("connect_timeout = \"soon\"", "connect_timeout"),
    ] {
        let e = parse(&with_sample(line)).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
    }
}

/// A config printed with `{:?}` (a debug log line, a panic message) shows
/// neither the NATS password nor the token.
#[test]
fn a_debug_printed_config_shows_no_nats_secret() {
    let text = GOOD.replacen(
        "[nats]\n",
        "[nats]\nuser = \"pf\"\npassword = \"pw-s3cret\"\n",
        1,
    );
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.nats.password.as_deref(), Some("pw-s3cret"));
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("pw-s3cret"), "{shown}");
    assert!(shown.contains("password: Some(***)"), "{shown}");

    let text = GOOD.replacen("[nats]\n", "[nats]\ntoken = \"tk-s3cret\"\n", 1);
    let shown = format!("{:?}", parse(&text).unwrap().nats);
    assert!(!shown.contains("tk-s3cret"), "{shown}");

    let text = GOOD.replace(
        "nats://127.0.0.1:4222",
        "nats://pf:url-s3cret@127.0.0.1:4222",
    );
    let cfg = parse(&text).unwrap();
    assert!(
        cfg.nats.url.contains("url-s3cret"),
        "the URL keeps them to connect"
    );
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("url-s3cret"), "{shown}");
}

#[test]
fn robots_are_obeyed_unless_a_site_says_ignore() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.sites[0].robots, super::Robots::Obey);
    assert_eq!(cfg.fetcher.robots_ttl, Duration::from_secs(24 * 3600));
    let cfg = parse(&with_sample("robots = \"ignore\"")).unwrap();
    assert_eq!(cfg.sites[0].robots, super::Robots::Ignore);
    let cfg = parse(&with_sample("robots = \"obey\"")).unwrap();
    assert_eq!(cfg.sites[0].robots, super::Robots::Obey);
    for bad in ["robots = \"Ignore\"", "robots = \"no\"", "robots = false"] {
        let e = parse(&with_sample(bad)).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{bad}: {e}");
        assert_eq!(e.field.as_deref(), Some("robots"), "{bad}: {e}");
    }

    let f = parse(&format!("[fetcher]\nrobots_ttl = \"1h\"\n{GOOD}"))
        .unwrap()
        .fetcher;
    assert_eq!(f.robots_ttl, Duration::from_secs(3600));
    for line in [
        "robots_ttl = \"25h\"",
        "robots_ttl = \"0s\"",
        "robots_ttl = \"daily\"",
    ] {
        let e = parse(&format!("[fetcher]\n{line}\n{GOOD}")).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("fetcher.robots_ttl"),
            "{line}: {e}"
        );
    }
}
