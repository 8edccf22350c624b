//! [`ChunkedVec`]: a persistent vector made of shared fixed-size chunks, so
//! the next routing snapshot shares all but one or two chunks with the
//! previous one.
//!
//! # Why not a library
//!
//! `imbl::Vector` (an RRB tree) gives the same structural sharing, but its
//! random index walks a tree of nodes where this one does a shift, a mask
//! and two loads (several times slower, measured: BENCHMARKS.md), and a pick
//! indexes twice per request. Changes are rare;
//! picks are not. Two levels are enough for the sizes a service has: a change
//! copies the chunk list (`len / 64` pointers) and at most two chunks, so
//! 10,000 endpoints cost ~160 + 128 reference-count increments per change
//! instead of a 10,000-entry rebuild.

use std::sync::Arc;

/// Entries per chunk; a power of two so an index splits with a shift and a mask.
const CHUNK: usize = 64;
const SHIFT: u32 = CHUNK.trailing_zeros();

/// A vector whose clone is O(len / 64) and shares every chunk; a write
/// copies only the chunk it touches when that chunk is shared
/// (`Arc::make_mut`).
///
/// Invariant: every chunk but the last is full, and the last is not empty.
pub(super) struct ChunkedVec<V> {
    chunks: Vec<Arc<Vec<V>>>,
    len: usize,
}

impl<V> ChunkedVec<V> {
    pub(super) fn new() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry at `index`; panics past the end, like slice indexing
    /// (callers index below `len()`).
    pub(super) fn get(&self, index: usize) -> &V {
        &self.chunks[index >> SHIFT][index & (CHUNK - 1)]
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &V> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }
}

impl<V: Clone> ChunkedVec<V> {
    /// Appends `value`; returns its index.
    pub(super) fn push(&mut self, value: V) -> usize {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let last = self.chunks.last_mut().expect("a chunk was just ensured");
        Arc::make_mut(last).push(value);
        self.len += 1;
        self.len - 1
    }

    /// Removes the entry at `index` by moving the last entry into its place
    /// (order is not kept). Returns the removed entry and, when another entry
    /// moved, that entry (now at `index`).
    pub(super) fn swap_remove(&mut self, index: usize) -> (V, Option<&V>) {
        assert!(
            index < self.len,
            "swap_remove index {index} past {}",
            self.len
        );
        let last = self.pop().expect("not empty: index < len");
        if index == self.len {
            return (last, None);
        }
        let chunk = Arc::make_mut(&mut self.chunks[index >> SHIFT]);
        let removed = std::mem::replace(&mut chunk[index & (CHUNK - 1)], last);
        (removed, Some(&chunk[index & (CHUNK - 1)]))
    }

    fn pop(&mut self) -> Option<V> {
        let last = self.chunks.last_mut()?;
        let value = Arc::make_mut(last).pop();
        if last.is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        value
    }
}

impl<V> Clone for ChunkedVec<V> {
    fn clone(&self) -> Self {
        ChunkedVec {
            chunks: self.chunks.clone(),
            len: self.len,
        }
    }
}

impl<V> Default for ChunkedVec<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> FromIterator<V> for ChunkedVec<V> {
    fn from_iter<I: IntoIterator<Item = V>>(iter: I) -> Self {
        let mut chunks = Vec::new();
        let mut len = 0;
        let mut chunk = Vec::with_capacity(CHUNK);
        for value in iter {
            chunk.push(value);
            len += 1;
            if chunk.len() == CHUNK {
                chunks.push(Arc::new(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(CHUNK),
                )));
            }
        }
        if !chunk.is_empty() {
            chunks.push(Arc::new(chunk));
        }
        ChunkedVec { chunks, len }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{CHUNK, ChunkedVec};

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32),
        SwapRemove(usize),
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u32>().prop_map(Op::Push),
            2 => any::<usize>().prop_map(Op::SwapRemove),
            1 => Just(Op::Snapshot),
        ]
    }

    fn contents(vec: &ChunkedVec<u32>) -> Vec<u32> {
        let by_index: Vec<u32> = (0..vec.len()).map(|index| *vec.get(index)).collect();
        assert_eq!(by_index, vec.iter().copied().collect::<Vec<_>>());
        by_index
    }

    proptest! {
        /// Every operation matches `Vec`'s, and a clone taken earlier never
        /// sees a later write (the snapshots readers hold stay as they were).
        #[test]
        fn behaves_like_vec_and_snapshots_never_change(
            initial in prop::collection::vec(any::<u32>(), 0..3 * CHUNK),
            ops in prop::collection::vec(op(), 0..400),
        ) {
            let mut vec: ChunkedVec<u32> = initial.iter().copied().collect();
            let mut model = initial.clone();
            let mut snapshots: Vec<(ChunkedVec<u32>, Vec<u32>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(value) => {
                        prop_assert_eq!(vec.push(value), model.len());
                        model.push(value);
                    }
                    Op::SwapRemove(_) if model.is_empty() => {}
                    Op::SwapRemove(index) => {
                        let index = index % model.len();
                        let (removed, moved) = vec.swap_remove(index);
                        let moved = moved.copied();
                        let expected = model.swap_remove(index);
                        prop_assert_eq!(removed, expected);
                        prop_assert_eq!(moved, model.get(index).copied());
                    }
                    Op::Snapshot => snapshots.push((vec.clone(), model.clone())),
                }
                prop_assert_eq!(vec.len(), model.len());
                prop_assert_eq!(vec.is_empty(), model.is_empty());
            }
            prop_assert_eq!(contents(&vec), model);
            for (snapshot, expected) in &snapshots {
                prop_assert_eq!(&contents(snapshot), expected);
            }
        }
    }

    #[test]
    fn a_change_copies_only_the_touched_chunks() {
        let vec: ChunkedVec<u32> = (0..10 * CHUNK as u32).collect();
        let mut next = vec.clone();
        next.swap_remove(3);
        let shared = vec
            .chunks
            .iter()
            .zip(&next.chunks)
            .filter(|(old, new)| std::sync::Arc::ptr_eq(old, new))
            .count();
        // The first chunk (written) and the last (popped) were copied.
        assert_eq!(shared, 8);
    }
}
