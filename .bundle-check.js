const { build } = require('esbuild');
const entries = process.argv.slice(2);
build({ stdin: { contents: entries.map((f) => `export * from ${JSON.stringify(require('path').resolve(f))};`).join('\n'), resolveDir: process.cwd(), loader: 'ts' },
  bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent', metafile: true })
  .then((r) => console.log('ok', Object.keys(r.metafile.inputs).filter((k) => !k.includes('node_modules')).length, 'files'))
  .catch((e) => { for (const x of e.errors) console.log(x.text, x.location && x.location.file); });
