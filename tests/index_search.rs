//! Exactness of every search path against the scalar oracle (`scan::oracle_range`): the
//! SIMD scan at every kernel level, MIH forced on for every radius it accepts, the planner
//! (`Backend::Auto`), the GPU scan (`Backend::Gpu`, on lavapipe in CI with
//! `VIGIL_GPU_TESTS=require`), k-nearest, tombstones, several segments and dihedral queries;
//! over random and clustered data, radii 0 to 64, empty and one-entry lists included.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use vigil::index::mih::{self, MihTables};
use vigil::index::scan::oracle_range;
use vigil::index::search::{self, Backend, Hit, Params, Plan, Segment, Tombstones};
use vigil::index::{Kernel, SearchError};

/// SplitMix64: a small deterministic generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn code<const W: usize>(&mut self) -> [u64; W] {
        std::array::from_fn(|_| self.next())
    }
    /// `c` with `flips` distinct bits flipped.
    fn flip<const W: usize>(&mut self, c: &[u64; W], flips: u32) -> [u64; W] {
        let mut out = *c;
        let bits = 64 * W as u64;
        let flips = (flips as u64).min(bits);
        let mut done = 0;
        while done < flips {
            let b = self.below(bits) as usize;
            if (out[b / 64] ^ c[b / 64]) >> (b % 64) & 1 == 0 {
                out[b / 64] ^= 1 << (b % 64);
                done += 1;
            }
        }
        out
    }
}

/// Random codes, or clusters of near-duplicates (distances 0..=40 from a few centres), and
/// queries: half planted near entries (0..=40 flips), half random.
fn data<const W: usize>(
    seed: u64,
    n: usize,
    nq: usize,
    clustered: bool,
) -> (Vec<[u64; W]>, Vec<[u64; W]>) {
    let mut rng = Rng(seed);
    let centres: Vec<[u64; W]> = (0..4).map(|_| rng.code()).collect();
    let codes: Vec<[u64; W]> = (0..n)
        .map(|_| {
            if clustered && rng.below(4) != 0 {
                let c = centres[rng.below(4) as usize];
                let f = rng.below(41) as u32;
                rng.flip(&c, f)
            } else {
                rng.code()
            }
        })
        .collect();
    let queries = (0..nq)
        .map(|i| {
            if i % 2 == 0 && !codes.is_empty() {
                let c = codes[rng.below(codes.len() as u64) as usize];
                let f = rng.below(41) as u32;
                rng.flip(&c, f)
            } else if clustered && i % 4 == 1 {
                let f = rng.below(41) as u32;
                let c = centres[rng.below(4) as usize];
                rng.flip(&c, f)
            } else {
                rng.code()
            }
        })
        .collect();
    (codes, queries)
}

/// The oracle as (distance, id) lists, sorted, tombstones removed, top-k taken.
fn expected<const W: usize>(
    codes: &[[u64; W]],
    queries: &[[u64; W]],
    radius: u32,
    k: Option<usize>,
    dead: &[u64],
) -> Vec<Vec<(u32, u64)>> {
    let t = Tombstones { words: dead };
    oracle_range(queries, codes, radius)
        .into_iter()
        .map(|hits| {
            let mut v: Vec<(u32, u64)> = hits
                .into_iter()
                .map(|(i, d)| (d, u64::from(i)))
                .filter(|&(_, id)| !t.is_dead(id))
                .collect();
            v.sort_unstable();
            if let Some(k) = k {
                v.truncate(k);
            }
            v
        })
        .collect()
}

fn got(hits: &[Vec<Hit>]) -> Vec<Vec<(u32, u64)>> {
    hits.iter()
        .map(|v| v.iter().map(|h| (h.distance, h.id)).collect())
        .collect()
}

/// Cut `codes` into segments of the given sizes (ids continue across segments).
fn segments<'a, const W: usize>(
    codes: &'a [[u64; W]],
    cuts: &[usize],
    tables: &'a [MihTables],
) -> Vec<Segment<'a, W>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &end) in cuts.iter().chain(std::iter::once(&codes.len())).enumerate() {
        let end = end.clamp(start, codes.len());
        out.push(Segment {
            first_id: start as u64,
            codes: &codes[start..end],
            mih: tables.get(i).map(MihTables::view),
        });
        start = end;
    }
    out
}

fn tables_for<const W: usize>(codes: &[[u64; W]], cuts: &[usize]) -> Vec<MihTables> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&codes.len())) {
        let end = end.clamp(start, codes.len());
        out.push(MihTables::build(&codes[start..end]));
        start = end;
    }
    out
}

/// One GPU engine for every case (None without an adapter, unless GPU tests are required).
fn gpu() -> Option<&'static vigil::gpu::GpuContext> {
    static ENGINE: OnceLock<Option<vigil::Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(common::gpu_engine)
        .as_ref()
        .and_then(vigil::Engine::gpu)
}

