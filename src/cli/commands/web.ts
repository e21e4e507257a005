// `lowbit web [--port N] [--open]`: serves the web app (quantize a local model in the page, and the
// learn view) on 127.0.0.1 until Ctrl-C. The same files (dist/web/) work from any static host.
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { LowbitError } from '../../errors.js';
import { serveWebApp } from '../../node/web-server.js';

export const DEFAULT_PORT = 7860;

export function register(program: Command): void {
  program
    .command('web')
    .description(
      'serve the web app on 127.0.0.1: quantize a local model in the browser (nothing uploaded), and the learn view',
    )
    .option('--port <N>', `port (default ${DEFAULT_PORT}; 0 picks a free one)`)
    .option('--open', 'open the page in the default browser')
    .action(async (o: { port?: string; open?: boolean }) => {
      const port = o.port === undefined ? DEFAULT_PORT : Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new LowbitError(`--port must be a whole number from 0 to 65535, not '${o.port}'`, 'EUSAGE');
      const s = await serveWebApp({ port });
      process.stdout.write(`lowbit web: serving ${s.url} (127.0.0.1 only; Ctrl-C stops)\n`);
      if (o.open) {
        const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'cmd' : 'xdg-open';
        const args = process.platform === 'win32' ? ['/c', 'start', '', s.url] : [s.url];
        const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
        child.on('error', () =>
          process.stderr.write(`lowbit: could not open a browser (${cmd}); open ${s.url} yourself\n`),
        );
        child.unref();
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          void s.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
