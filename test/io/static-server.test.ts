/**
 * The explorer's server answers only requests addressed to its own host names (localhost, 127.0.0.1, [::1], the
 * address it listens on, the names it is given): any other Host header, as a DNS-rebinding page sends, gets 421
 * and no file. Through real HTTP against a real server, with the Host header set by hand.
 */
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import { AddressInfo } from 'net';
import { ServedFile, parseHostName, serveFiles } from '../../src/io/static-server';

const SECRET = 'the codes of your data\n';
const FILES = new Map<string, ServedFile>([['/explore.json', { body: Buffer.from(SECRET), type: 'application/json' }]]);

/** Whether this machine has the IPv6 loopback address (a container without IPv6 has none): the [::1] tests need it. */
const HAS_IPV6 = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []).some((a) => a.family === 'IPv6' && a.address === '::1');
const withIPv6 = HAS_IPV6 ? test : test.skip;

interface Reply { status: number; body: string }

/** A request to `address`:`port` with the Host header `host` (the connection and the header are independent). */
function get(port: number, host: string, options: { address?: string; method?: string; path?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: options.address ?? '127.0.0.1', port, path: options.path ?? '/explore.json',
      method: options.method ?? 'GET', headers: { Host: host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request written by hand (http.request always sends a Host header, and a non-empty one): the raw reply. */
function raw(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${head}\r\n\r\n`));
    let text = '';
    socket.on('data', (d) => { text += d; });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

async function start(host: string, allowHosts: string[] = []): Promise<{ server: http.Server; port: number }> {
  const server = await serveFiles(FILES, host, 0, allowHosts);
  return { server, port: (server.address() as AddressInfo).port };
}

const close = (server: http.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

const expectServed = (r: Reply) => expect(r).toEqual({ status: 200, body: SECRET });
const expectRefused = (r: Reply) => {
  expect(r.status).toBe(421);
  expect(r.body).not.toContain('codes');
  expect(r.body).toMatch(/^this server answers only its own host names \(localhost, 127\.0\.0\.1, \[::1\].*\)\n$/);
};

describe('on 127.0.0.1, with --allow-host names', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => ({ server, port } = await start('127.0.0.1', ['vae.test', 'Proxy.Example:8443'])));
  afterAll(() => close(server));

  test.each(['localhost:PORT', '127.0.0.1:PORT', 'LocalHost:PORT', '[::1]:PORT', 'vae.test:PORT', 'VAE.test:PORT', 'proxy.example:8443'])(
    '%s is answered', async (host) => {
      expectServed(await get(port, host.replace('PORT', String(port))));
    });

  test.each([
    'evil.example:PORT', 'localhost:OTHER', 'localhost', '127.0.0.1', 'localhost.:PORT', 'localhost.evil.example:PORT',
    '127.0.0.1.evil.example:PORT', 'evil.example@localhost:PORT', 'localhost:PORT@evil.example', 'vae.test:OTHER',
    'proxy.example:PORT', '0.0.0.0:PORT', 'localhost:PORT:PORT',
  ])('%s gets 421 and no file', async (host) => {
    expectRefused(await get(port, host.replace(/PORT/g, String(port)).replace('OTHER', String(port === 65535 ? 1 : port + 1))));
  });

  test('421 comes before anything else: HEAD gets no body, POST and a missing file get 421 too', async () => {
    expect(await get(port, 'evil.example', { method: 'HEAD' })).toEqual({ status: 421, body: '' });
    expect((await get(port, 'evil.example', { method: 'POST' })).status).toBe(421);
    expect((await get(port, 'evil.example', { path: '/nothing' })).status).toBe(421);
    // With its own name, the same requests get their usual answers.
    expect((await get(port, `localhost:${port}`, { method: 'POST' })).status).toBe(405);
    expect((await get(port, `localhost:${port}`, { path: '/nothing' })).status).toBe(404);
  });

  test('a request without a Host header (HTTP/1.0), or with an empty one, gets 421', async () => {
    for (const head of ['GET /explore.json HTTP/1.0', 'GET /explore.json HTTP/1.1\r\nHost: \r\nConnection: close']) {
      const text = await raw(port, head);
      expect(text).toMatch(/^HTTP\/1\.[01] 421 /);
      expect(text).not.toContain('codes');
    }
    // The same request, with its own name, is answered.
    expect(await raw(port, `GET /explore.json HTTP/1.0\r\nHost: localhost:${port}`)).toMatch(/^HTTP\/1\.[01] 200 [^]*the codes of your data/);
  });
});

withIPv6('on ::1: [::1] with its port is answered, a foreign name is not', async () => {
  const { server, port } = await start('::1');
  try {
    expectServed(await get(port, `[::1]:${port}`, { address: '::1' }));
    expectServed(await get(port, `[0:0:0:0:0:0:0:1]:${port}`, { address: '::1' })); // the same address, written out
    expectServed(await get(port, `localhost:${port}`, { address: '::1' }));
    expectRefused(await get(port, `evil.example:${port}`, { address: '::1' }));
    expectRefused(await get(port, `[::1]:${port + 1}`, { address: '::1' }));
  } finally {
    await close(server);
  }
});

/** A non-loopback address of this machine, as a Host header writes it, if it has one. */
function interfaceAddress(family: 'IPv4' | 'IPv6'): string | undefined {
  const a = Object.values(os.networkInterfaces()).flatMap((list) => list ?? [])
    .find((x) => !x.internal && x.family === family && !x.address.startsWith('fe80:'));
  return a && (family === 'IPv6' ? `[${a.address}]` : a.address);
}

describe.each([['0.0.0.0', '127.0.0.1'], ['::', '::1']])('on the wildcard %s', (wildcard, address) => {
  const maybe = wildcard === '::' && !HAS_IPV6 ? test.skip : test;
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    if (wildcard === '::' && !HAS_IPV6) return;
    ({ server, port } = await start(wildcard));
  });
  afterAll(() => server && close(server));

  maybe('the loopback names, the wildcard itself, the machine\'s host name and its addresses are answered', async () => {
    const names = ['localhost', '127.0.0.1', wildcard.includes(':') ? `[${wildcard}]` : wildcard, os.hostname(),
      interfaceAddress('IPv4'), ...(HAS_IPV6 ? ['[::1]', interfaceAddress('IPv6')] : [])];
    for (const name of names) {
      if (name === undefined || !parseHostName(name)) continue; // no such address here, or a host name no URL can hold
      expectServed(await get(port, `${name}:${port}`, { address }));
    }
  });

  maybe('any other name, or another port, gets 421', async () => {
    expectRefused(await get(port, `evil.example:${port}`, { address }));
    expectRefused(await get(port, `${os.hostname()}.evil.example:${port}`, { address }));
    expectRefused(await get(port, `${os.hostname()}:${port + 1}`, { address }));
    expectRefused(await get(port, `localhost:${port + 1}`, { address }));
  });
});

test('parseHostName: the forms of a Host header, in lower case, an IPv6 address canonical; nothing else', () => {
  expect(parseHostName('LocalHost:5173')).toEqual({ name: 'localhost', port: 5173 });
  expect(parseHostName('vae.example')).toEqual({ name: 'vae.example', port: undefined });
  expect(parseHostName('[0:0::1]:80')).toEqual({ name: '[::1]', port: 80 });
  for (const bad of ['', '::1', 'a b', 'http://x', 'x/y', 'u@x', 'x:', 'x:0', 'x:65536', 'x:1:2', '[zz]', '[::1']) {
    expect(parseHostName(bad)).toBeNull();
  }
});

test('serveFiles refuses an --allow-host that is not a host name', async () => {
  await expect(serveFiles(FILES, '127.0.0.1', 0, ['http://x'])).rejects.toThrow(/--allow-host http:\/\/x: not a host name/);
});
