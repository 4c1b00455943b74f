//! Uploaded files: the type is sniffed from the bytes (never taken from the
//! client), images are decoded and re-encoded (which drops EXIF and any other
//! metadata) with a thumbnail beside them, and everything is stored on disk
//! under its SHA-256, never under a name a user chose.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::domain::is_bidi_control;
use crate::error::{Error, Result};
use crate::limits::{AVATAR_SIDE, IMAGE_DECODE_BUDGET_MIB, MAX_IMAGE_PIXELS};
use crate::store::messages::NewAttachment;

/// Memory, in MiB, that images being processed may take together: a decode
/// waits for its share, so five huge images at once cost no more than the
/// budget, instead of five times their size.
static DECODE_BUDGET: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(IMAGE_DECODE_BUDGET_MIB as usize));

/// Image types shown inline (as re-encoded copies).
const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
/// Longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;
/// Largest image decoded, per side.
const MAX_IMAGE_SIDE: u32 = 10_000;
/// Bytes one decoded pixel may take while an image is processed: the
/// decoded RGBA buffer, the re-encoded copy's conversion and the thumbnail's
/// source, with room to spare.
const BYTES_PER_PIXEL_PROCESSED: u64 = 12;
/// Memory one decode may allocate, as the decoder counts it.
const MAX_DECODE_BYTES: u64 = MAX_IMAGE_PIXELS * 4 + 16 * 1024 * 1024;

/// What a file turns into before it is stored.
struct Processed {
    bytes: Vec<u8>,
    content_type: String,
    thumbnail: Option<Vec<u8>>,
    /// The thumbnail's width and height in pixels.
    thumbnail_size: Option<(i64, i64)>,
}

/// Where the bytes with this hash live.
pub fn path_of(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(sha256)
}

/// Where the thumbnail of the bytes with this hash lives.
pub(crate) fn thumbnail_path_of(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}.thumb.png"))
}

/// A display name from what the client called the file: its last path
/// component, no control characters, at most 100 characters.
pub(crate) fn display_name(raw: Option<&str>) -> String {
    let name: String = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .take(100)
        .collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." {
        "file".to_owned()
    } else {
        name.to_owned()
    }
}

/// An image's width and height from its header alone, before anything is
/// decoded; `None` when the bytes are not an image the decoder reads.
fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// The MiB of the decode budget processing an image of `pixels` takes.
fn decode_cost_mib(pixels: u64) -> u32 {
    let mib = (pixels * BYTES_PER_PIXEL_PROCESSED).div_ceil(1024 * 1024);
    u32::try_from(mib.clamp(1, IMAGE_DECODE_BUDGET_MIB)).unwrap_or(1)
}

/// Refuses an image too large to process, from its header, before any
/// pixel is allocated; otherwise says how much of the budget it needs.
fn check_image(bytes: &[u8]) -> Result<u32> {
    let sniffed = infer::get(bytes).map(|kind| kind.mime_type());
    if !sniffed.is_some_and(|m| INLINE_IMAGES.contains(&m)) {
        return Ok(0);
    }
    let Some((width, height)) = dimensions(bytes) else {
        return Ok(0);
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_IMAGE_PIXELS || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Error::Invalid(format!(
            "That image is {width}×{height} pixels; images can have at most {} million pixels.",
            MAX_IMAGE_PIXELS / 1_000_000
        )));
    }
    Ok(decode_cost_mib(pixels))
}

fn decode(bytes: &[u8]) -> Option<(image::DynamicImage, ImageFormat)> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let format = reader.format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    Some((reader.decode().ok()?, format))
}

fn encode(image: &image::DynamicImage, format: ImageFormat) -> Option<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => {
            let rgb = image.to_rgb8();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88);
            rgb.write_with_encoder(encoder).ok()?;
        }
        _ => image.write_to(&mut out, ImageFormat::Png).ok()?,
    }
    Some(out.into_inner())
}

/// Sniffs, and for images re-encodes and makes a thumbnail. CPU-bound.
fn process(bytes: Vec<u8>) -> Processed {
    let sniffed = infer::get(&bytes).map(|kind| kind.mime_type());
    if let Some(mime) = sniffed.filter(|m| INLINE_IMAGES.contains(m)) {
        if let Some((image, format)) = decode(&bytes) {
            let (clean, content_type) = match format {
                ImageFormat::Jpeg => (encode(&image, ImageFormat::Jpeg), "image/jpeg"),
                _ => (encode(&image, ImageFormat::Png), "image/png"),
            };
            let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
            let thumbnail = encode(&small, ImageFormat::Png);
            if let (Some(clean), Some(thumbnail)) = (clean, thumbnail) {
                return Processed {
                    bytes: clean,
                    content_type: content_type.to_owned(),
                    thumbnail: Some(thumbnail),
                    thumbnail_size: Some((i64::from(small.width()), i64::from(small.height()))),
                };
            }
        }
        rocket::info!("a file sniffed as {mime} did not decode; kept as a plain file");
    }
    Processed {
        bytes,
        content_type: sniffed
            .filter(|m| !INLINE_IMAGES.contains(m))
            .unwrap_or("application/octet-stream")
            .to_owned(),
        thumbnail: None,
        thumbnail_size: None,
    }
}

