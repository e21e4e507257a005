// `lowbit web`'s server: the static web app (dist/web/) on 127.0.0.1 only, with the headers that
// make the page cross-origin isolated (COOP/COEP), which SharedArrayBuffer, and so the quantize
// pool's Web Workers, need. GET and HEAD of files under the root; nothing else.
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LowbitError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
};

/** dist/web/ of this package: this module is two levels below the package root (src/node/, dist/node/), or three inlined in the CLI bundle (dist/cli/bundle/). */
export function webAppRoot(): string {
  const candidates = ['../../dist/web/', '../../../dist/web/'].map((u) => fileURLToPath(new URL(u, import.meta.url)));
  return candidates.find((c) => existsSync(join(c, 'index.html'))) ?? candidates[0]!;
}

export interface WebServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function serveWebApp(opts: { root?: string; port?: number; host?: string } = {}): Promise<WebServer> {
  const root = opts.root ?? webAppRoot();
  if (!(await stat(join(root, 'index.html')).catch(() => null)))
    throw new LowbitError(`the web app is not built: ${join(root, 'index.html')} is missing (npm run build)`);
  const host = opts.host ?? '127.0.0.1';
  const server = createServer(async (req, res) => {
    const common = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, common).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, common).end();
      return;
    }
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(normalize(root.endsWith(sep) ? root : root + sep))) {
      res.writeHead(403, common).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        ...common,
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': body.length,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { ...common, 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new LowbitError(`port ${opts.port} is in use: --port another`) : e),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host}:${port}/`,
    port,
    server,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
