//! The GPU Hamming range scan (`shaders/hamming_scan.wgsl`) against a brute-force scan, hit set
//! for hit set: 256- and 64-bit codes, random and clustered data (planted near-duplicates at
//! every distance), radii 0 to 64 (256-bit) and 0 to 16 (64-bit), an empty and a one-entry
//! database, and hit buffers far too small for the hits (every hit must still come back).
//! Runs on lavapipe in CI (`VIGIL_GPU_TESTS=require`).

mod common;

use common::gpu_engine;
use vigil::gpu::GpuHit;
use vigil::synth::mix32;

fn brute<const W: usize>(db: &[[u64; W]], queries: &[[u64; W]], radius: u32) -> Vec<GpuHit> {
    let mut out = Vec::new();
    for (q, query) in queries.iter().enumerate() {
        for (e, code) in db.iter().enumerate() {
            let d: u32 = query
                .iter()
                .zip(code)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            if d <= radius {
                out.push(GpuHit {
                    query: q as u32,
                    entry: e as u32,
                    distance: d,
                });
            }
        }
    }
    out.sort_unstable();
    out
}

fn word(seed: u32) -> u64 {
    u64::from(mix32(seed)) | u64::from(mix32(seed ^ 0x9e37_79b9)) << 32
}

fn random_codes<const W: usize>(n: usize, seed: u32) -> Vec<[u64; W]> {
    (0..n)
        .map(|i| {
            std::array::from_fn(|w| word(seed ^ ((i * W + w) as u32).wrapping_mul(2_654_435_761)))
        })
        .collect()
}

/// `code` with `bits` distinct bits flipped (positions from `seed`).
fn flip<const W: usize>(code: [u64; W], bits: u32, seed: u32) -> [u64; W] {
    let mut out = code;
    let mut flipped = 0;
    let mut k = 0u32;
    while flipped < bits {
        let pos = (mix32(seed ^ k.wrapping_mul(0x85eb_ca6b)) as usize) % (64 * W);
        k += 1;
        if (out[pos / 64] ^ code[pos / 64]) >> (pos % 64) & 1 == 0 {
            out[pos / 64] ^= 1 << (pos % 64);
            flipped += 1;
        }
    }
    out
}

/// Random codes plus, for each query, copies at distances 0, 1, …, up to `max_d`.
fn clustered<const W: usize>(
    n: usize,
    queries: &[[u64; W]],
    max_d: u32,
    seed: u32,
) -> Vec<[u64; W]> {
    let mut db = random_codes::<W>(n, seed);
    for (q, query) in queries.iter().enumerate() {
        for d in 0..=max_d {
            db.push(flip(*query, d, seed ^ (q as u32) << 8 ^ d));
        }
    }
    // Interleave so planted codes are spread over the chunk.
    let len = db.len();
    for i in 0..len {
        let j = mix32(seed ^ i as u32) as usize % len;
        db.swap(i, j);
    }
    db
}

#[test]
fn pdq_codes_equal_brute_force_at_every_radius() {
    let Some(engine) = gpu_engine() else { return };
    let gpu = engine.gpu().expect("GPU engine");
    let queries = random_codes::<4>(70, 7); // more than one 64-query block
    let db = clustered::<4>(3000, &queries, 64, 11);
    let up = gpu.upload_codes(&db).expect("upload");
    assert_eq!(up.len(), db.len());
    for radius in [0, 1, 8, 16, 31, 32, 40, 63, 64] {
        let got = gpu.hamming_range(&up, &queries, radius).expect("scan");
        let want = brute(&db, &queries, radius);
        assert!(!want.is_empty(), "radius {radius}: planted hits");
        assert_eq!(got, want, "radius {radius}");
    }
    // Unrelated random codes sit ~128 bits apart: a wide radius hits a large share of them.
    let got = gpu.hamming_range(&up, &queries[..3], 120).expect("scan");
    assert_eq!(got, brute(&db, &queries[..3], 120));
}

#[test]
fn phash_codes_equal_brute_force() {
    let Some(engine) = gpu_engine() else { return };
    let gpu = engine.gpu().expect("GPU engine");
    let queries = random_codes::<1>(65, 3);
    let db = clustered::<1>(5000, &queries, 16, 5);
    let up = gpu.upload_codes(&db).expect("upload");
    for radius in [0, 4, 10, 16, 32] {
        let got = gpu.hamming_range(&up, &queries, radius).expect("scan");
        assert_eq!(got, brute(&db, &queries, radius), "radius {radius}");
    }
}

#[test]
fn empty_one_entry_and_overflowing_hit_buffers() {
    let Some(engine) = gpu_engine() else { return };
    let gpu = engine.gpu().expect("GPU engine");
    let queries = random_codes::<4>(5, 21);
    let empty = gpu.upload_codes::<4>(&[]).expect("upload");
    assert!(
        gpu.hamming_range(&empty, &queries, 64)
            .expect("scan")
            .is_empty()
    );
    let one = gpu.upload_codes(&[queries[2]]).expect("upload");
    assert_eq!(
        gpu.hamming_range(&one, &queries, 0).expect("scan"),
        vec![GpuHit {
            query: 2,
            entry: 0,
            distance: 0
        }]
    );
    assert!(
        gpu.hamming_range::<4>(&one, &[], 64)
            .expect("scan")
            .is_empty()
    );

    // 3 slots for thousands of hits: the chunk is run again with room for all of them.
    let db = clustered::<4>(2000, &queries, 40, 23);
    let up = gpu.upload_codes(&db).expect("upload");
    gpu.set_hit_capacity(3);
    let got = gpu.hamming_range(&up, &queries, 130).expect("scan");
    gpu.set_hit_capacity(1 << 16);
    let want = brute(&db, &queries, 130);
    assert!(want.len() > 1000, "{} hits", want.len());
    assert_eq!(got, want);
}
