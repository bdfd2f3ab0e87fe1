//! pHash on the GPU (`Engine::phash_batch`, `GpuContext::phash_resize_batch`) against the CPU,
//! bit for bit: the 32×32 LANCZOS bytes against `phash::resize_lanczos_32` on 600 generated
//! images of varied sizes (1×1 up to 700 per side, very tall and very wide, both of Pillow 13's
//! pass orders, RGB, grey and padded-stride views), the hashes against `phash::hash` and
//! imagehash's column on ThreatExchange's reference images, batched and one at a time, plus
//! the engine's counters, routing and device-loss fallback.
//!
//! Without an adapter these tests print "skipped: no GPU adapter" and pass, unless
//! `VIGIL_GPU_TESTS=require` (set by `.ci/run`, which installs lavapipe), where they fail.
//! The kernels are integer-only, so every comparison is exact on any adapter.

mod common;

use std::process::Command;

use common::{csv_rows, data_dir, gpu_engine, only_gpu};
use vigil::decode::{self, DecodeOptions};
use vigil::phash::{self, lanczos};
use vigil::synth::{self, Pattern, mix32};
use vigil::{Backend, Engine, ImageView, PHash, RgbImage};

fn gpu_phashes(engine: &Engine, views: &[ImageView<'_>]) -> Vec<PHash> {
    engine
        .phash_batch(views)
        .into_iter()
        .map(|r| r.expect("GPU engine hashes every image"))
        .collect()
}

/// The CPU's 32×32 bytes for a view.
fn cpu_small(v: &ImageView<'_>) -> [u8; 1024] {
    phash::resize_lanczos_32(&phash::pillow_l(v), v.width(), v.height())
}

#[test]
fn reference_images_equal_cpu_and_imagehash() {
    let Some(engine) = gpu_engine() else { return };
    let root = data_dir().join("threatexchange");
    let rows = csv_rows(&root.join("derived/pdq-expected.csv"));
    let mut names = Vec::new();
    let mut images = Vec::new();
    let mut want_imagehash = Vec::new();
    for row in &rows {
        let bytes = std::fs::read(root.join(&row["file"])).expect("test image");
        let d = decode::decode(&bytes, &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", row["file"]));
        names.push(row["file"].clone());
        want_imagehash.push(row["imagehash_phash"].clone());
        images.push(d.rgb);
    }
    assert_eq!(images.len(), 35, "every image row of pdq-expected.csv");
    let views: Vec<ImageView<'_>> = images.iter().map(RgbImage::view).collect();
    let got = gpu_phashes(&engine, &views);
    for (((name, v), g), want) in names.iter().zip(&views).zip(&got).zip(&want_imagehash) {
        let cpu = phash::hash(v);
        assert_eq!(
            *g,
            cpu,
            "{name} ({}x{}): {} bits differ from phash::hash",
            v.width(),
            v.height(),
            g.distance(&cpu)
        );
        assert_eq!(g.to_string(), *want, "{name}: imagehash_phash");
    }
    only_gpu(engine.counters(), views.len() as u64);

    // The 32×32 bytes themselves, on a few of them (one 4032×3024, one portrait).
    let ctx = engine.gpu().expect("gpu engine");
    let picks: Vec<usize> = (0..views.len())
        .filter(|&i| {
            names[i].contains("exif-rotn-1") || names[i].contains("rotate-90") || i % 7 == 0
        })
        .collect();
    let sub: Vec<ImageView<'_>> = picks.iter().map(|&i| views[i]).collect();
    let small = ctx.phash_resize_batch(&sub).expect("gpu batch");
    for (&i, s) in picks.iter().zip(&small) {
        assert_eq!(s[..], cpu_small(&views[i])[..], "{}: 32x32 bytes", names[i]);
    }
}

/// Deterministic images of varied sizes: the boundary sizes first, then mostly small ones
/// (lavapipe is slow), a tenth up to 700 per side and a tenth very tall or very wide.
fn generated_set(count: u32) -> Vec<(String, RgbImage)> {
    let fixed = [
        (1, 1),
        (5, 7),
        (31, 33),
        (32, 32),
        (33, 32),
        (32, 33),
        (32, 31),
        (31, 32),
        (1, 32),
        (32, 1),
        (1, 1000),
        (1000, 1),
        (2, 300),
        (300, 2),
        (40, 400),
        (400, 40),
        (32, 500),
        (500, 32),
        (64, 64),
        (100, 75),
        (75, 100),
        (97, 130),
        (130, 97),
        (3, 3),
        (16, 16),
        (64, 97),
        (33, 34),
    ];
    let mut out = Vec::new();
    for i in 0..count {
        let r = mix32(i.wrapping_mul(2_654_435_761) ^ 0x9a5b);
        let (w, h) = if let Some(&wh) = fixed.get(i as usize) {
            wh
        } else {
            match r % 10 {
                0 => (1 + mix32(r) % 700, 1 + mix32(r ^ 1) % 700),
                1 if r & 1024 == 0 => (1 + mix32(r) % 40, 100 + mix32(r ^ 1) % 1500),
                1 => (100 + mix32(r) % 1500, 1 + mix32(r ^ 1) % 40),
                _ => (1 + mix32(r) % 160, 1 + mix32(r ^ 1) % 160),
            }
        };
        let pattern = [Pattern::Blocks, Pattern::Gradient, Pattern::Noise][(r >> 8) as usize % 3];
        let img = synth::image(pattern, w, h, r);
        out.push((format!("#{i} {pattern:?} {w}x{h}"), img));
    }
    out
}

/// How a generated image is viewed: RGB, grey (the red channel), or RGB with padded rows.
enum Layout {
    Rgb,
    Grey(Vec<u8>),
    Padded(Vec<u8>, usize),
}

fn layout_of(i: usize, img: &RgbImage) -> Layout {
    match i % 5 {
        1 => Layout::Grey(img.data.iter().step_by(3).copied().collect()),
        3 => {
            let row = img.width as usize * 3;
            let stride = row + 1 + i % 7;
            let mut data = vec![0xa5u8; stride * img.height as usize];
            for (dst, src) in data
                .chunks_exact_mut(stride)
                .zip(img.data.chunks_exact(row))
            {
                dst[..row].copy_from_slice(src);
            }
            Layout::Padded(data, stride)
        }
        _ => Layout::Rgb,
    }
}

fn view_of<'a>(img: &'a RgbImage, layout: &'a Layout) -> ImageView<'a> {
    match layout {
        Layout::Rgb => img.view(),
        Layout::Grey(g) => ImageView::luma8(g, img.width, img.height, img.width as usize).unwrap(),
        Layout::Padded(d, stride) => ImageView::rgb8(d, img.width, img.height, *stride).unwrap(),
    }
}

#[test]
fn generated_images_equal_cpu_batched_and_one_by_one() {
    let Some(engine) = gpu_engine() else { return };
    let ctx = engine.gpu().expect("gpu engine");
    let set = generated_set(600);
    let layouts: Vec<Layout> = set
        .iter()
        .enumerate()
        .map(|(i, (_, img))| layout_of(i, img))
        .collect();
    let views: Vec<ImageView<'_>> = set
        .iter()
        .zip(&layouts)
        .map(|((_, img), l)| view_of(img, l))
        .collect();
    let names: Vec<String> = set.iter().map(|(n, _)| n.clone()).collect();

    // The set covers both pass orders, identity passes, grey and padded views.
    let both = |v: &ImageView<'_>| v.width() != 32 && v.height() != 32;
    let vfirst = |v: &ImageView<'_>| lanczos::vertical_first(v.width(), v.height(), 32, 32);
    assert!(views.iter().filter(|v| both(v) && vfirst(v)).count() > 50);
    assert!(views.iter().filter(|v| both(v) && !vfirst(v)).count() > 50);
    assert!(views.iter().any(|v| v.width() == 32 && v.height() != 32));
    assert!(views.iter().any(|v| v.height() == 32 && v.width() != 32));
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
            > 60
    );

    let small = ctx.phash_resize_batch(&views).expect("gpu batch");
    assert_eq!(small.len(), views.len());
    let want: Vec<[u8; 1024]> = views.iter().map(cpu_small).collect();
    for ((name, g), w) in names.iter().zip(&small).zip(&want) {
        if g != w {
            let diff = g.iter().zip(w).filter(|(a, b)| a != b).count();
            panic!("{name}: {diff} of the 1024 bytes differ from resize_lanczos_32");
        }
    }

    let got = gpu_phashes(&engine, &views);
    for ((name, v), g) in names.iter().zip(&views).zip(&got) {
        assert_eq!(*g, phash::hash(v), "{name}: phash");
    }
    only_gpu(engine.counters(), views.len() as u64);

    // One at a time, and a mixed-size sub-batch, give the same results as the big batch.
    for (k, v) in views.iter().enumerate().take(40) {
        assert_eq!(
            ctx.phash_resize_batch(std::slice::from_ref(v)).unwrap()[0],
            small[k],
            "{} alone",
            names[k]
        );
        assert_eq!(
            gpu_phashes(&engine, std::slice::from_ref(v))[0],
            got[k],
            "{}",
            names[k]
        );
    }
    let picks: Vec<usize> = (0..views.len()).rev().step_by(13).collect();
    let sub: Vec<ImageView<'_>> = picks.iter().map(|&k| views[k]).collect();
    let sub_got = gpu_phashes(&engine, &sub);
    for (j, &k) in picks.iter().enumerate() {
        assert_eq!(sub_got[j], got[k], "{} in a sub-batch", names[k]);
    }
    only_gpu(engine.counters(), (views.len() + 40 + picks.len()) as u64);
}

#[test]
fn empty_images_and_fits() {
    let Some(engine) = gpu_engine() else { return };
    let ctx = engine.gpu().unwrap();
    assert!(!ctx.phash_fits(0, 5));
    assert!(!ctx.phash_fits(1, 1 << 26));
    assert!(ctx.phash_fits(1, 1));
    assert!(ctx.phash_fits(4032, 3024));
    let img = synth::image(Pattern::Noise, 20, 30, 4);
    let views = [
        ImageView::luma8(&[], 0, 5, 0).unwrap(),
        img.view(),
        ImageView::rgb8(&[], 7, 0, 21).unwrap(),
    ];
    let got = gpu_phashes(&engine, &views);
    assert_eq!(got, vec![PHash(0), phash::hash(&views[1]), PHash(0)]);
    only_gpu(engine.counters(), 3);
}

#[test]
fn device_loss_rehashes_on_the_cpu() {
    let Some(engine) = gpu_engine() else { return };
    let imgs: Vec<RgbImage> = (0..6)
        .map(|i| synth::image(Pattern::Blocks, 40 + i * 30, 90 - i * 7, i))
        .collect();
    let views: Vec<ImageView<'_>> = imgs.iter().map(RgbImage::view).collect();
    let want: Vec<PHash> = views.iter().map(phash::hash).collect();
    assert_eq!(gpu_phashes(&engine, &views), want);
    only_gpu(engine.counters(), 6);
    engine.simulate_device_loss();
    assert_eq!(gpu_phashes(&engine, &views), want);
    let c = engine.counters();
    assert_eq!((c.gpu, c.gpu_fallback_cpu, c.cpu), (6, 6, 0));
}

#[test]
fn check_mode_finds_no_difference() {
    let Some(engine) = gpu_engine() else { return };
    engine.set_check(true);
    let imgs: Vec<RgbImage> = [(1, 1), (33, 32), (40, 400), (400, 40), (250, 170)]
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| synth::image(Pattern::Gradient, w, h, i as u32))
        .collect();
    let views: Vec<ImageView<'_>> = imgs.iter().map(RgbImage::view).collect();
    gpu_phashes(&engine, &views);
    only_gpu(engine.counters(), views.len() as u64);
}

