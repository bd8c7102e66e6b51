/**
 * Photos of digits "drawn with a dark pen on white paper", made with sharp from SVG: large, off-white
 * paper with uneven lighting, thin dark strokes. What a user's phone picture of a drawing looks like.
 */
import sharp from 'sharp';

const STROKES: Record<string, string> = {
  '0': 'M 500 180 C 250 180 230 1020 500 1020 C 770 1020 750 180 500 180 Z',
  '1': 'M 420 300 L 540 180 L 540 1020',
  '3': 'M 280 260 C 420 120 740 170 700 380 C 670 540 480 560 450 580 C 700 580 780 760 700 900 C 600 1060 340 1040 260 920',
  '7': 'M 250 220 L 760 220 L 430 1020',
};

export async function penOnPaper(digit: keyof typeof STROKES | string, file: string,
  size = { width: 1000, height: 1200 }): Promise<void> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}" viewBox="0 0 1000 1200">
    <defs><linearGradient id="light" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#fbfaf5"/><stop offset="1" stop-color="#d9d6cc"/></linearGradient></defs>
    <rect width="1000" height="1200" fill="url(#light)"/>
    <path d="${STROKES[digit]}" fill="none" stroke="#1b1d2a" stroke-width="26" stroke-linecap="round" stroke-linejoin="round"/>
  </svg>`;
  const image = sharp(Buffer.from(svg));
  if (file.endsWith('.jpg')) await image.jpeg({ quality: 85 }).toFile(file);
  else await image.png().toFile(file);
}
