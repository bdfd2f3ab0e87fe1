//! Multi-index hashing (Norouzi, Punjani, Fleet): exact range search by probing substrings.
//!
//! A code of `W` 64-bit words is cut into `m = 4W` substrings of 16 bits (16 for PDQ, 4 for
//! pHash); substring `t` is bits `16t .. 16t + 16`. By pigeonhole, a code within radius `r`
//! of the query differs in at most `s = ⌊r/m⌋` bits in at least one substring, so probing,
//! in every table, each bucket within `s` flips of the query's substring finds every hit.
//! Candidates are verified with the full distance.
//!
//! Each table is direct-addressed: `offsets[t][b] .. offsets[t][b + 1]` indexes the entry
//! numbers (`ids[t]`, u32, sorted by bucket, then entry) whose substring `t` is `b`. That is
//! 65,537 offsets per table plus 4 bytes per entry per table: 64 B per PDQ entry.
//!
//! A hit is usually found in several tables. It is reported only from the first table in which
//! its substring is within `s` flips, so each hit is offered exactly once, with no visited set.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::kernel::{Sink, distance};

/// Bits per substring.
pub const SUB_BITS: u32 = 16;
/// Buckets per table.
pub const BUCKETS: usize = 1 << SUB_BITS;
/// The most flips per substring MIH will probe (`⌊r/m⌋ ≤ 3`: PDQ r ≤ 63, pHash r ≤ 15).
pub const MAX_FLIPS: u32 = 3;

/// Tables for codes of `w` words.
pub const fn tables(w: usize) -> usize {
    w * 4
}

/// The largest radius MIH accepts for codes of `w` words.
pub const fn max_radius(w: usize) -> u32 {
    (MAX_FLIPS + 1) * tables(w) as u32 - 1
}

/// Substring `t` of a code.
#[inline(always)]
fn substring<const W: usize>(code: &[u64; W], t: usize) -> usize {
    (code[t / 4] >> (16 * (t % 4))) as usize & 0xffff
}

/// All 16-bit masks of at most [`MAX_FLIPS`] set bits, ordered by popcount, and where each
/// popcount's run ends.
fn probe_masks() -> &'static (Vec<u16>, [usize; MAX_FLIPS as usize + 1]) {
    static MASKS: OnceLock<(Vec<u16>, [usize; MAX_FLIPS as usize + 1])> = OnceLock::new();
    MASKS.get_or_init(|| {
        let mut masks = Vec::new();
        let mut ends = [0; MAX_FLIPS as usize + 1];
        for (flips, end) in ends.iter_mut().enumerate() {
            masks.extend((0..=u16::MAX).filter(|m| m.count_ones() as usize == flips));
            *end = masks.len();
        }
        (masks, ends)
    })
}

/// Masks to probe for `flips` flips per substring.
fn masks(flips: u32) -> &'static [u16] {
    let (m, ends) = probe_masks();
    &m[..ends[flips as usize]]
}

/// Owned tables, as built in memory before they are written or searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MihTables {
    /// `m × (BUCKETS + 1)` offsets.
    pub offsets: Vec<u32>,
    /// `m × n` entry numbers.
    pub ids: Vec<u32>,
}

impl MihTables {
    /// Build the tables for `codes` (a counting sort per table).
    pub fn build<const W: usize>(codes: &[[u64; W]]) -> MihTables {
        let m = tables(W);
        let n = codes.len();
        assert!(
            n < u32::MAX as usize,
            "a segment holds fewer than 2^32 codes"
        );
        let mut offsets = vec![0u32; m * (BUCKETS + 1)];
        let mut ids = vec![0u32; m * n];
        for t in 0..m {
            let off = &mut offsets[t * (BUCKETS + 1)..(t + 1) * (BUCKETS + 1)];
            for c in codes {
                off[substring(c, t) + 1] += 1;
            }
            for b in 0..BUCKETS {
                off[b + 1] += off[b];
            }
            let mut next: Vec<u32> = off[..BUCKETS].to_vec();
            let out = &mut ids[t * n..(t + 1) * n];
            for (i, c) in codes.iter().enumerate() {
                let b = substring(c, t);
                out[next[b] as usize] = i as u32;
                next[b] += 1;
            }
        }
        MihTables { offsets, ids }
    }

    /// A borrowed view.
    pub fn view(&self) -> MihView<'_> {
        MihView {
            offsets: &self.offsets,
            ids: &self.ids,
        }
    }
}

/// Borrowed tables (from a mapped file or [`MihTables`]).
#[derive(Debug, Clone, Copy)]
pub struct MihView<'a> {
    /// `m × (BUCKETS + 1)` offsets.
    pub offsets: &'a [u32],
    /// `m × n` entry numbers.
    pub ids: &'a [u32],
}

/// Why tables do not fit their codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MihError {
    /// Section lengths do not match the entry count.
    #[error("MIH tables have the wrong size for {0} entries")]
    Size(usize),
    /// Offsets decrease or do not end at the entry count.
    #[error("MIH offsets of table {0} are not a valid prefix sum")]
    Offsets(usize),
    /// An entry number is out of range or in the wrong bucket.
    #[error("MIH table {0} holds an entry number that does not belong there")]
    Ids(usize),
}

