//! pHash's first half on the GPU: Pillow's `convert('L')` and the 32×32 LANCZOS resize, bit
//! for bit as [`crate::phash::luma::pillow_l`] and [`crate::phash::lanczos::resize_lanczos_32`]
//! compute them, for a batch of images of any sizes.
//!
//! The kernels (`shaders/phash_luma.wgsl`, `shaders/phash_resize.wgsl`, after the prelude
//! `shaders/phash_common.wgsl`) are integer-only: the CPU computes every resampling weight with
//! [`Coeffs::lanczos`] (f64, converted to 22-bit fixed point, as Pillow does) and plans the two
//! passes of each image (which axis goes first, by Pillow 13's rule
//! [`lanczos::vertical_first`], and the source rows the first pass must cover); the GPU does
//! only integer multiply-adds, the rounding offset and the clip to 0..=255. Integer arithmetic
//! is exact everywhere, so any adapter gives the CPU's bytes.
//!
//! The DCT, median and bits stay on the CPU ([`crate::phash::hash_32x32`], called by
//! [`crate::engine::Engine::phash_batch`]): imagehash's DCT is scipy's pocketfft in float64,
//! whose exact operation order a GPU kernel would have to reproduce in f64, which many
//! adapters lack; 32×32 bytes per image is all that comes back.
//!
//! Self-contained: its own bind-group layout, pipelines (compiled on first use) and buffers;
//! it shares only the device with the PDQ kernels.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, OnceLock};

use bytemuck::{Pod, Zeroable};

use super::{GpuContext, GpuError};
use crate::phash::lanczos::{self, Coeffs};
use crate::{ImageView, PixelLayout};

/// The prelude both kernels start with: bindings and parameter structs.
const COMMON_WGSL: &str = include_str!("../../shaders/phash_common.wgsl");
/// CPU twin: [`crate::phash::luma::pillow_l`].
const LUMA_WGSL: &str = include_str!("../../shaders/phash_luma.wgsl");
/// CPU twin: [`crate::phash::lanczos::resize_lanczos`].
const RESIZE_WGSL: &str = include_str!("../../shaders/phash_resize.wgsl");

/// Side of the resized image (imagehash's `hash_size * highfreq_factor`).
const SIDE: u32 = 32;
/// Samples of the resized image.
const OUT_LEN: u64 = (SIDE * SIDE) as u64;
/// Workgroup size of every pHash kernel (`WG` in the prelude).
const WG: u64 = 256;
/// Fixed-point precision of Pillow's 8-bit resampler (`lanczos::PRECISION_BITS`).
const PRECISION_BITS: u32 = 22;
/// Upper bound on the elements (4 bytes each) of any one buffer of a batch.
const ELEMS_CAP: u64 = 1 << 25;
/// Upper bound on the images of one batch.
const IMAGES_CAP: u64 = 4096;

/// One resize pass of one image (WGSL `Pass`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable, PartialEq, Eq)]
struct Pass {
    /// 0: horizontal (the output column picks the weights), 1: vertical (the output row does).
    axis: u32,
    /// First input sample in `work`.
    in_off: u32,
    /// Input row stride, in samples.
    in_stride: u32,
    /// First output sample in `work`.
    out_off: u32,
    /// Output width.
    out_w: u32,
    /// Output height.
    out_h: u32,
    /// First of the 32 `(xmin, count, weight index)` headers in the coefficient buffer.
    coef: u32,
    /// Padding to 32 bytes.
    pad: u32,
}

/// One image of a batch (WGSL `PhashImage`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
struct PhashImage {
    /// First byte of the image's tightly packed pixels in the pixel buffer.
    px_byte: u32,
    /// Width in pixels.
    width: u32,
    /// Height in pixels.
    height: u32,
    /// 1 for one byte per pixel (grey), 0 for RGB.
    grey: u32,
    /// First element of the image's L plane in `work`.
    luma_off: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    /// The pass that reads the L plane.
    first: Pass,
    /// The pass that writes the 32×32 result.
    second: Pass,
}

/// How one image is resized: the first pass reads the L plane (`w × h`) and writes an
/// intermediate of `tmp_w × tmp_h`, the second writes 32×32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    /// Pillow 13's order: vertical pass first.
    vertical_first: bool,
    /// First source row the first (horizontal) pass reads; 0 when vertical first.
    first_row: u32,
    /// Intermediate image size.
    tmp_w: u32,
    tmp_h: u32,
}