/// Writes `bytes` to `path` unless it is there already (same hash, same
/// bytes); through a temporary file, so a crash never leaves half a file.
async fn write_once(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if tokio::fs::try_exists(path).await? {
        return Ok(());
    }
    let temporary = path.with_extension(format!("part-{}", &crate::auth::random_token()[..12]));
    let written = match tokio::fs::write(&temporary, bytes).await {
        Ok(()) => tokio::fs::rename(&temporary, path).await,
        Err(e) => Err(e),
    };
    if written.is_err() {
        // A half-written file on a full disk would keep the space taken.
        let _ = tokio::fs::remove_file(&temporary).await;
    }
    written
}

/// What a failed write of `what` means to its sender: a full disk is
/// theirs to hear about; anything else is the server's.
fn write_error(what: &'static str) -> impl Fn(std::io::Error) -> Error + Copy {
    move |e| {
        if crate::error::is_disk_full(&e) {
            Error::StorageFull
        } else {
            Error::Internal(format!("storing {what} failed: {e}"))
        }
    }
}

/// Processes and stores an uploaded file in `dir`.
pub async fn store(dir: &Path, bytes: Vec<u8>, client_name: Option<&str>) -> Result<NewAttachment> {
    if bytes.is_empty() {
        return Err(Error::Invalid("That file is empty.".into()));
    }
    let cost = check_image(&bytes)?;
    let _share = if cost > 0 {
        Some(
            DECODE_BUDGET
                .acquire_many(cost)
                .await
                .map_err(|e| Error::Internal(format!("the decode budget closed: {e}")))?,
        )
    } else {
        None
    };
    let processed = tokio::task::spawn_blocking(move || process(bytes))
        .await
        .map_err(|e| Error::Internal(format!("processing an upload failed: {e}")))?;
    let sha256 = hex::encode(Sha256::digest(&processed.bytes));
    let io = write_error("an upload");
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    write_once(&path_of(dir, &sha256), &processed.bytes)
        .await
        .map_err(io)?;
    if let Some(thumbnail) = &processed.thumbnail {
        write_once(&thumbnail_path_of(dir, &sha256), thumbnail)
            .await
            .map_err(io)?;
    }
    Ok(NewAttachment {
        sha256,
        content_type: processed.content_type,
        size: processed.bytes.len() as i64,
        filename: display_name(client_name),
        has_thumbnail: processed.thumbnail.is_some(),
        thumbnail_size: processed.thumbnail_size,
    })
}

/// Stores a file encrypted in the browser (a secret conversation's) as
/// it is: the server cannot read it, so it neither sniffs nor thumbnails it.
pub async fn store_opaque(dir: &Path, bytes: Vec<u8>) -> Result<NewAttachment> {
    if bytes.is_empty() {
        return Err(Error::Invalid("That file is empty.".into()));
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let io = write_error("an upload");
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    write_once(&path_of(dir, &sha256), &bytes)
        .await
        .map_err(io)?;
    Ok(NewAttachment {
        sha256,
        content_type: "application/octet-stream".into(),
        size: bytes.len() as i64,
        filename: "encrypted".into(),
        has_thumbnail: false,
        thumbnail_size: None,
    })
}

/// Where the avatar with this hash lives.
pub(crate) fn avatar_path_of(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}.avatar.png"))
}

/// An uploaded picture as an avatar: decoded (never trusted as sent),
/// cropped to a square from its centre and scaled to `AVATAR_SIDE`. CPU-bound.
fn process_avatar(bytes: &[u8]) -> Result<Vec<u8>> {
    let not_an_image =
        || Error::Invalid("An avatar must be a PNG, JPEG, GIF or WebP image.".into());
    let sniffed = infer::get(bytes).map(|kind| kind.mime_type());
    if !sniffed.is_some_and(|m| INLINE_IMAGES.contains(&m)) {
        return Err(not_an_image());
    }
    let (image, _) = decode(bytes).ok_or_else(not_an_image)?;
    let square = image.resize_to_fill(
        AVATAR_SIDE,
        AVATAR_SIDE,
        image::imageops::FilterType::Lanczos3,
    );
    encode(&square, ImageFormat::Png)
        .ok_or_else(|| Error::Internal("encoding an avatar failed".into()))
}

