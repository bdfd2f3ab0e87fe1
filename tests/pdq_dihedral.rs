//! Property tests of the dihedral hashes (computed from one DCT by sign changes and transposes)
//! against hashing the actually transformed pixels:
//! - the transposed image's hash equals the `flipplus1` entry exactly, at any size (the box
//!   filter and decimation of a transpose are the transpose of the original's);
//! - on 64×64 inputs (no blur) all 8 equal the transformed images' hashes exactly;
//! - on photo-like inputs of other sizes each is within 16 bits: even-width box windows and
//!   decimation indices are not mirror-symmetric, so a flip samples slightly different points.

use proptest::prelude::*;
use std::sync::OnceLock;
use vigil::RgbImage;
use vigil::pdq::{self, DIHEDRAL_NAMES, oracle};

use vigil::synth;

/// Apply dihedral variant `k` (order of `DIHEDRAL_NAMES`) to the pixels.
fn transform(img: &RgbImage, k: usize) -> RgbImage {
    let (w, h) = (img.width as usize, img.height as usize);
    let px = |x: usize, y: usize| &img.data[(y * w + x) * 3..][..3];
    let (ow, oh) = if matches!(k, 1 | 3 | 6 | 7) {
        (h, w)
    } else {
        (w, h)
    };
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..oh {
        for x in 0..ow {
            // Source pixel for output (x, y).
            let (sx, sy) = match k {
                0 => (x, y),
                1 => (w - 1 - y, x),         // rot90: 90° counter-clockwise
                2 => (w - 1 - x, h - 1 - y), // rot180
                3 => (y, h - 1 - x),         // rot270: 90° clockwise
                4 => (x, h - 1 - y),         // flipx: top/bottom
                5 => (w - 1 - x, y),         // flipy: left/right
                6 => (y, x),                 // flipplus1: transpose
                _ => (w - 1 - y, h - 1 - x), // flipminus1: anti-transpose
            };
            data.extend_from_slice(px(sx, sy));
        }
    }
    RgbImage {
        width: ow as u32,
        height: oh as u32,
        data,
    }
}

/// The bundled 1600×1004 reference photo, decoded once.
fn photo() -> &'static RgbImage {
    static PHOTO: OnceLock<RgbImage> = OnceLock::new();
    PHOTO.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"
        );
        let bytes = std::fs::read(path).expect("reference photo");
        vigil::decode::decode(&bytes, &Default::default())
            .expect("decodes")
            .rgb
    })
}

/// A `w`×`h` photograph: the reference photo, cropped to a window chosen by `seed` (at least
/// half of each side) and shrunk by area averaging, as a camera or a resize would make it.
fn photo_like(w: u32, h: u32, seed: u32) -> RgbImage {
    let src = photo();
    let cw = src.width / 2 + synth::mix32(seed) % (src.width / 2);
    let ch = src.height / 2 + synth::mix32(seed ^ 0x9e37_79b9) % (src.height / 2);
    let x0 = synth::mix32(seed.wrapping_add(1)) % (src.width - cw + 1);
    let y0 = synth::mix32(seed.wrapping_add(2)) % (src.height - ch + 1);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let (ya, yb) = (y0 + y * ch / h, y0 + ((y + 1) * ch / h).max(y * ch / h + 1));
        for x in 0..w {
            let (xa, xb) = (x0 + x * cw / w, x0 + ((x + 1) * cw / w).max(x * cw / w + 1));
            let n = (yb - ya) * (xb - xa);
            for c in 0..3 {
                let mut sum = 0u32;
                for sy in ya..yb {
                    for sx in xa..xb {
                        sum += u32::from(src.data[((sy * src.width + sx) * 3 + c) as usize]);
                    }
                }
                data.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    RgbImage {
        width: w,
        height: h,
        data,
    }
}

/// The variant names mean what upstream's transformed test photos show: each of
/// `dih/bridge-*.jpg` (the photo rotated or flipped, then JPEG re-encoded) hashes within 8 bits
/// of the original's dihedral entry of that name, and so does our own transform of the pixels.
#[test]
fn variant_names_match_upstreams_transformed_photos() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/threatexchange/pdq/data/reg-test-input/dih/"
    );
    let d = pdq::hash_dihedral(&photo().view());
    for (file, k) in [
        ("bridge-2-rotate-90.jpg", 1),
        ("bridge-3-rotate-180.jpg", 2),
        ("bridge-5-flipx.jpg", 4),
        ("bridge-6-flipy.jpg", 5),
        ("bridge-7-flip-plus-1.jpg", 6),
    ] {
        let bytes = std::fs::read(format!("{dir}{file}")).unwrap();
        let img = vigil::decode::decode(&bytes, &Default::default())
            .unwrap()
            .rgb;
        let dist = pdq::hash(&img.view()).hash.distance(&d.hashes[k]);
        assert!(dist <= 8, "{file} vs {}: {dist} bits", DIHEDRAL_NAMES[k]);
        let ours = pdq::hash(&transform(photo(), k).view()).hash;
        assert!(
            ours.distance(&d.hashes[k]) <= 8,
            "our {}",
            DIHEDRAL_NAMES[k]
        );
    }
}

