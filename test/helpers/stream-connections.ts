import type { Socket } from 'node:net';

/**
 * The connections of a server whose first request is a GET (the event streams of the tests), seen
 * from their first bytes: whichever way the server reads them (`node:http`, or the standalone hub's
 * stream lane, which emits no `request` event), and without taking anything from the server.
 */
export interface StreamConnections {
  /** Open connections whose first request was a GET. */
  readonly sockets: Set<Socket>;
  /** Each such request's `Last-Event-ID` header, in order (undefined when it had none). */
  readonly lastEventIds: (string | undefined)[];
}

export function watchStreamConnections(server: {
  on(event: 'connection', listener: (socket: Socket) => void): unknown;
}): StreamConnections {
  const watched: StreamConnections = { sockets: new Set(), lastEventIds: [] };
  server.on('connection', (socket: Socket) => {
    socket.once('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1');
      if (!head.startsWith('GET ')) return;
      watched.sockets.add(socket);
      watched.lastEventIds.push(/\r\nlast-event-id: *([^\r]*)\r\n/i.exec(head)?.[1]);
      socket.once('close', () => watched.sockets.delete(socket));
    });
  });
  return watched;
}
