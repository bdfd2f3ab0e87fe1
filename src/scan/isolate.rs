//! Decoding in child processes, so that a decoder that crashes, hangs or runs away with memory
//! on a hostile file costs that file alone: it becomes a `failed` record and the scan goes on.
//!
//! The parent keeps a pool of long-lived children ([`DecoderPool`]); each child runs
//! [`serve`] on its standard input and output, one file at a time. The parent sends the bytes
//! it already read (and digested), so a file is read once; the child decodes them and sends
//! back either the hashes (CPU paths: the SIMD engine, or the scalar oracle for re-checks) or
//! the decoded pixels (GPU path: the parent batches them for the GPU). Each child:
//!
//! - is started with `RAYON_NUM_THREADS=1` and decodes one file at a time;
//! - limits its own address space ([`apply_limits`], `RLIMIT_AS`), so a decoder that allocates
//!   far past what the header promised dies alone, and turns off core dumps (`RLIMIT_CORE` 0:
//!   a core file would hold image content);
//! - dies with its parent (`PR_SET_PDEATHSIG`), so a killed scan leaves no decoders behind.
//!
//! The parent waits for each reply with a deadline; a child past it is killed and replaced.
//! A child that dies mid-file is reaped and its signal or exit code becomes the reason.
//!
//! The wire format is a little-endian `u32` length, a JSON head, then a raw payload whose
//! length the head gives (the file's bytes one way, RGB pixels the other).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::RgbImage;
use crate::decode::{self, DecodeError, DecodeOptions, Decoded, ImageFormat, SourceKind};
use crate::engine::{Backend, Engine};
use crate::hasher::{Algorithms, Compat, FileHashes, HashOptions, hash_decoded_with};
use crate::pdq::{PdqHash, PdqOutput};
use crate::phash::PHash;
use crate::video::VpdqFrame;

use super::video::{VideoOutcome, VideoTask, hash_video};

/// Largest JSON head accepted on the wire (a guard against a confused peer).
const MAX_HEAD: u32 = 1 << 20;

/// What a child is asked to do with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Compute PDQ.
    pub pdq: bool,
    /// Compute pHash.
    pub phash: bool,
    /// Compute the 8 dihedral PDQ hashes.
    pub dihedral: bool,
    /// Send the decoded pixels back instead of hashing them (the parent hashes them, e.g. in
    /// GPU batches).
    pub pixels: bool,
    /// Hash with the scalar oracle instead of the SIMD path.
    pub oracle: bool,
    /// Refuse images with more pixels than this, from the header.
    pub max_pixels: u64,
    /// Animations (GIF, APNG, WebP): hash the frames after frame 0, up to this many frames
    /// (0: frame 0 only, as `vigil hash`).
    #[serde(default)]
    pub max_frames: u64,
    /// … and for at most this many milliseconds.
    #[serde(default)]
    pub frames_ms: u64,
}

/// The frames after frame 0 of an animation, hashed (PDQ) for matching.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Animation {
    /// Frames decoded, frame 0 included.
    pub decoded: u64,
    /// (frame index, quality, PDQ limbs) of each frame after frame 0.
    pub hashed: Vec<(u64, u8, [u64; 4])>,
    /// `frames` or `time` when a budget stopped decoding early.
    pub truncated: Option<String>,
    /// A later frame could not be decoded (the frames before it are kept).
    pub error: Option<String>,
}