/// The weights along one axis from `in_size` samples to 32: [`Coeffs::lanczos`], or when the
/// size does not change (Pillow skips that pass) an identity of one weight `1 << 22` per
/// sample, which `clip8((1 << 21) + p << 22)` maps back to `p` exactly.
fn axis_coeffs(in_size: u32) -> Coeffs {
    if in_size == SIDE {
        Coeffs {
            bounds: (0..SIDE as usize).map(|k| (k, 1)).collect(),
            weights: vec![vec![1 << PRECISION_BITS]; SIDE as usize],
        }
    } else {
        Coeffs::lanczos(in_size, SIDE)
    }
}

/// [`lanczos::resize_lanczos`]'s plan for a `w × h` image: vertical first by Pillow 13's rule,
/// else horizontal over only the rows the vertical pass reads (`v` is the vertical weights).
fn plan(w: u32, h: u32, v: &Coeffs) -> Plan {
    if lanczos::vertical_first(w, h, SIDE, SIDE) {
        return Plan {
            vertical_first: true,
            first_row: 0,
            tmp_w: w,
            tmp_h: SIDE,
        };
    }
    let first = v.bounds[0].0;
    let (last_min, last_n) = v.bounds[v.bounds.len() - 1];
    Plan {
        vertical_first: false,
        first_row: first as u32,
        tmp_w: SIDE,
        tmp_h: (last_min + last_n - first) as u32,
    }
}

/// Upper bounds on what one image takes of each buffer: (pixel words, coefficient ints, work
/// elements). A Lanczos-3 sample reads at most `6 * max(in / 32, 1) + 1` inputs, so one axis
/// takes at most `96 + 6 * in + 224` ints.
fn footprint(w: u32, h: u32, bytes_per_pixel: u64) -> (u64, u64, u64) {
    let (w64, h64) = (u64::from(w), u64::from(h));
    let px_words = (w64 * h64 * bytes_per_pixel).div_ceil(4);
    let coefs = 6 * (w64 + h64) + 2 * (96 + 224);
    let tmp = if lanczos::vertical_first(w, h, SIDE, SIDE) {
        w64 * u64::from(SIDE)
    } else {
        h64 * u64::from(SIDE)
    };
    (px_words, coefs, w64 * h64 + tmp + OUT_LEN)
}

/// The compiled pHash kernels and their explicit bind-group layout.
struct Kernels {
    layout: wgpu::BindGroupLayout,
    luma: wgpu::ComputePipeline,
    first: wgpu::ComputePipeline,
    second: wgpu::ComputePipeline,
}

impl Kernels {
    fn new(device: &wgpu::Device) -> Self {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..4)
            .map(|binding| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: binding < 3,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vigil phash layout"),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vigil phash pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |label: &str, body: &str, entry: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(format!("{COMMON_WGSL}\n{body}").into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        Self {
            luma: pipeline("phash_luma", LUMA_WGSL, "phash_luma"),
            first: pipeline("phash_resize", RESIZE_WGSL, "phash_resize_first"),
            second: pipeline("phash_resize", RESIZE_WGSL, "phash_resize_second"),
            layout,
        }
    }
}

/// Capacities of a [`Buffers`], in images and in 4-byte elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sizes {
    images: u64,
    px_words: u64,
    coefs: u64,
    work: u64,
}

impl Sizes {
    fn holds(&self, need: &Sizes) -> bool {
        need.images <= self.images
            && need.px_words <= self.px_words
            && need.coefs <= self.coefs
            && need.work <= self.work
    }
}

