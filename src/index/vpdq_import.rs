//! Reading vPDQ files into videos for vPDQ lists, with format detection and line-numbered
//! problems.
//!
//! Formats, recognised from the first line that is not blank or a `#` comment:
//! - upstream's line format (`vpdq/cpp/vpdq/cpp/io/vpdqio.cpp`, `vpdq/sample-hashes/*.txt`):
//!   one video per file, one line per hashed frame, `frameNumber,quality,pdqHex,timestamp`
//!   (the timestamp may be missing, as in the sample-hashes README);
//! - python-threatexchange's `VPDQSignal` signal string (`threatexchange/extensions/vpdq/`
//!   `vpdq_util.py`: `vpdq_to_json` / `json_to_vpdq`, `VpdqCompactFeature.__str__`, read at
//!   facebook/ThreatExchange commit 04d8070c): a JSON list of strings
//!   `"pdqHex,quality,timestamp"`, the timestamp printed `f"{t:.3}"` (3 significant digits,
//!   so `1.23e+02` occurs), frame numbers dropped (numbered 0, 1, … here). A file holding one
//!   such list is one video;
//! - python-threatexchange's local file exchange (`exchanges/impl/file_api.py`): one signal
//!   per line, `"<signal type> <signal>"`, here `vpdq [ … ]`; each line is one video. Text
//!   after the JSON list is taken as the video's label (metadata), else `FILE:LINE`.
//!
//! python-threatexchange's older signal form (a JSON object keyed by frame number, before
//! `VpdqCompactFeature`) is recognised and refused with a reason, not guessed at.
//!
//! A video with any malformed frame is refused whole (every bad line reported): a partly read
//! video would match with different percentages, as a truncated image would hash differently.
//! Frames of quality below 50 are kept (the matchers drop them at their quality threshold,
//! `pdq-spec.md` §2.4) and counted per video. Problems name line numbers (and the frame's
//! position in a JSON list), never content.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::import::ImportError;
use super::store::{MIN_QUALITY, hex};
use super::vpdq::NewVideo;
use crate::video::vpdq::{VpdqFrame, parse_signal_item, parse_vpdq_line};

/// A detected vPDQ file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpdqFormat {
    /// Nothing but blank lines and comments.
    Empty,
    /// Upstream `frameNumber,quality,pdqHex,timestamp` lines: one video.
    Lines,
    /// A python-threatexchange signal: one JSON list of `"pdqHex,quality,timestamp"`.
    Signal,
    /// python-threatexchange file-exchange lines `vpdq [ … ]`: one video per line.
    SignalLines,
    /// The older JSON object form (refused).
    LegacyJson,
}

impl VpdqFormat {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            VpdqFormat::Empty => "empty",
            VpdqFormat::Lines => "vpdq-lines",
            VpdqFormat::Signal => "ptx-vpdq-signal",
            VpdqFormat::SignalLines => "ptx-file-exchange",
            VpdqFormat::LegacyJson => "ptx-vpdq-legacy-json",
        }
    }
}

/// What is wrong at one place of a vPDQ file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpdqProblem {
    /// 1-based line number.
    pub line: u64,
    /// 1-based position in a JSON list, when the problem is one element.
    pub frame: Option<u64>,
    /// What is wrong (never the content).
    pub reason: String,
}

