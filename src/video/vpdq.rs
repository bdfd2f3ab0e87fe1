//! vPDQ hash files and the two matchers of `pdq-spec.md` §2.3–2.4.
//!
//! A vPDQ hash is a list of [`VpdqFrame`]s. Two text forms are read:
//! - the upstream line format (C++ tools, `vpdq/sample-hashes`): one line per hashed frame,
//!   `frameNumber,quality,pdqHex,timestamp`, the timestamp in seconds with 3 decimals (the
//!   sample-hashes README omits it, so a missing timestamp is accepted);
//! - python-threatexchange's signal string: a JSON list of `"pdqHex,quality,timestamp"`
//!   strings (frame numbers dropped; they are numbered 0, 1, … in list order here).
//!
//! Written form: [`write_vpdq`] (the upstream lines, exactly as `vpdqio.cpp` prints them).

use std::fmt::Write as _;

use crate::pdq::PdqHash;

/// One hashed video frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpdqFrame {
    /// Index of the frame in decoder output order, 0-based (`frame_num - 1`).
    pub frame_number: u64,
    /// PDQ quality, 0..=100.
    pub quality: u8,
    /// PDQ hash of the frame.
    pub hash: PdqHash,
    /// Seconds: `(float)frame_number / (float)fps`, in float32 as upstream.
    pub timestamp: f32,
}

impl VpdqFrame {
    /// The upstream line, `frameNumber,quality,pdqHex,timestamp` (3 decimals), no newline.
    pub fn to_line(&self) -> String {
        format!(
            "{},{},{},{}",
            self.frame_number,
            self.quality,
            self.hash,
            format_timestamp(self.timestamp)
        )
    }
}

/// A timestamp as upstream prints it: `std::fixed` with 3 decimals of the float's exact value.
pub fn format_timestamp(t: f32) -> String {
    // The f32 widened to f64 is exact; formatting an f64 to 3 decimals rounds its exact
    // decimal expansion, as glibc's printf (and so iostream) does.
    format!("{:.3}", f64::from(t))
}

/// The upstream text of a whole hash: one line per frame, each ended by `\n`.
pub fn write_vpdq(frames: &[VpdqFrame]) -> String {
    let mut s = String::with_capacity(frames.len() * 84);
    for f in frames {
        let _ = writeln!(s, "{}", f.to_line());
    }
    s
}

/// A line of a vPDQ file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseVpdqError {
    /// 1-based line number (for the JSON form: 1-based position in the list).
    pub line: usize,
    /// What is wrong (never the line's content).
    pub reason: String,
}

fn bad(line: usize, reason: impl Into<String>) -> ParseVpdqError {
    ParseVpdqError {
        line,
        reason: reason.into(),
    }
}

fn parse_quality(s: &str, line: usize) -> Result<u8, ParseVpdqError> {
    match s.trim().parse::<u8>() {
        Ok(q) if q <= 100 => Ok(q),
        _ => Err(bad(line, "quality is not an integer 0..=100")),
    }
}

fn parse_hash(s: &str, line: usize) -> Result<PdqHash, ParseVpdqError> {
    s.trim()
        .parse::<PdqHash>()
        .map_err(|_| bad(line, "not a 64-hex-digit PDQ hash"))
}

fn parse_timestamp(s: &str, line: usize) -> Result<f32, ParseVpdqError> {
    match s.trim().parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(bad(line, "timestamp is not a non-negative number")),
    }
}

/// One line of the upstream format, `frameNumber,quality,pdqHex[,timestamp]` (a missing
/// timestamp reads as 0), already trimmed and not empty. The error names what is wrong, never
/// the line's content.
pub fn parse_vpdq_line(l: &str) -> Result<VpdqFrame, String> {
    let parts: Vec<&str> = l.split(',').collect();
    if parts.len() != 3 && parts.len() != 4 {
        return Err(format!(
            "expected 3 or 4 comma-separated fields, found {}",
            parts.len()
        ));
    }
    let frame_number = parts[0]
        .trim()
        .parse::<u64>()
        .map_err(|_| "frame number is not a non-negative integer".to_owned())?;
    let quality = parse_quality(parts[1], 0).map_err(|e| e.reason)?;
    let hash = parse_hash(parts[2], 0).map_err(|e| e.reason)?;
    let timestamp = match parts.get(3) {
        Some(t) => parse_timestamp(t, 0).map_err(|e| e.reason)?,
        None => 0.0,
    };
    Ok(VpdqFrame {
        frame_number,
        quality,
        hash,
        timestamp,
    })
}