/// The buffers of one batch, grown by powers of two and reused.
struct Buffers {
    cap: Sizes,
    images: wgpu::Buffer,
    pixels: wgpu::Buffer,
    coefs: wgpu::Buffer,
    work: wgpu::Buffer,
    /// MAP_READ copy of the 32×32 results (one u32 per sample).
    staging: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

impl Buffers {
    fn new(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, need: &Sizes) -> Self {
        let grow = |n: u64, min: u64| n.next_power_of_two().clamp(min, ELEMS_CAP.max(n));
        let cap = Sizes {
            images: grow(need.images, 16).min(IMAGES_CAP.max(need.images)),
            px_words: grow(need.px_words, 1 << 14),
            coefs: grow(need.coefs, 1 << 12),
            work: grow(need.work, 1 << 16),
        };
        let storage = |label: &str, bytes: u64, extra: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | extra,
                mapped_at_creation: false,
            })
        };
        let dst = wgpu::BufferUsages::COPY_DST;
        let image_bytes = std::mem::size_of::<PhashImage>() as u64;
        let images = storage("vigil phash images", cap.images * image_bytes, dst);
        let pixels = storage("vigil phash pixels", cap.px_words * 4, dst);
        let coefs = storage("vigil phash coefs", cap.coefs * 4, dst);
        let work = storage(
            "vigil phash work",
            cap.work * 4,
            wgpu::BufferUsages::COPY_SRC,
        );
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil phash staging"),
            size: cap.images * OUT_LEN * 4,
            usage: wgpu::BufferUsages::MAP_READ | dst,
            mapped_at_creation: false,
        });
        let entries: Vec<wgpu::BindGroupEntry<'_>> = [&images, &pixels, &coefs, &work]
            .into_iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("vigil phash bind group"),
            layout,
            entries: &entries,
        });
        Self {
            cap,
            images,
            pixels,
            coefs,
            work,
            staging,
            bind_group,
        }
    }
}

/// The pHash side of a [`GpuContext`]: kernels compiled on first use, reusable buffers.
#[derive(Default)]
pub(crate) struct PhashState {
    kernels: OnceLock<Kernels>,
    buffers: Mutex<Option<Buffers>>,
}

/// The batch being packed: uploads and per-image parameters.
#[derive(Default)]
struct Packed {
    pixels: Vec<u8>,
    coefs: Vec<i32>,
    params: Vec<PhashImage>,
    /// Block offset per `(input size, shift)`, so same-sized images share their weights.
    blocks: HashMap<(u32, usize), u32>,
    /// Work elements used so far (the 32×32 outputs come first).
    work: u64,
    /// Most output samples of any pass (threads per image along x).
    max_threads: u64,
}

impl Packed {
    /// The weights `c` as 32 headers `(xmin - shift, count, weight index)` then the weights;
    /// the offset of the headers.
    fn block(&mut self, in_size: u32, shift: usize, c: &Coeffs) -> u32 {
        match self.blocks.entry((in_size, shift)) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let start = self.coefs.len();
                self.coefs.resize(start + 3 * c.bounds.len(), 0);
                for (k, (&(lo, n), w)) in c.bounds.iter().zip(&c.weights).enumerate() {
                    let woff = self.coefs.len() as i32;
                    self.coefs.extend_from_slice(w);
                    self.coefs[start + 3 * k] = (lo - shift) as i32;
                    self.coefs[start + 3 * k + 1] = n as i32;
                    self.coefs[start + 3 * k + 2] = woff;
                }
                *e.insert(start as u32)
            }
        }
    }

    /// Append one image (its pixels, weights, plan); `index` is its place in the batch.
    fn push(&mut self, v: &ImageView<'_>, index: u64, cache: &mut HashMap<u32, Coeffs>) {
        let (w, h) = (v.width(), v.height());
        while self.pixels.len() % 4 != 0 {
            self.pixels.push(0);
        }
        let px_byte = self.pixels.len() as u32;
        let row_bytes = w as usize * v.layout().bytes_per_pixel();
        for y in 0..h {
            self.pixels.extend_from_slice(&v.row(y)[..row_bytes]);
        }
        cache.entry(w).or_insert_with(|| axis_coeffs(w));
        cache.entry(h).or_insert_with(|| axis_coeffs(h));
        let (hc, vc) = (&cache[&w], &cache[&h]);
        let p = plan(w, h, vc);
        let luma_off = self.work;
        let tmp_off = luma_off + u64::from(w) * u64::from(h);
        self.work = tmp_off + u64::from(p.tmp_w) * u64::from(p.tmp_h);
        let out_off = (index * OUT_LEN) as u32;
        let (first, second) = if p.vertical_first {
            let vb = self.block(h, 0, vc);
            let hb = self.block(w, 0, hc);
            (
                Pass {
                    axis: 1,
                    in_off: luma_off as u32,
                    in_stride: w,
                    out_off: tmp_off as u32,
                    out_w: w,
                    out_h: SIDE,
                    coef: vb,
                    pad: 0,
                },
                Pass {
                    axis: 0,
                    in_off: tmp_off as u32,
                    in_stride: w,
                    out_off,
                    out_w: SIDE,
                    out_h: SIDE,
                    coef: hb,
                    pad: 0,
                },
            )
        } else {
            let hb = self.block(w, 0, hc);
            let first_row = p.first_row as usize;
            let vb = self.block(h, first_row, vc);
            (
                Pass {
                    axis: 0,
                    in_off: (luma_off + u64::from(p.first_row) * u64::from(w)) as u32,
                    in_stride: w,
                    out_off: tmp_off as u32,
                    out_w: SIDE,
                    out_h: p.tmp_h,
                    coef: hb,
                    pad: 0,
                },
                Pass {
                    axis: 1,
                    in_off: tmp_off as u32,
                    in_stride: SIDE,
                    out_off,
                    out_w: SIDE,
                    out_h: SIDE,
                    coef: vb,
                    pad: 0,
                },
            )
        };
        self.max_threads = self
            .max_threads
            .max(u64::from(w) * u64::from(h))
            .max(u64::from(p.tmp_w) * u64::from(p.tmp_h))
            .max(OUT_LEN);
        self.params.push(PhashImage {
            px_byte,
            width: w,
            height: h,
            grey: u32::from(v.layout() == PixelLayout::Luma8),
            luma_off: luma_off as u32,
            first,
            second,
            ..PhashImage::default()
        });
    }
}

