import sharp from 'sharp';

/** Four layers of grain: the loop below adds exactly four. */
const OCTAVES = 4;

/**
 * A synthetic photo-like JPEG, since no real photos are available offline: a diagonal gradient
 * (smooth areas), hard-edged shapes (edges) and blurred Gaussian grain of strength `sigma` (texture;
 * sharp's noise is not seeded, so sizes move by a percent or so between runs). Figures measured on
 * these are figures for synthetic sources: real photos differ, above all in how much fine texture
 * they carry. At 1920×1440 and sigma 60 the JPEG is ~880 KB at q90 and ~580 KB at q80, so q90 is
 * over the ~780 KB a 1 MB generated response can carry and q80 fits.
 */
export async function syntheticPhoto(width = 1920, height = 1440, sigma = 60): Promise<Buffer> {
  const shapes: string[] = [];
  let seed = 7;
  // A fixed linear congruential sequence: the same shapes on every run.
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let i = 0; i < 24; i++) {
    const x = next() * width;
    const y = next() * height;
    const size = (0.05 + next() * 0.2) * width;
    const colour = `hsl(${Math.floor(next() * 360)},55%,${30 + Math.floor(next() * 40)}%)`;
    shapes.push(
      i % 2
        ? `<circle cx="${x}" cy="${y}" r="${size / 2}" fill="${colour}"/>`
        : `<rect x="${x}" y="${y}" width="${size}" height="${size * 0.6}" fill="${colour}" transform="rotate(${Math.floor(next() * 90)} ${x} ${y})"/>`,
    );
  }
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="#4a78b0"/><stop offset="1" stop-color="#e8c27a"/></linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/>${shapes.join('')}
    </svg>`,
  );
  const base = await sharp(svg).removeAlpha().raw().toBuffer();
  // Grain at several scales (each octave half the size of the previous, scaled back up), as in a
  // photo: fine texture survives downscaling a large source instead of averaging away.
  const layers: Buffer[] = [];
  for (let octave = 0; octave < OCTAVES; octave++) {
    layers.push(
      await sharp({
        create: {
          width: Math.max(1, Math.round(width / 2 ** octave)),
          height: Math.max(1, Math.round(height / 2 ** octave)),
          channels: 3,
          background: '#000',
          noise: { type: 'gaussian', mean: 128, sigma },
        },
      })
        .blur(0.8)
        .resize(width, height, { kernel: 'cubic' })
        .raw()
        .toBuffer(),
    );
  }
  const [l0, l1, l2, l3] = layers as [Buffer, Buffer, Buffer, Buffer];
  for (let i = 0; i < base.length; i++) {
    const grain = ((l0[i] ?? 128) + (l1[i] ?? 128) + (l2[i] ?? 128) + (l3[i] ?? 128) - 512) / OCTAVES;
    base[i] = Math.max(0, Math.min(255, (base[i] ?? 0) + grain));
  }
  return sharp(base, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/**
 * The worst case: unblurred grain at sigma 90 and nothing else, as a lossless PNG. As JPEG at
 * 1920×1440 it is over the generated-response cap even at q60: no quality fitting can help.
 */
export function pureGrain(width = 1920, height = 1440): Promise<Buffer> {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 90 },
    },
  })
    .png()
    .toBuffer();
}
