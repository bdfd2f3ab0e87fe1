//! Decoding with FFmpeg's libraries, as upstream vPDQ does (`pdq-spec.md` §2.1–2.2,
//! `vpdq/cpp/vpdq/cpp/hashing/{ffmpegwrapper,filehasher}.cpp`):
//!
//! - the first `AVMEDIA_TYPE_VIDEO` stream; its decoder with slice threading (thread count
//!   auto) when the codec has it, else one thread — or, with the [`VpdqOptions::frame_threads`]
//!   option and the video as stream 0, frame threading (same frames on an intact stream; on
//!   a damaged one FFmpeg conceals differently, so a run stops at the first damage FFmpeg
//!   reports and the video is decoded again upstream's way, see [`open`]);
//! - fps = `avg_frame_rate`, or `r_frame_rate` when that is 0;
//! - packets read with `av_read_frame` until it fails (any error ends the stream, as
//!   upstream); a decoder error (send or receive) fails the video;
//! - the decoder is flushed at the end only when the video stream is stream 0: upstream
//!   "flushes" by sending the blank packet `av_read_frame` leaves behind, whose
//!   `stream_index` is 0, so for any other stream the flush packet is dropped and the frames
//!   still inside the decoder are never output. Reproduced so frame counts stay equal;
//! - frame number = the codec context's `frame_number - 1` after each received frame;
//! - each selected frame through `sws_scale` to RGB24 with `SWS_AREA`, source size and
//!   format those of the decoded frame (upstream takes the codec context's at the start,
//!   the same for every stream whose geometry does not change; a frame of another size or
//!   format gets a scaler of its own here rather than a read past its planes), destination the
//!   stream's `codecpar` size or the downsample size, rows packed (stride = 3 × width, as
//!   `av_frame_get_buffer(…, 1)`).
//!
//! **The plan** ([`Source::make_plan`]). For H.264 in MP4 or Matroska (length-prefixed
//! packets) on stream 0, without a frame budget, a demux-only pass reads every packet first.
//! If every packet has a timestamp, the timestamps are distinct, the first packet is a key
//! frame, every packet holds one picture whose slice headers can be followed, and the stream
//! declares a reorder depth (`has_b_frames`) at least the one its packets need, the decoder
//! outputs one frame per packet in timestamp order, so a frame's number is its timestamp's
//! rank. The frame numbers and picture order counts in the slice headers must agree
//! ([`h264::sequence_holds`]). With the numbers known, two things become possible:
//!
//! - **Stretches decoded at once** ([`VpdqOptions::decode_threads`]). An IDR picture empties
//!   the decoder's reference buffer, so a decoder that starts there, given the parameter sets
//!   and x264 version the earlier packets left behind ([`h264::Scanner`]), decodes the same
//!   pictures as one that read the stream from its start. The stream is cut at IDR pictures
//!   that every earlier packet precedes in timestamp order into stretches of about equal
//!   size, each decoded on its own thread; each stretch's frames are numbered from the plan.
//! - **Skipping unsampled frames** ([`VpdqOptions::skip_unsampled`], off by default). A
//!   frame no other frame references (`nal_ref_idc = 0`) can be left undecoded without
//!   changing any other frame's pixels: FFmpeg's `skip_frame = AVDISCARD_NONREF`, set per
//!   packet. FFmpeg then never reads the skipped pictures, so damage in one that upstream's
//!   decoder acts on goes unseen (see the option).
//!
//! A planned run is a fast run ([`open`]'s `optimistic`): `AV_EF_EXPLODE`, and H.264 error
//! concealment switched on. Upstream's slice threads switch concealment off, so macroblocks a
//! damaged picture's slices never reached keep the pixels of whatever picture the buffer held
//! before, which depend on every picture decoded earlier; with concealment on, FFmpeg finds
//! them and flags the picture. While decoding, every one of these must hold, or the run stops
//! with [`RunEnd::replan`] set (and any other stretch with it), and the caller decodes the
//! whole video again upstream's way, in one go:
//! - the packets read are the planned ones (same count, same timestamps, same order);
//! - every output frame carries the timestamp of a packet of its stretch that the plan
//!   decodes, in increasing order, without decode error flags or an error from the decoder;
//! - every such packet's frame is output (so every sampled frame is);
//! - the decoder ends with the reorder depth it started with (H.264 grows it on pictures
//!   that arrive later than it allowed for, and what it outputs on the way depends on what it
//!   saw before).
//!
//! The file is opened by vigil (`O_NOFOLLOW | O_NONBLOCK`, regular files only) and handed to
//! FFmpeg as custom I/O, with `protocol_whitelist` set so no demuxer (HLS, concat, …) can open
//! another file or a network address.

use std::ffi::CStr;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Instant;

use ff::ffi;
use ffmpeg_next as ff;

use super::{Budget, VideoError, VideoInfo, VpdqOptions, h264};

static INIT: Once = Once::new();

