//! A feed in JSON Feed 1.1, built with `json-feed-model`: the entry text as
//! `content_text`, the page as the item's author.

use json_feed_model::{Author, Feed, Item, VERSION_1_1};

use super::content::{FeedContent, FeedItem};

pub(super) fn render(content: &FeedContent) -> Result<Vec<u8>, serde_json::Error> {
    let mut feed = Feed::new();
    feed.set_version(VERSION_1_1);
    feed.set_title(content.title.as_str());
    if let Some(link) = &content.link {
        feed.set_home_page_url(link.as_str());
    }
    feed.set_items(content.items.iter().map(item));
    serde_json::to_vec(&feed)
}

fn item(item: &FeedItem) -> Item {
    let mut out = Item::new();
    out.set_id(item.id.as_str());
    if let Some(link) = &item.link {
        out.set_url(link.as_str());
    }
    out.set_title(item.title.as_str());
    out.set_content_text(item.text.as_str());
    out.set_date_published(item.published.to_rfc3339());
    let mut page = Author::new();
    page.set_name(item.page_title.as_str());
    if let Some(url) = &item.page_url {
        page.set_url(url.as_str());
    }
    out.set_authors([page]);
    out
}
