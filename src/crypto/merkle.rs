//! The Merkle tree of RFC 9162 §2.1 (the Certificate Transparency tree, unchanged from RFC 6962):
//! tree head, inclusion proofs and consistency proofs, generated and verified. Pure functions,
//! no I/O.
//!
//! Hashing (SHA-256):
//! - leaf: `H(0x00 ‖ d)` for the leaf data `d`;
//! - interior node: `H(0x01 ‖ left ‖ right)`;
//! - the empty tree: `H()` (the hash of the empty string);
//! - a tree of `n > 1` leaves splits at `k`, the largest power of two smaller than `n`.
//!
//! Functions here take leaf *hashes* (the caller hashes its leaf data once with [`leaf_hash`]).
//! Verification follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 exactly, so a proof
//! made by any conforming log verifies here and a proof made here verifies there.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, a node hash or a tree head.
pub type Hash = [u8; 32];

/// Why a proof was refused or could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not smaller than the tree size.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    /// The older tree is larger than the newer one.
    #[error("tree size {old} is larger than {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("the proof has the wrong length")]
    WrongLength,
    /// The proof does not lead to the expected root(s).
    #[error("the proof does not match the tree head")]
    Mismatch,
}

/// `H(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `H(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The head of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1usize;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

fn to_usize(value: u64) -> Result<usize, MerkleError> {
    usize::try_from(value).map_err(|_| MerkleError::WrongLength)
}

/// The inclusion proof (audit path, RFC 9162 §2.1.3.1) of leaf `index` in the tree made of
/// `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(to_usize(index)?, leaves, &mut proof);
    Ok(proof)
}

/// PATH(m, D[n]): the deepest sibling first.
fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if m < k {
        path(m, left, out);
        out.push(root(right));
    } else {
        path(m - k, right, out);
        out.push(root(left));
    }
}

/// Checks that `leaf` is leaf number `index` of the tree of `size` leaves whose head is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if &computed == root {
        Ok(())
    } else {
        Err(MerkleError::Mismatch)
    }
}

/// The root an inclusion proof leads to (steps 1-5 of RFC 9162 §2.1.3.2).
fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongLength);
    }
    Ok(r)
}

/// The consistency proof (RFC 9162 §2.1.4.1) between the first `old_size` leaves of `leaves`
/// and all of them. Empty when `old_size` is 0 or equals the tree size.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new = leaves.len() as u64;
    if old_size > new {
        return Err(MerkleError::SizesOutOfOrder { old: old_size, new });
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(to_usize(old_size)?, leaves, true, &mut proof);
    }
    Ok(proof)
}

/// SUBPROOF(m, D[n], b).
fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, complete, out);
        out.push(root(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root(left));
    }
}

/// Checks that the tree of `new_size` leaves with head `new_root` extends the tree of
/// `old_size` leaves with head `old_root` (RFC 9162 §2.1.4.2). A tree of size 0 is extended by
/// every tree (empty proof); equal sizes need equal heads and an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::WrongLength);
        }
        if old_size == 0 {
            return if old_root == &empty_root() {
                Ok(())
            } else {
                Err(MerkleError::Mismatch)
            };
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::Mismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (first, rest) = path.split_first().ok_or(MerkleError::WrongLength)?;
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if sn == 0 {
            return Err(MerkleError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongLength);
    }
    if &fr == old_root && &sr == new_root {
        Ok(())
    } else {
        Err(MerkleError::Mismatch)
    }
}

