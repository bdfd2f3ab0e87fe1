//! GPU buffers: the `#[repr(C)]` parameter structs mirrored in `shaders/pdq_common.wgsl`, and a
//! pool of per-batch buffers that grows by powers of two and is reused between batches.

use bytemuck::{Pod, Zeroable};

/// Per-dispatch constants (WGSL `Globals`, the uniform at binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct Globals {
    /// A runtime 0 for the shaders' `opq()` fence.
    pub zero: u32,
    /// Images in the batch.
    pub num_images: u32,
    /// Start of the T region in the `work` buffer (floats).
    pub t_base: u32,
    /// Start of the B region in the `work` buffer (floats).
    pub b_base: u32,
}

/// One image of a batch (WGSL `ImageParams`, the array at binding 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct ImageParams {
    /// First pixel of the image in the luma and box-filter buffers.
    pub offset: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 when the pixels are grey (one byte each), 0 for RGB (three bytes each).
    pub grey: u32,
    /// Box window along rows (`jarosz_window(width)`).
    pub win_rows: u32,
    /// Box window along columns (`jarosz_window(height)`).
    pub win_cols: u32,
    /// 1 for exactly 64×64 images (no blur, upstream's special case).
    pub skip_blur: u32,
    /// First word of the image's bytes in the pixel buffer.
    pub src_word: u32,
}

/// Floats of `work` per image: the 64×64 buffer, T (16×64) and B (16×16).
pub(crate) const WORK_FLOATS_PER_IMAGE: u64 = 4096 + 1024 + 256;
/// Words of `quality_out` per image: the quality, and 8 words of bits for each of 8 variants.
pub(crate) const QUALITY_WORDS_PER_IMAGE: u64 = 1 + 64;
/// Decimation indices per image (64 rows, 64 columns).
pub(crate) const DEC_PER_IMAGE: u64 = 128;

/// The buffers of one batch, sized for `pixels` pixels and `images` images.
pub(crate) struct BatchBuffers {
    /// Capacity in pixels.
    pub pixels_cap: u64,
    /// Capacity in images.
    pub images_cap: u64,
    pub globals: wgpu::Buffer,
    pub images: wgpu::Buffer,
    pub dec: wgpu::Buffer,
    pub pixels: wgpu::Buffer,
    /// Luma and box-filter ping-pong buffers, only reached through the bind group.
    #[expect(
        dead_code,
        reason = "owned here for clarity; only the bind group reads them"
    )]
    pub buf_a: wgpu::Buffer,
    #[expect(
        dead_code,
        reason = "owned here for clarity; only the bind group reads them"
    )]
    pub buf_b: wgpu::Buffer,
    pub work: wgpu::Buffer,
    pub quality: wgpu::Buffer,
    /// Two MAP_READ buffers, used in turn by consecutive chunks so that one can be read while
    /// the next chunk runs: B (256 floats per image), the qualities (one u32 each), then the
    /// hash bits (8 words per image and variant).
    pub staging: [wgpu::Buffer; 2],
    pub bind_group: wgpu::BindGroup,
    /// Two `MAP_WRITE` buffers the CPU packs image bytes into, used in turn by consecutive
    /// chunks: one is filled while the GPU copies from the other. Where the driver places
    /// such memory on the card (resizable BAR), the CPU's writes are the bus transfer.
    pub upload: [wgpu::Buffer; 2],
    /// Whether each upload buffer is mapped, or when it will be.
    pub upload_state: [UploadState; 2],
}

/// Where an upload buffer stands.
pub(crate) enum UploadState {
    /// Mapped for writing.
    Mapped,
    /// Unmapped and used by a submission; `map_async` was called after it, and reports here.
    Pending(
        wgpu::SubmissionIndex,
        std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    ),
}

/// Bytes an upload buffer needs for `pixels` pixels of `images` images: at most 3 per pixel,
/// and up to 3 of padding per image (each image starts on a word).
pub(crate) fn upload_bytes(pixels: u64, images: u64) -> u64 {
    3 * pixels + 4 * images
}

