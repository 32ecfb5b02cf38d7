import type { IncomingMessage, Server } from 'node:http';

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Listens on loopback (port from argv or 0) and prints `listening <port>` for the coordinator. */
export function listenAndAnnounce(server: Server): void {
  const port = Number(process.argv[2] ?? 0);
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
    const address = server.address();
    if (address && typeof address === 'object') process.stdout.write(`listening ${address.port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
