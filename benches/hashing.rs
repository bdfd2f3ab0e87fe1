//! Hashing benchmarks (criterion): PDQ from decoded RGB at 64×64, 512×512, 1600×1004 and
//! 4032×3024 (the oracle and the default CPU path), pHash from decoded RGB (the default CPU
//! path, at each SIMD level, and the scalar oracle it must equal, at landscape sizes where
//! Pillow resizes horizontally first and at a tall 1000×3000 where it goes vertically first),
//! and decode plus hash of a JPEG.
//!
//! Inputs are synthetic photo-like buffers (`vigil::synth`, pattern `blocks`), so no data
//! files are needed except the JPEG, which is the bundled reference photo (1600×1004).
//! Run: `cargo bench --bench hashing` (add `-- pdq/default` to filter). One thread: these are
//! per-core figures; the `vigil hash` throughput over a folder is measured by
//! `scripts/compare-python.sh`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vigil::synth::{self, Pattern};
use vigil::{HashOptions, pdq, phash};

const SIZES: [(u32, u32); 4] = [(64, 64), (512, 512), (1600, 1004), (4032, 3024)];

fn bench_pdq(c: &mut Criterion) {
    let mut g = c.benchmark_group("pdq");
    for (w, h) in SIZES {
        let img = synth::image(Pattern::Blocks, w, h, 3);
        g.bench_function(format!("default/{w}x{h}"), |b| {
            b.iter(|| pdq::hash(black_box(&img.view())))
        });
        if w * h <= 1600 * 1004 {
            g.bench_function(format!("oracle/{w}x{h}"), |b| {
                b.iter(|| pdq::oracle::hash(black_box(&img.view())))
            });
        }
    }
    let img = synth::image(Pattern::Blocks, 1600, 1004, 3);
    g.bench_function("dihedral/1600x1004", |b| {
        b.iter(|| pdq::hash_dihedral(black_box(&img.view())))
    });
    g.finish();
}

fn bench_phash(c: &mut Criterion) {
    let mut g = c.benchmark_group("phash");
    for (w, h) in [(512, 512), (1600, 1004), (4032, 3024), (1000, 3000)] {
        let img = synth::image(Pattern::Blocks, w, h, 3);
        g.bench_function(format!("default/{w}x{h}"), |b| {
            b.iter(|| phash::hash(black_box(&img.view())))
        });
        for level in vigil::simd::available() {
            g.bench_function(format!("{}/{w}x{h}", level.name()), |b| {
                b.iter(|| phash::hash_at(black_box(&img.view()), level))
            });
        }
        g.bench_function(format!("oracle/{w}x{h}"), |b| {
            b.iter(|| phash::hash_oracle(black_box(&img.view())))
        });
    }
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    let jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"
    ))
    .expect("bundled reference JPEG");
    let mut g = c.benchmark_group("decode");
    let opts = HashOptions::default();
    g.bench_function("jpeg-1600x1004", |b| {
        b.iter(|| vigil::decode::decode(black_box(&jpeg), &opts.decode).unwrap())
    });
    g.bench_function("jpeg-1600x1004+pdq", |b| {
        b.iter(|| vigil::hash_bytes(black_box(&jpeg), &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_pdq, bench_phash, bench_decode);
criterion_main!(benches);