impl GpuContext {
    /// Most elements (4 bytes each) of any one pHash buffer: the adapter's storage-binding
    /// limit, at most 2^25.
    fn phash_elems_cap(&self) -> u64 {
        let l = &self.state.limits;
        (l.max_storage_buffer_binding_size.min(l.max_buffer_size) / 4).min(ELEMS_CAP)
    }

    /// Whether [`Self::phash_resize_batch`] takes an image of this size: not empty, and its
    /// pixels, weights and intermediate images fit one batch's buffers (about 30 megapixels
    /// on an adapter with 128 MiB storage bindings).
    pub fn phash_fits(&self, width: u32, height: u32) -> bool {
        if width == 0 || height == 0 {
            return false;
        }
        let cap = self.phash_elems_cap();
        let (px, coefs, work) = footprint(width, height, 3);
        // One word of alignment padding goes before the pixels.
        px < cap && coefs <= cap && work <= cap
    }

    /// The 32×32 grey image pHash works on (Pillow `convert('L')` then the LANCZOS resize),
    /// for each image in order, computed on the GPU; equal byte for byte to
    /// [`crate::phash::resize_lanczos_32`] of [`crate::phash::pillow_l`]. Every image must
    /// [fit](Self::phash_fits); the batch is split by the adapter's limits and each part is
    /// one submission.
    pub fn phash_resize_batch(
        &self,
        images: &[ImageView<'_>],
    ) -> Result<Vec<[u8; 1024]>, GpuError> {
        if let Some(bad) = images
            .iter()
            .find(|v| !self.phash_fits(v.width(), v.height()))
        {
            return Err(GpuError::Batch(format!(
                "image {}×{} does not fit the GPU pHash path",
                bad.width(),
                bad.height()
            )));
        }
        let cap = self.phash_elems_cap();
        let images_cap = IMAGES_CAP.min(u64::from(
            self.state.limits.max_compute_workgroups_per_dimension,
        ));
        let mut cache: HashMap<u32, Coeffs> = HashMap::new();
        let mut out = Vec::with_capacity(images.len());
        let mut start = 0;
        while start < images.len() {
            // Upper bounds, so the packed chunk surely fits.
            let (mut px, mut coefs, mut work) = (0u64, 0u64, 0u64);
            let mut end = start;
            while end < images.len() && ((end - start) as u64) < images_cap {
                let v = &images[end];
                let bpp = v.layout().bytes_per_pixel() as u64;
                let (p, c, w) = footprint(v.width(), v.height(), bpp);
                // +1 word: alignment padding before the image's pixels.
                if px + p + 1 > cap || coefs + c > cap || work + w > cap {
                    break;
                }
                (px, coefs, work) = (px + p + 1, coefs + c, work + w);
                end += 1;
            }
            out.extend(self.phash_chunk(&images[start..end], &mut cache)?);
            start = end;
        }
        Ok(out)
    }

    fn phash_chunk(
        &self,
        images: &[ImageView<'_>],
        cache: &mut HashMap<u32, Coeffs>,
    ) -> Result<Vec<[u8; 1024]>, GpuError> {
        self.take_error()?;
        let n = images.len() as u64;
        let mut packed = Packed {
            work: n * OUT_LEN,
            ..Packed::default()
        };
        for (i, v) in images.iter().enumerate() {
            packed.push(v, i as u64, cache);
        }
        while packed.pixels.len() % 4 != 0 {
            packed.pixels.push(0);
        }
        let need = Sizes {
            images: n,
            px_words: packed.pixels.len() as u64 / 4,
            coefs: packed.coefs.len() as u64,
            work: packed.work,
        };

        let device = &self.state.device;
        let queue = &self.state.queue;
        let kernels = self.phash.kernels.get_or_init(|| Kernels::new(device));
        let mut guard = self.phash.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if !guard.as_ref().is_some_and(|b| b.cap.holds(&need)) {
            *guard = Some(Buffers::new(device, &kernels.layout, &need));
        }
        let bufs = guard.as_ref().expect("just made");
        queue.write_buffer(&bufs.images, 0, bytemuck::cast_slice(&packed.params));
        queue.write_buffer(&bufs.pixels, 0, &packed.pixels);
        queue.write_buffer(&bufs.coefs, 0, bytemuck::cast_slice(&packed.coefs));

        let max_groups = u64::from(self.state.limits.max_compute_workgroups_per_dimension);
        let groups = packed.max_threads.div_ceil(WG).clamp(1, max_groups) as u32;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("vigil phash batch"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("vigil phash"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &bufs.bind_group, &[]);
            for pipeline in [&kernels.luma, &kernels.first, &kernels.second] {
                pass.set_pipeline(pipeline);
                pass.dispatch_workgroups(groups, n as u32, 1);
            }
        }
        let out_bytes = n * OUT_LEN * 4;
        encoder.copy_buffer_to_buffer(&bufs.work, 0, &bufs.staging, 0, out_bytes);
        let index = queue.submit([encoder.finish()]);

        let slice = bufs.staging.slice(..out_bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Batch(e.to_string()))?;
        let mapped = rx
            .recv()
            .map_err(|_| GpuError::Batch("map callback dropped".into()))?;
        self.take_error()?;
        mapped.map_err(|e| GpuError::Batch(e.to_string()))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Batch(e.to_string()))?;
            let samples: &[u32] = bytemuck::cast_slice(&view);
            samples
                .chunks_exact(OUT_LEN as usize)
                .map(|s| std::array::from_fn(|i| s[i].min(255) as u8))
                .collect()
        };
        bufs.staging.unmap();
        self.take_error()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets and size of a struct declared in the WGSL prelude, as naga lays it out.
    fn wgsl_layout(name: &str) -> (Vec<(String, u32)>, u32) {
        let module = wgpu::naga::front::wgsl::parse_str(COMMON_WGSL).expect("the prelude parses");
        for (_, ty) in module.types.iter() {
            if ty.name.as_deref() == Some(name)
                && let wgpu::naga::TypeInner::Struct { members, span } = &ty.inner
            {
                let fields = members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                    .collect();
                return (fields, *span);
            }
        }
        panic!("struct {name} not in the prelude");
    }

    #[test]
    fn structs_match_wgsl() {
        let (fields, span) = wgsl_layout("Pass");
        assert_eq!(span as usize, std::mem::size_of::<Pass>());
        let names = [
            "axis",
            "in_off",
            "in_stride",
            "out_off",
            "out_w",
            "out_h",
            "coef",
            "pad",
        ];
        let want: Vec<(String, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), 4 * i as u32))
            .collect();
        assert_eq!(fields, want);

