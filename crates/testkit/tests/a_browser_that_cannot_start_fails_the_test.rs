//! The browser tests never pass without a browser: a missing chromedriver,
//! or a browser that does not start, is an error that says what is wrong
//! and how to install what is missing.

use std::path::Path;

use pagefeed_testkit::browser::{Browser, CHROMEDRIVER, CHROMIUM};

async fn error_of(chromedriver: &str, chromium: &str) -> String {
    match Browser::start_with(Path::new(chromedriver), Path::new(chromium)).await {
        Ok(_) => panic!("a browser started with {chromedriver} and {chromium}"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_missing_chromedriver_names_the_install_command() {
    let message = error_of("/nonexistent/chromedriver", CHROMIUM).await;
    assert!(message.contains("/nonexistent/chromedriver"), "{message}");
    assert!(
        message.contains("apt-get install -y chromium chromium-driver"),
        "{message}"
    );
}

#[tokio::test]
async fn a_browser_that_exits_at_once_is_an_error() {
    let message = error_of(CHROMEDRIVER, "/bin/false").await;
    assert!(
        message.contains("the browser (/bin/false) did not start"),
        "{message}"
    );
}
