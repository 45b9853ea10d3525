//! Walking scraper's tree in page order within a deadline: the node after a
//! subtree, and the first match of a selector below a node.

use ego_tree::NodeRef;
use scraper::{ElementRef, Node, Selector};

use crate::deadline::{Deadline, Expired};

/// Nodes visited between two looks at the clock while looking for matches.
pub(super) const NODES_PER_CHECK: usize = 1024;

/// The node that follows `node`'s subtree in page order: its next sibling,
/// or the next sibling of its nearest ancestor that has one.
pub(super) fn after(node: NodeRef<'_, Node>) -> Option<NodeRef<'_, Node>> {
    let mut node = node;
    loop {
        if let Some(sibling) = node.next_sibling() {
            return Some(sibling);
        }
        node = node.parent()?;
    }
}

/// The first `found(element)` that is `Some`, over the elements below
/// `under` (not itself) that `selector` matches, in page order. `scope` is
/// what `:scope` means, as in `ElementRef::select`.
pub(super) fn find_under<'a, T>(
    under: NodeRef<'a, Node>,
    scope: Option<ElementRef<'a>>,
    selector: &Selector,
    deadline: &Deadline,
    mut found: impl FnMut(ElementRef<'a>) -> Option<T>,
) -> Result<Option<T>, Expired> {
    for (visited, node) in under.descendants().skip(1).enumerate() {
        if visited % NODES_PER_CHECK == NODES_PER_CHECK - 1 && deadline.passed() {
            return Err(Expired);
        }
        let Some(element) = ElementRef::wrap(node) else {
            continue;
        };
        if selector.matches_with_scope(&element, scope) {
            if let Some(value) = found(element) {
                return Ok(Some(value));
            }
        }
    }
    Ok(None)
}