/// Processes and stores an avatar in `dir`; returns its hash.
pub async fn store_avatar(dir: &Path, bytes: Vec<u8>) -> Result<String> {
    if bytes.is_empty() {
        return Err(Error::Invalid("That file is empty.".into()));
    }
    let cost = check_image(&bytes)?;
    let _share = DECODE_BUDGET
        .acquire_many(cost.max(1))
        .await
        .map_err(|e| Error::Internal(format!("the decode budget closed: {e}")))?;
    let png = tokio::task::spawn_blocking(move || process_avatar(&bytes))
        .await
        .map_err(|e| Error::Internal(format!("processing an avatar failed: {e}")))??;
    let sha256 = hex::encode(Sha256::digest(&png));
    let io = write_error("an avatar");
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    write_once(&avatar_path_of(dir, &sha256), &png)
        .await
        .map_err(io)?;
    Ok(sha256)
}

/// Removes an avatar's file unless an account still has it (when in
/// doubt, it stays).
pub(crate) async fn discard_avatar_unless_used(
    pool: &crate::store::Pool,
    dir: &Path,
    sha256: &str,
) {
    if !crate::store::users::avatar_in_use(pool, sha256)
        .await
        .unwrap_or(true)
    {
        let _ = tokio::fs::remove_file(avatar_path_of(dir, sha256)).await;
    }
}

/// Removes stored bytes unless an attachment still uses them (when in
/// doubt, they stay).
pub(crate) async fn discard_unused(pool: &crate::store::Pool, dir: &Path, sha256: &str) {
    if !crate::store::messages::sha256_in_use(pool, sha256)
        .await
        .unwrap_or(true)
    {
        discard(dir, sha256).await;
    }
}

/// Deletes stored bytes (and thumbnail) that no attachment uses.
pub(crate) async fn discard(dir: &Path, sha256: &str) {
    let _ = tokio::fs::remove_file(path_of(dir, sha256)).await;
    let _ = tokio::fs::remove_file(thumbnail_path_of(dir, sha256)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_never_carry_paths_or_control_characters() {
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\Users\\me\\cat.png")), "cat.png");
        assert_eq!(display_name(Some("a\u{0}b\nc.txt")), "abc.txt");
        assert_eq!(display_name(Some("..")), "file");
        assert_eq!(
            display_name(Some("invoice\u{202e}fdp.exe")),
            "invoicefdp.exe",
            "no bidi override to disguise the extension"
        );
        assert_eq!(display_name(Some("\u{2067}a\u{2069}.txt")), "a.txt");
        assert_eq!(display_name(None), "file");
    }

    #[test]
    fn an_image_over_the_pixel_limit_is_refused_from_its_header() {
        // 8000×8000 of one colour: a few hundred KiB that decode to 256 MB.
        let side = 8000;
        let image = image::DynamicImage::new_luma8(side, side);
        let mut png = Cursor::new(Vec::new());
        image.write_to(&mut png, ImageFormat::Png).unwrap();
        let png = png.into_inner();
        assert!(png.len() < 1024 * 1024, "{} bytes", png.len());
        let error = check_image(&png).unwrap_err();
        assert_eq!(error.status().code, 422);
        assert!(error.public_message().contains("8000×8000"));
    }

    #[test]
    fn an_image_within_the_limit_takes_a_share_of_the_budget() {
        let image = image::DynamicImage::new_rgb8(2000, 1000);
        let mut png = Cursor::new(Vec::new());
        image.write_to(&mut png, ImageFormat::Png).unwrap();
        let cost = check_image(&png.into_inner()).unwrap();
        assert_eq!(cost, decode_cost_mib(2_000_000));
        assert!(cost >= 20 && u64::from(cost) <= IMAGE_DECODE_BUDGET_MIB);
        assert_eq!(check_image(b"just text").unwrap(), 0);
    }

    #[test]
    fn html_claiming_to_be_an_image_is_a_plain_file() {
        let processed = process(b"<html><script>alert(1)</script></html>".to_vec());
        assert!(
            !processed.content_type.starts_with("image/"),
            "{}",
            processed.content_type
        );
        assert!(processed.thumbnail.is_none());
    }

    #[test]
    fn a_png_is_re_encoded_with_a_thumbnail() {
        let image = image::DynamicImage::new_rgb8(640, 480);
        let mut png = Cursor::new(Vec::new());
        image.write_to(&mut png, ImageFormat::Png).unwrap();
        let processed = process(png.into_inner());
        assert_eq!(processed.content_type, "image/png");
        let thumbnail = image::load_from_memory(&processed.thumbnail.unwrap()).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (320, 240));
    }
}
