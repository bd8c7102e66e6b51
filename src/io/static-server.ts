/**
 * A read-only web server for a fixed set of files (`vae explore`): each URL path it answers is a key of the map it
 * is given, made when it starts. A request is never turned into a file path: `..`, encoded slashes or dots,
 * absolute paths and any other path are simply not keys, and get 404. A file that resolves (through symlinks)
 * outside the folder it was listed from is left out of the map. Only GET and HEAD are answered; nothing is written.
 * Only requests addressed to the server's own host names are answered (421 otherwise; see `serveFiles`).
 */
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo, isIPv6 } from 'net';
import * as os from 'os';
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

/** A host name (lower case; an IPv6 address in brackets, in its canonical form) and a port, if one was given. */
export interface HostName { name: string; port?: number }

/**
 * `value` as a Host header writes it: `name`, `name:port`, `1.2.3.4:port`, `[v6]` or `[v6]:port`; null when it is
 * none of these (so also for a bare IPv6 address, a URL, a path or user@host).
 */
export function parseHostName(value: string): HostName | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_-]+(?:\.[a-z0-9_-]+)*)(?::(\d{1,5}))?$/i.exec(value);
  if (!m) return null;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return null;
  let name = m[1].toLowerCase();
  if (name.startsWith('[')) {
    try {
      name = new URL(`http://${name}/`).hostname; // canonical: [0:0::1] is [::1]
    } catch {
      return null;
    }
  }
  return { name, port };
}

/** An address as a URL writes its host: an IPv6 address in brackets. */
const asHost = (address: string) => (isIPv6(address) ? `[${address}]` : address);

/** The names and addresses of this machine: its host name and the addresses of its network interfaces. */
function machineNames(): string[] {
  const addresses = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []).map((a) => asHost(a.address));
  return [os.hostname(), ...addresses];
}

/** The message of a 421: the names are not listed (a foreign page must not learn the machine's addresses). */
const MISDIRECTED = 'this server answers only its own host names (localhost, 127.0.0.1, [::1], the address it listens on, ' +
  'and those given with --allow-host)\n';

/**
 * Starts serving `files` on host:port; resolves once it listens (port 0: any free port, see server.address()).
 *
 * A request is answered only when its Host header names this server: `localhost`, `127.0.0.1`, `[::1]`, the address
 * it listens on (`host` as given and as bound), and the names of `allowHosts` (`name` or `name:port`; a name without
 * a port stands for the server's port), each with the port the server got; any other Host, and a request without
 * one (HTTP/1.0), gets 421. Otherwise a web page the user visits could read the files through DNS rebinding: its
 * own name, made to resolve to 127.0.0.1, reaches this server with its name in the Host header.
 */
export function serveFiles(files: Map<string, ServedFile>, host: string, port: number,
  allowHosts: string[] = []): Promise<http.Server> {
  const extra = allowHosts.map((value) => parseHostName(isIPv6(value) ? `[${value}]` : value));
  const bad = allowHosts.find((_, i) => extra[i] === null);
  if (bad !== undefined) {
    return Promise.reject(new VaeError(`--allow-host ${bad}: not a host name (such as vae.example or vae.example:8080)`));
  }
  let own = new Set<string>();
  let wildcard = false;
  let listening = 0;
  const allowed = (header: string | undefined): boolean => {
    const parsed = header === undefined ? null : parseHostName(header);
    if (!parsed) return false;
    const key = `${parsed.name}:${parsed.port ?? 80}`;
    if (own.has(key)) return true;
    // Listening on every interface (0.0.0.0 or ::), a request may come in on any of the machine's addresses, or by
    // its host name: those are allowed too, looked up now (an address may have changed since the start); no other name.
    return wildcard && (parsed.port ?? 80) === listening &&
      machineNames().some((name) => parseHostName(name)?.name === parsed.name);
  };
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (!allowed(req.headers.host)) return send(421, MISDIRECTED);
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
    server.listen(port, host, () => {
      const bound = server.address() as AddressInfo;
      listening = bound.port;
      wildcard = bound.address === '0.0.0.0' || bound.address === '::';
      const names = ['localhost', '127.0.0.1', '[::1]', asHost(host), asHost(bound.address)]
        .map((name) => parseHostName(name)?.name).filter((name): name is string => name !== undefined);
      own = new Set([...names.map((name) => `${name}:${listening}`), ...extra.map((h) => `${h!.name}:${h!.port ?? listening}`)]);
      resolve(server);
    });
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
