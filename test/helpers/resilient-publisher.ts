import http from 'node:http';

/** What became of one publish request. */
export type PublishOutcome =
  /** Answered 2xx: the hub promised the event is stored; `id` is the id it gave it. */
  | { readonly kind: 'accepted'; readonly id: string }
  /** Refused before the hub took it: connection refused, or a 503 / other non-2xx answer. */
  | { readonly kind: 'refused'; readonly status: number }
  /** The connection broke after the request was sent: the event may or may not be stored. */
  | { readonly kind: 'unknown' };

/** One Mercure publish over a fresh connection (a killed hub must not leave a stale keep-alive socket). */
export function publishOnce(port: number, topic: string, data: string): Promise<PublishOutcome> {
  const body = new URLSearchParams({ topic, data }).toString();
  return new Promise((resolve) => {
    let sent = false;
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/.well-known/mercure',
      method: 'POST',
      agent: false,
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body),
      },
    });
    req.on('socket', (socket) => socket.once('connect', () => (sent = true)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      resolve(!sent || error.code === 'ECONNREFUSED' ? { kind: 'refused', status: 0 } : { kind: 'unknown' });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('error', () => resolve({ kind: 'unknown' }));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 300 ? { kind: 'accepted', id: text } : { kind: 'refused', status });
      });
    });
    req.end(body);
  });
}

/**
 * Publishes `data` until the hub accepts it, retrying after a refused connection or a 503 (as a
 * publisher does through a restart). Returns the id, or undefined when the outcome is unknown.
 */
export async function publishUntilAccepted(
  port: number,
  topic: string,
  data: string,
  deadline = Date.now() + 30_000,
): Promise<string | undefined> {
  for (;;) {
    const outcome = await publishOnce(port, topic, data);
    if (outcome.kind === 'accepted') return outcome.id;
    if (outcome.kind === 'unknown') return undefined;
    if (outcome.status !== 0 && outcome.status !== 503) throw new Error(`publish answered ${outcome.status}`);
    if (Date.now() > deadline) throw new Error(`publish of ${data} still refused at the deadline`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
