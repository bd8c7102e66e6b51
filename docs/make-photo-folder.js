#!/usr/bin/env node
/**
 * Makes the folder of photographs behind the README's colour pictures: square crops of the twelve nature
 * photographs in Debian's mate-backgrounds package (apt-get install mate-backgrounds), one subfolder per
 * photograph, as JPEG files of 96 x 96 pixels. Seeded: the same call makes the same files.
 *
 *   node docs/make-photo-folder.js OUT_DIR [CROPS_PER_PHOTO] [PHOTO_DIR]
 */
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const [out, perPhoto = '150', photos = '/usr/share/backgrounds/mate/nature'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node docs/make-photo-folder.js OUT_DIR [CROPS_PER_PHOTO] [PHOTO_DIR]');
  process.exit(1);
}
if (!fs.existsSync(photos)) {
  console.error(`${photos} not found: apt-get install mate-backgrounds, or pass a folder of photographs`);
  process.exit(1);
}

let state = 12345;
const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 4294967296; };

(async () => {
  const files = fs.readdirSync(photos).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
  for (const file of files) {
    const name = path.parse(file).name;
    fs.mkdirSync(path.join(out, name), { recursive: true });
    const image = sharp(path.join(photos, file));
    const { width, height } = await image.metadata();
    const short = Math.min(width, height);
    for (let i = 0; i < Number(perPhoto); i++) {
      const side = Math.round(short * (0.15 + 0.45 * uniform()));
      const left = Math.floor(uniform() * (width - side));
      const top = Math.floor(uniform() * (height - side));
      await sharp(path.join(photos, file)).extract({ left, top, width: side, height: side }).resize(96, 96)
        .jpeg({ quality: 90 }).toFile(path.join(out, name, `${name}-${String(i).padStart(3, '0')}.jpg`));
    }
  }
  console.log(`wrote ${files.length} x ${perPhoto} crops to ${out}`);
})();