/// A tree grown one leaf at a time that keeps only the heads of its perfect subtrees (at most
/// 64 hashes), so the head of every size can be computed in one pass over the leaves.
#[derive(Debug, Clone, Default)]
pub struct CompactTree {
    size: u64,
    /// Heads of the perfect subtrees, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl CompactTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            if let Some(left) = self.stack.pop() {
                node = node_hash(&left, &node);
            }
            size >>= 1;
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// The head of the tree as it stands.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn h(hex_str: &str) -> Hash {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    /// The reference leaves of RFC 6962 implementations (Certificate Transparency's C++ and Go
    /// code, transparency-dev/merkle `testonly`), with the tree head of each size 0..=8.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    #[test]
    fn tree_heads_match_the_reference_vectors() {
        let leaves = reference_leaves();
        for size in 0..=8 {
            assert_eq!(root(&leaves[..size]), h(ROOTS[size]), "size {size}");
            let mut compact = CompactTree::new();
            for leaf in &leaves[..size] {
                compact.push(*leaf);
            }
            assert_eq!(compact.root(), h(ROOTS[size]), "compact size {size}");
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_vectors() {
        let leaves = reference_leaves();
        let cases: [(u64, &[&str]); 2] = [
            (
                0,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (index, want) in cases {
            let proof = inclusion_proof(&leaves, index).unwrap();
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            assert_eq!(proof, want, "index {index}");
            verify_inclusion(&leaves[index as usize], index, 8, &proof, &h(ROOTS[8])).unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_vectors() {
        let leaves = reference_leaves();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                2,
                8,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let proof = consistency_proof(&leaves[..new as usize], old).unwrap();
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            assert_eq!(proof, want, "{old} -> {new}");
            verify_consistency(
                old,
                new,
                &h(ROOTS[old as usize]),
                &h(ROOTS[new as usize]),
                &proof,
            )
            .unwrap();
        }
    }

    fn synthetic(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_inclusion_proof_verifies_and_mangled_ones_do_not() {
        let all = synthetic(40);
        for size in 1..=all.len() {
            let leaves = &all[..size];
            let head = root(leaves);
            for index in 0..size as u64 {
                let proof = inclusion_proof(leaves, index).unwrap();
                let leaf = &leaves[index as usize];
                verify_inclusion(leaf, index, size as u64, &proof, &head).unwrap();
                // Another leaf, another index, a changed, shortened or longer proof: all refused.
                // (The size alone is not bound: the left-most path of a tree of 3 is also one
                // of a tree of 4; the checkpoint gives the size.)
                if size > 1 {
                    let other = (index + 1) % size as u64;
                    assert!(
                        verify_inclusion(
                            &leaves[other as usize],
                            index,
                            size as u64,
                            &proof,
                            &head
                        )
                        .is_err()
                    );
                    assert!(verify_inclusion(leaf, other, size as u64, &proof, &head).is_err());
                }
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(verify_inclusion(leaf, index, size as u64, &bad, &head).is_err());
                    assert!(
                        verify_inclusion(
                            leaf,
                            index,
                            size as u64,
                            &proof[..proof.len() - 1],
                            &head
                        )
                        .is_err()
                    );
                }
                let mut longer = proof.clone();
                longer.push([0xab; 32]);
                assert!(verify_inclusion(leaf, index, size as u64, &longer, &head).is_err());
            }
        }
        assert!(inclusion_proof(&all[..3], 3).is_err());
    }

    #[test]
    fn every_consistency_proof_verifies_and_mangled_ones_do_not() {
        let all = synthetic(33);
        let heads: Vec<Hash> = (0..=all.len()).map(|n| root(&all[..n])).collect();
        for new in 0..=all.len() {
            for old in 0..=new {
                let proof = consistency_proof(&all[..new], old as u64).unwrap();
                verify_consistency(old as u64, new as u64, &heads[old], &heads[new], &proof)
                    .unwrap();
                if old > 0 && old < new {
                    assert!(
                        verify_consistency(
                            old as u64,
                            new as u64,
                            &heads[old - 1],
                            &heads[new],
                            &proof
                        )
                        .is_err()
                    );
                    if !proof.is_empty() {
                        let mut bad = proof.clone();
                        bad[proof.len() - 1][3] ^= 0x80;
                        assert!(
                            verify_consistency(
                                old as u64,
                                new as u64,
                                &heads[old],
                                &heads[new],
                                &bad
                            )
                            .is_err()
                        );
                        assert!(
                            verify_consistency(
                                old as u64,
                                new as u64,
                                &heads[old],
                                &heads[new],
                                &proof[..proof.len() - 1]
                            )
                            .is_err()
                        );
                    }
                }
            }
        }
        assert!(verify_consistency(5, 4, &heads[5], &heads[4], &[]).is_err());
        assert!(verify_consistency(4, 4, &heads[4], &heads[5], &[]).is_err());
        assert!(verify_consistency(0, 4, &heads[1], &heads[4], &[]).is_err());
    }
}
