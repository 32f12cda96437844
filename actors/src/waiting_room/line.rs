//! The line itself: waiters in FIFO order with exact positions in O(log n).
//!
//! Each waiter takes the next *slot* when it joins. A Fenwick tree over the slots
//! (1 where a token still waits, 0 where it left) gives a token's 1-based position
//! as a prefix sum, and the front of the line as the first slot still occupied.
//! Tokens leave from anywhere (eviction) or from the front (admission); leading empty
//! slots are cut off once they make up half of the tree, so memory follows the
//! number of slots between the oldest waiting token and the newest one.
//!
//! Pure data structure: no time, no I/O. Positions only ever shrink for a waiter
//! that stays, because slots are never reused and new waiters join at the back.
//! The line owns its waiters (whatever the room keeps per waiting token), so a
//! waiting token costs one vector element plus a bit of tree, and nothing else.

/// A waiter's place in the line; only meaningful to the [`Line`] that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(u64);

/// Waiters in the order they joined.
#[derive(Debug)]
pub struct Line<T> {
    /// The slot number of `tokens[0]`.
    base: u64,
    /// The waiter in each slot from `base` on; `None` once it left.
    tokens: Vec<Option<T>>,
    /// Fenwick tree (1-based) over `tokens[i].is_some()`.
    tree: Vec<u32>,
    /// Index into `tokens` before which every slot is empty.
    head: usize,
    /// Tokens waiting.
    len: usize,
}

impl<T> Default for Line<T> {
    fn default() -> Self {
        Self {
            base: 0,
            tokens: Vec::new(),
            tree: Vec::new(),
            head: 0,
            len: 0,
        }
    }
}

impl<T> Line<T> {
    /// An empty line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Puts a waiter at the back of the line.
    pub fn push(&mut self, token: T) -> Slot {
        let index = self.tokens.len();
        self.tokens.push(Some(token));
        // The new tree node covers (i - lowbit(i), i]: its own 1 plus the sums of the
        // slots it covers before it.
        let i = index + 1;
        let covered_from = i - lowbit(i);
        let value = 1 + self.prefix_sum(i - 1) - self.prefix_sum(covered_from);
        self.tree.push(value);
        self.len += 1;
        Slot(self.base + index as u64)
    }

    /// 1-based position of the token in `slot`, or `None` if it is not waiting.
    pub fn position(&self, slot: Slot) -> Option<usize> {
        let index = self.index_of(slot)?;
        self.tokens[index].as_ref()?;
        Some(self.prefix_sum(index + 1) as usize)
    }

    /// Takes the waiter in `slot` out of the line.
    pub fn remove(&mut self, slot: Slot) -> Option<T> {
        let index = self.index_of(slot)?;
        let waiter = self.tokens[index].take()?;
        self.add(index + 1, -1);
        self.len -= 1;
        self.skip_empty_front();
        Some(waiter)
    }

    /// The waiter in `slot`.
    pub fn get(&self, slot: Slot) -> Option<&T> {
        self.tokens[self.index_of(slot)?].as_ref()
    }

    /// The waiter in `slot`, to change it.
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut T> {
        let index = self.index_of(slot)?;
        self.tokens[index].as_mut()
    }

