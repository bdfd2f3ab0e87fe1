//! Golden vectors: the PDQ oracle and the default CPU path against the upstream C++ core, on
//! ThreatExchange's synthetic cases (pixels regenerated from their integer formula and checked
//! by SHA-256), their float32 intermediates, and every reference image row.

mod common;

use common::{csv_rows, data_dir, hex_f32};
use sha2::{Digest, Sha256};
use vigil::pdq::{self, fast, oracle};
use vigil::simd;
use vigil::synth::{self, Pattern};
use vigil::{PdqHash, RgbImage};

fn synthetic_cases() -> Vec<(std::collections::HashMap<String, String>, RgbImage)> {
    let path = data_dir().join("threatexchange/derived/synthetic/synthetic-expected.csv");
    csv_rows(&path)
        .into_iter()
        .map(|row| {
            let pattern = Pattern::from_name(&row["pattern"]).expect("known pattern");
            let img = synth::image(
                pattern,
                row["width"].parse().unwrap(),
                row["height"].parse().unwrap(),
                row["seed"].parse().unwrap(),
            );
            let sha = format!("{:x}", Sha256::digest(&img.data));
            assert_eq!(
                sha, row["rgb_sha256"],
                "{}: regenerated pixels",
                row["name"]
            );
            (row, img)
        })
        .collect()
}

#[test]
fn synthetic_cases_match_cpp_hash_quality_and_dihedrals() {
    let cases = synthetic_cases();
    assert!(cases.len() >= 24, "expected every synthetic case");
    for (row, img) in &cases {
        let name = &row["name"];
        let want: PdqHash = row["cpp_hash"].parse().unwrap();
        let want_q: u8 = row["cpp_quality"].parse().unwrap();
        let mut outs = vec![("oracle".to_owned(), oracle::hash(&img.view()))];
        for level in simd::available() {
            outs.push((level.name().to_owned(), fast::hash_at(&img.view(), level)));
        }
        for (label, out) in outs {
            assert_eq!(out.hash, want, "{name} [{label}] hash");
            assert_eq!(out.quality, want_q, "{name} [{label}] quality");
        }
        let mut dihs = vec![("oracle".to_owned(), oracle::hash_dihedral(&img.view()))];
        for level in simd::available() {
            dihs.push((
                level.name().to_owned(),
                fast::hash_dihedral_at(&img.view(), level),
            ));
        }
        for (label, d) in dihs {
            for (k, variant) in pdq::DIHEDRAL_NAMES.iter().enumerate() {
                let want: PdqHash = row[&format!("dih_{variant}")].parse().unwrap();
                assert_eq!(d.hashes[k], want, "{name} [{label}] dih_{variant}");
            }
            assert_eq!(d.quality, want_q, "{name} [{label}] dihedral quality");
        }
    }
}

#[test]
fn synthetic_intermediates_match_bit_for_bit() {
    let dir = data_dir().join("threatexchange/derived/synthetic");
    let mut checked = 0;
    for (row, img) in synthetic_cases() {
        let path = dir.join(format!("{}.intermediates.json", row["name"]));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let name = &row["name"];
        let luma = oracle::luma(&img.view());
        for (k, want) in j["luma_first16_f32"].as_array().unwrap().iter().enumerate() {
            assert_eq!(luma[k].to_bits(), hex_f32(want), "{name} luma[{k}]");
        }
        let (w, h) = (img.width as usize, img.height as usize);
        assert_eq!(
            oracle::jarosz_window(w) as u64,
            j["jarosz_window_along_rows"].as_u64().unwrap()
        );
        assert_eq!(
            oracle::jarosz_window(h) as u64,
            j["jarosz_window_along_cols"].as_u64().unwrap()
        );
        // Upstream's pdqFloat256FromFloatLuma copies a 64×64 image without blurring (and so do
        // we: the hash and quality checks cover that). The harness that dumped these
        // intermediates called the Jarosz filter and decimation directly, which for 64×64 is a
        // window-1 running sum whose float rounding moves some samples by an ulp, so compare
        // those stages as the harness ran them.
        let buf = if (w, h) == (64, 64) {
            let (mut a, mut b) = (luma, vec![0.0; w * h]);
            oracle::jarosz_filter(&mut a, &mut b, h, w);
            oracle::decimate(&a, h, w)
        } else {
            oracle::buffer64(luma, h, w)
        };
        for (k, want) in j["buf64x64_f32_rowmajor"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(
                buf[k / 64][k % 64].to_bits(),
                hex_f32(want),
                "{name} buf64[{k}]"
            );
        }
        let dct = oracle::dct16(&buf);
        for (k, want) in j["dct16x16_f32_rowmajor"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(
                dct[k / 16][k % 16].to_bits(),
                hex_f32(want),
                "{name} dct[{k}]"
            );
        }
        assert_eq!(
            oracle::lower_median(&dct).to_bits(),
            hex_f32(&j["dct_median_f32"]),
            "{name} median"
        );
        assert_eq!(
            oracle::hash(&img.view()).hash.to_string(),
            j["hash"].as_str().unwrap()
        );
        checked += 1;
    }
    assert!(checked >= 6, "intermediates checked for {checked} cases");
}
