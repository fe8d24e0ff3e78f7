import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/** Real images, generated per run so nothing binary is committed. */
const noise = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({
    create: {
      width,
      height,
      channels,
      background: { r: 90, g: 140, b: 200, alpha: 0.5 },
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  });

export const fixtures = {
  jpeg: () => noise(1200, 800).jpeg({ quality: 85 }).toBuffer(),
  pngWithAlpha: () =>
    sharp({
      create: { width: 900, height: 600, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.4 } },
    })
      .png()
      .toBuffer(),
  webp: () => noise(1000, 1000).webp({ quality: 80 }).toBuffer(),
  // Flat colour: GIF quantisation of noise takes seconds.
  gif: () =>
    sharp({ create: { width: 640, height: 480, channels: 3, background: '#3a7' } })
      .gif()
      .toBuffer(),
  /** Stored 600×400 with EXIF orientation 6: it displays as 400×600. */
  exifRotated: () => noise(600, 400).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
  cmyk: () => noise(800, 600).toColourspace('cmyk').jpeg().toBuffer(),
  png16: () => noise(640, 480).toColourspace('rgb16').png().toBuffer(),
  tiff: () => noise(640, 480).tiff().toBuffer(),
  truncatedJpeg: async () => {
    const full = await noise(1200, 800).jpeg().toBuffer();
    return full.subarray(0, Math.floor(full.byteLength / 2));
  },
  notAnImage: async () => Buffer.from('<html>this is not an image</html>'),
  /** An image sharp can decode but the resizer must not: vector, scriptable, any canvas size. */
  svg: async () =>
    Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600"><rect width="800" height="600" fill="#3a7"/></svg>',
    ),
  avif: () => noise(900, 600).avif({ quality: 60, effort: 0 }).toBuffer(),
  /** A few hundred bytes that declare 50 000 × 50 000 pixels (2.5 gigapixels). */
  decompressionBomb: async () => pngDeclaring(50_000, 50_000),
};

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.byteLength);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(0, 9); // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
