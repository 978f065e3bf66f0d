//! The set of operations linearized so far, and its compact memo key.

/// The set of linearized operations. Operations are indexed in invocation order and the
/// search mostly moves forward, so a set is nearly always "everything below `prefix`, plus a
/// few more": that is also its memo key, so keys stay small however long the history.
pub(super) struct Linearized {
    bits: Vec<u64>,
    /// The lowest index not in the set.
    prefix: usize,
    /// How many indices above `prefix` are in the set.
    above: usize,
}

/// A canonical, compact form of a [`Linearized`] set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct SetKey {
    prefix: usize,
    above: Box<[u32]>,
}

impl SetKey {
    pub(super) fn contains(&self, i: usize) -> bool {
        i < self.prefix || u32::try_from(i).is_ok_and(|i| self.above.binary_search(&i).is_ok())
    }
}

impl Linearized {
    pub(super) fn new(n: usize) -> Linearized {
        Linearized {
            bits: vec![0; n.div_ceil(64) + 1],
            prefix: 0,
            above: 0,
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    pub(super) fn insert(&mut self, i: usize) {
        self.bits[i / 64] |= 1 << (i % 64);
        if i != self.prefix {
            self.above += 1;
            return;
        }
        self.prefix += 1;
        while self.prefix < (self.bits.len() - 1) * 64 && self.contains(self.prefix) {
            self.prefix += 1;
            self.above -= 1;
        }
    }

    pub(super) fn remove(&mut self, i: usize) {
        self.bits[i / 64] &= !(1 << (i % 64));
        if i > self.prefix {
            self.above -= 1;
        } else {
            self.above += self.prefix - i - 1;
            self.prefix = i;
        }
    }

    pub(super) fn key(&self) -> SetKey {
        let mut above = Vec::with_capacity(self.above);
        let mut word = self.prefix / 64;
        while above.len() < self.above && word < self.bits.len() {
            let mut bits = self.bits[word];
            while bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if i > self.prefix {
                    above.push(u32::try_from(i).unwrap_or(u32::MAX));
                }
            }
            word += 1;
        }
        SetKey {
            prefix: self.prefix,
            above: above.into_boxed_slice(),
        }
    }
}
