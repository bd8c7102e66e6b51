'use strict';
// Writes `count` generated colour photographs into `dir`, as a user's folder holds them: in `classes` subfolders,
// of varied sizes (48 to 191 pixels a side, not square), 4 in 5 as JPEG and 1 in 5 as PNG. Each is a smooth picture
// (a random 6x6 colour grid, enlarged), so that it compresses and decodes like a photograph, not like noise.
// Seeded: the same call writes the same files. Files already there are kept (the folder is reused between runs).
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

function fileOf(dir, i, classes) {
  const cls = `class-${String(i % classes).padStart(3, '0')}`;
  return path.join(dir, cls, `photo-${String(i).padStart(7, '0')}.${i % 5 === 4 ? 'png' : 'jpg'}`);
}

async function photoFolder(dir, count, { classes = 100, onProgress } = {}) {
  for (let c = 0; c < Math.min(classes, count); c++) fs.mkdirSync(path.join(dir, `class-${String(c).padStart(3, '0')}`), { recursive: true });
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const file = fileOf(dir, i, classes);
      if (!fs.existsSync(file)) {
        let seed = (i * 2654435761 + 12345) >>> 0;
        const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24; };
        const grid = Buffer.alloc(6 * 6 * 3);
        for (let j = 0; j < grid.length; j++) grid[j] = rand();
        const width = 48 + (rand() % 144);
        const height = 48 + (rand() % 144);
        const image = sharp(grid, { raw: { width: 6, height: 6, channels: 3 } }).resize(width, height, { kernel: 'cubic' });
        const bytes = await (file.endsWith('.png') ? image.png() : image.jpeg({ quality: 85 })).toBuffer();
        fs.writeFileSync(`${file}.part`, bytes);
        fs.renameSync(`${file}.part`, file); // an interrupted write leaves no half picture under the real name
      }
      if (onProgress && ++done % 5000 === 0) onProgress(done, count);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return dir;
}

module.exports = { photoFolder };

// node bench/lib/photo-folder.js DIR COUNT
if (require.main === module) {
  photoFolder(process.argv[2], Number(process.argv[3]), { onProgress: (d, n) => process.stderr.write(`${d}/${n}\n`) }).catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
