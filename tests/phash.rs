//! pHash (imagehash 4.3.2 flavour) against fixtures from `scripts/phash-fixtures.py`
//! (Pillow 13.0.0, scipy, imagehash 4.3.2): every intermediate is compared bit for bit.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use vigil::ImageView;
use vigil::phash::{self, Dct32, PHash};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/phash")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn mix32(mut v: u32) -> u32 {
    v ^= v >> 16;
    v = v.wrapping_mul(0x7feb_352d);
    v ^= v >> 15;
    v = v.wrapping_mul(0x846c_a68b);
    v ^= v >> 16;
    v
}

fn noise(seed: u32, c: u32, x: u32, y: u32) -> u32 {
    mix32(mix32(mix32(seed.wrapping_mul(4).wrapping_add(c)) ^ y) ^ x)
}

/// Channel `c` of pixel (x, y); mirrors `channel()` in scripts/phash-fixtures.py.
fn channel(kind: &str, seed: u32, c: u32, w: u32, h: u32, x: u32, y: u32) -> u8 {
    let v = match kind {
        "noise" => noise(seed, c, x, y) & 255,
        "gradient" => match c {
            0 => x * 255 / (w - 1).max(1),
            1 => y * 255 / (h - 1).max(1),
            _ => (x + y) * 255 / (w + h - 2).max(1),
        },
        "blocks" => noise(seed, c, x / 16, y / 16) & 255,
        "flat" => mix32(seed * 4 + c) & 255,
        "checker" => (x + y) % 2 * 255,
        _ => panic!("unknown kind {kind}"),
    };
    v as u8
}

/// A synthetic image, tightly packed; 3 bytes per pixel for RGB, 1 for L.
fn make(kind: &str, rgb: bool, seed: u32, w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if rgb {
                out.extend((0..3).map(|c| channel(kind, seed, c, w, h, x, y)));
            } else {
                out.push(channel(kind, seed, 0, w, h, x, y));
            }
        }
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn f64_of(v: &Value) -> f64 {
    f64::from_bits(u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn synthetic_images_match_pillow_scipy_imagehash() {
    let fx = fixture("synthetic.json");
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 100);
    let mut failures = Vec::new();
    for case in cases {
        let kind = case["kind"].as_str().unwrap();
        let rgb = case["mode"] == "RGB";
        let seed = case["seed"].as_u64().unwrap() as u32;
        let (w, h) = (
            case["width"].as_u64().unwrap() as u32,
            case["height"].as_u64().unwrap() as u32,
        );
        let name = format!("{kind} {} {w}x{h} seed {seed}", case["mode"]);
        let data = make(kind, rgb, seed, w, h);
        let view = if rgb {
            ImageView::rgb8(&data, w, h, w as usize * 3)
        } else {
            ImageView::luma8(&data, w, h, w as usize)
        }
        .unwrap();

        let l = phash::pillow_l(&view);
        if hex(&Sha256::digest(&l)) != case["l_sha256"].as_str().unwrap() {
            failures.push(format!("{name}: L bytes differ"));
            continue;
        }
        let small = phash::resize_lanczos_32(&l, w, h);
        let want_small = unhex(case["resized"].as_str().unwrap());
        if small[..] != want_small[..] {
            let n = small
                .iter()
                .zip(&want_small)
                .filter(|(a, b)| a != b)
                .count();
            failures.push(format!("{name}: {n} resized pixels differ"));
            continue;
        }
        let low = phash::low_dct(&small);
        let want_low: Vec<f64> = case["dct_low"]
            .as_array()
            .unwrap()
            .iter()
            .map(f64_of)
            .collect();
        let got_low: Vec<f64> = low.iter().flatten().copied().collect();
        if got_low
            .iter()
            .zip(&want_low)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            failures.push(format!("{name}: DCT bits differ"));
        }
        let got = phash::hash(&view);
        let want: PHash = case["phash"].as_str().unwrap().parse().unwrap();
        if got != want {
            failures.push(format!("{name}: phash {got} != {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn dct32_matches_scipy_bit_for_bit() {
    let fx = fixture("dct32.json");
    let dct = Dct32::new();
    for (i, v) in fx["vectors"].as_array().unwrap().iter().enumerate() {
        let x: Vec<f64> = v["x"].as_array().unwrap().iter().map(f64_of).collect();
        let want: Vec<f64> = v["y"].as_array().unwrap().iter().map(f64_of).collect();
        let got = dct.dct2(&x.try_into().unwrap());
        for k in 0..32 {
            assert_eq!(
                got[k].to_bits(),
                want[k].to_bits(),
                "vector {i} k {k}: {} vs {}",
                got[k],
                want[k]
            );
        }
    }
}

#[test]
fn display_is_imagehash_str() {
    let h: PHash = "ACA29C1C33DC23D7".parse().unwrap();
    assert_eq!(h.to_string(), "aca29c1c33dc23d7");
    assert_eq!(h, PHash(0xaca2_9c1c_33dc_23d7));
}

/// Throwaway cross-check on real images: `PHASH_RAW_DIR` holds `<name>.rgb` files (Pillow's
/// `convert('RGB').tobytes()`) and a `list.tsv` with `name, width, height, expected phash`.
#[test]
#[ignore = "needs PHASH_RAW_DIR with raw RGB dumps"]
fn raw_rgb_dumps() {
    let dir = PathBuf::from(std::env::var("PHASH_RAW_DIR").expect("PHASH_RAW_DIR"));
    let list = std::fs::read_to_string(dir.join("list.tsv")).unwrap();
    let (mut ok, mut bad) = (0, Vec::new());
    for line in list.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (w, h): (u32, u32) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let data = std::fs::read(dir.join(format!("{}.rgb", f[0]))).unwrap();
        let got = phash::hash(&ImageView::rgb8(&data, w, h, w as usize * 3).unwrap());
        if got.to_string() == f[3] {
            ok += 1;
        } else {
            bad.push(format!("{}: {got} != {}", f[0], f[3]));
        }
    }
    println!("{ok} match, {} differ", bad.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any size: the resize has the right length, preserves flat images, and a stride with
    /// padding gives the same hash as a packed buffer.
    #[test]
    fn any_size_is_consistent(w in 1u32..200, h in 1u32..200, seed in 0u32..1000, pad in 0usize..5) {
        let data = make("noise", true, seed, w, h);
        let packed = ImageView::rgb8(&data, w, h, w as usize * 3).unwrap();
        let stride = w as usize * 3 + pad;
        let mut padded = vec![0xAAu8; stride * h as usize];
        for y in 0..h as usize {
            padded[y * stride..][..w as usize * 3].copy_from_slice(&data[y * w as usize * 3..][..w as usize * 3]);
        }
        let view = ImageView::rgb8(&padded, w, h, stride).unwrap();
        prop_assert_eq!(phash::hash(&packed), phash::hash(&view));

        let flat = vec![(seed % 256) as u8; (w * h) as usize];
        let small = phash::resize_lanczos_32(&flat, w, h);
        prop_assert!(small.iter().all(|&p| p == (seed % 256) as u8));
        let want = if seed % 256 == 0 { PHash(0) } else { PHash(1 << 63) };
        prop_assert_eq!(phash::hash_32x32(&small), want);
    }
}
