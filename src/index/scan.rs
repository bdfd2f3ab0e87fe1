//! The flat scan: every code against every query, in cache-sized tiles, in parallel.
//!
//! [`oracle_range`] is the reference every other search path is tested against: two plain
//! loops and `count_ones`. [`scan`] is the fast twin: the codes are cut into tiles that stay
//! in L2 while a block of queries (held in registers by the kernel) runs over them; rayon
//! splits the queries (many queries) or the codes (few queries) across cores.

use rayon::prelude::*;

use super::kernel::{Kernel, QUERY_BLOCK, Sink, distance, scan_tile};

/// Bytes of codes per tile: well inside a 512 KiB-1 MiB L2.
const TILE_BYTES: usize = 256 * 1024;

/// A [`Sink`] that can be split across threads and joined again.
pub trait ForkSink: Sink + Send + Sync + Sized {
    /// An empty sink with the same parameters (radius, k, tombstones).
    fn fork(&self) -> Self;
    /// Take in what a fork of this sink collected over later entries.
    fn merge(&mut self, later: Self);
}

/// The reference: for each query, every `(entry, distance)` with `distance <= radius`, in
/// entry order.
pub fn oracle_range<const W: usize>(
    queries: &[[u64; W]],
    codes: &[[u64; W]],
    radius: u32,
) -> Vec<Vec<(u32, u32)>> {
    queries
        .iter()
        .map(|q| {
            let mut hits = Vec::new();
            for (i, c) in codes.iter().enumerate() {
                let d = distance(q, c);
                if d <= radius {
                    hits.push((i as u32, d));
                }
            }
            hits
        })
        .collect()
}

/// Scan all `codes` for every query with `kernel`; `sinks[j]` collects query `j`.
pub fn scan<const W: usize, S: ForkSink>(
    kernel: Kernel,
    queries: &[[u64; W]],
    codes: &[[u64; W]],
    sinks: &mut [S],
) {
    assert_eq!(queries.len(), sinks.len(), "one sink per query");
    assert!(
        codes.len() <= u32::MAX as usize,
        "a segment holds at most 2^32 codes"
    );
    if queries.is_empty() || codes.is_empty() {
        return;
    }
    let tile = (TILE_BYTES / (8 * W)).max(QUERY_BLOCK);
    let threads = rayon::current_num_threads().max(1);
    let scan_chunk = |qs: &[[u64; W]], ss: &mut [S], codes: &[[u64; W]], base: usize| {
        for (t, part) in codes.chunks(tile).enumerate() {
            scan_tile(kernel, qs, part, (base + t * tile) as u32, ss);
        }
    };
    if threads > 1 && queries.len() >= threads * QUERY_BLOCK {
        // Many queries: each task runs a block of queries over every tile.
        let per = queries
            .len()
            .div_ceil(threads * 4)
            .next_multiple_of(QUERY_BLOCK);
        queries
            .par_chunks(per)
            .zip(sinks.par_chunks_mut(per))
            .for_each(|(qs, ss)| scan_chunk(qs, ss, codes, 0));
    } else if threads > 1 && codes.len() >= 4 * tile {
        // Few queries: split the codes; each part fills forks of the sinks, merged in order.
        let per = codes
            .len()
            .div_ceil(threads * 2)
            .next_multiple_of(QUERY_BLOCK);
        let parts: Vec<Vec<S>> = codes
            .par_chunks(per)
            .enumerate()
            .map(|(p, part)| {
                let mut forks: Vec<S> = sinks.iter().map(ForkSink::fork).collect();
                scan_chunk(queries, &mut forks, part, p * per);
                forks
            })
            .collect();
        for forks in parts {
            for (s, f) in sinks.iter_mut().zip(forks) {
                s.merge(f);
            }
        }
    } else {
        scan_chunk(queries, sinks, codes, 0);
    }
}
