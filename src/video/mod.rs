//! Video: vPDQ-compatible frame hashing (`pdq-spec.md` §2) and matching.
//!
//! ```text
//! file ──► decode::open (O_NOFOLLOW, custom I/O, no nested protocols) ──► first video stream
//!      ──► decode::Source::run: av_read_frame → decoder → frame_number % frameMod == 0
//!          → sws_scale RGB24, SWS_AREA (native or N×N)            [decoding thread]
//!      ──► batches of frames ──► Engine::hash_batch (CPU SIMD / GPU)  [hashing thread]
//!      ──► VpdqFrame { frame_number, quality, hash, timestamp }
//! ```
//!
//! Decoding and hashing overlap: the calling thread decodes and converts while a second
//! thread hashes the previous batch through the [`Engine`] (rayon on the CPU path, one GPU
//! submission per batch on the GPU path). Frame buffers are recycled between the two.
//!
//! Budgets ([`VpdqOptions::max_frames`], [`VpdqOptions::max_duration`]) stop decoding
//! early; what was hashed is kept and [`VpdqHashes::truncated`] says which budget stopped
//! it. The time budget also interrupts a stalled demuxer read. A decoder that crashes or
//! hangs inside one call is not contained here: the caller isolates decoding in a child
//! process for that (see `ARCHITECTURE.md`).

mod decode;
pub(crate) mod h264;
mod sniff;
pub mod vpdq;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{Engine, EngineError, ImageView};

pub use sniff::{Container, sniff};
pub use vpdq::{
    MatchOptions, MatchPercent, ParseVpdqError, Semantics, VpdqFrame, format_timestamp,
    match_percent, parse_vpdq, write_vpdq,
};

/// Largest frame accepted by default (width × height): 8K UHD is 33 Mpx.
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 26;

/// How to hash a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VpdqOptions {
    /// Seconds between hashed frames; `0` hashes every frame. Upstream rule: frames with
    /// `frame_number % (int)(seconds_per_hash × fps) == 0`, the modulus forced to 1 when 0.
    pub seconds_per_hash: f64,
    /// Scale frames to exactly this width × height before hashing (aspect not kept), as
    /// upstream's downsample; `None` hashes at the stream's size.
    pub downsample: Option<(u32, u32)>,
    /// Stop after this many decoded frames (hashed or not); the result is marked truncated.
    pub max_frames: Option<u64>,
    /// Stop after this much wall time from the start of the open; marked truncated.
    pub max_duration: Option<Duration>,
    /// Refuse streams or frames larger than this many pixels.
    pub max_pixels: u64,
    /// Frames per hashing batch (capped so a batch holds at most 64 MiB of pixels).
    pub batch_frames: usize,
    /// Decode with FFmpeg's frame threads (video stream 0 only) instead of upstream's slice
    /// threads. Off by default: on an intact stream the frames are the same, but FFmpeg
    /// conceals damage differently under frame threads, and not always the same way twice
    /// (seen on damaged H.264 files). Damage FFmpeg reports (`AV_EF_EXPLODE`, frame error
    /// flags) makes vigil decode the video again upstream's way, but not all damage is
    /// reported. Worth it only at sparse sampling on many cores; on two cores it gained 0-8%.
    pub frame_threads: bool,
    /// Also hash the frames that this seconds-per-hash selects (frame modulus the gcd of
    /// both), so one decode serves two samplings: `vigil scan` matches every frame against
    /// image lists and writes the 1 s vPDQ from the same pass. Select each sampling's frames
    /// afterwards with [`frame_mod`].
    pub also_seconds_per_hash: Option<f64>,
    /// When fewer than every frame is hashed, leave unsampled non-reference frames undecoded
    /// (H.264 in MP4 or Matroska on stream 0, no frame budget), numbering the output frames
    /// from a demux-only pass over the packets (see `decode.rs` for the checks, any of which
    /// failing decodes the video again frame by frame). **Off by default: not exact on some
    /// damaged files.** The lines are the same on intact streams, but FFmpeg never reads a
    /// skipped picture, so damage in one goes unseen where upstream's decoder acts on it:
    /// a slice header FFmpeg rejects makes upstream fail the whole video, which vigil then
    /// hashes (6 of 1,500 randomly damaged files, `scripts/compare-vpdq-damaged.py`).
    /// Frame numbers and picture order counts of skipped pictures are checked; the rest of
    /// their headers is not.
    pub skip_unsampled: bool,
    /// Decode up to this many stretches of the video at once, each from an IDR picture by a
    /// decoder of its own (H.264 in MP4 or Matroska on stream 0, no frame budget; see
    /// `decode.rs` for when a stretch may start and what each run checks), every frame still
    /// decoded. The lines are the same for any value; 1 decodes in one go, upstream's way.
    /// Default: the number of CPUs.
    pub decode_threads: usize,
}