/// Silence FFmpeg's logging (process-wide): failures come back as [`VideoError`]s. Set
/// `VIGIL_FFMPEG_LOG` to an `av_log` level (e.g. 24 = warning, 48 = debug) to see it.
fn init() {
    INIT.call_once(|| {
        let level = std::env::var("VIGIL_FFMPEG_LOG")
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(ffi::AV_LOG_QUIET);
        // SAFETY: av_log_set_level only stores an int in a global.
        unsafe { ffi::av_log_set_level(level) };
    });
}

/// FFmpeg's own message for an error code (`av_strerror`).
fn ff_err(e: ff::Error) -> String {
    let code: i32 = e.into();
    let mut buf = [0 as std::ffi::c_char; 128];
    // SAFETY: av_strerror writes at most `buf.len()` bytes, NUL-terminated, into `buf`.
    let ok = unsafe { ffi::av_strerror(code, buf.as_mut_ptr(), buf.len()) } == 0;
    // SAFETY: `buf` is NUL-terminated (zeroed, and av_strerror terminates what it writes).
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    if ok && !text.trim().is_empty() {
        text.into_owned()
    } else {
        format!("FFmpeg error {code}")
    }
}

/// An opened video: demuxer, decoder and what upstream reads from them.
pub(crate) struct Source {
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    pub(crate) info: VideoInfo,
    deadline: Option<Instant>,
    /// Stream start time and time base, for the truncation check.
    start_pts: i64,
    time_base: (i32, i32),
    /// Output numbers for skipping unsampled frames, from [`Source::make_plan`], and the
    /// index of the stretch this source decodes.
    pub(crate) plan: Option<(Arc<Plan>, usize)>,
    /// Opened the fast way: any damage or decoder error ends the run with a replan.
    optimistic: bool,
    /// Set by another stretch's run that failed: this one stops with a replan too.
    pub(crate) cancel: Option<Arc<AtomicBool>>,
}

/// The stream's packets in decode order, from a demux-only pass (see the module docs).
#[derive(Debug)]
pub(crate) struct Plan {
    /// Timestamp of each video packet, in decode order.
    pts: Vec<i64>,
    /// The same timestamps sorted: a frame's number is its timestamp's index here.
    sorted: Vec<i64>,
    /// For each frame number, its packet's index in decode order.
    packet_of: Vec<u32>,
    /// For each packet: decoded in full (a reference picture, or sampled); the others are
    /// discarded by the decoder and never output.
    decoded: Vec<bool>,
    /// The stretches decoded each by a decoder of its own, in order, covering every packet.
    pub(crate) stretches: Vec<Stretch>,
    /// The reorder depth the stream declares (`has_b_frames`), which every run must end with.
    reorder: i32,
}

/// Packets `from..to` (decode order), whose frame numbers are `from..to` too (every earlier
/// packet has a smaller timestamp), starting at an IDR picture unless `from` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stretch {
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// FFmpeg's `x264_build` option for the stretch's decoder: the value a decoder that
    /// read every earlier packet would hold (`-1`: none).
    pub(crate) x264_build: i32,
    /// Packets of the stretch decoded in full (frames it outputs).
    expect: usize,
}

impl Plan {
    fn number(&self, pts: i64) -> Option<u64> {
        self.sorted.binary_search(&pts).ok().map(|i| i as u64)
    }
}

