//! The search's list of calls and returns in time order, with O(1) unlink and relink
//! (dancing links) so that linearizing an operation and undoing it are cheap.

use super::partition::KeyOp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    Head,
    Call(usize),
    Return(usize),
}

pub(super) const NIL: usize = usize::MAX;
pub(super) const HEAD: usize = 0;

/// The entry list with O(1) unlink and relink (dancing links).
pub(super) struct Links {
    pub(super) entries: Vec<Entry>,
    pub(super) next: Vec<usize>,
    prev: Vec<usize>,
    pub(super) call_of: Vec<usize>,
    return_of: Vec<usize>,
}

impl Links {
    pub(super) fn new(ops: &[KeyOp]) -> Links {
        let mut timed: Vec<(u64, u8, usize, Entry)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            // At equal times calls come first: touching intervals count as concurrent.
            timed.push((op.call, 0, i, Entry::Call(i)));
            if let Some(ret) = op.ret {
                timed.push((ret, 1, i, Entry::Return(i)));
            }
        }
        timed.sort_unstable_by_key(|&(at, kind, i, _)| (at, kind, i));
        let mut entries = vec![Entry::Head];
        entries.extend(timed.into_iter().map(|(_, _, _, entry)| entry));
        let n = entries.len();
        let mut call_of = vec![NIL; ops.len()];
        let mut return_of = vec![NIL; ops.len()];
        for (node, entry) in entries.iter().enumerate() {
            match *entry {
                Entry::Call(i) => call_of[i] = node,
                Entry::Return(i) => return_of[i] = node,
                Entry::Head => {}
            }
        }
        Links {
            entries,
            next: (1..=n).map(|i| if i == n { NIL } else { i }).collect(),
            prev: (0..n).map(|i| i.wrapping_sub(1)).collect(),
            call_of,
            return_of,
        }
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }

    pub(super) fn lift(&mut self, op: usize) {
        self.unlink(self.call_of[op]);
        if self.return_of[op] != NIL {
            self.unlink(self.return_of[op]);
        }
    }

    /// Undo [`Links::lift`]; valid only in reverse order of lifting.
    pub(super) fn unlift(&mut self, op: usize) {
        if self.return_of[op] != NIL {
            self.relink(self.return_of[op]);
        }
        self.relink(self.call_of[op]);
    }

    /// Operations whose calls are in the list before `node`.
    pub(super) fn calls_before(&self, node: usize) -> Vec<usize> {
        let mut calls = Vec::new();
        let mut at = self.next[HEAD];
        while at != node && at != NIL {
            if let Entry::Call(i) = self.entries[at] {
                calls.push(i);
            }
            at = self.next[at];
        }
        calls
    }
}
