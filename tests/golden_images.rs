//! Every image row of ThreatExchange's `derived/pdq-expected.csv`, through the public API
//! (decode per `pillow-rgb/1`, then PDQ and pHash): `pdq_ref_hash` and `pdq_ref_quality`,
//! the 8 dihedral hashes, `imagehash_phash`, `cli512_hash` under `Compat::Cli512` (and n/a
//! exactly where the upstream CLI refuses the file), and the EXIF-rotated hash prefix given in
//! the notes. Plus the rows made for GIF, BMP, TIFF and other variants the shared data lacks
//! (`tests/data/decode/extra-expected.csv`, made with Pillow + pdqhash + imagehash).

mod common;

use std::path::Path;

use common::{csv_rows, data_dir};
use vigil::decode::DecodeOptions;
use vigil::{Algorithms, Compat, HashOptions, PdqHash, hash_file, pdq};

fn opts(compat: Compat, exif_rotate: bool) -> HashOptions {
    HashOptions {
        algorithms: Algorithms {
            pdq: true,
            phash: true,
        },
        dihedral: true,
        compat,
        decode: DecodeOptions {
            exif_rotate,
            ..DecodeOptions::default()
        },
    }
}

fn check_rows(csv: &Path, root: &Path, cli512_column: bool) -> usize {
    let mut n = 0;
    for row in csv_rows(csv) {
        let file = &row["file"];
        let path = root.join(file);
        let got =
            hash_file(&path, &opts(Compat::Full, false)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let p = got.pdq.expect("pdq asked for");
        assert_eq!(p.hash.to_string(), row["pdq_ref_hash"], "{file}: pdq hash");
        assert_eq!(
            p.quality.to_string(),
            row["pdq_ref_quality"],
            "{file}: quality"
        );
        assert_eq!(
            got.phash.unwrap().to_string(),
            row["imagehash_phash"],
            "{file}: phash"
        );
        assert_eq!(got.width.to_string(), row["width"], "{file}: width");
        assert_eq!(got.height.to_string(), row["height"], "{file}: height");
        let dih = got.dihedral.expect("dihedral asked for");
        for (k, name) in pdq::DIHEDRAL_NAMES.iter().enumerate() {
            if let Some(want) = row.get(&format!("dih_{name}")) {
                assert_eq!(dih[k].to_string(), *want, "{file}: dih_{name}");
            }
        }
        if let Some(want) = row.get("cli512_hash").filter(|_| cli512_column) {
            let cli = hash_file(&path, &opts(Compat::Cli512, false)).unwrap();
            if want.is_empty() {
                assert!(cli.pdq.is_none(), "{file}: the upstream CLI refuses it");
                assert!(cli.pdq_not_applicable.is_some());
            } else {
                let c = cli
                    .pdq
                    .unwrap_or_else(|| panic!("{file}: cli512 should apply"));
                assert_eq!(c.hash.to_string(), *want, "{file}: cli512 hash");
                assert_eq!(
                    c.quality.to_string(),
                    row["cli512_quality"],
                    "{file}: cli512 q"
                );
            }
        }
        // Notes give the hash after applying EXIF orientation, as a prefix.
        if let Some(prefix) = row
            .get("note")
            .and_then(|n| n.split("hash after applying EXIF=").nth(1))
        {
            let rotated = hash_file(&path, &opts(Compat::Full, true)).unwrap();
            let h: PdqHash = rotated.pdq.unwrap().hash;
            let prefix = prefix.split_whitespace().next().unwrap_or_default();
            assert!(
                h.to_string().starts_with(prefix),
                "{file}: --exif-rotate gives {h}, note says {prefix}…"
            );
        }
        n += 1;
    }
    n
}

#[test]
fn every_reference_image_row() {
    let root = data_dir().join("threatexchange");
    let n = check_rows(&root.join("derived/pdq-expected.csv"), &root, true);
    assert_eq!(n, 35, "every image row of pdq-expected.csv");
}

#[test]
fn extra_rows_for_formats_the_shared_data_lacks() {
    // Paths in this file are relative to tests/data; its cli512 column is not filled.
    let n = check_rows(
        &data_dir().join("decode/extra-expected.csv"),
        &data_dir(),
        false,
    );
    assert!(n >= 5, "GIF, BMP, TIFF, 16-bit PNG and CMYK rows: {n}");
}