fn storage(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
    extra: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

impl BatchBuffers {
    /// Whether these buffers hold a batch of this size.
    pub fn holds(&self, pixels: u64, images: u64) -> bool {
        pixels <= self.pixels_cap && images <= self.images_cap
    }

    /// New buffers for at least `pixels` and `images`, rounded up to powers of two but never
    /// above the caps (the batch planner already keeps batches under them).
    pub fn new(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        consts: &wgpu::Buffer,
        pixels: u64,
        images: u64,
        caps: (u64, u64),
    ) -> Self {
        let pixels_cap = pixels
            .next_power_of_two()
            .clamp(1 << 16, caps.0.max(pixels));
        let images_cap = images.next_power_of_two().clamp(16, caps.1.max(images));
        let copy_dst = wgpu::BufferUsages::COPY_DST;
        let copy_src = wgpu::BufferUsages::COPY_SRC;
        let globals = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil globals"),
            size: std::mem::size_of::<Globals>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | copy_dst,
            mapped_at_creation: false,
        });
        let images_buf = storage(
            device,
            "vigil images",
            images_cap * std::mem::size_of::<ImageParams>() as u64,
            copy_dst,
        );
        let dec = storage(
            device,
            "vigil dec",
            images_cap * DEC_PER_IMAGE * 4,
            copy_dst,
        );
        let pixels_buf = storage(
            device,
            "vigil pixels",
            upload_bytes(pixels_cap, images_cap).next_multiple_of(4),
            copy_dst,
        );
        let buf_a = storage(
            device,
            "vigil buf_a",
            pixels_cap * 4,
            wgpu::BufferUsages::empty(),
        );
        let buf_b = storage(
            device,
            "vigil buf_b",
            pixels_cap * 4,
            wgpu::BufferUsages::empty(),
        );
        let work = storage(
            device,
            "vigil work",
            images_cap * WORK_FLOATS_PER_IMAGE * 4,
            copy_src,
        );
        let quality = storage(
            device,
            "vigil quality",
            images_cap * QUALITY_WORDS_PER_IMAGE * 4,
            copy_src,
        );
        let staging = [0, 1].map(|_| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("vigil staging"),
                size: images_cap * (256 + QUALITY_WORDS_PER_IMAGE) * 4,
                usage: wgpu::BufferUsages::MAP_READ | copy_dst,
                mapped_at_creation: false,
            })
        });
        fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("vigil pdq bind group"),
            layout,
            entries: &[
                entry(0, &globals),
                entry(1, &images_buf),
                entry(2, consts),
                entry(3, &dec),
                entry(4, &pixels_buf),
                entry(5, &buf_a),
                entry(6, &buf_b),
                entry(7, &work),
                entry(8, &quality),
            ],
        });
        let upload = [0, 1].map(|_| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("vigil upload"),
                size: upload_bytes(pixels_cap, images_cap).next_multiple_of(4),
                usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: true,
            })
        });
        Self {
            upload,
            upload_state: [UploadState::Mapped, UploadState::Mapped],
            pixels_cap,
            images_cap,
            globals,
            images: images_buf,
            dec,
            pixels: pixels_buf,
            buf_a,
            buf_b,
            work,
            quality,
            staging,
            bind_group,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets and size of a struct declared in the WGSL prelude, as naga lays it out.
    fn wgsl_layout(name: &str) -> (Vec<(String, u32)>, u32) {
        let module = wgpu::naga::front::wgsl::parse_str(super::super::pipelines::COMMON_WGSL)
            .expect("the prelude parses");
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
    fn image_params_match_wgsl() {
        let (fields, span) = wgsl_layout("ImageParams");
        assert_eq!(span as usize, std::mem::size_of::<ImageParams>());
        let rust = [
            ("offset", std::mem::offset_of!(ImageParams, offset)),
            ("width", std::mem::offset_of!(ImageParams, width)),
            ("height", std::mem::offset_of!(ImageParams, height)),
            ("grey", std::mem::offset_of!(ImageParams, grey)),
            ("win_rows", std::mem::offset_of!(ImageParams, win_rows)),
            ("win_cols", std::mem::offset_of!(ImageParams, win_cols)),
            ("skip_blur", std::mem::offset_of!(ImageParams, skip_blur)),
            ("src_word", std::mem::offset_of!(ImageParams, src_word)),
        ];
        let rust: Vec<(String, u32)> = rust
            .iter()
            .map(|(n, o)| (n.to_string(), *o as u32))
            .collect();
        assert_eq!(fields, rust);
    }

    #[test]
    fn globals_match_wgsl() {
        let (fields, span) = wgsl_layout("Globals");
        assert_eq!(span as usize, std::mem::size_of::<Globals>());
        let rust = [
            ("zero", std::mem::offset_of!(Globals, zero)),
            ("num_images", std::mem::offset_of!(Globals, num_images)),
            ("t_base", std::mem::offset_of!(Globals, t_base)),
            ("b_base", std::mem::offset_of!(Globals, b_base)),
        ];
        let rust: Vec<(String, u32)> = rust
            .iter()
            .map(|(n, o)| (n.to_string(), *o as u32))
            .collect();
        assert_eq!(fields, rust);
    }
}