#[test]
fn cpu_and_scalar_engines_hash_on_the_cpu() {
    let img = synth::image(Pattern::Blocks, 100, 77, 9);
    let want = phash::hash(&img.view());
    for (b, field) in [(Backend::Cpu, 0), (Backend::Scalar, 1)] {
        let e = Engine::new(b).unwrap();
        let got: Vec<PHash> = e
            .phash_batch(&[img.view(), img.view()])
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, vec![want, want], "{b:?}");
        let c = e.counters();
        assert_eq!([c.cpu, c.scalar][field], 2, "{b:?}");
        assert_eq!(c.gpu, 0);
    }
}

fn vigil_phash(backend: &str) -> (i32, String, String) {
    let dir = data_dir().join("threatexchange/pdq/data");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["hash", "-q", "--algo", "phash", "--backend", backend])
        .arg(dir)
        .env("VIGIL_CHECK_GPU", "1")
        .output()
        .expect("run vigil");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_phash_backend_gpu_prints_the_scalar_records() {
    if gpu_engine().is_none() {
        return;
    }
    let (code_s, scalar, err_s) = vigil_phash("scalar");
    assert_eq!(code_s, 0, "{err_s}");
    let (code_g, gpu, err_g) = vigil_phash("gpu");
    assert_eq!(code_g, 0, "{err_g}");
    // No image fell back to the CPU, and check mode found no difference.
    assert!(!err_g.contains("instead of the GPU"), "{err_g}");
    assert!(!err_g.contains("VIGIL_CHECK_GPU"), "{err_g}");
    assert!(scalar.lines().count() > 20, "{scalar}");
    assert!(scalar.contains("aca29c1c33dc23d7"), "{scalar}");
    assert_eq!(gpu, scalar);
}