impl std::fmt::Display for VpdqProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(k) = self.frame {
            write!(f, ", frame {k}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A video read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedVideo {
    /// Line where it starts.
    pub line: u64,
    /// Label: the file name (one-video formats) or the line's metadata / `FILE:LINE`.
    pub label: Option<String>,
    /// Frames in file order.
    pub frames: Vec<VpdqFrame>,
    /// Frames of quality below 50 (kept; not matched at the default quality threshold).
    pub low_quality: u64,
}

impl ParsedVideo {
    /// As a video to store.
    pub fn into_new(self) -> NewVideo {
        NewVideo {
            label: self.label,
            frames: self.frames,
        }
    }
}

/// A parsed vPDQ file.
#[derive(Debug, Clone)]
pub struct ParsedVideos {
    /// Detected format.
    pub format: VpdqFormat,
    /// Videos read whole.
    pub videos: Vec<ParsedVideo>,
    /// Every problem, in line order.
    pub problems: Vec<VpdqProblem>,
    /// Videos refused (a malformed frame, or no frames).
    pub refused: u64,
    /// SHA-256 of the bytes.
    pub sha256: String,
}

fn problem(line: u64, frame: Option<u64>, reason: impl Into<String>) -> VpdqProblem {
    VpdqProblem {
        line,
        frame,
        reason: reason.into(),
    }
}

fn detect(text: &str) -> VpdqFormat {
    let first = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = first else {
        return VpdqFormat::Empty;
    };
    if first.starts_with('[') {
        return VpdqFormat::Signal;
    }
    if first.starts_with('{') {
        return VpdqFormat::LegacyJson;
    }
    if let Some((name, _)) = first.split_once(char::is_whitespace)
        && name.eq_ignore_ascii_case("vpdq")
    {
        return VpdqFormat::SignalLines;
    }
    VpdqFormat::Lines
}

/// Line numbers (1-based) where each top-level element of a JSON list starts. The text has
/// parsed as a list of strings, so only strings, commas and brackets need following.
fn element_lines(text: &str) -> Vec<u64> {
    let (mut line, mut depth, mut in_str, mut esc) = (1u64, 0u32, false, false);
    let mut out = Vec::new();
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '"' => {
                in_str = true;
                if depth == 1 {
                    out.push(line);
                }
            }
            _ => {}
        }
    }
    out
}

/// Frames of a signal list; problems at `line_of(k)` for element k (0-based).
fn signal_frames(
    items: &[String],
    line_of: &dyn Fn(usize) -> u64,
    problems: &mut Vec<VpdqProblem>,
) -> Option<Vec<VpdqFrame>> {
    let mut ok = true;
    let mut frames = Vec::with_capacity(items.len());
    for (k, s) in items.iter().enumerate() {
        match parse_signal_item(s, k as u64) {
            Ok(f) => frames.push(f),
            Err(reason) => {
                ok = false;
                problems.push(problem(line_of(k), Some(k as u64 + 1), reason));
            }
        }
    }
    ok.then_some(frames)
}

fn finish(
    line: u64,
    label: Option<String>,
    frames: Option<Vec<VpdqFrame>>,
    out: &mut ParsedVideos,
) {
    match frames {
        Some(frames) if !frames.is_empty() => {
            let low_quality = frames.iter().filter(|f| f.quality < MIN_QUALITY).count() as u64;
            out.videos.push(ParsedVideo {
                line,
                label,
                frames,
                low_quality,
            });
        }
        Some(_) => {
            out.problems
                .push(problem(line, None, "video has no frames"));
            out.refused += 1;
        }
        None => out.refused += 1,
    }
}

