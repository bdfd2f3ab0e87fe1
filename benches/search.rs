//! Exact Hamming range search over PDQ codes (issue 4): the flat SIMD scan, MIH and the
//! planner, on 1 M and 10 M uniform random 256-bit codes with planted near-duplicates of the
//! queries at distances 0..=40, for 1 query and for a batch of 10,000, at r = 31.
//!
//! Run: `cargo bench --bench search` (both sizes; `VIGIL_BENCH_SIZES=1000000` for one).
//! The 10 M group skips the 10,000-query flat scan (10^11 comparisons per iteration); the
//! side-by-side comparison with faiss is `scripts/compare-search.py`. The 1-query cases repeat
//! one query, so the codes it touches stay in cache: a best case (compare-search.py times 1,000
//! different queries from the mapped index file).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigil::index::Kernel;
use vigil::index::mih::MihTables;
use vigil::index::search::{self, Backend, Params, Segment, Tombstones};

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` random codes and `nq` queries; query i has a planted code at distance i % 41.
fn data(n: usize, nq: usize) -> (Vec<[u64; 4]>, Vec<[u64; 4]>) {
    let mut r = Rng(2026);
    let mut codes: Vec<[u64; 4]> = (0..n).map(|_| std::array::from_fn(|_| r.next())).collect();
    let queries: Vec<[u64; 4]> = (0..nq).map(|_| std::array::from_fn(|_| r.next())).collect();
    for (i, q) in queries.iter().enumerate() {
        let mut c = *q;
        let mut flipped = 0;
        while flipped < i % 41 {
            let b = (r.next() % 256) as usize;
            if (c[b / 64] ^ q[b / 64]) >> (b % 64) & 1 == 0 {
                c[b / 64] ^= 1 << (b % 64);
                flipped += 1;
            }
        }
        codes[(r.next() % n as u64) as usize] = c;
    }
    (codes, queries)
}

fn bench(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("VIGIL_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 10_000_000]);
    for n in sizes {
        let (codes, queries) = data(n, 10_000);
        let tables = MihTables::build(&codes);
        let segs = [Segment {
            first_id: 0,
            codes: &codes,
            mih: Some(tables.view()),
        }];
        let mut g = c.benchmark_group(format!("range_r31_{}M", n / 1_000_000));
        g.sample_size(10);
        for nq in [1usize, 10_000] {
            g.throughput(Throughput::Elements((nq * n) as u64));
            for backend in [Backend::Auto, Backend::Mih, Backend::Scan] {
                if backend == Backend::Scan && nq * n > 2_000_000_000 && n > 1_000_000 {
                    continue;
                }
                let p = Params {
                    radius: 31,
                    k: None,
                    backend,
                    kernel: Kernel::best(),
                };
                g.bench_with_input(
                    BenchmarkId::new(format!("{backend:?}"), nq),
                    &queries[..nq],
                    |b, q| b.iter(|| search::search(&segs, Tombstones::default(), q, &p).unwrap()),
                );
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