/// Upstream's frame modulus: `(int)(seconds_per_hash × fps)`, forced to 1 when below 1.
pub fn frame_mod(seconds_per_hash: f64, fps: f64) -> u64 {
    let product = seconds_per_hash * fps;
    if product >= 1.0 {
        product.min(i32::MAX as f64) as u64
    } else {
        1
    }
}

impl Default for VpdqOptions {
    fn default() -> Self {
        VpdqOptions {
            seconds_per_hash: 1.0,
            downsample: None,
            max_frames: None,
            max_duration: None,
            max_pixels: DEFAULT_MAX_PIXELS,
            batch_frames: 32,
            frame_threads: false,
            also_seconds_per_hash: None,
            skip_unsampled: false,
            decode_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Which budget stopped a video early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// [`VpdqOptions::max_frames`].
    Frames,
    /// [`VpdqOptions::max_duration`].
    Time,
}

impl Budget {
    /// `frames` or `time`.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Frames => "frames",
            Budget::Time => "time",
        }
    }
}

/// What was found in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Width of the hashed frames (the stream's, or the downsample width).
    pub width: u32,
    /// Height of the hashed frames.
    pub height: u32,
    /// The stream's width (`codecpar`).
    pub source_width: u32,
    /// The stream's height.
    pub source_height: u32,
    /// Frames per second as upstream reads it (`avg_frame_rate`, else `r_frame_rate`).
    pub fps: f64,
    /// Every `frame_mod`-th frame is hashed.
    pub frame_mod: u64,
    /// Index of the video stream in the container.
    pub stream_index: usize,
    /// FFmpeg's decoder name (`h264`, `vp9`, …).
    pub codec: String,
    /// The stream's duration, when the container states it.
    pub duration_seconds: Option<f64>,
}

/// The vPDQ hash of one video.
#[derive(Debug, Clone, PartialEq)]
pub struct VpdqHashes {
    /// Hashed frames in frame-number order.
    pub frames: Vec<VpdqFrame>,
    /// Stream facts.
    pub info: VideoInfo,
    /// Frames in the stream's output order up to where decoding stopped (hashed or not): the
    /// frames upstream's decoder would produce.
    pub frames_decoded: u64,
    /// Of those, frames left undecoded ([`VpdqOptions::skip_unsampled`]).
    pub frames_skipped: u64,
    /// Stretches of the stream decoded at once, each by a decoder of its own
    /// ([`VpdqOptions::decode_threads`]); 1 when decoded in one go.
    pub stretches: usize,
    /// Set when a budget stopped decoding before the end.
    pub truncated: Option<Budget>,
    /// The demuxer stopped on an error other than end of file (upstream treats any read
    /// error as the end; the frames before it are kept).
    pub read_error: Option<String>,
}