/// Every path at every level against the oracle for one data set.
fn check_all<const W: usize>(
    codes: &[[u64; W]],
    queries: &[[u64; W]],
    radius: u32,
    k: Option<usize>,
    dead: &[u64],
    cuts: &[usize],
    label: &str,
) {
    let tables = tables_for(codes, cuts);
    for t in &tables {
        t.view()
            .check_shape(W, t.ids.len() / mih::tables(W))
            .unwrap();
    }
    let segs = segments(codes, cuts, &tables);
    let want = expected(codes, queries, radius, k, dead);
    let tomb = Tombstones { words: dead };
    for kernel in Kernel::available() {
        for backend in [Backend::Scan, Backend::Auto, Backend::Mih] {
            let p = Params {
                radius,
                k,
                backend,
                kernel,
            };
            let res = search::search(&segs, tomb, queries, &p);
            if backend == Backend::Mih && radius > mih::max_radius(W) {
                assert!(
                    matches!(res, Err(SearchError::MihNotApplicable { .. })),
                    "{label}: MIH must refuse radius {radius}"
                );
                continue;
            }
            let res = res.unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(
                got(&res),
                want,
                "{label}: {backend:?} {kernel:?} r={radius} k={k:?}"
            );
        }
    }
    if let Some(ctx) = gpu() {
        let p = Params {
            radius,
            k,
            backend: Backend::Gpu,
            kernel: Kernel::Scalar,
        };
        let res = search::search_with(Some(ctx), &segs, tomb, queries, &p)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(got(&res), want, "{label}: Gpu r={radius} k={k:?}");
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x1de_5ea2c4),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// PDQ (256-bit): random and clustered, radii 0..=64, 0..600 codes in 1-3 segments,
    /// some removed.
    #[test]
    fn pdq_paths_equal_oracle(seed in any::<u64>(), n in prop_oneof![Just(0usize), Just(1), 0usize..600],
                              nq in 1usize..24, radius in 0u32..=64, clustered in any::<bool>(),
                              k in prop_oneof![Just(None), (0usize..6).prop_map(Some)],
                              cut_a in 0usize..600, cut_b in 0usize..600, dead_seed in any::<u64>()) {
        let (codes, queries) = data::<4>(seed, n, nq, clustered);
        let mut cuts = vec![cut_a.min(cut_b), cut_a.max(cut_b)];
        cuts.dedup();
        let mut rng = Rng(dead_seed);
        let dead: Vec<u64> = (0..n.div_ceil(64)).map(|_| rng.next() & rng.next() & rng.next()).collect();
        check_all(&codes, &queries, radius, k, &dead, &cuts, &format!("pdq seed {seed}"));
        check_all(&codes, &queries, radius, k, &[], &[], &format!("pdq seed {seed} one segment"));
    }

    /// pHash (64-bit): same properties, radii 0..=64.
    #[test]
    fn phash_paths_equal_oracle(seed in any::<u64>(), n in prop_oneof![Just(0usize), Just(1), 0usize..600],
                                nq in 1usize..24, radius in 0u32..=64, clustered in any::<bool>(),
                                k in prop_oneof![Just(None), (0usize..6).prop_map(Some)],
                                cut in 0usize..600) {
        let (codes, queries) = data::<1>(seed, n, nq, clustered);
        check_all(&codes, &queries, radius, k, &[], &[cut], &format!("phash seed {seed}"));
    }

    /// Dihedral: 8 variants per image; each entry once, with its best variant.
    #[test]
    fn dihedral_best_variant(seed in any::<u64>(), n in 0usize..400, radius in 0u32..=64,
                             k in prop_oneof![Just(None), (1usize..5).prop_map(Some)]) {
        let (codes, variants) = data::<4>(seed, n, 8 * 3, true);
        let images: Vec<[[u64; 4]; 8]> = variants.chunks(8).map(|c| std::array::from_fn(|i| c[i])).collect();
        let tables = vec![MihTables::build(&codes)];
        let segs = segments(&codes, &[], &tables);
        for backend in [Backend::Scan, Backend::Auto, Backend::Gpu] {
            let ctx = gpu();
            if backend == Backend::Gpu && ctx.is_none() {
                continue;
            }
            let p = Params { radius, k, backend, kernel: Kernel::best() };
            let res = search::search_dihedral_with(ctx, &segs, Tombstones::default(), &images, &p).unwrap();
            for (img, hits) in images.iter().zip(&res) {
                // Oracle: best (distance, variant) per entry over the 8 variants.
                let mut want: Vec<(u32, u64, u8)> = Vec::new();
                for (id, c) in codes.iter().enumerate() {
                    let best = img.iter().enumerate()
                        .map(|(v, q)| (vigil::index::kernel::distance(q, c), v as u8))
                        .min().unwrap();
                    if best.0 <= radius {
                        want.push((best.0, id as u64, best.1));
                    }
                }
                want.sort_unstable_by_key(|&(d, id, _)| (d, id));
                if let Some(k) = k { want.truncate(k); }
                let have: Vec<(u32, u64, u8)> = hits.iter().map(|h| (h.distance, h.id, h.variant)).collect();
                prop_assert_eq!(have, want);
            }
        }
    }
}

