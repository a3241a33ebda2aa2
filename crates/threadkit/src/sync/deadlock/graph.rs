//! The global lock-order graph: an edge `A -> B` means "some thread acquired B while holding A".
//!
//! Edges are added only the first time they are seen (callers keep a per-thread cache of the
//! edges they already know), and each addition checks whether the new edge closes a cycle.

use super::report::OrderEdge;
use parking_lot::RwLock;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
struct Graph {
    /// First sighting of each edge.
    edges: HashMap<(u64, u64), OrderEdge>,
    /// Successors and predecessors of each node (for the cycle search and for removal).
    out: HashMap<u64, Vec<u64>>,
    into: HashMap<u64, Vec<u64>>,
}

static GRAPH: RwLock<Option<Graph>> = RwLock::new(None);
/// Whether the graph has ever held an edge: lets dropping a lock skip the graph entirely in
/// programs that never nest locks.
static USED: AtomicBool = AtomicBool::new(false);

/// Whether the edge `from -> to` is known already.
pub(super) fn contains(from: u64, to: u64) -> bool {
    GRAPH
        .read()
        .as_ref()
        .is_some_and(|g| g.edges.contains_key(&(from, to)))
}

/// Records `edge` if it is new. When it closes a cycle, returns the cycle: the new edge first,
/// then the known path from its target back to its source.
pub(super) fn add(edge: OrderEdge) -> Option<Vec<OrderEdge>> {
    let (from, to) = (edge.from.id, edge.to.id);
    let mut guard = GRAPH.write();
    let g = guard.get_or_insert_with(Graph::default);
    if g.edges.contains_key(&(from, to)) {
        return None;
    }
    let cycle = path(g, to, from).map(|p| {
        let mut cycle = Vec::with_capacity(p.len() + 1);
        cycle.push(edge.clone());
        cycle.extend(p.windows(2).map(|w| g.edges[&(w[0], w[1])].clone()));
        cycle
    });
    g.edges.insert((from, to), edge);
    g.out.entry(from).or_default().push(to);
    g.into.entry(to).or_default().push(from);
    USED.store(true, Ordering::Relaxed);
    cycle
}

/// The nodes of a shortest path `start ->* goal`, both included, if there is one.
fn path(g: &Graph, start: u64, goal: u64) -> Option<Vec<u64>> {
    let mut came_from: HashMap<u64, u64> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    came_from.insert(start, start);
    while let Some(n) = queue.pop_front() {
        if n == goal {
            let mut p = vec![n];
            let mut cur = n;
            while cur != start {
                cur = came_from[&cur];
                p.push(cur);
            }
            p.reverse();
            return Some(p);
        }
        for &next in g.out.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
            if let std::collections::hash_map::Entry::Vacant(e) = came_from.entry(next) {
                e.insert(n);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Forgets a lock that is being dropped (its id is never reused, so this only frees memory).
pub(super) fn forget(id: u64) {
    if !USED.load(Ordering::Relaxed) {
        return;
    }
    let known = GRAPH
        .read()
        .as_ref()
        .is_some_and(|g| g.out.contains_key(&id) || g.into.contains_key(&id));
    if !known {
        return;
    }
    let mut guard = GRAPH.write();
    let Some(g) = guard.as_mut() else { return };
    for to in g.out.remove(&id).unwrap_or_default() {
        g.edges.remove(&(id, to));
        if let Some(v) = g.into.get_mut(&to) {
            v.retain(|&x| x != id);
        }
    }
    for from in g.into.remove(&id).unwrap_or_default() {
        g.edges.remove(&(from, id));
        if let Some(v) = g.out.get_mut(&from) {
            v.retain(|&x| x != id);
        }
    }
}