/// Parse a vPDQ file's bytes; `name` labels the video of one-video formats (and prefixes
/// `NAME:LINE` labels of file-exchange lines without metadata).
pub fn parse_bytes(bytes: &[u8], name: &str) -> ParsedVideos {
    let text = String::from_utf8_lossy(bytes);
    let format = detect(&text);
    let mut out = ParsedVideos {
        format,
        videos: Vec::new(),
        problems: Vec::new(),
        refused: 0,
        sha256: hex(&Sha256::digest(bytes)),
    };
    match format {
        VpdqFormat::Empty => {}
        VpdqFormat::LegacyJson => {
            out.problems.push(problem(
                1,
                None,
                "python-threatexchange's older JSON-object vPDQ form is not read; re-export \
                 the signal as a JSON list of \"pdqHex,quality,timestamp\"",
            ));
            out.refused += 1;
        }
        VpdqFormat::Lines => {
            let mut ok = true;
            let mut frames = Vec::new();
            let mut first_line = 0;
            for (i, raw) in text.lines().enumerate() {
                let line = i as u64 + 1;
                let l = raw.trim_start_matches('\u{feff}').trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                if first_line == 0 {
                    first_line = line;
                }
                match parse_vpdq_line(l) {
                    Ok(f) => frames.push(f),
                    Err(reason) => {
                        ok = false;
                        out.problems.push(problem(line, None, reason));
                    }
                }
            }
            finish(
                first_line,
                Some(name.to_owned()),
                ok.then_some(frames),
                &mut out,
            );
        }
        VpdqFormat::Signal => {
            let body = text.trim_start_matches('\u{feff}');
            match serde_json::from_str::<Vec<String>>(body) {
                Ok(items) => {
                    let lines = element_lines(body);
                    let line_of = |k: usize| lines.get(k).copied().unwrap_or(1);
                    let frames = signal_frames(&items, &line_of, &mut out.problems);
                    finish(1, Some(name.to_owned()), frames, &mut out);
                }
                Err(e) => {
                    // serde_json counts the position after a final newline as a line of its
                    // own; name the file's last line instead of one that does not exist.
                    let last = text.lines().count().max(1) as u64;
                    out.problems.push(problem(
                        (e.line() as u64).clamp(1, last),
                        None,
                        "not a JSON list of \"pdqHex,quality,timestamp\" strings",
                    ));
                    out.refused += 1;
                }
            }
        }
        VpdqFormat::SignalLines => {
            for (i, raw) in text.lines().enumerate() {
                let line = i as u64 + 1;
                let l = raw.trim_start_matches('\u{feff}').trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let Some((kind, rest)) = l.split_once(char::is_whitespace) else {
                    out.problems
                        .push(problem(line, None, "expected `vpdq <JSON list>`"));
                    out.refused += 1;
                    continue;
                };
                if !kind.eq_ignore_ascii_case("vpdq") {
                    out.problems
                        .push(problem(line, None, "not a vpdq signal (other signal type)"));
                    out.refused += 1;
                    continue;
                }
                let mut de = serde_json::Deserializer::from_str(rest).into_iter::<Vec<String>>();
                match de.next() {
                    Some(Ok(items)) => {
                        let meta = rest[de.byte_offset()..].trim();
                        let label = if meta.is_empty() {
                            format!("{name}:{line}")
                        } else {
                            meta.to_owned()
                        };
                        let frames = signal_frames(&items, &|_| line, &mut out.problems);
                        finish(line, Some(label), frames, &mut out);
                    }
                    _ => {
                        out.problems.push(problem(
                            line,
                            None,
                            "signal is not a JSON list of \"pdqHex,quality,timestamp\" strings",
                        ));
                        out.refused += 1;
                    }
                }
            }
        }
    }
    out.problems.sort_by_key(|p| (p.line, p.frame));
    out
}

/// Read and parse one file.
pub fn parse_file(path: &Path, name: &str) -> Result<ParsedVideos, ImportError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| ImportError::Io {
            path: path.display().to_string(),
            source,
        })?;
    Ok(parse_bytes(&bytes, name))
}

/// The files to read for `path`: the file itself (labelled by its file name), or every file
/// under a folder, sorted, symbolic links not followed (labelled by the path below the folder).
pub fn files(path: &Path) -> Result<Vec<(PathBuf, String)>, ImportError> {
    let io = |source: std::io::Error| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.is_dir() {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        return Ok(vec![(path.to_path_buf(), name)]);
    }
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(path).sort_by_file_name() {
        let e = e.map_err(|e| io(e.into()))?;
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(path)
                .unwrap_or(e.path())
                .to_string_lossy()
                .into_owned();
            out.push((e.into_path(), rel));
        }
    }
    Ok(out)
}

/// Strict mode: the first problem of a parsed file as an error.
pub fn strict(path: &Path, parsed: &ParsedVideos) -> Result<(), ImportError> {
    match parsed.problems.first() {
        Some(p) => Err(ImportError::Vpdq {
            path: path.display().to_string(),
            problem: p.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_lines_follow_indented_lists() {
        let text = "[\n  \"a,1\",\n  \"b\\\"]\",\n\n  \"c\"\n]";
        assert_eq!(element_lines(text), vec![2, 3, 5]);
    }
}
