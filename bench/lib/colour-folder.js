'use strict';
// Writes `count` 64x64 colour PNG files of random pixels into `dir` (the bench's 64x64x3 conv run: the speed of a
// training step does not depend on what the pictures show). Reuses the folder when it already holds them.
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

async function colourFolder(dir, count, size = 64) {
  fs.mkdirSync(dir, { recursive: true });
  const name = (i) => path.join(dir, `img-${String(i).padStart(5, '0')}.png`);
  let seed = 12345;
  const next = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24; };
  for (let i = 0; i < count; i++) {
    if (fs.existsSync(name(i))) continue;
    const pixels = Buffer.alloc(size * size * 3);
    for (let j = 0; j < pixels.length; j++) pixels[j] = next();
    await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toFile(name(i));
  }
  return dir;
}

module.exports = { colourFolder };

// node bench/lib/colour-folder.js DIR COUNT
if (require.main === module) {
  colourFolder(process.argv[2], Number(process.argv[3])).catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
