//! The state digest: the sum of the hashes of every row of `pages` and
//! `entries`, kept up to date by the writes (`docs/projector-store.md`,
//! "The digest").

use redb::ReadableTable;
use sha2::{Digest, Sha256};

use super::tables::{applied_in, DIGEST, DIGEST_STATE, ENTRIES, PAGES};
use super::{Store, StoreError};

impl Store {
    /// (applied sequence, hex state digest), both from one read transaction:
    /// the digest kept by the writes (see `docs/projector-store.md`, "The digest").
    pub fn digest(&self) -> Result<(u64, String), StoreError> {
        let txn = self.db.begin_read()?;
        let applied = applied_in(&txn)?;
        let sum = txn
            .open_table(DIGEST)?
            .get(DIGEST_STATE)?
            .map(|v| StateSum(*v.value()))
            .unwrap_or_default();
        Ok((applied, sum.hex()))
    }

    /// (applied sequence, hex state digest) summed from every row again, to
    /// check the kept one: they differ only if the file was damaged.
    pub fn recompute_digest(&self) -> Result<(u64, String), StoreError> {
        let txn = self.db.begin_read()?;
        let applied = applied_in(&txn)?;
        let mut sum = StateSum::default();
        for item in txn.open_table(PAGES)?.iter()? {
            let (k, v) = item?;
            sum.add(&page_hash(k.value(), v.value()));
        }
        for item in txn.open_table(ENTRIES)?.iter()? {
            let (k, v) = item?;
            let (page, id) = k.value();
            sum.add(&entry_hash(page, id, v.value()));
        }
        Ok((applied, sum.hex()))
    }
}

/// The order-independent state digest: a 256-bit big-endian number, the sum
/// of the hashes of every row, wrapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct StateSum(pub(super) [u8; 32]);

impl StateSum {
    pub(super) fn add(&mut self, h: &[u8; 32]) {
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let v = u16::from(self.0[i]) + u16::from(h[i]) + carry;
            self.0[i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
    }

    pub(super) fn sub(&mut self, h: &[u8; 32]) {
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut v = i16::from(self.0[i]) - i16::from(h[i]) - borrow;
            borrow = 0;
            if v < 0 {
                v += 256;
                borrow = 1;
            }
            self.0[i] = v as u8;
        }
    }

    pub(super) fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub(super) fn page_hash(key: &str, json: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_part(&mut h, b"pages");
    hash_part(&mut h, key.as_bytes());
    hash_part(&mut h, json.as_bytes());
    h.finalize().into()
}

pub(super) fn entry_hash(page: &str, id: &str, row: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_part(&mut h, b"entries");
    hash_part(&mut h, page.as_bytes());
    hash_part(&mut h, id.as_bytes());
    hash_part(&mut h, row);
    h.finalize().into()
}

fn hash_part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_sum_subtracts_what_it_added() {
        let a = page_hash("s.1", "{}");
        let b = entry_hash("s.1", "x", b"{}");
        let mut sum = StateSum::default();
        sum.add(&a);
        sum.add(&b);
        sum.add(&b);
        sum.sub(&b);
        sum.sub(&a);
        let mut only_b = StateSum::default();
        only_b.add(&b);
        assert_eq!(sum, only_b);
        sum.sub(&b);
        assert_eq!(sum, StateSum::default());
        // Wrapping: 0 - 1 + 1 == 0.
        let mut one = [0u8; 32];
        one[31] = 1;
        sum.sub(&one);
        assert_eq!(sum.0, [0xff; 32]);
        sum.add(&one);
        assert_eq!(sum, StateSum::default());
    }
}