/// Why a video could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// Not a regular file.
    #[error("not a regular file ({kind})")]
    NotRegular {
        /// What it is.
        kind: &'static str,
    },
    /// Zero bytes.
    #[error("empty file")]
    Empty,
    /// FFmpeg could not open it as a container, or could not open the decoder.
    #[error("cannot open as video: {0}")]
    Open(String),
    /// The container has no video stream (audio only, data, …).
    #[error("no video stream")]
    NoVideoStream,
    /// The stream states a zero width or height.
    #[error("video stream has zero width or height")]
    ZeroDimensions,
    /// No decoder for the codec in this FFmpeg build.
    #[error("unsupported codec {codec}")]
    NoDecoder {
        /// FFmpeg's codec id, lowercase.
        codec: String,
    },
    /// Neither `avg_frame_rate` nor `r_frame_rate` is a positive rate.
    #[error("video has no frame rate")]
    NoFrameRate,
    /// Frames smaller than PDQ's 5×5 minimum (upstream refuses them too).
    #[error("frames of {width}x{height} are below the 5x5 minimum")]
    TooSmall {
        /// Hash width.
        width: u32,
        /// Hash height.
        height: u32,
    },
    /// A stream or frame over [`VpdqOptions::max_pixels`].
    #[error("frame of {width}x{height} exceeds the {max_pixels}-pixel limit")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// The decoder refused a packet or failed to output a frame (upstream fails the video).
    #[error("decode error after {frame} frames: {message}")]
    Decode {
        /// Frames decoded before the error.
        frame: u64,
        /// FFmpeg's message.
        message: String,
    },
    /// swscale could not convert a frame.
    #[error("{0}")]
    Scale(String),
    /// The time budget ran out while opening.
    #[error("time budget exhausted while opening")]
    Timeout,
    /// The stream decoded to no frame at all.
    #[error("no frame decoded")]
    NoFrames,
    /// The file ends well before the duration its video stream declares (a cut download):
    /// the frames before the cut are in `partial`.
    #[error(
        "truncated file: frames end at {decoded_seconds:.3} s of a declared {declared_seconds:.3} s"
    )]
    Truncated {
        /// Time of the last decoded frame.
        decoded_seconds: f64,
        /// The stream's declared duration.
        declared_seconds: f64,
        /// What was hashed before the cut.
        partial: Box<VpdqHashes>,
    },
    /// The engine failed on a batch.
    #[error("hashing failed: {0}")]
    Hash(#[from] EngineError),
}

/// Hash a video file (see the module docs). `engine` hashes the frames.
pub fn hash_file(
    path: &Path,
    opts: &VpdqOptions,
    engine: &Engine,
) -> Result<VpdqHashes, VideoError> {
    hash_file_with(path, opts, engine, |_| {})
}

/// As [`hash_file`], and `on_batch` sees each batch of hashed frames as soon as it is
/// hashed (on the hashing thread), for callers that match while decoding goes on.
pub fn hash_file_with(
    path: &Path,
    opts: &VpdqOptions,
    engine: &Engine,
    mut on_batch: impl FnMut(&[VpdqFrame]) + Send,
) -> Result<VpdqHashes, VideoError> {
    let start = Instant::now();
    // The fast way first (stretches decoded at once, unsampled frames skipped if asked for;
    // or frame threads if asked for); any damage or departure from the plan decodes the video
    // again with upstream's own settings (see `decode::open`). The plan's demux-only pass
    // needs no decoder threads.
    let plan = if opts.skip_unsampled || opts.decode_threads > 1 {
        decode::open(path, opts, start, false, -1)?.make_plan(opts)
    } else {
        None
    };
    if let Some(plan) = plan {
        let stretches = plan.stretches.len();
        if let Some((info, end, frames, last)) = decode_planned(path, opts, engine, start, plan) {
            // A plan numbers frames from timestamps; until every stretch confirmed it, no
            // frame was handed out (a fall-back decode could number them differently).
            on_batch(&frames);
            return outcome(info, end, frames, last, stretches);
        }
    }
    let mut source = decode::open(path, opts, start, opts.frame_threads, -1)?;
    // Frames handed to `on_batch` so far (all numbers below `delivered`).
    let mut delivered = 0u64;
    // Without a plan, every frame output before the damage that stops an optimistic run came
    // from packets decoded before the damaged one, so the fall-back run outputs it again,
    // identical and with the same number: those already handed out are not repeated.
    let (mut ends, mut frames) = decode_and_hash(
        std::slice::from_mut(&mut source),
        opts,
        engine,
        &mut |b: &[VpdqFrame]| {
            if let Some(last) = b.last() {
                delivered = last.frame_number + 1;
            }
            on_batch(b);
        },
    );
    if let Some(Ok(e)) = ends.first()
        && e.replan.is_some()
    {
        source = decode::open(path, opts, start, false, -1)?;
        (ends, frames) = decode_and_hash(
            std::slice::from_mut(&mut source),
            opts,
            engine,
            &mut |b: &[VpdqFrame]| {
                let fresh = b.partition_point(|f| f.frame_number < delivered);
                if fresh < b.len() {
                    on_batch(&b[fresh..]);
                }
            },
        );
    }
    let frames = frames?;
    let end = ends.pop().expect("one source")?;
    let last = end.last_pts.and_then(|p| source.seconds(p));
    outcome(source.info.clone(), end, frames, last, 1)
}