/// Decode and hash the frames after frame 0 when `bytes` is an animation and `task` asks
/// for them (see [`crate::decode::anim`]). Never panics outward.
pub fn animation_frames(bytes: &[u8], task: &Task, engine: &Engine) -> Option<Animation> {
    if task.max_frames == 0 {
        return None;
    }
    let format = decode::sniff(bytes)?;
    let deadline = Instant::now() + Duration::from_millis(task.frames_ms);
    let mut hashed = Vec::new();
    let run = || {
        decode::anim::for_each_frame(bytes, format, task.max_frames, deadline, |i, rgb| {
            let Ok(view) =
                crate::ImageView::rgb8(&rgb.data, rgb.width, rgb.height, 3 * rgb.width as usize)
            else {
                return;
            };
            if let Some(Ok(p)) = engine.hash_batch(std::slice::from_ref(&view)).pop() {
                hashed.push((i, p.quality, p.hash.0));
            }
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Some(end)) if end.frames > 1 || end.error.is_some() => Some(Animation {
            decoded: end.frames,
            hashed,
            truncated: end.truncated.map(str::to_owned),
            error: end.error,
        }),
        Ok(_) => None,
        Err(_) => Some(Animation {
            error: Some("internal error while decoding animation frames (panic)".into()),
            ..Animation::default()
        }),
    }
}

#[derive(Serialize, Deserialize)]
struct RequestHead {
    task: Task,
    /// A video, decoded by the child from `path` (no payload); `task` is then unused.
    #[serde(default)]
    video: Option<VideoTask>,
    /// The file's path (for messages and test seams; the child never opens it).
    path: Vec<u8>,
    /// Length of the payload (the file's bytes).
    len: u64,
}

/// CPU time a child spent on one file, per stage (its thread's CPU clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildCpu {
    /// Decoding, nanoseconds.
    pub decode_ns: u64,
    /// PDQ (with its dihedral variants), nanoseconds.
    pub pdq_ns: u64,
    /// pHash, nanoseconds.
    pub phash_ns: u64,
    /// Video decoding (demuxing, decoding, RGB conversion), nanoseconds; video frames'
    /// PDQ hashing is in `pdq_ns`.
    #[serde(default)]
    pub video_decode_ns: u64,
}

/// One hashed video frame on the wire: frame number, quality, hash limbs, timestamp bits
/// (`f32::to_bits`, so it crosses exactly).
type WireFrame = (u64, u8, [u64; 4], u32);

#[derive(Debug, Serialize, Deserialize)]
enum WireReply {
    Hashed {
        width: u32,
        height: u32,
        pdq: Option<([u64; 4], u8)>,
        dihedral: Option<Box<[[u64; 4]; 8]>>,
        phash: Option<u64>,
        #[serde(default)]
        animation: Option<Animation>,
    },
    Pixels {
        width: u32,
        height: u32,
        source: (u8, u8, bool, bool),
        exif_orientation: Option<u16>,
        #[serde(default)]
        animation: Option<Animation>,
    },
    Failed(String),
    Skipped(String),
    /// A batch of a video's hashed frames; more replies follow.
    Frames(Vec<WireFrame>),
    /// The end of a video.
    Video(VideoOutcome),
}

#[derive(Serialize, Deserialize)]
struct ReplyHead {
    reply: WireReply,
    cpu: ChildCpu,
    /// Length of the payload (pixels for `Pixels`, else 0).
    len: u64,
}

/// What came back for one file.
#[derive(Debug)]
pub enum ChildOutcome {
    /// Hashed in the child.
    Hashed(Box<FileHashes>),
    /// Decoded in the child; the pixels, to be hashed by the parent.
    Pixels(Box<Decoded>),
    /// Could not be decoded (corrupt, truncated, over the pixel limit …).
    Failed(String),
    /// A format recognised but not supported.
    Skipped(String),
}

/// Why a child gave no answer for a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IsolateError {
    /// No child could be started.
    #[error("cannot start a decoder process: {0}")]
    Spawn(#[source] io::Error),
    /// The child died while working on the file.
    #[error("decoder process {0}")]
    Crashed(String),
    /// The child did not answer in time and was killed.
    #[error("decoding took longer than {} s (decoder process killed)", .0.as_secs())]
    TimedOut(Duration),
    /// A video's decoder sent nothing (no frames, no end) for this long and was killed.
    #[error("video decoder made no progress for {} s (decoder process killed)", .0.as_secs())]
    Stalled(Duration),
    /// The child answered something that is not a reply.
    #[error("decoder process sent a malformed reply: {0}")]
    Protocol(String),
}

