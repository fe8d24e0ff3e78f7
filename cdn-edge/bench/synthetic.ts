import sharp from 'sharp';

/**
 * A synthetic photo-like JPEG, since no real photos are available offline: a diagonal gradient
 * (smooth areas), hard-edged shapes (edges) and blurred Gaussian grain of strength `sigma` (texture;
 * sharp's noise is not seeded, so sizes move by a percent or so between runs). Figures measured on
 * these are figures for synthetic sources: real photos differ, above all in how much fine texture
 * they carry. At 1920×1440 and sigma 40 the JPEG is ~1 MB at q90 and ~0.6 MB at q80, so q90 is over
 * the ~780 KB a 1 MB generated response can carry and q80 fits.
 */
export async function syntheticPhoto(width = 1920, height = 1440, sigma = 40): Promise<Buffer> {
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
  const grain = await sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma } },
  })
    .blur(0.8)
    .raw()
    .toBuffer();
  for (let i = 0; i < base.length; i++) {
    base[i] = Math.max(0, Math.min(255, (base[i] ?? 0) + (grain[i] ?? 128) - 128));
  }
  return sharp(base, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}
