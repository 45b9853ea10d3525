//! A feed in RSS 2.0, written by `rss`. RSS readers take a `description`
//! as HTML, so the entry text goes in escaped ([`clean::html`]); the
//! page's title is the item's `dc:creator`.

use rss::extension::dublincore::DublinCoreExtension;
use rss::{Channel, Guid, Item};

use super::clean;
use super::content::{FeedContent, FeedItem};
use super::format::FeedFormat;
use super::target::FeedTarget;

pub(super) fn render(target: &FeedTarget, content: &FeedContent) -> Result<Vec<u8>, rss::Error> {
    let channel = Channel {
        title: content.title.clone(),
        // RSS requires a link: a search has no page of its own, so its
        // feed links to itself (a path on this node).
        link: content
            .link
            .clone()
            .unwrap_or_else(|| target.path(FeedFormat::Rss)),
        description: format!(
            "The newest entries of {}, as pagefeed collected them",
            content.title
        ),
        last_build_date: (!content.items.is_empty()).then(|| content.updated.to_rfc2822()),
        generator: Some("pagefeed".into()),
        items: content.items.iter().map(item).collect(),
        ..Channel::default()
    };
    channel.write_to(Vec::new())
}

fn item(item: &FeedItem) -> Item {
    Item {
        title: Some(item.title.clone()),
        link: item.link.clone(),
        description: Some(clean::html(&item.text)),
        guid: Some(Guid {
            value: item.id.clone(),
            permalink: false,
        }),
        pub_date: Some(item.published.to_rfc2822()),
        dublin_core_ext: Some(DublinCoreExtension {
            creators: vec![item.page_title.clone()],
            ..DublinCoreExtension::default()
        }),
        ..Item::default()
    }
}
