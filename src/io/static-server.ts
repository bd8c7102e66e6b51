/**
 * A read-only web server for a fixed set of files (`vae explore`): each URL path it answers is a key of the map it
 * is given, made when it starts. A request is never turned into a file path: `..`, encoded slashes or dots,
 * absolute paths and any other path are simply not keys, and get 404. A file that resolves (through symlinks)
 * outside the folder it was listed from is left out of the map. Only GET and HEAD are answered; nothing is written.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { VaeError, errorMessage } from '../errors';

/** A file on disk, read at each request (so a run still training serves its newest metrics), or bytes made at start. */
export type ServedFile = { file: string; type: string } | { body: Buffer; type: string };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.jsonl': 'application/x-ndjson', '.bin': 'application/octet-stream', '.png': 'image/png',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file)] ?? 'application/octet-stream';
}

/** The real path of `full` when it lies inside `root` (itself a real path), else null (a link out, or dangling). */
function realInside(root: string, full: string): string | null {
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch {
    return null;
  }
  return real === root || real.startsWith(root + path.sep) ? real : null;
}

/** The regular file `relative` of `dir` as a served file, when its real path lies inside the real path of `dir`. */
export function fileIn(dir: string, relative: string): ServedFile | null {
  const real = realInside(fs.realpathSync(dir), path.join(dir, relative));
  return real && fs.statSync(real).isFile() ? { file: real, type: contentType(relative) } : null;
}

/**
 * The files of `dir` (recursively), as URL path → file, under `prefix` (e.g. '/model/'): only regular files whose
 * real path lies inside the real path of `dir`.
 */
export function filesUnder(dir: string, prefix: string): Map<string, ServedFile> {
  const out = new Map<string, ServedFile>();
  const root = fs.realpathSync(dir);
  const walk = (sub: string) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const relative = path.posix.join(sub, entry.name);
      const real = realInside(root, path.join(dir, relative));
      if (!real) continue;
      const stat = fs.statSync(real);
      if (stat.isDirectory()) walk(relative);
      else if (stat.isFile()) out.set(prefix + relative, { file: real, type: contentType(relative) });
    }
  };
  walk('');
  return out;
}

/** Starts serving `files` on host:port; resolves once it listens (port 0: any free port, see server.address()). */
export function serveFiles(files: Map<string, ServedFile>, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET and HEAD\n');
    const raw = (req.url ?? '/').split('?')[0].split('#')[0];
    const served = files.get(raw === '/' ? '/index.html' : raw);
    if (!served) return send(404, 'not found\n');
    const reply = (data: Buffer) => {
      res.writeHead(200, { 'Content-Type': served.type, 'Content-Length': data.length, 'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : data);
    };
    if ('body' in served) return reply(served.body);
    fs.readFile(served.file, (err, data) => (err ? send(404, 'not found\n') : reply(data)));
  });
  // A slow or stalled client cannot hold a connection for long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new VaeError(e.code === 'EADDRINUSE'
      ? `port ${port} on ${host} is in use: choose another with --port`
      : `cannot listen on ${host}:${port}: ${errorMessage(e)}`)));
    server.listen(port, host, () => resolve(server));
  });
}

/** Writes `files` under `dir` by their URL paths (a static copy that any web server can serve). */
export function exportFiles(files: Map<string, ServedFile>, dir: string): void {
  for (const [url, served] of files) {
    const target = path.join(dir, ...url.split('/').filter((p) => p !== ''));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if ('body' in served) fs.writeFileSync(target, served.body);
    else fs.copyFileSync(served.file, target);
  }
}
