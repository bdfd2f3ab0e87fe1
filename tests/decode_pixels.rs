//! Decoded pixels against Pillow 13's `convert('RGB')`, byte for byte (SHA-256 of the RGB8).
//!
//! The reference rows are `tests/data/decode/pixels-expected.csv`, written by
//! `scripts/make-decode-fixtures.py` (see `tests/data/decode/README.md`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vigil::decode::{self, DecodeError, DecodeOptions, ImageFormat, SourceKind};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

fn read(rel: &str) -> Vec<u8> {
    let p = data_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn pixels_match_pillow() {
    let mut rdr = csv::Reader::from_path(data_dir().join("decode").join("pixels-expected.csv"))
        .expect("pixels-expected.csv");
    let mut failures = Vec::new();
    let mut counts = [0usize; 4];
    for rec in rdr.records() {
        let rec = rec.expect("csv row");
        let (file, mode, outcome) = (&rec[0], &rec[1], &rec[2]);
        let opts = DecodeOptions {
            exif_rotate: mode == "exif",
            ..DecodeOptions::default()
        };
        let got = decode::decode(&read(file), &opts);
        match (outcome, got) {
            ("ok", Ok(d)) => {
                counts[0] += 1;
                let (w, h): (u32, u32) = (rec[3].parse().unwrap(), rec[4].parse().unwrap());
                if (d.rgb.width, d.rgb.height) != (w, h) {
                    failures.push(format!(
                        "{file} [{mode}]: size {}x{} != {w}x{h}",
                        d.rgb.width, d.rgb.height
                    ));
                } else if sha_hex(&d.rgb.data) != rec[5] {
                    failures.push(format!("{file} [{mode}]: pixels differ from Pillow"));
                }
            }
            ("ok", Err(e)) => failures.push(format!("{file} [{mode}]: Pillow decodes it, we: {e}")),
            ("error", Err(_)) => counts[1] += 1,
            ("error", Ok(_)) => {
                failures.push(format!("{file} [{mode}]: Pillow refuses it, we decode it"))
            }
            ("unsupported", Err(DecodeError::UnsupportedVariant(_))) => counts[2] += 1,
            // conventions.md: a truncated or corrupt file is an error, never a partly decoded
            // hash, also where Pillow fills in what is missing.
            ("partial", Err(DecodeError::Truncated)) => counts[3] += 1,
            ("partial", other) => failures.push(format!(
                "{file} [{mode}]: expected Truncated, got {:?}",
                other.map(|d| d.format)
            )),
            ("unsupported", other) => failures.push(format!(
                "{file} [{mode}]: expected UnsupportedVariant, got {:?}",
                other.map(|d| d.format)
            )),
            (o, _) => failures.push(format!("{file}: unknown outcome {o:?}")),
        }
    }
    eprintln!(
        "exact: {}, refused like Pillow: {}, refused as unsupported: {}, refused as partial: {}",
        counts[0], counts[1], counts[2], counts[3]
    );
    assert!(counts[0] > 100, "too few rows checked");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn limited() -> DecodeOptions {
    DecodeOptions {
        max_pixels: 100_000_000,
        exif_rotate: false,
    }
}

#[test]
fn huge_jpeg_header_is_refused_before_allocating() {
    let bytes = read("decode/jpeg-huge-header.jpg");
    let info = decode::probe(&bytes).expect("header parses");
    assert_eq!(
        (info.format, info.width, info.height),
        (ImageFormat::Jpeg, 20000, 10000)
    );
    match decode::decode(&bytes, &limited()) {
        Err(DecodeError::TooLarge {
            width: 20000,
            height: 10000,
            max_pixels: 100_000_000,
        }) => {}
        other => panic!("expected TooLarge, got {:?}", other.map(|d| d.format)),
    }
}

#[test]
fn huge_png_header_is_refused_before_allocating() {
    let bytes = read("decode/png-huge-header.png");
    let info = decode::probe(&bytes).expect("header parses");
    assert_eq!(
        (info.format, info.width, info.height),
        (ImageFormat::Png, 20000, 10000)
    );
    assert!(matches!(
        decode::decode(&bytes, &limited()),
        Err(DecodeError::TooLarge {
            width: 20000,
            height: 10000,
            ..
        })
    ));
}

#[test]
fn hostile_inputs_give_the_right_errors() {
    let o = DecodeOptions::default();
    assert!(matches!(
        decode::decode(&read("decode/empty.bin"), &o),
        Err(DecodeError::Empty)
    ));
    assert!(matches!(
        decode::decode(&read("decode/not-an-image.txt"), &o),
        Err(DecodeError::NotAnImage)
    ));
    assert!(matches!(
        decode::decode(&read("decode/heic-brand.heic"), &o),
        Err(DecodeError::Unsupported(ImageFormat::Heic))
    ));
    for f in [
        "jpeg-trunc-half.jpg",
        "jpeg-trunc-no-eoi.jpg",
        "jpeg-trunc-progressive.jpg",
    ] {
        let r = decode::decode(&read(&format!("decode/{f}")), &o);
        assert!(
            matches!(r, Err(DecodeError::Truncated)),
            "{f}: {:?}",
            r.map(|d| d.format)
        );
    }
    // Messages never carry pixel data: they are short.
    for f in [
        "jpeg-bad-sof.jpg",
        "png-corrupt-idat.png",
        "gif-trunc.gif",
        "png-ztxt-bomb.png",
    ] {
        if let Err(e) = decode::decode(&read(&format!("decode/{f}")), &o) {
            assert!(e.to_string().len() < 300, "{f}: {e}");
        }
    }
}

#[test]
fn source_kind_is_reported() {
    let o = DecodeOptions::default();
    let src = |f: &str| {
        decode::decode(&read(&format!("decode/{f}")), &o)
            .unwrap()
            .source
    };
    let sk = |channels, bit_depth, palette, cmyk| SourceKind {
        channels,
        bit_depth,
        palette,
        cmyk,
    };
    assert_eq!(src("jpeg-420.jpg"), sk(3, 8, false, false));
    assert_eq!(src("jpeg-grey.jpg"), sk(1, 8, false, false));
    assert_eq!(src("jpeg-cmyk-adobe.jpg"), sk(4, 8, false, true));
    assert_eq!(src("jpeg-ycck-420.jpg"), sk(4, 8, false, true));
    assert_eq!(src("png-rgb16.png"), sk(3, 16, false, false));
    assert_eq!(src("png-greyalpha8.png"), sk(2, 8, false, false));
    assert_eq!(src("png-rgba8.png"), sk(4, 8, false, false));
    assert_eq!(src("png-pal4.png"), sk(3, 4, true, false));
    assert_eq!(src("png-grey16.png"), sk(1, 16, false, false));
    assert_eq!(src("gif-photo.gif"), sk(3, 8, true, false));
    assert_eq!(src("webp-lossy-alpha.webp").channels, 4);
    assert_eq!(src("bmp-pal8.bmp"), sk(3, 8, true, false));
}

#[test]
fn exif_orientation_is_off_by_default() {
    let bytes = read("threatexchange/pdq/data/reg-test-input/exif-rotn/exif-rotn-6.jpg");
    let plain = decode::decode(&bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(plain.exif_orientation, None);
    let rotated = decode::decode(
        &bytes,
        &DecodeOptions {
            exif_rotate: true,
            ..DecodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(rotated.exif_orientation, Some(6));
    assert_eq!(
        (rotated.rgb.width, rotated.rgb.height),
        (plain.rgb.height, plain.rgb.width)
    );
}

#[test]
fn jpeg_with_too_many_scans_is_refused() {
    // 591+ progressive scans: libjpeg-turbo's scan limit (TJFLAG_LIMITSCANS) refuses it.
    let r = decode::decode(
        &read("decode/jpeg-many-scans.jpg"),
        &DecodeOptions::default(),
    );
    assert!(
        matches!(r, Err(DecodeError::Corrupt(ref m)) if m.contains("scans")),
        "{:?}",
        r.map(|d| d.format)
    );
}

/// libjpeg keeps the quantisation and Huffman tables a stream defines in its decompressor for
/// the next stream. A file without them must decode (or fail) the same whatever the thread
/// decoded before: without DQT it is refused, without DHT it gets libjpeg's standard tables.
#[test]
fn jpeg_tables_do_not_carry_over_between_files() {
    let opts = DecodeOptions::default();
    let no_dqt = read("decode/jpeg-no-dqt.jpg");
    let no_dht = read("decode/jpeg-no-dht.jpg");
    // This test's thread has decoded nothing yet.
    assert!(decode::decode(&no_dqt, &opts).is_err());
    let alone = decode::decode(&no_dht, &opts)
        .expect("standard tables")
        .rgb
        .data;
    for other in [
        "decode/jpeg-optimize-progressive.jpg",
        "decode/jpeg-420.jpg",
        "decode/jpeg-restart.jpg",
    ] {
        decode::decode(&read(other), &opts).expect(other);
        assert!(
            decode::decode(&no_dqt, &opts).is_err(),
            "a JPEG without DQT decoded after {other}"
        );
        let after = decode::decode(&no_dht, &opts).map(|d| d.rgb.data);
        assert!(
            after.as_ref().ok() == Some(&alone),
            "a JPEG without DHT decoded differently after {other}"
        );
    }
}
