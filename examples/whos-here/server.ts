// Who's here: a live list of the people in a room, kept by Mercure's active subscriptions. A page
// reads the subscriptions API once, then follows the subscription events from exactly the
// `lastEventID` it was given, so no arrival or departure falls between the two. A reconnect within
// the hub's grace period is invisible to the others. See "Who's here" in the README.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import { Hub, MemoryStore } from 'ssehub';
import { authorizerFromSettings } from 'ssehub/auth';
import { createMercureHandler, createSubscriptionsHandler, SUBSCRIPTIONS_PATH } from 'ssehub/http';

const PUBLIC = new URL('./public/', import.meta.url);
/** The browser client, as compiled by `npm run build`. */
const DIST = new URL('../../dist/', import.meta.url);
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };
/** The example signs its own tokens; a real application's login issues them. */
const SECRET = 'whos-here-example-secret-of-32-bytes!!';
const NAME = /^[\p{L}\p{N} ._-]{1,40}$/u;
const ROOM = /^[a-z0-9-]{1,40}$/;

export interface WhosHereOptions {
  /** How long a closed page stays listed, awaiting its reconnect (ms). */
  graceMs?: number;
}

export function roomTopic(room: string): string {
  return `https://whos-here.example/rooms/${room}`;
}

export function createApp(options: WhosHereOptions = {}) {
  const hub = new Hub({ store: new MemoryStore(), presence: { graceMs: options.graceMs ?? 5000 } });
  const authorizer = authorizerFromSettings({
    jwtKey: SECRET,
    jwtLeewaySeconds: 0,
    allowAnonymous: false,
    publishRatePerSecond: 0,
  });
  const mercure = createMercureHandler(hub, { authorizer });
  const subscriptions = createSubscriptionsHandler(hub, { authorizer });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/.well-known/mercure') return mercure(req, res);
    if (path.startsWith(SUBSCRIPTIONS_PATH)) return subscriptions(req, res);
    if (req.method === 'POST' && path === '/join') {
      return void readBody(req)
        .then((body) => join(JSON.parse(body) as { name?: unknown; room?: unknown }))
        .then(
          (answer) => sendJson(res, answer ? 200 : 400, answer),
          () => sendJson(res, 400, null),
        );
    }
    if (req.method === 'GET') return void serveFile(res, path);
    res.writeHead(404).end();
  });
  return { server, hub };
}

/**
 * A token for one person in one room: its subject is the person (so every reconnect keeps the same
 * subscriber id), its payload their name, and its rights the room and the room's subscriptions.
 */
async function join(request: { name?: unknown; room?: unknown }) {
  const { name, room } = request;
  if (typeof name !== 'string' || !NAME.test(name) || typeof room !== 'string' || !ROOM.test(room)) {
    return undefined;
  }
  const topic = roomTopic(room);
  const people = `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(topic)}`;
  const token = await new SignJWT({
    sub: `person:${name}`,
    mercure: { subscribe: [topic, people, `${people}/{subscriber}`], payload: { name } },
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
  return { token, topic };
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
      if (body.length > 1000) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
