//! Videos met by `vigil scan`: one video decoded and its frames hashed, in a decoder child
//! ([`super::isolate::DecoderPool::run_video`]) or in the scan's own process
//! (`--isolation none`). The same function runs in both places: [`hash_video`].
//!
//! Frames are handed to a callback batch by batch while decoding goes on (the child streams
//! them to the parent), so a decoder that crashes or stalls half-way still leaves the frames
//! hashed before it, for matching. One decode serves two samplings
//! ([`VpdqOptions::also_seconds_per_hash`]): the frames matched against image lists (every
//! frame by default) and the 1 s vPDQ written next to the records.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::video::{self, VideoError, VpdqFrame, VpdqHashes, VpdqOptions};

/// The sampling rate of the vPDQ that `vigil scan` writes: 1 s per hash, the rate vPDQ
/// lists are shared at (pip vpdq's and python-threatexchange's default).
pub const VPDQ_SECONDS_PER_HASH: f64 = 1.0;

/// What a decoder is asked to do with one video (decoded from its path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoTask {
    /// Seconds between frames matched against image lists; 0 = every frame.
    pub seconds_per_hash: f64,
    /// Stop after this many decoded frames (the record is marked truncated).
    pub max_frames: Option<u64>,
    /// Stop after this much wall time (the record is marked truncated).
    pub max_seconds: f64,
    /// Refuse streams or frames larger than this many pixels.
    pub max_pixels: u64,
}

impl VideoTask {
    /// The decoding options: `seconds_per_hash` for matching, plus the frames of the 1 s
    /// vPDQ ([`VPDQ_SECONDS_PER_HASH`]).
    pub fn options(&self) -> VpdqOptions {
        VpdqOptions {
            seconds_per_hash: self.seconds_per_hash,
            also_seconds_per_hash: Some(VPDQ_SECONDS_PER_HASH),
            max_frames: self.max_frames,
            max_duration: Some(Duration::from_secs_f64(self.max_seconds.max(0.001))),
            max_pixels: self.max_pixels,
            // The scan's on-batch hook matches frames and times the hashing thread as batches
            // arrive; a skip plan holds batches back to the end, so the scan decodes every
            // frame (its default, every frame sampled, could not skip anyway).
            skip_unsampled: false,
            // The scan decodes several files at once already, and streams matches as batches
            // arrive, which a plan would hold back to the end.
            decode_threads: 1,
            ..VpdqOptions::default()
        }
    }
}

/// Stream facts of a decoded video, and how decoding ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoReport {
    /// Width of the hashed frames.
    pub width: u32,
    /// Height of the hashed frames.
    pub height: u32,
    /// Frames per second (`avg_frame_rate`, else `r_frame_rate`).
    pub fps: f64,
    /// FFmpeg's decoder name.
    pub codec: String,
    /// The stream's declared duration, seconds, when the container states it.
    pub duration_seconds: Option<f64>,
    /// Frames the decoder produced (hashed or not).
    pub frames_decoded: u64,
    /// `frames` or `time` when a budget stopped decoding early.
    pub truncated: Option<String>,
    /// The demuxer stopped on an error other than end of file (frames before it kept).
    pub read_error: Option<String>,
}

impl VideoReport {
    fn of(h: &VpdqHashes) -> Self {
        VideoReport {
            width: h.info.width,
            height: h.info.height,
            fps: h.info.fps,
            codec: h.info.codec.clone(),
            duration_seconds: h.info.duration_seconds,
            frames_decoded: h.frames_decoded,
            truncated: h.truncated.map(|b| b.name().to_owned()),
            read_error: h.read_error.clone(),
        }
    }
}

/// How one video ended (its frames went to the callback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VideoOutcome {
    /// Decoded to the end, or to a budget (`truncated`).
    Hashed(VideoReport),
    /// Could not be decoded; the frames hashed before the failure (if any) were delivered.
    Failed {
        /// Why.
        reason: String,
        /// Stream facts, when decoding got far enough (a file cut short).
        report: Option<VideoReport>,
    },
    /// Not a video vigil can decode (no video stream, a codec this FFmpeg lacks).
    Skipped(String),
}

/// CPU time of one video, nanoseconds: decoding (demuxing, decoding, RGB conversion) and
/// PDQ hashing of the frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoCpu {
    /// Decoding.
    pub decode_ns: u64,
    /// Hashing.
    pub pdq_ns: u64,
}

/// Decode and hash the video at `path`; `on_frames` sees each batch of hashed frames as soon
/// as it is hashed (on another thread). Never panics outward (a panic becomes `Failed`).
pub fn hash_video(
    path: &Path,
    task: &VideoTask,
    engine: &Engine,
    mut on_frames: impl FnMut(&[VpdqFrame]) + Send,
) -> (VideoOutcome, VideoCpu) {
    let opts = task.options();
    let cpu_start = process_cpu();
    let mut hash_ns = 0u64;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut batches = 0u64;
        video::hash_file_with(path, &opts, engine, |b| {
            on_frames(b);
            hash_ns = super::isolate::thread_cpu().as_nanos() as u64;
            batches += 1;
            #[cfg(debug_assertions)]
            test_seams(path, batches);
        })
    }));
    let total = (process_cpu() - cpu_start).as_nanos() as u64;
    let cpu = VideoCpu {
        decode_ns: total.saturating_sub(hash_ns),
        pdq_ns: hash_ns,
    };
    let outcome = match result {
        Ok(Ok(h)) => VideoOutcome::Hashed(VideoReport::of(&h)),
        Ok(Err(VideoError::NoVideoStream)) => {
            VideoOutcome::Skipped("no video stream (audio or data only)".into())
        }
        Ok(Err(e @ VideoError::NoDecoder { .. })) => VideoOutcome::Skipped(e.to_string()),
        Ok(Err(VideoError::Truncated {
            decoded_seconds,
            declared_seconds,
            partial,
        })) => VideoOutcome::Failed {
            reason: VideoError::Truncated {
                decoded_seconds,
                declared_seconds,
                partial: partial.clone(),
            }
            .to_string(),
            report: Some(VideoReport::of(&partial)),
        },
        Ok(Err(e)) => VideoOutcome::Failed {
            reason: e.to_string(),
            report: None,
        },
        Err(_) => VideoOutcome::Failed {
            reason: "internal error while decoding video (panic)".into(),
            report: None,
        },
    };
    (outcome, cpu)
}

/// CPU time of the whole process (user + system): a video's decoding runs on FFmpeg's
/// threads as well as the caller's.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Test seams (debug builds only), after each batch of frames of a video whose path contains
/// the value: `VIGIL_TEST_VIDEO_CRASH` aborts the process after the first batch (a decoder
/// crashing half-way through a video); `VIGIL_TEST_VIDEO_HANG` stops there for ever (a
/// decoder stuck inside one call).
#[cfg(debug_assertions)]
fn test_seams(path: &Path, batches: u64) {
    let hit = |var: &str| {
        std::env::var(var)
            .ok()
            .filter(|p| !p.is_empty())
            .is_some_and(|p| path.to_string_lossy().contains(&p))
    };
    if batches == 1 && hit("VIGIL_TEST_VIDEO_CRASH") {
        std::process::abort();
    }
    if batches == 1 && hit("VIGIL_TEST_VIDEO_HANG") {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
