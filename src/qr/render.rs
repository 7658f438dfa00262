//! Drawing a token as a QR code (inline SVG for the page, PNG for tests and printing) and
//! reading one back from a photo (`rqrr`, on the server: the staff page works without a
//! camera API in the browser).

use std::fmt::Write;

use qrcode::{Color, EcLevel, QrCode};

/// Quiet zone around the code (ISO/IEC 18004), in modules.
const QUIET_ZONE: usize = 4;
/// Largest photo accepted for decoding, in pixels along the longer side (after downscaling a
/// larger one, so a 12 MP phone photo costs little).
const MAX_SIDE: u32 = 1600;

fn code(text: &str) -> Option<QrCode> {
    // Error correction Q: a quarter of the code may be smudged or glared and still read.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q).ok()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The token as an inline `<svg>`: black on white with the quiet zone, sized by CSS (only a
/// `viewBox`), `role="img"` with a label for screen readers.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = code(text)?;
    let width = code.width();
    let size = width + 2 * QUIET_ZONE;
    let mut path = String::new();
    for (y, row) in code.to_colors().chunks(width).enumerate() {
        let mut x = 0;
        while x < row.len() {
            if row[x] == Color::Dark {
                let start = x;
                while x < row.len() && row[x] == Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    let label = xml_escape(label);
    Some(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" "#,
            r#"role="img" aria-label="{label}" shape-rendering="crispEdges" class="qr-code">"#,
            r#"<title>{label}</title>"#,
            r##"<rect width="{size}" height="{size}" fill="#fff"/>"##,
            r##"<path fill="#000" d="{path}"/></svg>"##
        ),
        size = size,
        label = label,
        path = path
    ))
}

/// The token as a PNG, `scale` pixels per module, with the quiet zone.
pub fn png(text: &str, scale: u32) -> Option<Vec<u8>> {
    let code = code(text)?;
    let width = code.width();
    let colors = code.to_colors();
    let quiet = u32::try_from(QUIET_ZONE).ok()?;
    let modules = u32::try_from(width).ok()? + 2 * quiet;
    let side = modules * scale;
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / scale, y / scale);
        let dark = mx >= quiet
            && my >= quiet
            && mx - quiet < modules - 2 * quiet
            && my - quiet < modules - 2 * quiet
            && colors[(my - quiet) as usize * width + (mx - quiet) as usize] == Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// The text of the first QR code found in a PNG or JPEG photo, if any.
pub fn decode_photo(bytes: &[u8]) -> Option<String> {
    let format = image::guess_format(bytes).ok()?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return None;
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    // A photo decodes into memory: refuse absurd dimensions before allocating.
    limits.max_image_width = Some(8000);
    limits.max_image_height = Some(8000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut gray = reader.decode().ok()?.to_luma8();
    if gray.width().max(gray.height()) > MAX_SIDE {
        let factor = f64::from(MAX_SIDE) / f64::from(gray.width().max(gray.height()));
        let w = ((f64::from(gray.width()) * factor) as u32).max(1);
        let h = ((f64::from(gray.height()) * factor) as u32).max(1);
        gray = image::imageops::resize(&gray, w, h, image::imageops::FilterType::Triangle);
    }
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        gray.get_pixel(x as u32, y as u32).0[0]
    });
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_png_reads_back_with_rqrr() {
        let text = "CDS1:280CBTE09-Q1R97U 30S7FJBUAF02JF%MUTQFFU000H20382AAK";
        let png = png(text, 4).unwrap();
        assert_eq!(decode_photo(&png).as_deref(), Some(text));
        assert_eq!(decode_photo(b"not an image"), None);
    }

    #[test]
    fn the_svg_is_labelled_and_escaped() {
        let svg = svg("CDS1:ABC", "Mã <QR>").unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("aria-label=\"Mã &lt;QR&gt;\""));
    }
}
