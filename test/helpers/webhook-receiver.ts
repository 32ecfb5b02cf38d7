import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got, as sent. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** The status it was answered with; undefined while it hangs. */
  status: number | undefined;
}

/** How the receiver answers a request: a status (and headers), or `hang` (never answers). */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/** A fresh Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * Verifies a request the way a receiver would, written here from the Standard Webhooks
 * specification and independent of the hub's code: HMAC-SHA256 with the secret's decoded bytes over
 * `id.timestamp.body`, compared in constant time with each `v1,` signature of the header, and the
 * timestamp within `toleranceSeconds` of now. Returns why it fails, or undefined when it verifies.
 */
export function verifyWebhook(
  secret: string,
  headers: IncomingHttpHeaders,
  body: string,
  toleranceSeconds = 300,
): string | undefined {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') {
    return 'missing headers';
  }
  if (!/^[0-9]+$/.test(timestamp)) return 'bad timestamp';
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return 'timestamp out of tolerance';
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  for (const entry of signatures.split(' ')) {
    const [version, encoded] = entry.split(',');
    if (version !== 'v1' || encoded === undefined) continue;
    const given = Buffer.from(encoded, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return 'no signature matches';
}

/** A webhook receiver on loopback: records every request and answers as `answer` says. */
export class WebhookReceiver {
  readonly requests: ReceivedWebhook[] = [];
  answer: (request: ReceivedWebhook) => Answer = () => ({ status: 204 });
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  private portNumber = 0;

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.listen();
    return receiver;
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}/hooks`;
  }

  /** Requests answered 2xx. */
  get delivered(): ReceivedWebhook[] {
    return this.requests.filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300);
  }

  /** Stops listening (the receiver is down: connections are refused), ending hanging requests. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  listen(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const received: ReceivedWebhook = {
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
          status: undefined,
        };
        this.requests.push(received);
        const answer = this.answer(received);
        if (answer === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        received.status = answer.status;
        res.writeHead(answer.status, answer.headers).end();
      });
    });
    this.server = server;
    return new Promise((resolve) =>
      server.listen(this.portNumber, '127.0.0.1', () => {
        this.portNumber = (server.address() as AddressInfo).port;
        resolve();
      }),
    );
  }
}

/** The parsed body of a webhook request. */
export function bodyOf(request: ReceivedWebhook): {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
} {
  return JSON.parse(request.body) as { type: string; timestamp: string; data: Record<string, unknown> };
}