/// One element of python-threatexchange's signal list, `"pdqHex,quality,timestamp"`
/// (`VpdqCompactFeature.from_str`), numbered `frame_number` (the format drops frame numbers).
pub fn parse_signal_item(s: &str, frame_number: u64) -> Result<VpdqFrame, String> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 3 {
        return Err("expected \"pdqHex,quality,timestamp\"".to_owned());
    }
    Ok(VpdqFrame {
        frame_number,
        quality: parse_quality(parts[1], 0).map_err(|e| e.reason)?,
        hash: parse_hash(parts[0], 0).map_err(|e| e.reason)?,
        timestamp: parse_timestamp(parts[2], 0).map_err(|e| e.reason)?,
    })
}

/// Read a vPDQ hash in either text form (see the module docs). Empty lines are skipped.
pub fn parse_vpdq(text: &str) -> Result<Vec<VpdqFrame>, ParseVpdqError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        return parse_signal_json(trimmed);
    }
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        out.push(parse_vpdq_line(l).map_err(|reason| bad(i + 1, reason))?);
    }
    Ok(out)
}

fn parse_signal_json(text: &str) -> Result<Vec<VpdqFrame>, ParseVpdqError> {
    let list: Vec<String> = serde_json::from_str(text).map_err(|e| {
        bad(
            e.line(),
            "not a JSON list of \"pdqHex,quality,timestamp\" strings",
        )
    })?;
    list.iter()
        .enumerate()
        .map(|(i, s)| parse_signal_item(s, i as u64).map_err(|reason| bad(i + 1, reason)))
        .collect()
}

/// Which matcher's rules (`pdq-spec.md` §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Semantics {
    /// Upstream C++ `matchTwoHashBrute`: no de-duplication, frames match at distance `< D`.
    Cpp,
    /// python-threatexchange `vpdq_brute_matcher`: identical hashes de-duplicated (first kept,
    /// before the quality filter), frames match at distance `≤ D`.
    #[default]
    Ptx,
}

impl Semantics {
    /// `cpp` or `ptx`.
    pub fn name(self) -> &'static str {
        match self {
            Semantics::Cpp => "cpp",
            Semantics::Ptx => "ptx",
        }
    }
}

/// Matching thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchOptions {
    /// Which rules.
    pub semantics: Semantics,
    /// Distance threshold D (31).
    pub distance: u32,
    /// Frames with quality below Q are dropped on both sides (50).
    pub quality: u8,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            semantics: Semantics::Ptx,
            distance: 31,
            quality: 50,
        }
    }
}

/// Percentages of frames of each side that found a match on the other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchPercent {
    /// Matched query frames × 100 / query frames kept.
    pub query: f64,
    /// Matched target frames × 100 / target frames kept.
    pub target: f64,
    /// Query frames kept (after de-duplication and the quality filter).
    pub query_frames: usize,
    /// Target frames kept.
    pub target_frames: usize,
}

/// For each frame, whether it is the first with its hash (python-threatexchange's `dedupe`,
/// which runs before the quality filter).
pub fn first_occurrences(frames: &[VpdqFrame]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::with_capacity(frames.len());
    frames.iter().map(|f| seen.insert(f.hash)).collect()
}

/// The hashes of the frames a matcher keeps, in frame order: quality ≥ Q, and under
/// [`Semantics::Ptx`] only the first frame of each hash (de-duplicated before the quality
/// filter, so a hash whose first frame is below Q is dropped altogether).
pub fn kept(frames: &[VpdqFrame], o: &MatchOptions) -> Vec<PdqHash> {
    let first = match o.semantics {
        Semantics::Cpp => None,
        Semantics::Ptx => Some(first_occurrences(frames)),
    };
    frames
        .iter()
        .enumerate()
        .filter(|&(i, f)| f.quality >= o.quality && first.as_ref().is_none_or(|v| v[i]))
        .map(|(_, f)| f.hash)
        .collect()
}

