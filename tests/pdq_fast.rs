//! The default CPU path (every SIMD level this machine has) against the scalar oracle:
//! the 64×64 buffers must be equal bit for bit, and so the hashes, qualities and dihedrals.
//!
//! `VIGIL_EXPECT_SIMD=avx2,avx512` makes a level this machine cannot run a failure instead of
//! a silent omission (for CI machines known to have them).

use proptest::prelude::*;
use vigil::pdq::{fast, oracle};
use vigil::simd::{self, Level};
use vigil::synth::{self, Pattern};
use vigil::{ImageView, PixelLayout};

fn levels() -> Vec<Level> {
    let have = simd::available();
    if let Ok(want) = std::env::var("VIGIL_EXPECT_SIMD") {
        for name in want.split(',').filter(|s| !s.is_empty()) {
            assert!(
                have.iter().any(|l| l.name() == name.trim()),
                "VIGIL_EXPECT_SIMD asks for {name}, this CPU has {have:?}"
            );
        }
    }
    have
}

/// Compare every level with the oracle on one view; returns the levels checked.
fn check(view: &ImageView<'_>, what: &str) -> Vec<Level> {
    let want_buf = (view.width() >= 5 && view.height() >= 5).then(|| oracle::image_buffer64(view));
    let want = oracle::hash_dihedral(view);
    let levels = levels();
    for &level in &levels {
        if let Some(want_buf) = &want_buf {
            let got = fast::buffer64_at(view, level);
            for i in 0..64 {
                for j in 0..64 {
                    assert_eq!(
                        got[i][j].to_bits(),
                        want_buf[i][j].to_bits(),
                        "{what} [{}] buf64[{i}][{j}]",
                        level.name()
                    );
                }
            }
        }
        let got = fast::hash_dihedral_at(view, level);
        assert_eq!(got, want, "{what} [{}] dihedral", level.name());
        let plain = fast::hash_at(view, level);
        assert_eq!(plain.hash, want.hashes[0], "{what} [{}] hash", level.name());
        assert_eq!(
            plain.quality,
            want.quality,
            "{what} [{}] quality",
            level.name()
        );
    }
    levels
}

/// An image with `pad` bytes of stride padding per row (filled with junk that must be ignored).
fn padded(
    pattern: Pattern,
    w: u32,
    h: u32,
    seed: u32,
    pad: usize,
    grey: bool,
) -> (Vec<u8>, usize, PixelLayout) {
    let img = synth::image(pattern, w, h, seed);
    let (bpp, layout) = if grey {
        (1, PixelLayout::Luma8)
    } else {
        (3, PixelLayout::Rgb8)
    };
    let row = w as usize * bpp;
    let stride = row + pad;
    let mut data = vec![0xA5u8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let src = &img.data[(y * w as usize + x) * 3..][..3];
            let dst = &mut data[y * stride + x * bpp..][..bpp];
            if grey {
                dst[0] = src[1];
            } else {
                dst.copy_from_slice(src);
            }
        }
    }
    (data, stride, layout)
}

#[test]
fn fixed_sizes_including_edges_and_large() {
    let sizes = [
        (4, 4),
        (5, 5),
        (8, 300),
        (300, 8),
        (63, 65),
        (64, 64),
        (127, 129),
        (128, 128),
        (129, 129),
        (257, 255),
        (513, 511),
        (1600, 1004),
        (4000, 3000),
        // Block and strip edges of the fused AVX-512 path (16 columns, 32 rows, pass 2 over
        // groups of 4 blocks: widths one block, one column and three blocks past a group).
        (80, 33),
        (65, 70),
        (112, 31),
        (16, 32),
        (17, 33),
        (31, 31),
        (33, 97),
        (48, 5),
        (5, 48),
        (1025, 97),
        // Windows over 32 (more than a block of outputs after the last input column).
        (4300, 40),
        (40, 4300),
    ];
    let mut ran = Vec::new();
    for (k, (w, h)) in sizes.into_iter().enumerate() {
        for pattern in [Pattern::Blocks, Pattern::Noise, Pattern::Flat] {
            if w * h > 2_000_000 && pattern != Pattern::Blocks {
                continue;
            }
            let (data, stride, layout) = padded(pattern, w, h, k as u32, 0, false);
            let view = ImageView::new(&data, w, h, stride, layout).unwrap();
            ran = check(&view, &format!("{pattern:?} {w}x{h}"));
        }
    }
    let names: Vec<_> = ran.iter().map(|l| l.name()).collect();
    println!(
        "SIMD levels checked against the oracle: {}",
        names.join(", ")
    );
}

/// Every image row of the reference data, decoded, at every level.
#[test]
fn reference_images_at_every_level() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/threatexchange");
    let list = std::fs::read_to_string(root.join("derived/pdq-expected.csv")).unwrap();
    let mut n = 0;
    for line in list.lines().skip(1) {
        let file = line.split(',').next().unwrap();
        let bytes = std::fs::read(root.join(file)).unwrap();
        let img = vigil::decode::decode(&bytes, &Default::default())
            .unwrap()
            .rgb;
        check(&img.view(), file);
        n += 1;
    }
    assert_eq!(n, 35);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_large_sizes(w in 700u32..4000, h in 700u32..3000, seed in any::<u32>()) {
        let img = synth::image(Pattern::Blocks, w, h, seed);
        check(&img.view(), &format!("blocks {w}x{h} seed {seed}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_sizes_contents_strides_and_layouts(
        w in 1u32..700,
        h in 1u32..700,
        seed in any::<u32>(),
        pattern in prop_oneof![Just(Pattern::Noise), Just(Pattern::Blocks), Just(Pattern::Gradient)],
        pad in 0usize..7,
        grey in any::<bool>(),
    ) {
        let (data, stride, layout) = padded(pattern, w, h, seed, pad, grey);
        let view = ImageView::new(&data, w, h, stride, layout).unwrap();
        check(&view, &format!("{pattern:?} {w}x{h} seed {seed} pad {pad} grey {grey}"));
    }
}

/// Values from every part of the float range: zero, subnormal, tiny, ordinary, huge, both
/// signs (the reciprocal path must hand anything outside its verified range to the divide).
fn any_float() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(|b| f32::from_bits(b & 0x7F7F_FFFF | (b & 0x8000_0000))),
        (0.0f32..300.0),
        Just(0.0f32),
        (1u32..0x0080_0000).prop_map(f32::from_bits),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The reciprocal division equals `/` bit for bit, one value and whole slices (at every
    /// SIMD level this CPU has), for every box count a window can have.
    #[test]
    fn reciprocal_division_equals_the_divide(
        count in 1usize..200,
        values in proptest::collection::vec(any_float(), 0..70),
    ) {
        use vigil::pdq::recip::Recip;
        let r = Recip::new(count, true);
        let b = count as f32;
        let want: Vec<u32> = values.iter().map(|v| (v / b).to_bits()).collect();
        let one: Vec<u32> = values.iter().map(|&v| r.div(v).to_bits()).collect();
        prop_assert_eq!(&one, &want);
        let mut out = vec![0.0f32; values.len()];
        r.div_slice(&mut out, &values);
        prop_assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.clone());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            let mut out = vec![0.0f32; values.len()];
            // SAFETY: AVX2 and FMA were just detected.
            unsafe { r.div_slice_avx(&mut out, &values) };
            prop_assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
        }
    }
}