/// Large enough to take the scan's parallel paths (codes split across threads for few
/// queries; queries split for many) and the planner's MIH choice.
#[test]
fn large_segment_both_parallel_paths() {
    let (codes, queries) = data::<4>(7, 40_000, 64, true);
    let dead: Vec<u64> = (0..40_000u64.div_ceil(64))
        .map(|i| i.wrapping_mul(0x9e37_79b9) & 0x0101_0101)
        .collect();
    for radius in [0, 8, 31, 32, 47, 64] {
        for nq in [1, 3, 64] {
            for k in [None, Some(3)] {
                check_all(
                    &codes,
                    &queries[..nq],
                    radius,
                    k,
                    &dead,
                    &[25_000],
                    &format!("large nq={nq}"),
                );
            }
        }
    }
}

/// The planner's choice never changes results: on data where it picks MIH for some queries
/// and the scan for others (clustered lists make MIH's candidate count large), Auto equals
/// both forced paths, and both choices really occur.
#[test]
fn planner_choice_never_changes_results() {
    let (mut codes, mut queries) = data::<4>(11, 20_000, 40, false);
    // A dense cluster: queries near it have thousands of candidates.
    let mut rng = Rng(5);
    let centre: [u64; 4] = rng.code();
    for c in codes.iter_mut().take(8_000) {
        let f = rng.below(20) as u32;
        *c = rng.flip(&centre, f);
    }
    for q in queries.iter_mut().take(10) {
        let f = rng.below(10) as u32;
        *q = rng.flip(&centre, f);
    }
    let tables = [MihTables::build(&codes)];
    let segs = segments(&codes, &[], &tables);
    let radius = 31;
    let plans: Vec<Plan> = queries
        .iter()
        .map(|q| search::plan(Backend::Auto, &segs[0], q, radius).unwrap())
        .collect();
    assert!(
        plans.contains(&Plan::Mih) && plans.contains(&Plan::Scan),
        "{plans:?}"
    );
    let run = |backend| {
        let p = Params {
            radius,
            k: None,
            backend,
            kernel: Kernel::best(),
        };
        got(&search::search(&segs, Tombstones::default(), &queries, &p).unwrap())
    };
    let want = expected(&codes, &queries, radius, None, &[]);
    assert_eq!(run(Backend::Auto), want);
    assert_eq!(run(Backend::Scan), want);
    assert_eq!(run(Backend::Mih), want);
}

/// `Backend::Gpu` without a GPU context is refused, not silently answered by another path.
#[test]
fn gpu_backend_without_a_context_is_refused() {
    let codes = [[1u64; 4]];
    let segs = [Segment {
        first_id: 0,
        codes: &codes,
        mih: None,
    }];
    let p = Params {
        radius: 31,
        k: None,
        backend: Backend::Gpu,
        kernel: Kernel::Scalar,
    };
    assert_eq!(
        search::search(&segs, Tombstones::default(), &codes, &p),
        Err(SearchError::Unavailable("gpu"))
    );
}

/// Planted near-duplicates at every distance 0..=40 are found at exactly the radii that
/// include them, by every path.
#[test]
fn planted_distances_found_at_their_radius() {
    let mut rng = Rng(3);
    let q: [u64; 4] = rng.code();
    let mut codes: Vec<[u64; 4]> = (0..5_000).map(|_| rng.code()).collect();
    for d in 0..=40u32 {
        codes[(d as usize) * 97] = rng.flip(&q, d);
    }
    let tables = [MihTables::build(&codes)];
    let segs = segments(&codes, &[], &tables);
    for radius in [0, 1, 15, 16, 31, 40] {
        for backend in [Backend::Scan, Backend::Mih, Backend::Auto] {
            let p = Params {
                radius,
                k: None,
                backend,
                kernel: Kernel::best(),
            };
            let hits = &search::search(&segs, Tombstones::default(), &[q], &p).unwrap()[0];
            let planted: Vec<u32> = hits
                .iter()
                .filter(|h| h.id % 97 == 0 && h.id <= 40 * 97)
                .map(|h| h.distance)
                .collect();
            assert_eq!(
                planted,
                (0..=radius).collect::<Vec<_>>(),
                "{backend:?} r={radius}"
            );
        }
    }
}