impl<'a> MihView<'a> {
    /// Check the sizes and offsets for `n` codes of `w` words (cheap: reads the offsets only).
    pub fn check_shape(&self, w: usize, n: usize) -> Result<(), MihError> {
        let m = tables(w);
        if self.offsets.len() != m * (BUCKETS + 1) || self.ids.len() != m * n {
            return Err(MihError::Size(n));
        }
        for t in 0..m {
            let off = &self.offsets[t * (BUCKETS + 1)..(t + 1) * (BUCKETS + 1)];
            if off[0] != 0 || off[BUCKETS] as usize != n || off.windows(2).any(|p| p[0] > p[1]) {
                return Err(MihError::Offsets(t));
            }
        }
        Ok(())
    }

    /// Check that every entry number is below `n`, the segment's entry count: what a search
    /// needs to stay in bounds (it indexes the codes by these numbers). Reads the ids once, in
    /// parallel pieces; call after [`MihView::check_shape`].
    pub fn check_ids(&self, n: usize) -> Result<(), MihError> {
        const PIECE: usize = 1 << 16;
        let bad = self
            .ids
            .par_chunks(PIECE)
            .enumerate()
            .find_first(|(_, c)| c.iter().copied().max().is_some_and(|m| m as usize >= n));
        match bad {
            Some((piece, c)) => {
                let at = piece * PIECE + c.iter().position(|&i| i as usize >= n).unwrap_or(0);
                Err(MihError::Ids(at / n.max(1)))
            }
            None => Ok(()),
        }
    }

    /// Full check against the codes: every entry number in range and in its own bucket.
    pub fn check_codes<const W: usize>(&self, codes: &[[u64; W]]) -> Result<(), MihError> {
        self.check_shape(W, codes.len())?;
        let n = codes.len();
        for t in 0..tables(W) {
            let off = &self.offsets[t * (BUCKETS + 1)..(t + 1) * (BUCKETS + 1)];
            let ids = &self.ids[t * n..(t + 1) * n];
            let mut seen = vec![false; n];
            for b in 0..BUCKETS {
                for &id in &ids[off[b] as usize..off[b + 1] as usize] {
                    let id = id as usize;
                    if id >= n || seen[id] || substring(&codes[id], t) != b {
                        return Err(MihError::Ids(t));
                    }
                    seen[id] = true;
                }
            }
        }
        Ok(())
    }

    /// How many candidates a search at `radius` would verify (read from the offsets only;
    /// counts a code once per table it is probed in). `None` when MIH does not accept the
    /// radius.
    pub fn candidates<const W: usize>(&self, query: &[u64; W], radius: u32) -> Option<u64> {
        if radius > max_radius(W) {
            return None;
        }
        let flips = radius / tables(W) as u32;
        let mut total = 0u64;
        for t in 0..tables(W) {
            let off = &self.offsets[t * (BUCKETS + 1)..(t + 1) * (BUCKETS + 1)];
            let qs = substring(query, t);
            for &mask in masks(flips) {
                let b = qs ^ mask as usize;
                total += u64::from(off[b + 1] - off[b]);
            }
        }
        Some(total)
    }

    /// Offer every code within `radius` of `query` (and within the sink's threshold) to
    /// `sink`, each exactly once; entry numbers are `base + position`. Returns `false`
    /// (offering nothing) when the radius is past [`max_radius`].
    pub fn search<const W: usize, S: Sink>(
        &self,
        query: &[u64; W],
        codes: &[[u64; W]],
        radius: u32,
        base: u32,
        sink: &mut S,
    ) -> bool {
        self.search_tables(query, codes, radius, base, 0..tables(W), sink)
    }

    /// [`MihView::search`] over tables `range` only: hits whose first qualifying table is in
    /// `range`. Disjoint ranges covering `0..m` together offer each hit exactly once, so a
    /// single query can be split across threads.
    pub fn search_tables<const W: usize, S: Sink>(
        &self,
        query: &[u64; W],
        codes: &[[u64; W]],
        radius: u32,
        base: u32,
        range: std::ops::Range<usize>,
        sink: &mut S,
    ) -> bool {
        if radius > max_radius(W) {
            return false;
        }
        let m = tables(W);
        let n = codes.len();
        let flips = radius / m as u32;
        let mut qsub = [0usize; 16];
        for (t, q) in qsub.iter_mut().enumerate().take(m) {
            *q = substring(query, t);
        }
        let mut cand: Vec<u32> = Vec::new();
        for t in range {
            let off = &self.offsets[t * (BUCKETS + 1)..(t + 1) * (BUCKETS + 1)];
            let ids = &self.ids[t * n..(t + 1) * n];
            // Gather this table's candidates first, so the code reads below can be
            // prefetched ahead: they are random reads, and overlapping them is most of MIH's
            // speed on a list larger than the caches.
            cand.clear();
            for &mask in masks(flips) {
                let b = qsub[t] ^ mask as usize;
                cand.extend_from_slice(&ids[off[b] as usize..off[b + 1] as usize]);
            }
            const AHEAD: usize = 12;
            for (j, &id) in cand.iter().enumerate() {
                if let Some(&next) = cand.get(j + AHEAD) {
                    prefetch(&codes[next as usize]);
                }
                let code = &codes[id as usize];
                let d = distance(query, code);
                if d > radius || d > sink.threshold() {
                    continue;
                }
                // Report from the first table whose substring is within `flips`.
                let earlier =
                    (0..t).any(|e| ((substring(code, e) ^ qsub[e]) as u32).count_ones() <= flips);
                if !earlier {
                    sink.offer(base + id, d);
                }
            }
        }
        true
    }
}

/// Hint the CPU to load `x`'s cache line (no effect on results).
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: prefetch is a hint that never faults; SSE is part of the x86-64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
