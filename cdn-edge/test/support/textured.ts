import sharp from 'sharp';

/**
 * A synthetic photo-like JPEG: a gradient with hard-edged shapes under blurred grain. At 1920×1440
 * and sigma 40 its JPEG is ~1 MB at q90 and ~0.6 MB at q80 (bench), so q90 is over the ~780 KB a
 * 1 MB generated response can carry and q80 fits: the case quality fitting is for.
 */
export async function texturedJpeg(width = 1920, height = 1440, sigma = 40): Promise<Buffer> {
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="#4a78b0"/><stop offset="1" stop-color="#e8c27a"/></linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/>
      <circle cx="${width / 3}" cy="${height / 2}" r="${height / 4}" fill="#a33"/>
      <rect x="${width / 2}" y="${height / 5}" width="${width / 4}" height="${height / 3}" fill="#262"/>
    </svg>`,
  );
  const base = await sharp(svg).removeAlpha().raw().toBuffer();
  const grain = await sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma } },
  })
    .blur(0.8)
    .raw()
    .toBuffer();
  for (let i = 0; i < base.length; i++)
    base[i] = Math.max(0, Math.min(255, (base[i] ?? 0) + (grain[i] ?? 128) - 128));
  return sharp(base, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}
