//! A feed in Atom 1.0 (RFC 4287), written by `atom_syndication`: text
//! constructs of type `text`, so entry text is escaped, never markup.

use atom_syndication::{Content, Entry, Feed, Generator, Link, Person, Text};

use super::content::{FeedContent, FeedItem};

pub(super) fn render(content: &FeedContent) -> Result<Vec<u8>, atom_syndication::Error> {
    let feed = Feed {
        title: Text::plain(content.title.clone()),
        id: content.id.clone(),
        updated: content.updated,
        links: alternate(content.link.as_deref()),
        generator: Some(Generator {
            value: "pagefeed".into(),
            ..Generator::default()
        }),
        entries: content.items.iter().map(entry).collect(),
        ..Feed::default()
    };
    feed.write_to(Vec::new())
}

fn entry(item: &FeedItem) -> Entry {
    Entry {
        title: Text::plain(item.title.clone()),
        id: item.id.clone(),
        updated: item.published,
        published: Some(item.published),
        authors: vec![Person {
            name: item.page_title.clone(),
            uri: item.page_url.clone(),
            ..Person::default()
        }],
        links: alternate(item.link.as_deref()),
        content: Some(Content {
            value: Some(item.text.clone()),
            content_type: Some("text".into()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}

fn alternate(link: Option<&str>) -> Vec<Link> {
    link.map(|href| Link {
        href: href.to_owned(),
        ..Link::default()
    })
    .into_iter()
    .collect()
}
