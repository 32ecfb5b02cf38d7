import type { Hub } from '../hub/hub.js';
import { BodyBudget } from '../http/body-budget.js';
import { CorsPolicy } from '../http/cors.js';
import {
  createDisconnector,
  DISCONNECT_PATH,
  DISCONNECTED_HEADERS,
  disconnectMethodRefusal,
} from '../http/disconnect.js';
import { HttpError } from '../http/errors.js';
import type { HubRequest, RequestBody } from '../http/hub-request.js';
import { pathOf } from '../http/request.js';
import { mercureActionOf } from '../http/mercure-action.js';
import type { MercureAction } from '../http/mercure-action.js';
import type { MercureHandlerOptions } from '../http/mercure.js';
import { createStreamOpener } from '../http/open-stream.js';
import type { StreamOpener, StreamTransport } from '../http/open-stream.js';
import { createPublisher, PUBLISHED_HEADERS } from '../http/publish.js';
import { createSubscriptionsReader, isSubscriptionsPath } from '../http/subscriptions.js';
import { fetchRequestBody, hubRequestOf } from './request.js';
import { errorResponse, textResponse } from './respond.js';
import { DEFAULT_STREAM_HIGH_WATER_MARK, StreamSink } from './stream-sink.js';

export type FetchHandlerOptions = MercureHandlerOptions & {
  /** The path of the disconnect endpoint; default `/.well-known/mercure/disconnect`. */
  disconnectPath?: string;
  /** Bytes a stream's queue holds before the hub waits for its reader (paged replay). Default 64 KiB. */
  streamHighWaterMark?: number;
};

/**
 * Deno aborts `request.signal` whenever a response ends, and prints a notice ("legacy behavior") the
 * first time a signal that was read aborts so: there the signal is left alone, and the stream's
 * cancel, which Deno calls when the client leaves, is how the subscriber learns it.
 */
const READ_ABORT_SIGNAL = !('Deno' in globalThis);

/** A Fetch-API handler: a `Request` in, a `Response` out (Bun, Deno, Hono, Next.js, …). */
export type FetchHandler = (request: Request) => Promise<Response>;

/**
 * The hub's HTTP surface as a Fetch-API handler: GET subscribes (the stream is the response's
 * `ReadableStream`), POST publishes, OPTIONS answers CORS preflights, a POST to the disconnect path
 * cuts a subject off, and the subscriptions API answers under `/.well-known/mercure/subscriptions` (404 unless the hub
 * tracks subscriptions: its `presence` option). Every other path is the hub, so mount it where you like.
 * The logic is the node:http handlers' own (`src/http`): only reading the request and writing the
 * answer differ.
 */
export function createFetchHandler(hub: Hub, options: FetchHandlerOptions = {}): FetchHandler {
  const bodyBudget = options.bodyBudget ?? new BodyBudget();
  const opener = createStreamOpener(hub, options);
  const publisher = createPublisher(hub, { ...options, bodyBudget });
  const disconnector = createDisconnector(hub, { ...options, bodyBudget });
  const subscriptions = createSubscriptionsReader(hub, options);
  const cors = new CorsPolicy(options.corsOrigins ?? []);
  const disconnectPath = options.disconnectPath ?? DISCONNECT_PATH;
  const highWaterMark = options.streamHighWaterMark ?? DEFAULT_STREAM_HIGH_WATER_MARK;

  return async (request) => {
    const req = hubRequestOf(request);
    const corsHeaders = cors.answerHeaders(req);
    const path = pathOf(req);
    if (path === disconnectPath) {
      if (request.method !== 'POST') {
        return errorResponse(disconnectMethodRefusal(request.method), corsHeaders);
      }
      return answerWithId(request, (body) => disconnector.disconnect(req, body), {
        headers: { ...DISCONNECTED_HEADERS, ...corsHeaders },
        refusal: (error) => errorResponse(disconnector.refusal(error), corsHeaders),
      });
    }
    if (isSubscriptionsPath(path)) {
      if (!hub.tracksPresence) {
        return errorResponse(
          new HttpError(404, `Not found: ${path}: this hub does not track subscriptions.`),
          corsHeaders,
        );
      }
      return subscriptions.answer(req).then(
        ({ text, headers }) =>
          new Response(request.method === 'HEAD' ? null : text, {
            status: 200,
            headers: { ...headers, ...corsHeaders },
          }),
        (error: unknown) => errorResponse(subscriptions.refusal(error), corsHeaders),
      );
    }
    let action: MercureAction | undefined;
    try {
      action = mercureActionOf(request.method);
      if (action === 'preflight') return new Response(null, cors.preflightAnswer(req));
    } catch (error) {
      return errorResponse(error as HttpError, action === 'preflight' ? {} : corsHeaders);
    }
    if (action === 'subscribe') return subscribe(opener, request, req, corsHeaders, highWaterMark);
    return answerWithId(request, (body) => publisher.publish(req, body), {
      headers: { ...PUBLISHED_HEADERS, ...corsHeaders },
      refusal: (error) => errorResponse(publisher.refusal(error), corsHeaders),
    });
  };
}

/**
 * A POST whose success is an id as plain text (publish, disconnect): the body is read by `run`, and
 * held against the budget until the answer is made, whichever it is.
 */
function answerWithId(
  request: Request,
  run: (body: RequestBody) => Promise<string>,
  answers: { headers: Record<string, string>; refusal(error: unknown): Response },
): Promise<Response> {
  const body = fetchRequestBody(request);
  return run(body)
    .then((id) => textResponse(id, answers.headers), answers.refusal)
    .finally(body.answered);
}

/**
 * Opens a stream and answers once its head is ready (history read), or with the refusal. A stream
 * that ended before its head (the hub shut down while reading history) is answered with that ended
 * stream, which the client sees as a cut connection and retries.
 */
async function subscribe(
  opener: StreamOpener,
  request: Request,
  req: HubRequest,
  corsHeaders: Record<string, string>,
  highWaterMark: number,
): Promise<Response> {
  const signal = READ_ABORT_SIGNAL ? request.signal : undefined;
  let sink: StreamSink | undefined;
  let started: ((response: Response) => void) | undefined;
  const head = new Promise<Response>((resolve) => (started = resolve));
  const transport: StreamTransport = {
    get gone() {
      return signal?.aborted === true;
    },
    openSink(onClose) {
      sink = new StreamSink(onClose, highWaterMark, signal);
      return sink;
    },
    start(headers) {
      started?.(new Response(sink?.stream, { status: 200, headers: { ...headers, ...corsHeaders } }));
      started = undefined;
    },
  };
  const opened = opener.open(req, transport).then(
    () => undefined,
    (error: unknown) => {
      // Refused after its head was sent: the stream can only be cut.
      if (started === undefined) return void sink?.destroy();
      return errorResponse(opener.refusal(req, error), corsHeaders);
    },
  );
  const first = await Promise.race([head, opened]);
  if (first !== undefined) return first;
  if (started === undefined) return head;
  sink?.destroy();
  return new Response(sink?.stream ?? null, {
    status: sink ? 200 : 503,
    headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', ...corsHeaders },
  });
}