fn config() -> ProptestConfig {
    // A fixed seed: these are properties of PDQ's float arithmetic, which hold up to rare
    // near-ties with the median, so each run checks the same cases.
    ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x005e_ed0f_d1ed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Both Jarosz windows odd: the box filter is then mirror-symmetric.
fn odd_windows(w: u32, h: u32) -> bool {
    oracle::jarosz_window(w as usize) % 2 == 1 && oracle::jarosz_window(h as usize) % 2 == 1
}

proptest! {
    #![proptest_config(config())]

    /// The transpose runs the two box passes in the other order, which rounds differently by
    /// an ulp here and there; equality is exact unless a DCT value ties the median that
    /// closely, which these photo-like cases never do.
    #[test]
    fn transpose_equals_flipplus1_exactly(w in 5u32..1200, h in 5u32..1200, seed in any::<u32>()) {
        let img = photo_like(w, h, seed);
        let d = pdq::hash_dihedral(&img.view());
        let t = pdq::hash(&transform(&img, 6).view());
        prop_assert_eq!(t.hash, d.hashes[6]);
        prop_assert_eq!(t.quality, d.quality);
    }

    #[test]
    fn all_eight_exact_on_64x64(seed in any::<u32>()) {
        let img = photo_like(64, 64, seed);
        let d = pdq::hash_dihedral(&img.view());
        for (k, name) in DIHEDRAL_NAMES.iter().enumerate() {
            let got = pdq::hash(&transform(&img, k).view()).hash;
            prop_assert_eq!(got, d.hashes[k], "{}", name);
        }
    }

    /// Other sizes with odd Jarosz windows (up to 128, 257..384, 513..640, 769..896 …): every
    /// variant within 16 bits of hashing the transformed pixels. With an even window (129..256,
    /// 385..512 …) a flip shifts the blurred image by a pixel against the decimation grid, and
    /// the distance on photos reaches 40-54 bits: measured, and left to the test below.
    #[test]
    fn all_eight_within_16_bits_with_odd_windows(
        w in 65u32..1200, h in 65u32..1200, seed in any::<u32>(),
    ) {
        prop_assume!(odd_windows(w, h));
        let img = photo_like(w, h, seed);
        let d = pdq::hash_dihedral(&img.view());
        for (k, name) in DIHEDRAL_NAMES.iter().enumerate() {
            let got = pdq::hash(&transform(&img, k).view()).hash;
            let dist = got.distance(&d.hashes[k]);
            prop_assert!(dist <= 16, "{} {}x{}: {} bits", name, w, h, dist);
        }
    }
}

/// Even windows: the dihedral hashes stay related to the transformed images' hashes (far
/// nearer than unrelated hashes, about 128 bits apart), but not within 16 bits.
#[test]
fn even_windows_stay_related_but_not_within_16_bits() {
    let mut worst = 0;
    for seed in 0..40u32 {
        let (w, h) = (
            129 + synth::mix32(seed) % 128,
            129 + synth::mix32(!seed) % 128,
        );
        let img = photo_like(w, h, seed);
        let d = pdq::hash_dihedral(&img.view());
        for k in 0..8 {
            let got = pdq::hash(&transform(&img, k).view()).hash;
            worst = worst.max(got.distance(&d.hashes[k]));
        }
    }
    println!("even windows (129..256 px): worst dihedral distance {worst} bits");
    assert!(
        worst > 16,
        "if this fails, the 16-bit property holds here too: widen it"
    );
    assert!(worst <= 64, "{worst} bits: no longer the same image");
}
