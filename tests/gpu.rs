//! The GPU backend against the scalar oracle, bit for bit: hash, quality and dihedral hashes
//! on ThreatExchange's synthetic cases and reference images, on 1,200 generated images of
//! varied sizes and layouts, batched and one at a time, plus the engine's counters, its
//! device-loss fallback, check mode and `vigil hash --backend gpu`.
//!
//! Without an adapter these tests print "skipped: no GPU adapter" and pass, unless
//! `VIGIL_GPU_TESTS=require` (set by `.ci/run`, which installs lavapipe), where they fail.
//! On lavapipe every comparison is exact, including the degenerate synthetic cases (flat,
//! 8×300, 31×17) whose hash is decided by float rounding noise: the kernels keep the oracle's
//! operation order everywhere, so no tolerance is needed.

mod common;

use std::path::Path;
use std::process::Command;

use common::{csv_rows, data_dir, gpu_engine, only_gpu};
use vigil::decode::{self, DecodeOptions};
use vigil::pdq::{self, PdqDihedral, PdqOutput, oracle};
use vigil::synth::{self, Pattern, mix32};
use vigil::{Backend, Engine, ImageView, PdqHash, RgbImage};

fn gpu_hashes(engine: &Engine, views: &[ImageView<'_>]) -> Vec<PdqOutput> {
    engine
        .hash_batch(views)
        .into_iter()
        .map(|r| r.expect("GPU engine hashes every image"))
        .collect()
}

fn gpu_dihedrals(engine: &Engine, views: &[ImageView<'_>]) -> Vec<PdqDihedral> {
    engine
        .hash_batch_dihedral(views)
        .into_iter()
        .map(|r| r.expect("GPU engine hashes every image"))
        .collect()
}

/// Assert the GPU results equal the oracle's, naming the first differing image.
fn assert_same_as_oracle(
    label: &str,
    names: &[String],
    views: &[ImageView<'_>],
    got: &[PdqOutput],
) {
    assert_eq!(got.len(), views.len());
    for ((name, v), g) in names.iter().zip(views).zip(got) {
        let want = oracle::hash(v);
        assert_eq!(
            g.hash,
            want.hash,
            "{label} {name} ({}x{}): {} bits differ",
            v.width(),
            v.height(),
            g.hash.distance(&want.hash)
        );
        assert_eq!(g.quality, want.quality, "{label} {name}: quality");
    }
}

#[test]
fn synthetic_cases_equal_oracle_and_cpp() {
    let Some(engine) = gpu_engine() else { return };
    engine.set_check(true);
    let path = data_dir().join("threatexchange/derived/synthetic/synthetic-expected.csv");
    let rows = csv_rows(&path);
    assert!(rows.len() >= 24);
    let images: Vec<RgbImage> = rows
        .iter()
        .map(|r| {
            synth::image(
                Pattern::from_name(&r["pattern"]).unwrap(),
                r["width"].parse().unwrap(),
                r["height"].parse().unwrap(),
                r["seed"].parse().unwrap(),
            )
        })
        .collect();
    let views: Vec<ImageView<'_>> = images.iter().map(RgbImage::view).collect();
    let names: Vec<String> = rows.iter().map(|r| r["name"].clone()).collect();
    let got = gpu_hashes(&engine, &views);
    assert_same_as_oracle("synthetic", &names, &views, &got);
    let dih = gpu_dihedrals(&engine, &views);
    for ((row, g), d) in rows.iter().zip(&got).zip(&dih) {
        let name = &row["name"];
        // The oracle matches the C++ reference on every case (tests/pdq_golden.rs), so the
        // GPU does too; asserted directly here so a failure names the upstream value.
        let want: PdqHash = row["cpp_hash"].parse().unwrap();
        assert_eq!(g.hash, want, "{name}: cpp_hash");
        assert_eq!(
            g.quality.to_string(),
            row["cpp_quality"],
            "{name}: cpp_quality"
        );
        for (k, variant) in pdq::DIHEDRAL_NAMES.iter().enumerate() {
            let want: PdqHash = row[&format!("dih_{variant}")].parse().unwrap();
            assert_eq!(d.hashes[k], want, "{name}: dih_{variant}");
        }
        assert_eq!(d.quality, g.quality, "{name}: dihedral quality");
    }
    let c = engine.counters();
    assert_eq!(c.check_mismatches, 0, "VIGIL_CHECK_GPU found no difference");
    only_gpu(c, 2 * rows.len() as u64);
}

#[test]
fn reference_images_equal_oracle_and_upstream() {
    let Some(engine) = gpu_engine() else { return };
    let root = data_dir().join("threatexchange");
    let rows = csv_rows(&root.join("derived/pdq-expected.csv"));
    let mut names = Vec::new();
    let mut images = Vec::new();
    let mut want_ref = Vec::new();
    for row in &rows {
        let bytes = std::fs::read(root.join(&row["file"])).expect("test image");
        let d = decode::decode(&bytes, &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", row["file"]));
        names.push(row["file"].clone());
        want_ref.push((row["pdq_ref_hash"].clone(), row["pdq_ref_quality"].clone()));
        images.push(d.rgb);
    }
    assert_eq!(images.len(), 35, "every image row of pdq-expected.csv");
    let views: Vec<ImageView<'_>> = images.iter().map(RgbImage::view).collect();
    let got = gpu_hashes(&engine, &views);
    assert_same_as_oracle("reference", &names, &views, &got);
    for ((name, g), (h, q)) in names.iter().zip(&got).zip(&want_ref) {
        assert_eq!(g.hash.to_string(), *h, "{name}: pdq_ref_hash");
        assert_eq!(g.quality.to_string(), *q, "{name}: pdq_ref_quality");
    }
    only_gpu(engine.counters(), images.len() as u64);
}

/// Deterministic images of varied sizes: mostly small (lavapipe is slow), some up to 700 per
/// side, every pattern, some grey, and the boundary sizes 64×64 (copied unblurred), 5×5,
/// 128/129 (window 1 → 2), 256/257 (2 → 3), and rows of 4096 (window 32, the widest the row
/// kernel stages in workgroup memory) and beyond (windows 33 and 40 walk global memory).
fn generated_set(count: u32) -> Vec<(String, RgbImage, bool)> {
    let mut out = Vec::new();
    let fixed = [
        (64, 64),
        (5, 5),
        (5, 700),
        (700, 5),
        (128, 129),
        (129, 128),
        (256, 257),
        (257, 256),
        (63, 65),
        (64, 65),
        (4096, 6),
        (4097, 5),
        (5000, 33),
        (7, 5000),
    ];
    for i in 0..count {
        let r = mix32(i.wrapping_mul(2_654_435_761) ^ 0x5eed);
        let (w, h) = if let Some(&wh) = fixed.get(i as usize) {
            wh
        } else if r % 10 == 0 {
            (161 + mix32(r) % 540, 161 + mix32(r ^ 1) % 540)
        } else {
            (5 + mix32(r) % 156, 5 + mix32(r ^ 1) % 156)
        };
        let pattern = [Pattern::Blocks, Pattern::Gradient, Pattern::Noise][(r >> 8) as usize % 3];
        let grey = (r >> 12) % 5 == 0;
        let img = synth::image(pattern, w, h, r);
        out.push((format!("#{i} {pattern:?} {w}x{h} grey={grey}"), img, grey));
    }
    out
}

fn grey_of(img: &RgbImage) -> Vec<u8> {
    img.data.iter().step_by(3).copied().collect()
}

#[test]
fn generated_images_equal_oracle_batched_and_one_by_one() {
    let Some(engine) = gpu_engine() else { return };
    let set = generated_set(1200);
    let greys: Vec<Vec<u8>> = set.iter().map(|(_, img, _)| grey_of(img)).collect();
    let views: Vec<ImageView<'_>> = set
        .iter()
        .zip(&greys)
        .map(|((_, img, grey), g)| {
            if *grey {
                ImageView::luma8(g, img.width, img.height, img.width as usize).unwrap()
            } else {
                img.view()
            }
        })
        .collect();
    let names: Vec<String> = set.iter().map(|(n, _, _)| n.clone()).collect();
    assert!(
        views
            .iter()
            .any(|v| v.layout() == vigil::PixelLayout::Luma8)
    );
    assert!(
        views
            .iter()
            .filter(|v| v.width() > 160 || v.height() > 160)
            .count()
            > 50
    );

    let got = gpu_hashes(&engine, &views);
    assert_same_as_oracle("generated", &names, &views, &got);
    only_gpu(engine.counters(), views.len() as u64);

    // One at a time, and a mixed-size sub-batch, give the same results as the big batch.
    for (k, v) in views.iter().enumerate().take(40) {
        assert_eq!(
            gpu_hashes(&engine, std::slice::from_ref(v))[0],
            got[k],
            "{}",
            names[k]
        );
    }
    // Small chunks: many submissions in flight in turn through both upload and readback
    // buffers (the pipelined path), with the same results.
    let gpu = engine.gpu().expect("GPU engine");
    let default_chunk = gpu.chunk_pixels();
    gpu.set_chunk_pixels(60_000);
    assert_eq!(gpu.chunk_pixels(), 60_000);
    let chunked = gpu_hashes(&engine, &views[..300]);
    gpu.set_chunk_pixels(default_chunk);
    for (k, g) in chunked.iter().enumerate() {
        assert_eq!(*g, got[k], "small chunks: {}", names[k]);
    }

    let picks: Vec<usize> = (0..views.len()).step_by(37).collect();
    let sub: Vec<ImageView<'_>> = picks.iter().map(|&k| views[k]).collect();
    let sub_got = gpu_hashes(&engine, &sub);
    for (j, &k) in picks.iter().enumerate() {
        assert_eq!(sub_got[j], got[k], "{}", names[k]);
    }

    // Dihedral hashes of a slice of the set.
    let dih = gpu_dihedrals(&engine, &views[..100]);
    for ((v, d), name) in views.iter().zip(&dih).zip(&names) {
        assert_eq!(*d, oracle::hash_dihedral(v), "{name}: dihedral");
    }
    let c = engine.counters();
    assert_eq!((c.cpu, c.scalar, c.gpu_fallback_cpu), (0, 0, 0));
}

#[test]
fn device_loss_rehashes_on_the_cpu() {
    let Some(engine) = gpu_engine() else { return };
    let imgs: Vec<RgbImage> = (0..6)
        .map(|i| synth::image(Pattern::Blocks, 40 + i * 30, 90 - i * 7, i))
        .collect();
    let views: Vec<ImageView<'_>> = imgs.iter().map(RgbImage::view).collect();
    let names: Vec<String> = (0..views.len()).map(|i| format!("#{i}")).collect();
    let before = gpu_hashes(&engine, &views);
    only_gpu(engine.counters(), 6);
    engine.simulate_device_loss();
    assert!(engine.gpu().unwrap().is_lost());
    let after = gpu_hashes(&engine, &views);
    assert_same_as_oracle("after device loss", &names, &views, &after);
    assert_eq!(before, after);
    let dih = gpu_dihedrals(&engine, &views);
    assert_eq!(dih[3], oracle::hash_dihedral(&views[3]));
    let c = engine.counters();
    assert_eq!((c.gpu, c.gpu_fallback_cpu, c.cpu), (6, 12, 0));
}

#[test]
fn oversize_and_tiny_images_are_routed_and_counted() {
    let Some(engine) = gpu_engine() else { return };
    // A side over 32,767 would need a box window over 256: the CPU path takes it.
    let wide = synth::image(Pattern::Gradient, 32_768, 5, 1);
    let tiny = synth::image(Pattern::Noise, 4, 9, 2);
    let normal = synth::image(Pattern::Noise, 30, 20, 3);
    let views = [wide.view(), tiny.view(), normal.view()];
    let got = gpu_hashes(&engine, &views);
    assert_eq!(got[0], oracle::hash(&views[0]));
    assert_eq!(
        got[1],
        PdqOutput {
            hash: PdqHash::ZERO,
            quality: 0
        }
    );
    assert_eq!(got[2], oracle::hash(&views[2]));
    let c = engine.counters();
    assert_eq!(
        (c.gpu, c.gpu_fallback_cpu),
        (2, 1),
        "tiny counted as gpu, wide as fallback"
    );
}

#[test]
fn auto_takes_only_hardware_and_cpu_scalar_agree() {
    let auto = Engine::new(Backend::Auto).expect("auto never fails");
    let hardware = vigil::gpu::adapters()
        .iter()
        .any(|a| a.hardware && a.compute);
    assert_eq!(
        auto.backend_name(),
        if hardware { "gpu" } else { "cpu" },
        "{}",
        auto.description()
    );
    if let Some(ctx) = auto.gpu() {
        assert!(ctx.adapter().hardware);
    }
    let img = synth::image(Pattern::Blocks, 100, 77, 9);
    let want = oracle::hash(&img.view());
    for b in [Backend::Auto, Backend::Cpu, Backend::Scalar] {
        let e = Engine::new(b).unwrap();
        assert_eq!(
            e.hash_batch(&[img.view()])[0].clone().unwrap(),
            want,
            "{b:?}"
        );
    }
    let cpu = Engine::new(Backend::Cpu).unwrap();
    cpu.hash_batch(&[img.view(), img.view()]);
    assert_eq!(cpu.counters().cpu, 2);
    let scalar = Engine::new(Backend::Scalar).unwrap();
    scalar.hash_batch_dihedral(&[img.view()]);
    assert_eq!(scalar.counters().scalar, 1);
}

fn vigil_hash(dir: &Path, backend: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["hash", "-q", "--dihedral", "--backend", backend])
        .arg(dir)
        .output()
        .expect("run vigil");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_backend_gpu_prints_the_scalar_records() {
    if gpu_engine().is_none() {
        return;
    }
    let dir = data_dir().join("threatexchange/pdq/data/bridge-mods");
    let (code_s, scalar, err_s) = vigil_hash(&dir, "scalar");
    assert_eq!(code_s, 0, "{err_s}");
    let (code_g, gpu, err_g) = vigil_hash(&dir, "gpu");
    assert_eq!(code_g, 0, "{err_g}");
    assert_eq!(scalar.lines().count(), 9, "header + 8 images:\n{scalar}");
    assert!(scalar.contains("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"));
    assert_eq!(gpu, scalar);
}

#[test]
fn cli_backend_gpu_without_adapter_is_fatal() {
    // DX12 does not exist on Linux, so wgpu finds no adapter at all.
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = data_dir().join("threatexchange/pdq/data/bridge-mods");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["hash", "-q", "--backend", "gpu"])
        .arg(&dir)
        .env("WGPU_BACKEND", "dx12")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("no GPU adapter"), "{err}");
}

/// Timing on whatever adapter is found (lavapipe in CI: a correctness target, not a GPU
/// figure). Run with `cargo test --release --test gpu -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn timing_gpu_vs_cpu() {
    let Some(engine) = gpu_engine() else { return };
    let cpu = Engine::new(Backend::Cpu).unwrap();
    for (w, h, n) in [(160, 120, 400), (640, 480, 100), (1600, 1004, 20)] {
        let imgs: Vec<RgbImage> = (0..n)
            .map(|i| synth::image(Pattern::Noise, w, h, i))
            .collect();
        let views: Vec<ImageView<'_>> = imgs.iter().map(RgbImage::view).collect();
        gpu_hashes(&engine, &views[..1]);
        let t = std::time::Instant::now();
        let g = gpu_hashes(&engine, &views);
        let tg = t.elapsed();
        let t = std::time::Instant::now();
        let c: Vec<PdqOutput> = cpu
            .hash_batch(&views)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let tc = t.elapsed();
        assert_eq!(g, c);
        println!(
            "{w}x{h} x{n}: gpu ({}) {:.1} ms/image, cpu (rayon, {} threads) {:.2} ms/image",
            engine.gpu().unwrap().adapter().name,
            tg.as_secs_f64() * 1e3 / f64::from(n),
            rayon::current_num_threads(),
            tc.as_secs_f64() * 1e3 / f64::from(n)
        );
    }
}

/// `hash_decoded_batch` (what `vigil hash` uses with a GPU engine) equals hashing each file on
/// its own with the oracle, for every algorithm, compat mode and dihedral setting, on a batch
/// mixing sizes, grey, RGBA and CMYK sources.
#[test]
fn decoded_batches_equal_single_files_in_every_mode() {
    let Some(engine) = gpu_engine() else { return };
    let scalar = Engine::new(Backend::Scalar).unwrap();
    let root = data_dir().join("threatexchange/pdq/data");
    let files = [
        "bridge-mods/aaa-orig.jpg",
        "misc-images/modes/L.png",
        "misc-images/c.png",
        "misc-images/modes/CMYK.jpg",
        "misc-images/wee.jpg",
        "reg-test-input/labelme-subset/q0003.jpg",
    ];
    let decoded: Vec<vigil::decode::Decoded> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(root.join(f)).unwrap();
            decode::decode(&bytes, &DecodeOptions::default()).unwrap()
        })
        .collect();
    let refs: Vec<&vigil::decode::Decoded> = decoded.iter().collect();
    for compat in [vigil::Compat::Full, vigil::Compat::Cli512] {
        for dihedral in [false, true] {
            let opts = vigil::HashOptions {
                algorithms: vigil::Algorithms {
                    pdq: true,
                    phash: true,
                },
                dihedral,
                compat,
                decode: DecodeOptions::default(),
            };
            let batch = vigil::hash_decoded_batch(&refs, &opts, &engine);
            for ((f, d), got) in files.iter().zip(&decoded).zip(&batch) {
                let want = vigil::hash_decoded_with(d, &opts, &scalar);
                let what = format!("{f} {compat:?} dihedral={dihedral}");
                assert_eq!(got.pdq, want.pdq, "{what}");
                assert_eq!(got.dihedral, want.dihedral, "{what}");
                assert_eq!(got.phash, want.phash, "{what}");
                assert_eq!(got.pdq_not_applicable, want.pdq_not_applicable, "{what}");
            }
        }
    }
    assert_eq!(engine.counters().gpu_fallback_cpu, 0);
}
