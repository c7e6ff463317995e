//! Loaders for real image data: CIFAR-10 binary batches (grayscale by ITU-R 601 luma) and IDX
//! image files (MNIST, Fashion-MNIST), either gzip-compressed or not, and the paper's
//! preprocessing (docs/theory.md §2).
//! Malformed files are reported with the file name and the byte offset of the problem.

use crate::error::{Error, Result};
use std::io::Read;

/// Images as rows of a P×D row-major matrix of raw pixel values in [0, 255].
#[derive(Clone, Debug)]
pub struct Images {
    pub p: usize,
    pub d: usize,
    pub pixels: Vec<f64>,
}

fn bad(path: &str, offset: u64, message: impl Into<String>) -> Error {
    Error::DataFile {
        path: path.to_string(),
        offset,
        message: message.into(),
    }
}

/// The file's bytes, decompressed when it is a gzip stream (magic `1f 8b`).
fn read_all(path: &str) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_string(),
        source,
    })?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    let mut dec = flate2::read::MultiGzDecoder::new(&raw[..]);
    if let Err(e) = dec.read_to_end(&mut out) {
        return Err(bad(
            path,
            out.len() as u64,
            format!("corrupt or truncated gzip stream ({e}); offset is in the decompressed data"),
        ));
    }
    Ok(out)
}

/// CIFAR-10 binary format: records of 1 label byte + 1024 R + 1024 G + 1024 B bytes (32×32
/// row-major), no header; gzip-compressed or not. Converted to grayscale `0.299 R + 0.587 G +
/// 0.114 B` (D = 1024).
pub fn load_cifar10(path: &str, max_images: usize) -> Result<Images> {
    let bytes = read_all(path)?;
    parse_cifar10(&bytes, path, max_images)
}

pub fn parse_cifar10(bytes: &[u8], path: &str, max_images: usize) -> Result<Images> {
    const REC: usize = 3073;
    if bytes.is_empty() {
        return Err(bad(
            path,
            0,
            "empty file (expected CIFAR-10 records of 3073 bytes)",
        ));
    }
    if !bytes.len().is_multiple_of(REC) {
        let off = (bytes.len() / REC) * REC;
        return Err(bad(
            path,
            off as u64,
            format!(
                "truncated record: file size {} is not a multiple of 3073 bytes",
                bytes.len()
            ),
        ));
    }
    let mut p = bytes.len() / REC;
    if max_images > 0 {
        p = p.min(max_images);
    }
    let mut pixels = Vec::with_capacity(p * 1024);
    for r in 0..p {
        let rec = &bytes[r * REC..(r + 1) * REC];
        if rec[0] > 9 {
            return Err(bad(
                path,
                (r * REC) as u64,
                format!("label byte {} is not a CIFAR-10 class (0..9)", rec[0]),
            ));
        }
        let (red, green, blue) = (&rec[1..1025], &rec[1025..2049], &rec[2049..3073]);
        for i in 0..1024 {
            pixels.push(0.299 * red[i] as f64 + 0.587 * green[i] as f64 + 0.114 * blue[i] as f64);
        }
    }
    Ok(Images { p, d: 1024, pixels })
}

/// IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions), gzip-compressed or not.
pub fn load_idx(path: &str, max_images: usize) -> Result<Images> {
    parse_idx(&read_all(path)?, path, max_images)
}

pub fn parse_idx(bytes: &[u8], path: &str, max_images: usize) -> Result<Images> {
    if bytes.len() < 16 {
        return Err(bad(
            path,
            bytes.len() as u64,
            "file ends inside the 16-byte IDX header",
        ));
    }
    let be = |o: usize| {
        u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
    };
    let magic = be(0);
    if magic != 0x0000_0803 {
        return Err(bad(
            path,
            0,
            format!(
                "bad magic 0x{magic:08x}: expected 0x00000803 (IDX, unsigned bytes, 3 dimensions)"
            ),
        ));
    }
    let (n, rows, cols) = (be(4), be(8), be(12));
    let d = rows * cols;
    if d == 0 || d > 1 << 20 {
        return Err(bad(
            path,
            8,
            format!("implausible image size {rows}×{cols}"),
        ));
    }
    let need = n
        .checked_mul(d)
        .and_then(|v| v.checked_add(16))
        .ok_or_else(|| bad(path, 4, "image count overflows"))?;
    if bytes.len() < need {
        let complete = (bytes.len() - 16) / d;
        return Err(bad(
            path,
            (16 + complete * d) as u64,
            format!(
                "truncated: header announces {n} images of {d} bytes, file holds {complete} complete images"
            ),
        ));
    }
    if n == 0 {
        return Err(bad(path, 4, "the header announces 0 images"));
    }
    let p = if max_images > 0 { n.min(max_images) } else { n };
    let pixels = bytes[16..16 + p * d].iter().map(|&b| b as f64).collect();
    Ok(Images { p, d, pixels })
}

/// Loads by format name ("cifar10" or "mnist" = any IDX image file).
pub fn load(kind: &str, path: &str, max_images: usize) -> Result<Images> {
    match kind {
        "cifar10" => load_cifar10(path, max_images),
        _ => load_idx(path, max_images),
    }
}

/// The reference preprocessing (docs/theory.md §2): pixels/255, divide by 2×(global std), subtract the
/// global scalar mean; with `center`, subtract the per-pixel mean instead of the scalar one.
pub fn preprocess(img: &Images, center: bool) -> Vec<f64> {
    let n = img.pixels.len() as f64;
    let x: Vec<f64> = img.pixels.iter().map(|v| v / 255.0).collect();
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let scale = if var > 0.0 {
        1.0 / (2.0 * var.sqrt())
    } else {
        1.0
    };
    let mut y: Vec<f64> = x.iter().map(|v| v * scale).collect();
    if center {
        for j in 0..img.d {
            let m = (0..img.p).map(|i| y[i * img.d + j]).sum::<f64>() / img.p as f64;
            for i in 0..img.p {
                y[i * img.d + j] -= m;
            }
        }
    } else {
        let m = mean * scale;
        for v in y.iter_mut() {
            *v -= m;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cifar_truncated_record_names_offset() {
        let bytes = vec![0u8; 3073 * 2 + 10];
        let e = parse_cifar10(&bytes, "x.bin", 0)
            .expect_err("truncated")
            .to_string();
        assert!(e.contains("x.bin") && e.contains("byte 6146"), "{e}");
    }

    #[test]
    fn cifar_grayscale_is_luma() {
        let mut rec = vec![3u8; 3073];
        rec[1] = 255; // R of pixel 0
        rec[1025] = 0;
        rec[2049] = 0;
        let img = parse_cifar10(&rec, "x.bin", 0).expect("valid");
        assert!((img.pixels[0] - 0.299 * 255.0).abs() < 1e-12);
        assert!((img.pixels[1] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn idx_bad_magic_and_truncation() {
        let mut b = vec![0u8; 16];
        b[3] = 0x01;
        assert!(
            parse_idx(&b, "m.idx", 0)
                .expect_err("magic")
                .to_string()
                .contains("bad magic")
        );
        let mut b = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2];
        b.extend([1u8; 9]);
        let e = parse_idx(&b, "m.idx", 0)
            .expect_err("truncated")
            .to_string();
        assert!(e.contains("byte 24") && e.contains("2 complete"), "{e}");
        // no image: refused with the file and the header's offset named
        let b = vec![0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2];
        let e = parse_idx(&b, "m.idx", 0).expect_err("no image").to_string();
        assert!(
            e.contains("m.idx") && e.contains("byte 4") && e.contains("0 images"),
            "{e}"
        );
    }
}