/// Words for how a child ended.
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(sig), _) => {
            let name = match sig {
                libc::SIGABRT => "SIGABRT",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGBUS => "SIGBUS",
                libc::SIGILL => "SIGILL",
                libc::SIGFPE => "SIGFPE",
                libc::SIGKILL => "SIGKILL, possibly out of memory",
                libc::SIGXCPU => "SIGXCPU",
                _ => "signal",
            };
            format!("crashed (signal {sig}, {name})")
        }
        (None, Some(code)) => format!("exited with code {code}"),
        (None, None) => "ended".to_owned(),
    }
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always available
    // on Linux, and on failure `ts` stays zero (a zero time, not undefined behaviour).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn write_frame(w: &mut impl Write, head: &impl Serialize, payload: &[u8]) -> io::Result<()> {
    let head = serde_json::to_vec(head).map_err(io::Error::other)?;
    w.write_all(&(head.len() as u32).to_le_bytes())?;
    w.write_all(&head)?;
    w.write_all(payload)?;
    w.flush()
}

/// Limits a child sets on itself before serving: its address space (`RLIMIT_AS`, bytes),
/// no core files, and death with its parent.
pub fn apply_limits(address_space: Option<u64>) -> io::Result<()> {
    let set = |res, cur: u64| -> io::Result<()> {
        let lim = libc::rlimit {
            rlim_cur: cur as libc::rlim_t,
            rlim_max: cur as libc::rlim_t,
        };
        // SAFETY: `lim` is a valid rlimit; setrlimit reads it and changes only this process.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    set(libc::RLIMIT_CORE, 0)?;
    if let Some(bytes) = address_space {
        set(libc::RLIMIT_AS, bytes)?;
    }
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes only this process.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The child's loop: read requests from `input` until it ends, answer each on `output`.
/// `before_decode` runs before each file is decoded (the CLI's test seams).
pub fn serve(
    mut input: impl Read,
    mut output: impl Write + Send,
    before_decode: &dyn Fn(&Path),
) -> io::Result<()> {
    let mut engines: [Option<Engine>; 2] = [None, None];
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let n = u32::from_le_bytes(len);
        if n > MAX_HEAD {
            return Err(io::Error::other("request head too long"));
        }
        let mut head = vec![0u8; n as usize];
        input.read_exact(&mut head)?;
        let head: RequestHead = serde_json::from_slice(&head).map_err(io::Error::other)?;
        let mut bytes = vec![0u8; usize::try_from(head.len).map_err(io::Error::other)?];
        input.read_exact(&mut bytes)?;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&head.path));
        let slot = usize::from(head.task.oracle);
        let engine = match &engines[slot] {
            Some(e) => e,
            None => {
                let backend = if head.task.oracle {
                    Backend::Scalar
                } else {
                    Backend::Cpu
                };
                let e = Engine::new(backend).map_err(io::Error::other)?;
                engines[slot].insert(e)
            }
        };
        before_decode(&path);
        if let Some(task) = &head.video {
            serve_video(&path, task, engine, &mut output)?;
            continue;
        }
        let (reply, cpu, pixels) = work(&bytes, &head.task, engine);
        drop(bytes);
        let head = ReplyHead {
            reply,
            cpu,
            len: pixels.as_ref().map_or(0, |p| p.len() as u64),
        };
        write_frame(&mut output, &head, pixels.as_deref().unwrap_or(&[]))?;
    }
}

/// Decode one video from its path, streaming its frames' hashes as they come, then its end.
fn serve_video(
    path: &Path,
    task: &VideoTask,
    engine: &Engine,
    output: &mut (impl Write + Send),
) -> io::Result<()> {
    let mut sent: io::Result<()> = Ok(());
    let (outcome, cpu) = hash_video(path, task, engine, |frames| {
        if sent.is_err() {
            return;
        }
        let wire: Vec<WireFrame> = frames
            .iter()
            .map(|f| (f.frame_number, f.quality, f.hash.0, f.timestamp.to_bits()))
            .collect();
        let head = ReplyHead {
            reply: WireReply::Frames(wire),
            cpu: ChildCpu::default(),
            len: 0,
        };
        sent = write_frame(&mut *output, &head, &[]);
    });
    sent?;
    let head = ReplyHead {
        reply: WireReply::Video(outcome),
        cpu: ChildCpu {
            pdq_ns: cpu.pdq_ns,
            video_decode_ns: cpu.decode_ns,
            ..ChildCpu::default()
        },
        len: 0,
    };
    write_frame(output, &head, &[])
}