/// Decode a planned video, its stretches at once; `None` if any stretch departs from the
/// plan or fails (the caller decodes it again upstream's way). Returns the stream facts, how
/// decoding ended, the hashed frames in order, and the time of the last frame.
fn decode_planned(
    path: &Path,
    opts: &VpdqOptions,
    engine: &Engine,
    start: Instant,
    plan: decode::Plan,
) -> Option<(VideoInfo, decode::RunEnd, Vec<VpdqFrame>, Option<f64>)> {
    let plan = Arc::new(plan);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut sources = Vec::with_capacity(plan.stretches.len());
    for (i, st) in plan.stretches.iter().enumerate() {
        let mut source = decode::open(path, opts, start, true, st.x264_build).ok()?;
        source.plan = Some((plan.clone(), i));
        source.cancel = Some(cancel.clone());
        sources.push(source);
    }
    let (ends, frames) = decode_and_hash(&mut sources, opts, engine, &mut |_| {});
    let mut frames = frames.ok()?;
    let mut end = decode::RunEnd::default();
    for e in ends {
        let e = e.ok()?;
        if e.replan.is_some() {
            return None;
        }
        end.frames_decoded += e.frames_decoded;
        end.frames_skipped += e.frames_skipped;
        end.last_pts = e.last_pts.or(end.last_pts);
        end.read_error = e.read_error;
        if e.truncated.is_some() {
            // Stopped by the time budget: what comes before the first gap is kept.
            end.truncated = e.truncated;
            break;
        }
    }
    frames.sort_unstable_by_key(|f| f.frame_number);
    frames.retain(|f| f.frame_number < end.frames_decoded);
    let source = sources.last().expect("at least one stretch");
    let last = end.last_pts.and_then(|p| source.seconds(p));
    Some((source.info.clone(), end, frames, last))
}

/// The result of a finished decode: no frame at all is an error, and so is a file cut short
/// of its declared duration (the frames before the cut are kept in the error).
fn outcome(
    info: VideoInfo,
    end: decode::RunEnd,
    frames: Vec<VpdqFrame>,
    last: Option<f64>,
    stretches: usize,
) -> Result<VpdqHashes, VideoError> {
    if end.frames_decoded == 0 && end.truncated.is_none() {
        return Err(VideoError::NoFrames);
    }
    let hashes = VpdqHashes {
        frames,
        info,
        frames_decoded: end.frames_decoded,
        frames_skipped: end.frames_skipped,
        stretches,
        truncated: end.truncated,
        read_error: end.read_error,
    };
    // A file cut short: the stream's own declared duration (mp4/mov/avi state one; Matroska
    // usually only has the container's, which may be the audio's, so it is not used) runs
    // past the last decoded frame by more than two frames and 2%.
    if let (None, Some(declared), Some(last)) =
        (hashes.truncated, hashes.info.duration_seconds, last)
    {
        let frame = 1.0 / hashes.info.fps;
        let slack = (2.0 * frame).max(0.02 * declared);
        if last + frame < declared - slack {
            return Err(VideoError::Truncated {
                decoded_seconds: last + frame,
                declared_seconds: declared,
                partial: Box::new(hashes),
            });
        }
    }
    Ok(hashes)
}

