//! Reading what a running node holds over its HTTP API, page by page: for
//! the stored-times check, and to say where two nodes whose digests differ
//! differ.

use std::time::Duration;

use serde_json::Value;

use super::system::Node;

/// One page of a node: the page as `/api/pages/{key}` shows it and every
/// entry of it, newest first.
pub struct PageRead {
    pub page: Value,
    pub entries: Vec<Value>,
}

/// Reads page `key` of `node` and all its entries (following the cursor).
pub async fn read_page(
    client: &reqwest::Client,
    node: &Node,
    key: &str,
) -> anyhow::Result<PageRead> {
    let get = |path: String| async move {
        client
            .get(format!("http://{}{path}", node.http))
            .timeout(Duration::from_secs(10))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await
    };
    let page = get(format!("/api/pages/{key}")).await?;
    let mut entries = Vec::new();
    let mut cursor = String::new();
    loop {
        // A cursor is URL-safe base64: it goes in the query as it is.
        let listed = get(format!("/api/pages/{key}/entries?limit=1000{cursor}")).await?;
        entries.extend(listed["entries"].as_array().into_iter().flatten().cloned());
        match listed["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    Ok(PageRead { page, entries })
}

/// Where `a` and `b` differ among pages `sample.1..=pages`: up to `most`
/// pages, each with its first difference.
pub async fn differences(a: &Node, b: &Node, pages: u64, most: usize) -> String {
    let client = pagefeed_testkit::projector_api::http_client();
    let mut found = Vec::new();
    let mut differ = 0;
    for id in 1..=pages {
        let key = format!("sample.{id}");
        let (one, two) = match (
            read_page(&client, a, &key).await,
            read_page(&client, b, &key).await,
        ) {
            (Ok(one), Ok(two)) => (one, two),
            (Err(e), _) | (_, Err(e)) => {
                differ += 1;
                found.push(format!("{key}: cannot read it: {e:#}"));
                continue;
            }
        };
        let what = if one.page != two.page {
            format!("page {} / {}", one.page, two.page)
        } else if one.entries.len() != two.entries.len() {
            format!("{} / {} entries", one.entries.len(), two.entries.len())
        } else if let Some((x, y)) = one.entries.iter().zip(&two.entries).find(|(x, y)| x != y) {
            format!("entry {x} / {y}")
        } else {
            continue;
        };
        differ += 1;
        if found.len() < most {
            found.push(format!("{key}: {what}"));
        }
    }
    format!(
        "{differ} of {pages} pages differ between {} and {}{}",
        a.name,
        b.name,
        if found.is_empty() {
            String::new()
        } else {
            format!(": {}", found.join("; "))
        }
    )
}