/// Open `path` and its first video stream.
///
/// `optimistic`: decode the fast way (frame threads where [`VpdqOptions::frame_threads`]
/// allows, a plan's stretch if one is set), with FFmpeg's `AV_EF_EXPLODE` and H.264 error
/// concealment on, so that any damage in the stream, reported or left undecoded, stops the
/// run with [`RunEnd::replan`]: what damage does to the pixels depends on how, and from
/// where, the stream was decoded (frame threads conceal it differently from upstream's slice
/// threads: 6 of 20 sampled frames of a damaged H.264 file differ; slice threads leave it
/// undecoded, showing an earlier picture's pixels). Not optimistic: upstream's own settings
/// (slice threads, concealment off with them, damage passed over as upstream's decoder
/// does).
///
/// `x264_build`: FFmpeg's H.264 `x264_build` option (`-1`, its default, unless this source
/// decodes a [`Stretch`] of a plan).
pub(crate) fn open(
    path: &Path,
    opts: &VpdqOptions,
    start: Instant,
    optimistic: bool,
    x264_build: i32,
) -> Result<Source, VideoError> {
    init();
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                VideoError::NotRegular {
                    kind: "symbolic link",
                }
            } else {
                VideoError::Io(e)
            }
        })?;
    let meta = file.metadata().map_err(VideoError::Io)?;
    if !meta.file_type().is_file() {
        return Err(VideoError::NotRegular {
            kind: crate::scan::file_kind(&meta),
        });
    }
    if meta.len() == 0 {
        return Err(VideoError::Empty);
    }
    let deadline = opts.max_duration.map(|d| start + d);
    let io = ff::format::context::StreamIo::from_read_seek(file)
        .map_err(|e| VideoError::Open(ff_err(e)))?;
    let mut options = ff::Dictionary::new();
    // No nested opens: FFmpeg only accepts protocols on this list, and "none" names none.
    options.set("protocol_whitelist", "none");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let input = ff::format::input_from_stream_with_interrupt(
        io,
        name.as_deref().filter(|n| !n.contains('\0')),
        Some(options),
        move || deadline.is_some_and(|d| Instant::now() >= d),
    )
    .map_err(|e| match e {
        ff::Error::Exit => VideoError::Timeout,
        e => VideoError::Open(ff_err(e)),
    })?;

    let Some(stream) = input
        .streams()
        .find(|s| s.parameters().medium() == ff::media::Type::Video)
    else {
        return Err(VideoError::NoVideoStream);
    };
    let stream_index = stream.index();
    let params = stream.parameters();
    // SAFETY: `params` wraps the stream's live AVCodecParameters; reading two ints.
    let (src_w, src_h) = unsafe { ((*params.as_ptr()).width, (*params.as_ptr()).height) };
    if src_w <= 0 || src_h <= 0 {
        return Err(VideoError::ZeroDimensions);
    }
    let (width, height) = match opts.downsample {
        Some((w, h)) => (w, h),
        None => (src_w as u32, src_h as u32),
    };
    if width < 5 || height < 5 {
        return Err(VideoError::TooSmall { width, height });
    }
    check_pixels(src_w as u32, src_h as u32, opts)?;
    check_pixels(width, height, opts)?;

    let codec_id = params.id();
    let Some(codec) = ff::decoder::find(codec_id) else {
        return Err(VideoError::NoDecoder {
            codec: format!("{codec_id:?}").to_ascii_lowercase(),
        });
    };
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    ctx.set_parameters(params)
        .map_err(|e| VideoError::Open(ff_err(e)))?;
    let caps = codec.capabilities();
    let set_option = |ctx: &mut ff::codec::Context, name: &CStr, value: i64| {
        // SAFETY: the context was allocated for `codec`, so `priv_data` holds the decoder's
        // options (or is null, which av_opt_set_int refuses); it finds the named one (or
        // fails) and stores an int.
        let ok =
            unsafe { ffi::av_opt_set_int((*ctx.as_mut_ptr()).priv_data, name.as_ptr(), value, 0) };
        if ok == 0 {
            Ok(())
        } else {
            Err(VideoError::Open(format!(
                "cannot set {}",
                name.to_string_lossy()
            )))
        }
    };
    if x264_build != -1 {
        set_option(&mut ctx, c"x264_build", i64::from(x264_build))?;
    }
    if optimistic {
        // SAFETY: the context is not open yet; setting a flag field.
        unsafe { (*ctx.as_mut_ptr()).err_recognition |= ffi::AV_EF_EXPLODE };
        if codec_id == ff::codec::Id::H264 {
            // Upstream's slice threads switch H.264's error concealment off, so the
            // macroblocks of a damaged picture that no slice decoded keep whatever the
            // picture buffer held before: pixels of an earlier picture, which depend on
            // every picture decoded so far. A fast run decodes another set of pictures (a
            // stretch, or with some skipped), so it cannot reproduce them. Concealment on
            // finds those macroblocks and flags the picture (any damage ends a fast run),
            // and changes no pixel of a picture decoded whole.
            set_option(&mut ctx, c"enable_er", 1)?;
        }
    }
    if optimistic
        && opts.frame_threads
        && stream_index == 0
        && caps.contains(ff::codec::Capabilities::FRAME_THREADS)
    {
        // Frame threads decode the same pixels in the same order (FFmpeg's frame threading
        // is bit-exact), but hold more frames back until the end-of-stream flush. Upstream's
        // flush reaches only stream 0, so only there may they be used without losing frames
        // that upstream outputs.
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
    } else if caps.contains(ff::codec::Capabilities::SLICE_THREADS) {
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Slice,
            count: 0,
            ..Default::default()
        });
    } else {
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::None,
            count: 1,
            ..Default::default()
        });
    }
    let decoder = ctx
        .decoder()
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| VideoError::Open(ff_err(e)))?;

    let mut rate = stream.avg_frame_rate();
    if rate.numerator() == 0 || rate.denominator() == 0 {
        rate = stream.rate();
    }
    let fps = if rate.denominator() == 0 {
        f64::NAN
    } else {
        f64::from(rate.numerator()) / f64::from(rate.denominator())
    };
    if !fps.is_finite() || fps <= 0.0 {
        return Err(VideoError::NoFrameRate);
    }
    // Upstream: (int)(secondsPerHash * frameRate), 0 → 1.
    let mut frame_mod = super::frame_mod(opts.seconds_per_hash, fps);
    if let Some(also) = opts.also_seconds_per_hash {
        let (mut a, mut b) = (frame_mod, super::frame_mod(also, fps));
        while b != 0 {
            (a, b) = (b, a % b);
        }
        frame_mod = a.max(1);
    }
    let tb = stream.time_base();
    let duration = stream.duration();
    let duration_seconds = (duration > 0 && tb.denominator() != 0)
        .then(|| duration as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()));
    let info = VideoInfo {
        width,
        height,
        source_width: src_w as u32,
        source_height: src_h as u32,
        fps,
        frame_mod,
        stream_index,
        codec: codec.name().to_owned(),
        duration_seconds,
    };
    let start_pts = stream.start_time();
    Ok(Source {
        input,
        decoder,
        stream_index,
        info,
        deadline,
        start_pts: if start_pts == ffi::AV_NOPTS_VALUE {
            0
        } else {
            start_pts
        },
        time_base: (tb.numerator(), tb.denominator()),
        plan: None,
        optimistic,
        cancel: None,
    })
}