/// Decode and hash (or only decode) one file's bytes.
fn work(bytes: &[u8], task: &Task, engine: &Engine) -> (WireReply, ChildCpu, Option<Vec<u8>>) {
    let mut cpu = ChildCpu::default();
    let run = || {
        let dopts = DecodeOptions {
            max_pixels: task.max_pixels,
            exif_rotate: false,
        };
        let t = thread_cpu();
        let decoded = decode::decode(bytes, &dopts);
        cpu.decode_ns = (thread_cpu() - t).as_nanos() as u64;
        let d = match decoded {
            Ok(d) => d,
            Err(e @ DecodeError::Unsupported(_)) => {
                return (WireReply::Skipped(e.to_string()), None);
            }
            Err(e) => return (WireReply::Failed(e.to_string()), None),
        };
        let t = thread_cpu();
        let animation = animation_frames(bytes, task, engine);
        let anim_ns = (thread_cpu() - t).as_nanos() as u64;
        if task.pixels {
            cpu.pdq_ns = anim_ns;
            let s = d.source;
            let reply = WireReply::Pixels {
                width: d.rgb.width,
                height: d.rgb.height,
                source: (s.channels, s.bit_depth, s.palette, s.cmyk),
                exif_orientation: d.exif_orientation,
                animation,
            };
            return (reply, Some(d.rgb.data));
        }
        let opts = |pdq: bool, phash: bool, dihedral: bool| HashOptions {
            algorithms: Algorithms { pdq, phash },
            dihedral,
            compat: Compat::Full,
            decode: dopts.clone(),
        };
        let mut h = FileHashes {
            width: d.rgb.width,
            height: d.rgb.height,
            format: Some(d.format),
            pdq: None,
            pdq_not_applicable: None,
            dihedral: None,
            phash: None,
        };
        if task.pdq {
            let t = thread_cpu();
            let p = hash_decoded_with(&d, &opts(true, false, task.dihedral), engine);
            cpu.pdq_ns = (thread_cpu() - t).as_nanos() as u64 + anim_ns;
            h.pdq = p.pdq;
            h.dihedral = p.dihedral;
        }
        if task.phash {
            let t = thread_cpu();
            h.phash = hash_decoded_with(&d, &opts(false, true, false), engine).phash;
            cpu.phash_ns = (thread_cpu() - t).as_nanos() as u64;
        }
        let reply = WireReply::Hashed {
            width: h.width,
            height: h.height,
            pdq: h.pdq.map(|p| (p.hash.0, p.quality)),
            dihedral: h.dihedral.map(|d| Box::new(d.map(|x| x.0))),
            phash: h.phash.map(|p| p.0),
            animation,
        };
        (reply, None)
    };
    let (reply, pixels) = catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
        (
            WireReply::Failed("internal error while decoding (panic)".into()),
            None,
        )
    });
    (reply, cpu, pixels)
}

/// One running child.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Worker {
    /// Kill the child (if still running) and say how it ended.
    fn end(mut self) -> String {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(s) => describe_exit(s),
            Err(e) => format!("could not be waited for ({e})"),
        }
    }
}