/// How one source's decoding ended.
type RunResult = Result<decode::RunEnd, VideoError>;

/// Decode each source (on threads of their own when more than one) and hash their
/// selected frames on one more thread, batch by batch; `on_batch` sees each batch once hashed.
/// The frames come back in the order they were hashed, which is frame order for one source.
fn decode_and_hash(
    sources: &mut [decode::Source],
    opts: &VpdqOptions,
    engine: &Engine,
    on_batch: &mut (dyn FnMut(&[VpdqFrame]) + Send),
) -> (Vec<RunResult>, Result<Vec<VpdqFrame>, VideoError>) {
    let info = sources[0].info.clone();
    let (w, h) = (info.width, info.height);
    let frame_bytes = 3 * w as usize * h as usize;
    let batch_cap = opts
        .batch_frames
        .clamp(1, 1024)
        .min(((64usize << 20) / frame_bytes).max(1));
    let fps32 = info.fps as f32;

    struct Batch {
        numbers: Vec<u64>,
        bufs: Vec<Vec<u8>>,
    }

    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(sources.len());
    let (pool_tx, pool_rx) = crossbeam_channel::unbounded::<Vec<u8>>();

    let decode = |source: &mut decode::Source, batch_tx: crossbeam_channel::Sender<Batch>| {
        let new_batch = || Batch {
            numbers: Vec::with_capacity(batch_cap),
            bufs: Vec::with_capacity(batch_cap),
        };
        let mut current = new_batch();
        let mut hasher_gone = false;
        let end = source.run(
            opts,
            || {
                pool_rx
                    .try_recv()
                    .unwrap_or_else(|_| vec![0u8; frame_bytes + decode::SWS_PADDING])
            },
            |n, buf| {
                current.numbers.push(n);
                current.bufs.push(buf);
                if current.bufs.len() >= batch_cap {
                    let full = std::mem::replace(&mut current, new_batch());
                    if batch_tx.send(full).is_err() {
                        // The hashing thread stopped on an error; it reports it below.
                        hasher_gone = true;
                    }
                }
                Ok(())
            },
        );
        if !current.bufs.is_empty() && !hasher_gone {
            let _ = batch_tx.send(current);
        }
        if end.as_ref().map_or(true, |e| e.replan.is_some())
            && let Some(c) = &source.cancel
        {
            // Another stretch's frames are of no use now: stop it early.
            c.store(true, Ordering::Relaxed);
        }
        end
    };

    std::thread::scope(|s| {
        let hasher = s.spawn(move || -> Result<Vec<VpdqFrame>, VideoError> {
            let mut frames = Vec::new();
            for batch in batch_rx {
                let views: Vec<ImageView<'_>> = batch
                    .bufs
                    .iter()
                    .map(|b| {
                        ImageView::rgb8(&b[..frame_bytes], w, h, 3 * w as usize)
                            .expect("sized buffer")
                    })
                    .collect();
                let outs = engine.hash_batch(&views);
                let first = frames.len();
                for (n, out) in batch.numbers.iter().zip(outs) {
                    let out = out?;
                    frames.push(VpdqFrame {
                        frame_number: *n,
                        quality: out.quality,
                        hash: out.hash,
                        timestamp: *n as f32 / fps32,
                    });
                }
                on_batch(&frames[first..]);
                drop(views);
                for b in batch.bufs {
                    let _ = pool_tx.send(b);
                }
            }
            Ok(frames)
        });

        let ends: Vec<_> = match sources {
            [one] => vec![decode(one, batch_tx.clone())],
            many => {
                let decode = &decode;
                let threads: Vec<_> = many
                    .iter_mut()
                    .map(|source| {
                        let tx = batch_tx.clone();
                        s.spawn(move || decode(source, tx))
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("decoding thread panicked"))
                    .collect()
            }
        };
        drop(batch_tx);
        let frames = hasher.join().expect("hashing thread panicked");
        (ends, frames)
    })
}
