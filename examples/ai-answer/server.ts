// Resumable AI answers: a simulated model streams each answer token by token onto its own topic;
// pages render it, resume it exactly after a reload or a network cut, and stop it with a request of
// their own. See "Resumable AI answers" in the README.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hub, MemoryStore } from 'ssehub';
import { createMercureHandler } from 'ssehub/http';
import { Answers } from './answers.js';
import type { GenerationOptions } from './answers.js';

const PUBLIC = new URL('./public/', import.meta.url);
/** The browser client, as compiled by `npm run build`. */
const DIST = new URL('../../dist/', import.meta.url);
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };

export function createApp(generation: GenerationOptions = { tokenCount: 400, intervalMs: 15 }) {
  const hub = new Hub({ store: new MemoryStore({ historySize: 100_000 }) });
  const mercure = createMercureHandler(hub);
  const answers = new Answers(hub, generation);

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/.well-known/mercure') return mercure(req, res);
    const answerPath = /^\/answers\/([\w-]+)(\/stop)?$/.exec(path);
    if (req.method === 'POST' && path === '/answers') {
      return void readBody(req)
        .then((question) => answers.start(question || 'Why resume streams?'))
        .then(
          (snapshot) => sendJson(res, 201, snapshot),
          () => sendJson(res, 503, null),
        );
    }
    if (answerPath && req.method === 'POST' && answerPath[2]) {
      return void answers.stop(answerPath[1]!).then((found) => res.writeHead(found ? 204 : 404).end());
    }
    if (answerPath && req.method === 'GET' && !answerPath[2]) {
      const snapshot = answers.snapshot(answerPath[1]!);
      return snapshot ? sendJson(res, 200, snapshot) : void res.writeHead(404).end();
    }
    if (req.method === 'GET') return void serveFile(res, path);
    res.writeHead(404).end();
  });
  return { server, hub, answers };
}

async function serveFile(res: ServerResponse, path: string): Promise<void> {
  const client = /^\/(client|protocol)\/[\w.-]+\.js$/.test(path);
  const file = client ? new URL(`.${path}`, DIST) : new URL(path === '/' ? 'index.html' : `.${path}`, PUBLIC);
  if (!client && !/^\/[\w.-]*$/.test(path)) return void res.writeHead(404).end();
  try {
    const body = await readFile(file);
    const type = TYPES[path.slice(path.lastIndexOf('.'))] ?? TYPES['.html']!;
    res.writeHead(200, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'no-cache' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 10_000) req.destroy(new Error('question too long'));
    });
    req.on('end', () => resolve(body.trim()));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