/// Read exactly `buf.len()` bytes from `r` (a pipe), waiting at most until `deadline`.
fn read_deadline(r: &mut ChildStdout, buf: &mut [u8], deadline: Instant) -> io::Result<bool> {
    let fd = r.as_raw_fd();
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `p` is one valid pollfd for an open descriptor we own; poll only writes
        // its `revents`.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            continue;
        }
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Counters of a [`DecoderPool`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounters {
    /// Children started.
    pub spawned: u64,
    /// Children that died on a file.
    pub crashed: u64,
    /// Children killed for running past the deadline.
    pub timed_out: u64,
}

/// A pool of decoder children, shared by worker threads (each call borrows one child).
pub struct DecoderPool {
    program: PathBuf,
    args: Vec<OsString>,
    timeout: Duration,
    idle: Mutex<Vec<Worker>>,
    spawned: AtomicU64,
    crashed: AtomicU64,
    timed_out: AtomicU64,
}

impl std::fmt::Debug for DecoderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecoderPool")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DecoderPool {
    /// A pool whose children run `program args…` (a process that calls [`apply_limits`] and
    /// [`serve`] on its standard input and output); each file may take up to `timeout`.
    pub fn new(program: PathBuf, args: Vec<OsString>, timeout: Duration) -> Self {
        Self {
            program,
            args,
            timeout,
            idle: Mutex::new(Vec::new()),
            spawned: AtomicU64::new(0),
            crashed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        }
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> PoolCounters {
        PoolCounters {
            spawned: self.spawned.load(Ordering::Relaxed),
            crashed: self.crashed.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
        }
    }

    fn spawn(&self) -> io::Result<Worker> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .env("RAYON_NUM_THREADS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        self.spawned.fetch_add(1, Ordering::Relaxed);
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    /// Decode (and hash, per `task`) one file's `bytes` in a child.
    pub fn run(
        &self,
        path: &Path,
        bytes: &[u8],
        task: &Task,
    ) -> Result<(ChildOutcome, ChildCpu, Option<Animation>), IsolateError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut w = match idle {
            Some(w) => w,
            None => self.spawn().map_err(IsolateError::Spawn)?,
        };
        let head = RequestHead {
            task: *task,
            video: None,
            path: path.as_os_str().as_bytes().to_vec(),
            len: bytes.len() as u64,
        };
        if write_frame(&mut w.stdin, &head, bytes).is_err() {
            self.crashed.fetch_add(1, Ordering::Relaxed);
            return Err(IsolateError::Crashed(w.end()));
        }
        let deadline = Instant::now() + self.timeout;
        let read = |buf: &mut [u8], w: &mut Worker| read_deadline(&mut w.stdout, buf, deadline);
        let mut len = [0u8; 4];
        match read(&mut len, &mut w) {
            Ok(true) => {}
            Ok(false) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                w.end();
                return Err(IsolateError::TimedOut(self.timeout));
            }
            Err(_) => {
                self.crashed.fetch_add(1, Ordering::Relaxed);
                return Err(IsolateError::Crashed(w.end()));
            }
        }
        let n = u32::from_le_bytes(len);
        if n > MAX_HEAD {
            w.end();
            return Err(IsolateError::Protocol(format!("head of {n} bytes")));
        }
        let mut head = vec![0u8; n as usize];
        let mut payload = Vec::new();
        let got = read(&mut head, &mut w).and_then(|ok| {
            if !ok {
                return Ok(None);
            }
            let h: ReplyHead = serde_json::from_slice(&head)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            payload.resize(usize::try_from(h.len).map_err(io::Error::other)?, 0);
            Ok(read(&mut payload, &mut w)?.then_some(h))
        });
        let h = match got {
            Ok(Some(h)) => h,
            Ok(None) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                w.end();
                return Err(IsolateError::TimedOut(self.timeout));
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                w.end();
                return Err(IsolateError::Protocol(e.to_string()));
            }
            Err(_) => {
                self.crashed.fetch_add(1, Ordering::Relaxed);
                return Err(IsolateError::Crashed(w.end()));
            }
        };
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(w);
        let mut anim = None;
        let outcome = match h.reply {
            WireReply::Hashed {
                width,
                height,
                pdq,
                dihedral,
                phash,
                animation,
            } => ChildOutcome::Hashed(Box::new({
                anim = animation;
                FileHashes {
                    width,
                    height,
                    format: decode::sniff(bytes),
                    pdq: pdq.map(|(h, quality)| PdqOutput {
                        hash: PdqHash(h),
                        quality,
                    }),
                    pdq_not_applicable: None,
                    dihedral: dihedral.map(|d| d.map(PdqHash)),
                    phash: phash.map(PHash),
                }
            })),
            WireReply::Pixels {
                width,
                height,
                source: (channels, bit_depth, palette, cmyk),
                exif_orientation,
                animation,
            } => {
                anim = animation;
                if payload.len() as u64 != u64::from(width) * u64::from(height) * 3 {
                    return Err(IsolateError::Protocol("pixel count".into()));
                }
                ChildOutcome::Pixels(Box::new(Decoded {
                    rgb: RgbImage {
                        width,
                        height,
                        data: payload,
                    },
                    format: decode::sniff(bytes).unwrap_or(ImageFormat::Png),
                    source: SourceKind {
                        channels,
                        bit_depth,
                        palette,
                        cmyk,
                    },
                    exif_orientation,
                }))
            }
            WireReply::Failed(why) => ChildOutcome::Failed(why),
            WireReply::Skipped(why) => ChildOutcome::Skipped(why),
            WireReply::Frames(_) | WireReply::Video(_) => {
                return Err(IsolateError::Protocol("a video reply to an image".into()));
            }
        };
        Ok((outcome, h.cpu, anim))
    }

    /// Decode one video in a child, from its path. Each batch of hashed frames goes to
    /// `on_frames` as it arrives, so what came before a crash or a stall is kept by the
    /// caller. A child silent for longer than the pool's timeout (no frames, no end), or
    /// still running `task.max_seconds` plus that timeout after the start, is killed.
    pub fn run_video(
        &self,
        path: &Path,
        task: &VideoTask,
        mut on_frames: impl FnMut(&[VpdqFrame]),
    ) -> Result<(VideoOutcome, ChildCpu), IsolateError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut w = match idle {
            Some(w) => w,
            None => self.spawn().map_err(IsolateError::Spawn)?,
        };
        let head = RequestHead {
            task: Task {
                pdq: true,
                phash: false,
                dihedral: false,
                pixels: false,
                oracle: false,
                max_pixels: task.max_pixels,
                max_frames: 0,
                frames_ms: 0,
            },
            video: Some(task.clone()),
            path: path.as_os_str().as_bytes().to_vec(),
            len: 0,
        };
        if write_frame(&mut w.stdin, &head, &[]).is_err() {
            self.crashed.fetch_add(1, Ordering::Relaxed);
            return Err(IsolateError::Crashed(w.end()));
        }
        let start = Instant::now();
        let hard = start + Duration::from_secs_f64(task.max_seconds.max(0.0)) + self.timeout;
        loop {
            let deadline = (Instant::now() + self.timeout).min(hard);
            let mut len = [0u8; 4];
            let got = read_deadline(&mut w.stdout, &mut len, deadline).and_then(|ok| {
                if !ok {
                    return Ok(None);
                }
                let n = u32::from_le_bytes(len);
                if n > MAX_HEAD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("head of {n} bytes"),
                    ));
                }
                let mut head = vec![0u8; n as usize];
                if !read_deadline(&mut w.stdout, &mut head, deadline)? {
                    return Ok(None);
                }
                let h: ReplyHead = serde_json::from_slice(&head)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if h.len != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "payload on a video reply",
                    ));
                }
                Ok(Some(h))
            });
            let h = match got {
                Ok(Some(h)) => h,
                Ok(None) => {
                    self.timed_out.fetch_add(1, Ordering::Relaxed);
                    w.end();
                    return Err(if Instant::now() >= hard {
                        IsolateError::TimedOut(start.elapsed())
                    } else {
                        IsolateError::Stalled(self.timeout)
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    w.end();
                    return Err(IsolateError::Protocol(e.to_string()));
                }
                Err(_) => {
                    self.crashed.fetch_add(1, Ordering::Relaxed);
                    return Err(IsolateError::Crashed(w.end()));
                }
            };
            match h.reply {
                WireReply::Frames(frames) => {
                    let frames: Vec<VpdqFrame> = frames
                        .into_iter()
                        .map(|(n, quality, hash, ts)| VpdqFrame {
                            frame_number: n,
                            quality,
                            hash: PdqHash(hash),
                            timestamp: f32::from_bits(ts),
                        })
                        .collect();
                    on_frames(&frames);
                }
                WireReply::Video(outcome) => {
                    self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(w);
                    return Ok((outcome, h.cpu));
                }
                _ => {
                    w.end();
                    return Err(IsolateError::Protocol("an image reply to a video".into()));
                }
            }
        }
    }
}

impl Drop for DecoderPool {
    fn drop(&mut self) {
        // Closing a child's stdin ends its loop; wait so no zombie is left.
        for w in self
            .idle
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let Worker {
                mut child, stdin, ..
            } = w;
            drop(stdin);
            let _ = child.wait();
        }
    }
}
