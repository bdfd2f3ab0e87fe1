//! Borrowed and owned pixel buffers: the only image types in the public API.

use thiserror::Error;

/// How the bytes of an [`ImageView`] are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    /// Three bytes per pixel, R, G, B.
    Rgb8,
    /// One byte per pixel, grey.
    Luma8,
}

impl PixelLayout {
    /// Bytes per pixel.
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelLayout::Rgb8 => 3,
            PixelLayout::Luma8 => 1,
        }
    }
}

/// Why an [`ImageView`] could not be made from a buffer.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewError {
    /// The stride is shorter than one row of pixels.
    #[error("stride {stride} is shorter than a row of {width} pixels ({row} bytes)")]
    StrideTooShort {
        /// Bytes per row given.
        stride: usize,
        /// Width in pixels.
        width: u32,
        /// Bytes one row needs.
        row: usize,
    },
    /// The buffer ends before the last row does.
    #[error("buffer of {len} bytes is too short for {height} rows of stride {stride}")]
    BufferTooShort {
        /// Buffer length.
        len: usize,
        /// Rows.
        height: u32,
        /// Bytes per row.
        stride: usize,
    },
}

/// A borrowed image: RGB8 or grey, with an explicit row stride, so embedders can hash pixels
/// they already hold (a video frame, a sub-rectangle) without copying.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    layout: PixelLayout,
}

impl<'a> ImageView<'a> {
    /// A view of `height` rows of `width` pixels, `stride` bytes apart.
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
        layout: PixelLayout,
    ) -> Result<Self, ViewError> {
        let row = width as usize * layout.bytes_per_pixel();
        if stride < row {
            return Err(ViewError::StrideTooShort { stride, width, row });
        }
        let needed = if height == 0 {
            0
        } else {
            (height as usize - 1)
                .checked_mul(stride)
                .and_then(|n| n.checked_add(row))
                .unwrap_or(usize::MAX)
        };
        if data.len() < needed {
            return Err(ViewError::BufferTooShort {
                len: data.len(),
                height,
                stride,
            });
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
            layout,
        })
    }

    /// An RGB8 view.
    pub fn rgb8(data: &'a [u8], width: u32, height: u32, stride: usize) -> Result<Self, ViewError> {
        Self::new(data, width, height, stride, PixelLayout::Rgb8)
    }

    /// A grey (luma) view.
    pub fn luma8(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Result<Self, ViewError> {
        Self::new(data, width, height, stride, PixelLayout::Luma8)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes between the starts of two rows.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The pixel layout.
    pub fn layout(&self) -> PixelLayout {
        self.layout
    }

    /// Row `y` (only the pixel bytes, without stride padding).
    ///
    /// # Panics
    /// If `y >= height`.
    pub fn row(&self, y: u32) -> &'a [u8] {
        assert!(y < self.height, "row {y} out of {}", self.height);
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * self.layout.bytes_per_pixel()]
    }
}

/// An owned, tightly packed RGB8 image (row-major, 3 bytes per pixel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// A borrowed view of this image.
    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            data: &self.data,
            width: self.width,
            height: self.height,
            stride: self.width as usize * 3,
            layout: PixelLayout::Rgb8,
        }
    }
}
