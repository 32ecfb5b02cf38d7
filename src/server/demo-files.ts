import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError, sendError } from '../http/errors.js';
import { MERCURE_PATH } from '../http/mercure.js';
import { refuseUnlessRead } from './respond.js';

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** Whether a path is the demo page or one of the compiled scripts it loads. */
export function isDemoPath(path: string): boolean {
  return (
    path === '/' || path.startsWith('/demo/') || path.startsWith('/client/') || path.startsWith('/protocol/')
  );
}

/**
 * Serves the demo page and its scripts. The page is in public/; its compiled scripts (the demo, the
 * client and the parser it uses) are in dist/, so they exist once the package is built.
 */
export async function serveDemoFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (refuseUnlessRead(req, res)) return;
  const file =
    path === '/'
      ? join(PACKAGE_ROOT, 'public', 'index.html')
      : normalize(join(PACKAGE_ROOT, 'dist', path.slice(1)));
  if (!file.startsWith(PACKAGE_ROOT + sep)) return sendError(res, new HttpError(404, `Not found: ${path}.`));
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return sendError(res, new HttpError(404, `Not found: ${path} (run npm run build for the demo scripts).`));
  }
  const extension = file.slice(file.lastIndexOf('.'));
  res.writeHead(200, {
    'Content-Type': STATIC_TYPES[extension] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    // Mercure discovery: the page advertises its hub.
    ...(path === '/' ? { Link: `<${MERCURE_PATH}>; rel="mercure"` } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