fn check_pixels(width: u32, height: u32, opts: &VpdqOptions) -> Result<(), VideoError> {
    if u64::from(width) * u64::from(height) > opts.max_pixels {
        return Err(VideoError::TooLarge {
            width,
            height,
            max_pixels: opts.max_pixels,
        });
    }
    Ok(())
}

/// Bytes past the packed RGB24 rows that `sws_scale` may write to: its SIMD output loops
/// store whole vectors past the last pixel (valgrind saw 8 bytes past a 1080×1080 frame).
/// Upstream converts into `av_frame_get_buffer(…, 1)` frames, which FFmpeg pads by
/// `16 + STRIDE_ALIGN - 1` bytes; this is more than that.
pub(crate) const SWS_PADDING: usize = 256;
const _: () = assert!(
    SWS_PADDING >= 16 + 64 - 1,
    "at least FFmpeg's own frame padding"
);

/// An `SwsContext` for one source geometry, freed on drop.
struct Scaler {
    ctx: *mut ffi::SwsContext,
    key: (i32, i32, i32),
    /// Destination width and height.
    dst: (u32, u32),
}

impl Scaler {
    fn new(key: (i32, i32, i32), dst_w: u32, dst_h: u32) -> Result<Scaler, VideoError> {
        // SAFETY: plain constructor; sizes and formats are checked by swscale, which returns
        // null for anything it cannot convert. The pixel format comes from the decoder, so it
        // is a valid AVPixelFormat value.
        let ctx = unsafe {
            ffi::sws_getContext(
                key.0,
                key.1,
                std::mem::transmute::<i32, ffi::AVPixelFormat>(key.2),
                dst_w as i32,
                dst_h as i32,
                ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
                ffi::SWS_AREA,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if ctx.is_null() {
            let fmt = pix_fmt_name(key.2);
            return Err(VideoError::Scale(format!(
                "cannot convert {}x{} {fmt} to RGB24",
                key.0, key.1
            )));
        }
        Ok(Scaler {
            ctx,
            key,
            dst: (dst_w, dst_h),
        })
    }
}

impl Scaler {
    /// Convert `frame` (of this scaler's source geometry) into `buf` as packed RGB24 rows of
    /// `3 × dst_w` bytes, `dst_h` of them, which `buf` must hold plus [`SWS_PADDING`];
    /// returns `sws_scale`'s row count (≤ 0 on failure).
    fn scale(&self, frame: &ff::frame::Video, buf: &mut [u8]) -> i32 {
        let (dst_w, dst_h) = self.dst;
        assert!(buf.len() >= 3 * dst_w as usize * dst_h as usize + SWS_PADDING);
        // SAFETY: `frame` is a live frame; reading its geometry.
        let geometry = unsafe {
            let f = frame.as_ptr();
            ((*f).width, (*f).height, (*f).format)
        };
        assert_eq!(geometry, self.key, "a scaler for another geometry");
        let dst_data = [
            buf.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ];
        let dst_stride = [3 * dst_w as i32, 0, 0, 0];
        // SAFETY: this scaler was made for exactly `frame`'s width, height and format
        // (asserted above), so it reads the frame's rows from its own planes; it writes `dst_h` rows of
        // `3 × dst_w` bytes into `buf`, which holds that many and `SWS_PADDING` more for its
        // vector stores past the last pixel (asserted above).
        unsafe {
            let f = frame.as_ptr();
            ffi::sws_scale(
                self.ctx,
                (*f).data.as_ptr() as *const *const u8,
                (*f).linesize.as_ptr(),
                0,
                (*f).height,
                dst_data.as_ptr(),
                dst_stride.as_ptr(),
            )
        }
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from sws_getContext and is freed once, here.
        unsafe { ffi::sws_freeContext(self.ctx) };
    }
}

fn pix_fmt_name(fmt: i32) -> String {
    // SAFETY: av_get_pix_fmt_name returns null or a static NUL-terminated string; the
    // transmute is guarded by the caller getting `fmt` from FFmpeg.
    unsafe {
        let p = ffi::av_get_pix_fmt_name(std::mem::transmute::<i32, ffi::AVPixelFormat>(fmt));
        if p.is_null() {
            format!("pixel format {fmt}")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// How decoding ended.
#[derive(Debug, Default)]
pub(crate) struct RunEnd {
    pub(crate) frames_decoded: u64,
    pub(crate) truncated: Option<Budget>,
    pub(crate) read_error: Option<String>,
    /// Largest `best_effort_timestamp` seen, in stream time-base units.
    pub(crate) last_pts: Option<i64>,
    /// Frames of the stream left undecoded by the skip plan.
    pub(crate) frames_skipped: u64,
    /// The skip plan did not hold (why): nothing of this run may be used; decode again
    /// without a plan.
    pub(crate) replan: Option<&'static str>,
}

impl Source {
    /// Seconds from the stream's start to the frame at `pts`.
    pub(crate) fn seconds(&self, pts: i64) -> Option<f64> {
        let (num, den) = self.time_base;
        (den != 0)
            .then(|| (pts.saturating_sub(self.start_pts)) as f64 * f64::from(num) / f64::from(den))
    }

    /// Read every packet (no decoding) and return the plan that lets [`Source::run`] skip
    /// unsampled non-reference frames, or `None` where the module docs' conditions do not
    /// hold. Consumes the demuxer: open the file again to decode it.
    pub(crate) fn make_plan(mut self, opts: &VpdqOptions) -> Option<Plan> {
        let skip = opts.skip_unsampled && self.info.frame_mod >= 2;
        if !(skip || opts.decode_threads > 1)
            || opts.max_frames.is_some()
            || self.stream_index != 0
            || self.decoder.id() != ff::codec::Id::H264
        {
            return None;
        }
        // SAFETY: the decoder's AVCodecContext is live; its extradata is null or holds
        // `extradata_size` bytes, copied from the stream's parameters.
        let extradata = unsafe {
            let c = self.decoder.as_ptr();
            let (p, n) = ((*c).extradata, (*c).extradata_size);
            if p.is_null() || n <= 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, n as usize)
            }
        };
        // Length-prefixed packets only (MP4, Matroska): their NAL units say which packets
        // hold reference pictures and where an IDR picture starts.
        let mut scanner = h264::Scanner::new(&h264::avc_config(extradata)?);
        let mut pts = Vec::new();
        let mut reference = Vec::new();
        let mut pictures = Vec::new();
        let mut idr_flags = Vec::new();
        let mut cost = Vec::new();
        // IDR packets a fresh decoder could start at, with its `x264_build`.
        let mut idr = Vec::new();
        let mut packet = ff::Packet::empty();
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => break,
                // Upstream ends the stream at any read error; so will the decoding pass.
                Err(_) => break,
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            let first = pts.is_empty();
            if (first && !packet.is_key()) || packet.is_corrupt() {
                return None;
            }
            let (fresh_ok, build) = (scanner.can_start_here(), scanner.x264_build());
            // A packet without a picture would shift the numbers: no plan.
            let facts = scanner.packet(packet.data()?)?;
            if !first && fresh_ok && facts.idr && packet.is_key() {
                idr.push((pts.len(), build));
            }
            pts.push(packet.pts()?);
            reference.push(facts.reference);
            // A picture whose slice headers cannot be followed: no plan.
            pictures.push(facts.picture?);
            idr_flags.push(facts.idr);
            cost.push(packet.size() as u64);
        }
        let mut sorted = pts.clone();
        sorted.sort_unstable();
        if sorted.is_empty() || sorted.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        // The decoder outputs in timestamp order only if its reorder buffer, as the stream
        // declares it, is deep enough from the start: with too shallow a buffer H.264 grows it
        // on the fly from the pictures it sees, and may output a picture early or drop one;
        // skipped pictures would then change what it sees. Depth needed: the most packets
        // decoded after one packet that are shown before it.
        // SAFETY: the decoder's AVCodecContext is live; reading an int.
        let declared = unsafe { (*self.decoder.as_ptr()).has_b_frames };
        if reorder_depth(&pts, &sorted) > usize::try_from(declared).unwrap_or(0) {
            return None;
        }
        let n = pts.len();
        let frame_mod = self.info.frame_mod;
        let mut packet_of = vec![0u32; n];
        let mut decoded = vec![false; n];
        for (i, &t) in pts.iter().enumerate() {
            let rank = sorted
                .binary_search(&t)
                .expect("every timestamp is in sorted");
            packet_of[rank] = u32::try_from(i).ok()?;
            decoded[i] = !skip || reference[i] || rank as u64 % frame_mod == 0;
            if !decoded[i] {
                cost[i] = 0;
            }
        }
        if !h264::sequence_holds(&pictures, &idr_flags, &reference, &decoded, &pts) {
            return None;
        }
        // A stretch may start at packet k only if every earlier packet is shown earlier, so
        // that its frames are numbered k, k + 1, … whatever the others do.
        let mut suffix_min = pts.clone();
        for i in (0..n.saturating_sub(1)).rev() {
            suffix_min[i] = suffix_min[i].min(suffix_min[i + 1]);
        }
        let mut prefix_max = i64::MIN;
        let mut starts = Vec::new();
        let mut next = idr.iter().peekable();
        for (i, &t) in pts.iter().enumerate() {
            if let Some(&&(k, build)) = next.peek()
                && k == i
            {
                next.next();
                if prefix_max < suffix_min[i] {
                    starts.push((k, build));
                }
            }
            prefix_max = prefix_max.max(t);
        }
        let stretches = choose_stretches(&cost, &starts, opts.decode_threads.max(1), &decoded);
        Some(Plan {
            pts,
            sorted,
            packet_of,
            decoded,
            stretches,
            reorder: declared,
        })
    }

    /// Decode to the end (or a budget). For each selected frame, `target()` returns a buffer
    /// (resized here to `3 × width × height + SWS_PADDING` bytes) whose first
    /// `3 × width × height` bytes receive the RGB24 pixels, then `done(frame_number, buffer)`
    /// takes it back.
    pub(crate) fn run(
        &mut self,
        opts: &VpdqOptions,
        mut target: impl FnMut() -> Vec<u8>,
        mut done: impl FnMut(u64, Vec<u8>) -> Result<(), VideoError>,
    ) -> Result<RunEnd, VideoError> {
        let mut end = RunEnd::default();
        let (dst_w, dst_h) = (self.info.width, self.info.height);
        let mut scaler: Option<Scaler> = None;
        let mut frame = ff::frame::Video::empty();
        let mut packet = ff::Packet::empty();
        let frame_mod = self.info.frame_mod;
        let deadline = self.deadline;
        let over_time = move || deadline.is_some_and(|d| Instant::now() >= d);
        let plan = self.plan.take();
        let (plan, stretch) = match &plan {
            Some((p, i)) => (Some(&**p), Some(p.stretches[*i])),
            None => (None, None),
        };
        let (from, to) = stretch.map_or((0, usize::MAX), |s| (s.from, s.to));
        let cancel = self.cancel.clone();
        let cancelled = move || cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
        let optimistic = self.optimistic;
        // With a plan: packets read, packets sent, frames output, last number.
        let mut read = 0usize;
        let mut sent = 0usize;
        let mut received = 0u64;
        let mut last_number: Option<u64> = None;

        let mut drain = |decoder: &mut ff::decoder::Video,
                         end: &mut RunEnd|
         -> Result<bool, VideoError> {
            loop {
                match decoder.receive_frame(&mut frame) {
                    Ok(()) => {}
                    Err(ff::Error::Eof) => return Ok(true),
                    Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => return Ok(true),
                    Err(_) if optimistic => {
                        end.replan = Some("decoder error");
                        return Ok(false);
                    }
                    Err(e) => {
                        return Err(VideoError::Decode {
                            frame: end.frames_decoded,
                            message: ff_err(e),
                        });
                    }
                }
                end.frames_decoded += 1;
                if let Some(t) = frame.timestamp() {
                    end.last_pts = Some(end.last_pts.map_or(t, |m| m.max(t)));
                }
                // SAFETY: `frame` holds the frame just received; reading two ints.
                let damaged = unsafe {
                    let f = frame.as_ptr();
                    (*f).decode_error_flags != 0 || (*f).flags & ffi::AV_FRAME_FLAG_CORRUPT != 0
                };
                if damaged && optimistic {
                    end.replan = Some("a damaged frame");
                    return Ok(false);
                }
                let number = match plan {
                    // SAFETY: the decoder's AVCodecContext is live; reading an int.
                    None => i64::from(unsafe { (*decoder.as_ptr()).frame_number }) - 1,
                    Some(p) => match frame.pts().and_then(|t| p.number(t)) {
                        // Each frame once, in order, from this stretch, and only a frame
                        // the plan decodes (a frame the plan skips cannot be output).
                        Some(n)
                            if last_number.is_none_or(|l| n > l)
                                && (from as u64..to as u64).contains(&n)
                                && p.decoded[p.packet_of[n as usize] as usize] =>
                        {
                            last_number = Some(n);
                            received += 1;
                            n as i64
                        }
                        _ => {
                            end.replan = Some("a frame out of plan");
                            return Ok(false);
                        }
                    },
                };
                if number >= 0 && (number as u64) % frame_mod == 0 {
                    // SAFETY: `frame` holds the frame just received; reading its geometry.
                    let (fw, fh, ffmt) = unsafe {
                        let f = frame.as_ptr();
                        ((*f).width, (*f).height, (*f).format)
                    };
                    if fw <= 0 || fh <= 0 {
                        return Err(VideoError::Decode {
                            frame: number as u64,
                            message: "decoded frame has no pixels".into(),
                        });
                    }
                    check_pixels(fw as u32, fh as u32, opts)?;
                    let want = (fw, fh, ffmt);
                    if scaler.as_ref().is_none_or(|s| s.key != want) {
                        scaler = Some(Scaler::new(want, dst_w, dst_h)?);
                    }
                    let s = scaler.as_ref().expect("scaler just made");
                    let mut buf = target();
                    let packed = 3 * dst_w as usize * dst_h as usize;
                    // The hashed pixels are the first `packed` bytes; swscale may write into
                    // the padding after them.
                    buf.resize(packed + SWS_PADDING, 0);
                    if s.scale(&frame, &mut buf) <= 0 {
                        return Err(VideoError::Scale(format!(
                            "sws_scale failed on frame {number}"
                        )));
                    }
                    done(number as u64, buf)?;
                }
                if opts.max_frames.is_some_and(|m| end.frames_decoded >= m) {
                    end.truncated = Some(Budget::Frames);
                    return Ok(false);
                }
                if over_time() {
                    end.truncated = Some(Budget::Time);
                    return Ok(false);
                }
            }
        };

        loop {
            if over_time() {
                end.truncated = Some(Budget::Time);
                return Ok(finish(end, plan, from, received, last_number));
            }
            if cancelled() {
                end.replan = Some("another stretch failed");
                return Ok(end);
            }
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => break,
                Err(ff::Error::Exit) if over_time() => {
                    end.truncated = Some(Budget::Time);
                    return Ok(finish(end, plan, from, received, last_number));
                }
                Err(e) => {
                    end.read_error = Some(ff_err(e));
                    break;
                }
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            if let Some(p) = plan {
                if read == to && to < p.pts.len() {
                    // The next stretch's first packet: this stretch ends here.
                    break;
                }
                let Some(&pts) = p.pts.get(read).filter(|&&t| packet.pts() == Some(t)) else {
                    end.replan = Some("packets differ from the demux pass");
                    return Ok(end);
                };
                read += 1;
                if read <= from {
                    // An earlier stretch's packet, decoded by its own decoder.
                    continue;
                }
                sent += 1;
                debug_assert!(p.number(pts).is_some(), "planned timestamp");
                let discard = if p.decoded[read - 1] {
                    ffi::AVDiscard::AVDISCARD_DEFAULT
                } else {
                    ffi::AVDiscard::AVDISCARD_NONREF
                };
                // SAFETY: the decoder's AVCodecContext is live and owned by this thread;
                // `skip_frame` is a user-settable field read when the next packet is sent.
                unsafe { (*self.decoder.as_mut_ptr()).skip_frame = discard };
            }
            if let Err(e) = self.decoder.send_packet(&packet) {
                return decoder_error(end, optimistic, "cannot send packet to decoder", e);
            }
            if !drain(&mut self.decoder, &mut end)? {
                return Ok(finish(end, plan, from, received, last_number));
            }
        }
        if self.stream_index == 0 {
            if let Err(e) = self.decoder.send_eof() {
                return decoder_error(end, optimistic, "cannot flush decoder", e);
            }
            drain(&mut self.decoder, &mut end)?;
        }
        if let (Some(p), Some(st)) = (plan, stretch)
            && end.replan.is_none()
        {
            let n = (st.to - st.from) as u64;
            // SAFETY: the decoder's AVCodecContext is live; reading an int.
            let reorder = unsafe { (*self.decoder.as_ptr()).has_b_frames };
            if sent != st.to - st.from {
                end.replan = Some("fewer packets than the demux pass");
            } else if reorder != p.reorder {
                // H.264 grows it when pictures arrive later than it allowed for (damage, or a
                // stream that declares too little): what it output, or dropped, on the way
                // depends on what it had seen before, which differs between stretches.
                end.replan = Some("the decoder grew its reorder buffer");
            } else if received != st.expect as u64 {
                // Every output frame is a distinct decoded packet of the stretch, so equal
                // counts mean every decoded packet's frame, sampled ones included, came out.
                end.replan = Some("a decoded frame was not output");
            } else {
                end.frames_decoded = n;
                end.frames_skipped = n - received;
                end.last_pts = Some(p.sorted[st.to - 1]);
            }
        }
        Ok(end)
    }
}

/// The decoder refused a packet or the flush: an optimistic run ends for a replan (the
/// video is decoded again upstream's way); upstream's own run fails the video, as upstream.
fn decoder_error(
    mut end: RunEnd,
    optimistic: bool,
    what: &str,
    e: ff::Error,
) -> Result<RunEnd, VideoError> {
    if optimistic {
        end.replan = Some("decoder error");
        return Ok(end);
    }
    Err(VideoError::Decode {
        frame: end.frames_decoded,
        message: format!("{what}: {}", ff_err(e)),
    })
}

/// A planned run stopped by its time budget: the frames of its stretch (from frame `from`)
/// up to the last one output count as decoded, as they would have been without skipping.
fn finish(
    mut end: RunEnd,
    plan: Option<&Plan>,
    from: usize,
    received: u64,
    last_number: Option<u64>,
) -> RunEnd {
    if plan.is_some() && end.replan.is_none() {
        let upto = last_number.map_or(from as u64, |n| n + 1) - from as u64;
        end.frames_decoded = upto;
        end.frames_skipped = upto - received;
    }
    end
}

/// Cut the packets into at most `parts` stretches of about equal decoding cost, each
/// starting at one of `starts` (packet index, `x264_build`) except the first.
fn choose_stretches(
    cost: &[u64],
    starts: &[(usize, i32)],
    parts: usize,
    decoded: &[bool],
) -> Vec<Stretch> {
    let mut before = Vec::with_capacity(cost.len() + 1);
    let mut sum = 0u64;
    before.push(0);
    for &c in cost {
        sum += c;
        before.push(sum);
    }
    let mut cuts: Vec<(usize, i32)> = vec![(0, -1)];
    for j in 1..parts as u64 {
        let target = sum / parts as u64 * j;
        let last = cuts.last().expect("first cut").0;
        let best = starts
            .iter()
            .filter(|&&(k, _)| k > last)
            .min_by_key(|&&(k, _)| before[k].abs_diff(target));
        // A cut far from its target would leave one decoder with most of the work.
        if let Some(&c) = best
            && before[c.0].abs_diff(target) <= sum / (2 * parts as u64)
        {
            cuts.push(c);
        }
    }
    let n = cost.len();
    cuts.iter()
        .enumerate()
        .map(|(i, &(from, x264_build))| {
            let to = cuts.get(i + 1).map_or(n, |c| c.0);
            Stretch {
                from,
                to,
                x264_build,
                expect: decoded[from..to].iter().filter(|&&d| d).count(),
            }
        })
        .collect()
}

/// For distinct timestamps in decode order and the same sorted: the reorder depth a decoder
/// needs to output in timestamp order, H.264's `num_reorder_frames`: the most packets
/// decoded before one packet but shown after it. Packet `i` (decode order) has `i` earlier
/// packets; those with smaller timestamps are counted with a Fenwick tree over ranks.
fn reorder_depth(pts: &[i64], sorted: &[i64]) -> usize {
    let mut tree = vec![0u32; sorted.len() + 1];
    let mut depth = 0;
    for (i, &p) in pts.iter().enumerate() {
        let rank = sorted
            .binary_search(&p)
            .expect("every timestamp is in sorted");
        let mut smaller = 0usize;
        let mut k = rank;
        while k > 0 {
            smaller += tree[k] as usize;
            k &= k - 1;
        }
        depth = depth.max(i - smaller);
        let mut k = rank + 1;
        while k < tree.len() {
            tree[k] += 1;
            k += k & k.wrapping_neg();
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::{SWS_PADDING, Scaler, ff, ffi, reorder_depth};

    /// `sws_scale` into packed RGB24 writes past the last pixel (8 bytes at 1080×1080 under
    /// valgrind); the padding after the pixels must hold what it writes, with room to spare:
    /// the second half of the padding stays as it was, for sizes and both scalings.
    #[test]
    fn sws_scale_stays_inside_the_padding() {
        for (w, h, dst) in [
            (1080, 1080, None),
            (1280, 720, None),
            (97, 65, None),
            (1920, 1080, Some(128)),
            (480, 720, Some(33)),
        ] {
            let (dw, dh) = dst.map_or((w, h), |n| (n, n));
            let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, w, h);
            for plane in 0..3 {
                for (i, b) in frame.data_mut(plane).iter_mut().enumerate() {
                    *b = (i * 7 % 251) as u8;
                }
            }
            let key = (
                w as i32,
                h as i32,
                ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32,
            );
            let scaler = Scaler::new(key, dw, dh).expect("a scaler");
            let packed = 3 * dw as usize * dh as usize;
            let mut buf = vec![0xa5u8; packed + SWS_PADDING];
            let rows = scaler.scale(&frame, &mut buf);
            assert_eq!(rows, dh as i32, "{w}x{h} to {dw}x{dh}");
            let past = buf[packed..]
                .iter()
                .rposition(|&b| b != 0xa5)
                .map_or(0, |i| i + 1);
            eprintln!("{w}x{h} to {dw}x{dh}: sws_scale wrote {past} bytes past the pixels");
            assert!(
                buf[packed + SWS_PADDING / 2..].iter().all(|&b| b == 0xa5),
                "{w}x{h} to {dw}x{dh}: sws_scale wrote more than {} bytes past the pixels",
                SWS_PADDING / 2
            );
        }
    }

    fn depth(pts: &[i64]) -> usize {
        let mut sorted = pts.to_vec();
        sorted.sort_unstable();
        reorder_depth(pts, &sorted)
    }

    #[test]
    fn reorder_depth_of_common_structures() {
        assert_eq!(depth(&[0, 1, 2, 3]), 0);
        // I P B B: each B-frame is shown before the one P decoded before it.
        assert_eq!(depth(&[0, 3, 1, 2, 6, 4, 5]), 1);
        // B-pyramid: I P Bref b b: the first b follows both P and Bref in decode order.
        assert_eq!(depth(&[0, 4, 2, 1, 3, 8, 6, 5, 7]), 2);
        assert_eq!(depth(&[5, 0, 1, 2, 3, 4]), 1);
        assert_eq!(depth(&[3, 2, 1, 0]), 3);
    }
}
