//! Image data in the standard IDX format (MNIST's), gzipped or not: reading,
//! validation with errors that name the file and what is wrong, selecting
//! labels and normalising pixels.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes: its dimensions and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxBytes {
    /// Dimensions, outermost first (e.g. [count, 28, 28]).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (type code 0x08), gzipped or not.
pub fn read_idx(path: &Path) -> Result<IdxBytes, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_idx(&raw, &path.display().to_string())
}

/// The same from the file's bytes (e.g. held in a web page's memory);
/// `name` names it in errors.
pub fn parse_idx(raw: &[u8], name: &str) -> Result<IdxBytes, String> {
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // At most 4 GiB decompressed (a corrupt or hostile stream could
        // expand without end).
        GzDecoder::new(raw)
            .take(1 << 32)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: not a valid gzip stream: {e}"))?;
        out
    } else {
        raw.to_vec()
    };
    if bytes.len() < 4 {
        return Err(format!(
            "{name}: too short for an IDX header ({} bytes)",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "{name}: not an IDX file (magic {:02x}{:02x}{:02x}{:02x}; IDX files start with two zero bytes)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "{name}: IDX type code 0x{:02x} is not unsigned bytes (0x08)",
            bytes[2]
        ));
    }
    let rank = usize::from(bytes[3]);
    if rank == 0 || bytes.len() < 4 + 4 * rank {
        return Err(format!(
            "{name}: truncated IDX header ({rank} dimensions, {} bytes)",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("{name}: dimensions {dims:?} overflow"))?;
    let data = &bytes[4 + 4 * rank..];
    if data.len() != expected {
        return Err(format!(
            "{name}: truncated or padded: the header's dimensions {dims:?} need {expected} bytes of data, the file has {}",
            data.len()
        ));
    }
    Ok(IdxBytes {
        dims,
        data: data.to_vec(),
    })
}

/// Labelled images (e.g. MNIST): `count` images of `rows × cols` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Pixels, image after image, row-major.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl ImageSet {
    /// Reads an images file (3 dimensions) and a labels file (1 dimension)
    /// and checks that they agree.
    pub fn load(images: &Path, labels: &Path) -> Result<ImageSet, String> {
        ImageSet::from_idx(
            read_idx(images)?,
            read_idx(labels)?,
            &images.display().to_string(),
            &labels.display().to_string(),
        )
    }

    /// The same from files already read (or parsed from memory with
    /// [`parse_idx`]); the names are for errors.
    pub fn from_idx(
        im: IdxBytes,
        lb: IdxBytes,
        images: &str,
        labels: &str,
    ) -> Result<ImageSet, String> {
        if im.dims.len() != 3 {
            return Err(format!(
                "{}: images need 3 dimensions (count, rows, cols), found {:?}",
                images, im.dims
            ));
        }
        if im.dims[1] == 0 || im.dims[2] == 0 || im.dims[0] == 0 {
            return Err(format!(
                "{}: holds {} images of {}×{} pixels; it needs at least one image of at least 1×1",
                images, im.dims[0], im.dims[1], im.dims[2]
            ));
        }
        if lb.dims.len() != 1 {
            return Err(format!(
                "{}: labels need 1 dimension, found {:?}",
                labels, lb.dims
            ));
        }
        if im.dims[0] != lb.dims[0] {
            return Err(format!(
                "{} has {} images but {} has {} labels",
                images, im.dims[0], labels, lb.dims[0]
            ));
        }
        Ok(ImageSet {
            pixels: im.data,
            labels: lb.data,
            rows: im.dims[1],
            cols: im.dims[2],
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images whose label is in `keep`, in file order, at most `limit`.
    pub fn select(&self, keep: &[u8], limit: Option<usize>) -> ImageSet {
        let size = self.rows * self.cols;
        let chosen: Vec<usize> = (0..self.len())
            .filter(|&i| keep.contains(&self.labels[i]))
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        ImageSet {
            pixels: chosen
                .iter()
                .flat_map(|&i| self.pixels[i * size..(i + 1) * size].iter().copied())
                .collect(),
            labels: chosen.iter().map(|&i| self.labels[i]).collect(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Pixels mapped linearly from [0, 255] to [lo, hi] (the paper: [−1, 1]).
    pub fn normalised(&self, lo: f64, hi: f64) -> Vec<f64> {
        self.pixels
            .iter()
            .map(|&p| lo + (hi - lo) * f64::from(p) / 255.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_plain_and_gzipped_idx_and_selects_digits() {
        let dir = std::env::temp_dir().join(format!("occam-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pixels: Vec<u8> = (0..3 * 2 * 2).map(|i| (i * 20) as u8).collect();
        let images = write(&dir, "img", &idx(&[3, 2, 2], &pixels));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&idx(&[3], &[1, 7, 0])).unwrap();
        let labels = write(&dir, "lbl.gz", &gz.finish().unwrap());
        let set = ImageSet::load(&images, &labels).unwrap();
        assert_eq!((set.len(), set.rows, set.cols), (3, 2, 2));
        let zeros_ones = set.select(&[0, 1], None);
        assert_eq!(zeros_ones.labels, vec![1, 0]);
        assert_eq!(zeros_ones.pixels, [&pixels[0..4], &pixels[8..12]].concat());
        let n = zeros_ones.normalised(-1.0, 1.0);
        assert_eq!(n[0], -1.0);
        assert!((n[1] - (-1.0 + 2.0 * 20.0 / 255.0)).abs() < 1e-12);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn malformed_files_are_named_with_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("occam-idx-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let truncated = write(&dir, "truncated", &idx(&[3, 2, 2], &[0; 7]));
        let err = read_idx(&truncated).unwrap_err();
        assert!(
            err.contains("truncated") && err.contains("need 12 bytes") && err.contains("has 7"),
            "{err}"
        );
        let magic = write(&dir, "magic", b"\x12\x34\x08\x01\x00\x00\x00\x01\x00");
        let err = read_idx(&magic).unwrap_err();
        assert!(
            err.contains("magic") && err.contains("not an IDX file"),
            "{err}"
        );
        let floats = write(&dir, "floats", &[0, 0, 0x0d, 1, 0, 0, 0, 0]);
        assert!(read_idx(&floats).unwrap_err().contains("type code 0x0d"));
        let err = read_idx(&dir.join("missing")).unwrap_err();
        assert!(
            err.contains("missing") && err.contains("cannot read"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_shipped_mnist01_files_load() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/mnist01");
        let set = ImageSet::load(
            &base.join("mnist01-images-idx3-ubyte.gz"),
            &base.join("mnist01-labels-idx1-ubyte.gz"),
        )
        .unwrap();
        assert_eq!((set.len(), set.rows, set.cols), (2128, 28, 28));
        assert_eq!(set.labels.iter().filter(|&&l| l == 0).count(), 1001);
        assert_eq!(set.labels.iter().filter(|&&l| l == 1).count(), 1127);
    }
}