    /// Every waiter, front first.
    pub fn iter(&self) -> impl Iterator<Item = (Slot, &T)> + '_ {
        self.tokens[self.head..]
            .iter()
            .enumerate()
            .filter_map(|(offset, token)| {
                token
                    .as_ref()
                    .map(|t| (Slot(self.base + (self.head + offset) as u64), t))
            })
    }

    /// Every waiter, front first, taken out of the line.
    pub fn into_waiters(self) -> impl Iterator<Item = T> {
        self.tokens.into_iter().flatten()
    }

    fn index_of(&self, slot: Slot) -> Option<usize> {
        let index = usize::try_from(slot.0.checked_sub(self.base)?).ok()?;
        (index < self.tokens.len()).then_some(index)
    }

    fn prefix_sum(&self, mut i: usize) -> u32 {
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i - 1];
            i -= lowbit(i);
        }
        sum
    }

    fn add(&mut self, mut i: usize, delta: i32) {
        while i <= self.tree.len() {
            self.tree[i - 1] = self.tree[i - 1].wrapping_add_signed(delta);
            i += lowbit(i);
        }
    }

    /// Moves `head` past empty slots and cuts them off once they are half the tree.
    fn skip_empty_front(&mut self) {
        while self.head < self.tokens.len() && self.tokens[self.head].is_none() {
            self.head += 1;
        }
        if self.head >= 1024 && self.head * 2 >= self.tokens.len() {
            self.compact();
        }
    }

    /// Drops the empty front and rebuilds the tree in O(n).
    fn compact(&mut self) {
        self.tokens.drain(..self.head);
        self.base += self.head as u64;
        self.head = 0;
        self.tree = self.tokens.iter().map(|t| u32::from(t.is_some())).collect();
        for i in 1..=self.tree.len() {
            let parent = i + lowbit(i);
            if parent <= self.tree.len() {
                self.tree[parent - 1] += self.tree[i - 1];
            }
        }
        self.tokens.shrink_to(self.tokens.len() * 2);
        self.tree.shrink_to(self.tree.len() * 2);
    }
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::QueueToken;
    use proptest::prelude::*;

    #[test]
    fn positions_follow_join_order_and_shrink_on_removal() {
        let mut line = Line::new();
        let slots: Vec<_> = (0..5).map(|_| line.push(QueueToken::generate())).collect();
        assert_eq!(
            slots.iter().map(|s| line.position(*s)).collect::<Vec<_>>(),
            vec![Some(1), Some(2), Some(3), Some(4), Some(5)]
        );
        assert!(line.remove(slots[1]).is_some());
        assert!(line.remove(slots[1]).is_none());
        assert_eq!(line.position(slots[1]), None);
        assert_eq!(line.position(slots[4]), Some(4));
        assert_eq!(
            line.iter().take(2).map(|f| f.0).collect::<Vec<_>>(),
            vec![slots[0], slots[2]]
        );
    }

    #[test]
    fn compaction_keeps_positions_exact() {
        let mut line = Line::new();
        let slots: Vec<_> = (0..5000)
            .map(|_| line.push(QueueToken::generate()))
            .collect();
        for slot in &slots[..4000] {
            line.remove(*slot);
        }
        // At most 1024 empty slots may stay in front (compaction is amortised).
        assert!(
            line.tokens.len() <= 1000 + 1024,
            "the empty front was cut off"
        );
        assert_eq!(line.position(slots[4000]), Some(1));
        assert_eq!(line.position(slots[4999]), Some(1000));
        assert_eq!(line.position(slots[10]), None);
        let late = line.push(QueueToken::generate());
        assert_eq!(line.position(late), Some(1001));
    }

    proptest! {
        /// Against a plain Vec: every position equals the count of waiting tokens that joined earlier, plus one.
        #[test]
        fn matches_a_plain_vector(ops in proptest::collection::vec((any::<bool>(), any::<u16>()), 1..400)) {
            let mut line = Line::new();
            let mut model: Vec<Slot> = Vec::new();
            let mut all: Vec<Slot> = Vec::new();
            for (push, pick) in ops {
                if push || all.is_empty() {
                    let slot = line.push(QueueToken::generate());
                    model.push(slot);
                    all.push(slot);
                } else {
                    let slot = all[pick as usize % all.len()];
                    let was_there = model.contains(&slot);
                    prop_assert_eq!(line.remove(slot).is_some(), was_there);
                    model.retain(|s| *s != slot);
                }
                prop_assert_eq!(line.len(), model.len());
                for slot in &all {
                    let expected = model.iter().position(|s| s == slot).map(|p| p + 1);
                    prop_assert_eq!(line.position(*slot), expected);
                }
                let front: Vec<Slot> = line.iter().take(3).map(|f| f.0).collect();
                prop_assert_eq!(front, model.iter().take(3).copied().collect::<Vec<_>>());
            }
        }
    }
}