fn count_in(a: &[PdqHash], b: &[PdqHash], o: &MatchOptions) -> usize {
    a.iter()
        .filter(|x| {
            b.iter().any(|y| {
                let d = x.distance(y);
                match o.semantics {
                    Semantics::Cpp => d < o.distance,
                    Semantics::Ptx => d <= o.distance,
                }
            })
        })
        .count()
}

/// Compare two vPDQ hashes. When either side keeps no frame both percentages are 0 (the C++
/// rule; python-threatexchange would divide by zero).
pub fn match_percent(query: &[VpdqFrame], target: &[VpdqFrame], o: &MatchOptions) -> MatchPercent {
    let q = kept(query, o);
    let t = kept(target, o);
    if q.is_empty() || t.is_empty() {
        return MatchPercent {
            query: 0.0,
            target: 0.0,
            query_frames: q.len(),
            target_frames: t.len(),
        };
    }
    let qm = count_in(&q, &t, o);
    let tm = count_in(&t, &q, o);
    MatchPercent {
        query: qm as f64 * 100.0 / q.len() as f64,
        target: tm as f64 * 100.0 / t.len() as f64,
        query_frames: q.len(),
        target_frames: t.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(byte: u8) -> PdqHash {
        format!("{byte:02x}").repeat(32).parse().unwrap()
    }

    fn frame(n: u64, q: u8, hash: PdqHash) -> VpdqFrame {
        VpdqFrame {
            frame_number: n,
            quality: q,
            hash,
            timestamp: n as f32 / 30.0,
        }
    }

    #[test]
    fn lines_round_trip() {
        let f = vec![frame(0, 100, h(0xab)), frame(29, 40, h(0x01))];
        let text = write_vpdq(&f);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("29,40,{},0.967", "01".repeat(32))
        );
        let back = parse_vpdq(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].frame_number, 29);
        assert_eq!(back[1].quality, 40);
        assert_eq!(back[1].hash, h(0x01));
    }

    #[test]
    fn timestamps_round_like_printf() {
        // Exact binary ties round half to even, as glibc's printf does.
        assert_eq!(format_timestamp(0.0625), "0.062");
        assert_eq!(format_timestamp(0.1875), "0.188");
        assert_eq!(format_timestamp(1.0 / 30.0), "0.033");
        assert_eq!(format_timestamp(2.0 / 30.0), "0.067");
    }

    #[test]
    fn json_signal_form_is_read() {
        let s = format!(
            "[\"{},100,0.0\", \"{},42,1.23e+02\"]",
            "ab".repeat(32),
            "cd".repeat(32)
        );
        let f = parse_vpdq(&s).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].quality, 42);
        assert_eq!(f[1].timestamp, 123.0);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let text = format!(
            "0,100,{},0.000\n1,101,{},0.033\n",
            "ab".repeat(32),
            "ab".repeat(32)
        );
        let e = parse_vpdq(&text).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_vpdq("0,100,zz,0.0").is_err());
        assert!(parse_vpdq("0,100").is_err());
    }

    #[test]
    fn semantics_differ_at_the_threshold_and_on_duplicates() {
        let base = h(0x00);
        let mut far = base;
        for k in 0..31 {
            far.set_bit(k);
        }
        assert_eq!(base.distance(&far), 31);
        let q = vec![
            frame(0, 100, base),
            frame(1, 100, base),
            frame(2, 10, h(0xff)),
        ];
        let t = vec![frame(0, 100, far)];
        let cpp = MatchOptions {
            semantics: Semantics::Cpp,
            ..MatchOptions::default()
        };
        let ptx = MatchOptions::default();
        let c = match_percent(&q, &t, &cpp);
        assert_eq!((c.query, c.target, c.query_frames), (0.0, 0.0, 2));
        let p = match_percent(&q, &t, &ptx);
        assert_eq!((p.query, p.target, p.query_frames), (100.0, 100.0, 1));
        let empty = match_percent(&q, &[], &ptx);
        assert_eq!((empty.query, empty.target), (0.0, 0.0));
    }
}
