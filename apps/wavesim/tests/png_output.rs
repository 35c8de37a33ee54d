//! The mid-plane PNG: our encoder's output read back by our own checker
//! (signature, IHDR, every CRC, zlib, Adler-32) and decoded by the
//! independent `png` crate, pixel for pixel.

use ringkernel_wavesim::image::{PNG_SIGNATURE, check_png, crc32, diverging, encode_png, render_plane};
use ringkernel_wavesim::{Command, Engine, GridDims, Simulation};

fn decode_with_png_crate(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png crate reads the header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size fits")];
    let info = reader.next_frame(&mut buf).expect("png crate decodes the frame");
    buf.truncate(info.buffer_size());
    (info, buf)
}

#[test]
fn midplane_png_decodes() {
    let dims = GridDims::new(24, 20, 16).unwrap();
    let mut sim = Simulation::new(dims, Engine::Rayon);
    sim.run(&[
        Command::inject_impulse([12, 10, 8], 1.0),
        Command::inject_impulse([6, 6, 8], -1.0),
        Command::run_steps(2),
    ]);
    let (image, peak) = render_plane(sim.midplane(), dims.nx(), dims.ny(), 5);
    assert!(peak > 0.0);
    assert_eq!((image.width, image.height), (120, 100));
    let file = encode_png(&image).unwrap();

    // By hand: signature, then IHDR with its fields and CRC.
    assert_eq!(&file[..8], &PNG_SIGNATURE);
    assert_eq!(&file[8..12], &13u32.to_be_bytes());
    assert_eq!(&file[12..16], b"IHDR");
    assert_eq!(&file[16..20], &120u32.to_be_bytes());
    assert_eq!(&file[20..24], &100u32.to_be_bytes());
    assert_eq!(&file[24..29], &[8, 2, 0, 0, 0]);
    assert_eq!(&file[29..33], &crc32(&[&file[12..29]]).to_be_bytes());
    assert_eq!(&file[file.len() - 12..], &[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]);

    // Our checker: every CRC, the zlib stream and its Adler-32.
    assert_eq!(check_png(&file).unwrap(), image);

    // The png crate, which verifies CRCs and Adler-32 too.
    let (info, pixels) = decode_with_png_crate(&file);
    assert_eq!((info.width, info.height), (120, 100));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(pixels, image.pixels);

    // Red where the positive impulse was, blue where the negative one was:
    // two steps in, the bumps' centres still have their signs.
    let at = |x: u32, y: u32| {
        let (px, py) = (x * 5 + 2, (dims.ny() - 1 - y) * 5 + 2);
        let i = ((py * 120 + px) * 3) as usize;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    let (red, blue) = (at(12, 10), at(6, 6));
    assert!(red[0] > red[2], "{red:?}");
    assert!(blue[2] > blue[0], "{blue:?}");
    assert_eq!(at(0, 0), diverging(0.0), "the walls are zero: white");
}

#[test]
fn large_png_spans_several_stored_blocks_and_still_decodes() {
    // 400 × 300 RGB is 360 300 bytes of rows: six stored deflate blocks.
    let values: Vec<f32> = (0..80 * 60).map(|i| ((i % 80) as f32 - 40.0) * ((i / 80) as f32 - 30.0)).collect();
    let (image, _) = render_plane(&values, 80, 60, 5);
    let file = encode_png(&image).unwrap();
    check_png(&file).unwrap();
    let (info, pixels) = decode_with_png_crate(&file);
    assert_eq!((info.width, info.height), (400, 300));
    assert_eq!(pixels, image.pixels);
}