        let (fields, span) = wgsl_layout("PhashImage");
        assert_eq!(span as usize, std::mem::size_of::<PhashImage>());
        let rust = [
            ("px_byte", std::mem::offset_of!(PhashImage, px_byte)),
            ("width", std::mem::offset_of!(PhashImage, width)),
            ("height", std::mem::offset_of!(PhashImage, height)),
            ("grey", std::mem::offset_of!(PhashImage, grey)),
            ("luma_off", std::mem::offset_of!(PhashImage, luma_off)),
            ("pad0", std::mem::offset_of!(PhashImage, pad0)),
            ("pad1", std::mem::offset_of!(PhashImage, pad1)),
            ("pad2", std::mem::offset_of!(PhashImage, pad2)),
            ("first", std::mem::offset_of!(PhashImage, first)),
            ("second", std::mem::offset_of!(PhashImage, second)),
        ];
        let rust: Vec<(String, u32)> = rust
            .iter()
            .map(|(n, o)| (n.to_string(), *o as u32))
            .collect();
        assert_eq!(fields, rust);
    }

    #[test]
    fn kernels_parse_and_are_integer_only() {
        for body in [LUMA_WGSL, RESIZE_WGSL] {
            let src = format!("{COMMON_WGSL}\n{body}");
            let module = wgpu::naga::front::wgsl::parse_str(&src).expect("kernel parses");
            for (_, ty) in module.types.iter() {
                let float = matches!(
                    ty.inner,
                    wgpu::naga::TypeInner::Scalar(s) | wgpu::naga::TypeInner::Vector { scalar: s, .. }
                        if s.kind == wgpu::naga::ScalarKind::Float
                );
                assert!(!float, "float type {:?} in a pHash kernel", ty.name);
            }
        }
    }

    /// The CPU-side replay of the GPU's two passes gives `resize_lanczos_32`: checks the plans
    /// and coefficient blocks without an adapter.
    #[test]
    fn cpu_replay_of_the_plan_equals_resize() {
        let sizes = [
            (1, 1),
            (5, 7),
            (31, 33),
            (32, 32),
            (33, 32),
            (32, 33),
            (32, 500),
            (500, 32),
            (40, 400),
            (400, 40),
            (3, 900),
            (100, 75),
            (64, 300),
            (300, 64),
        ];
        let mut cache = HashMap::new();
        let mut packed = Packed {
            work: sizes.len() as u64 * OUT_LEN,
            ..Packed::default()
        };
        let imgs: Vec<crate::RgbImage> = sizes
            .iter()
            .enumerate()
            .map(|(i, &(w, h))| crate::synth::image(crate::synth::Pattern::Noise, w, h, i as u32))
            .collect();
        let mut any_vertical_first = false;
        for (i, img) in imgs.iter().enumerate() {
            packed.push(&img.view(), i as u64, &mut cache);
            any_vertical_first |= lanczos::vertical_first(img.width, img.height, SIDE, SIDE);
        }
        assert!(any_vertical_first);
        let mut work = vec![0u32; packed.work as usize];
        let byte = |i: u32| u32::from(packed.pixels[i as usize]);
        for p in &packed.params {
            for q in 0..p.width * p.height {
                work[(p.luma_off + q) as usize] = if p.grey != 0 {
                    byte(p.px_byte + q)
                } else {
                    let b = p.px_byte + 3 * q;
                    (byte(b) * 19595 + byte(b + 1) * 38470 + byte(b + 2) * 7471 + 0x8000) >> 16
                };
            }
            for s in [p.first, p.second] {
                for i in 0..s.out_w * s.out_h {
                    let (x, y) = (i % s.out_w, i / s.out_w);
                    let (k, base, stride) = if s.axis == 0 {
                        (x, s.in_off + y * s.in_stride, 1)
                    } else {
                        (y, s.in_off + x, s.in_stride)
                    };
                    let hdr = (s.coef + 3 * k) as usize;
                    let (lo, n, w0) = (
                        packed.coefs[hdr] as u32,
                        packed.coefs[hdr + 1] as u32,
                        packed.coefs[hdr + 2] as usize,
                    );
                    let mut acc = 1i32 << (PRECISION_BITS - 1);
                    for j in 0..n {
                        let px = work[(base + (lo + j) * stride) as usize] as i32;
                        acc += px * packed.coefs[w0 + j as usize];
                    }
                    work[(s.out_off + i) as usize] = acc.clamp(0, (1 << 30) - 1) as u32 >> 22;
                }
            }
        }
        for (i, img) in imgs.iter().enumerate() {
            let l = crate::phash::pillow_l(&img.view());
            let want = crate::phash::resize_lanczos_32(&l, img.width, img.height);
            let got: Vec<u8> = work[i * 1024..(i + 1) * 1024]
                .iter()
                .map(|&v| v as u8)
                .collect();
            assert_eq!(got, want.to_vec(), "{}x{}", img.width, img.height);
        }
    }
}
