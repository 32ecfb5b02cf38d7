import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import { sendError } from './errors.js';
import { createStreamOpener } from './open-stream.js';
import type { StreamOpener, StreamTransport, SubscribeHandlerOptions } from './open-stream.js';
import { ResponseSink } from './sink.js';
import { readyStreamSocket } from './stream-socket.js';

export type { SubscribeHandlerOptions } from './open-stream.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * `GET /.well-known/mercure?topic=…` on node:http: opens an event stream (see `createStreamOpener`,
 * the logic this shares with the Fetch handler) on the response's socket.
 */
export function createSubscribeHandler(hub: Hub, options: SubscribeHandlerOptions = {}): RequestHandler {
  return subscribeHandlerOf(createStreamOpener(hub, options));
}

/** The node:http subscribe handler of an opener that other adapters may share (its limits with it). */
export function subscribeHandlerOf(opener: StreamOpener): RequestHandler {
  return (req, res) => {
    opener.open(req, nodeStreamTransport(req, res)).catch((error: unknown) => {
      sendError(res, opener.refusal(req, error));
    });
  };
}

function nodeStreamTransport(req: IncomingMessage, res: ServerResponse): StreamTransport {
  return {
    get gone() {
      return res.destroyed;
    },
    openSink(onClose, idleProbes) {
      const sink = new ResponseSink(req, res, onClose);
      readyStreamSocket(req.socket, idleProbes);
      return sink;
    },
    start(headers) {
      res.writeHead(200, headers);
    },
  };
}
