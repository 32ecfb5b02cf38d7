import type { ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES } from '../defaults.js';
import type { Authorizer } from './authorizer.js';
import { openAccess } from './authorizer.js';
import { closingUnreadBody, nodeRequestBody } from './body.js';
import { endWith } from './end-with.js';
import { BodyBudget } from './body-budget.js';
import { answerFor, HttpError, sendError } from './errors.js';
import { readFormRequest } from './form-request.js';
import type { HubRequest, RequestBody } from './hub-request.js';
import type { RequestHandler } from './subscribe.js';

export interface PublishHandlerOptions {
  authorizer?: Authorizer;
  /** Largest accepted request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /** The whole body must arrive within this (ms) once reading starts, else 408. Default 10 s; 0: none. */
  bodyTimeoutMs?: number;
  /**
   * Bytes of request bodies held at once across requests (503 past it). Default: a budget of 64 MiB
   * for this handler; share one between handlers to bound them together.
   */
  bodyBudget?: BodyBudget;
  /** Seconds a client is told to wait after a 503. Default 1. */
  retryAfterSeconds?: number;
  /** A label for the request (e.g. its id), passed to the hub's observers for logs. */
  requestIdOf?(req: HubRequest): string | undefined;
  /** Headers to add to this request's answer, success or refusal (e.g. its request id). */
  extraHeaders?(req: HubRequest): Record<string, string>;
  onError?(error: unknown): void;
}

/** The publish logic every server adapter shares: from a request to the stored event's id. */
export interface Publisher {
  /** Stores the request's update and resolves with its id; rejects to refuse it. */
  publish(req: HubRequest, body: RequestBody): Promise<string>;
  /** The answer to a refused publish (unexpected errors are reported to `onError`). */
  refusal(error: unknown): HttpError;
}

/** The headers of a publish's success, answered with the event's id as plain text. */
export const PUBLISHED_HEADERS = {
  'Content-Type': 'text/plain; charset=utf-8',
  'Cache-Control': 'private, no-store',
} as const;

/**
 * `POST /.well-known/mercure` with a form body (`topic` repeatable, `data`, `id`, `type`, `retry`,
 * `private`, and ssehub's `ttl` and `version`) and an optional `Idempotency-Key` header: stores the
 * update; the answer is 200 with its id as plain text.
 */
export function createPublisher(hub: Hub, options: PublishHandlerOptions = {}): Publisher {
  const authorizer = options.authorizer ?? openAccess;
  const limits = {
    maxBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    timeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    budget: options.bodyBudget ?? new BodyBudget(),
  };
  const failure = { action: 'Event not stored', retryAfterSeconds: options.retryAfterSeconds ?? 1 };

  function refusal(error: unknown): HttpError {
    const answer = answerFor(error, failure);
    if (answer.code === 'internal') options.onError?.(error);
    return answer;
  }

  async function publish(req: HubRequest, body: RequestBody): Promise<string> {
    const form = await readFormRequest(req, body, authorizer, limits);
    const topics = form.getAll('topic');
    if (topics.length === 0) throw new HttpError(400, 'Missing "topic" parameter.');
    const retry = filled(form, 'retry');
    if (retry !== undefined && !/^[0-9]{1,10}$/.test(retry)) {
      throw new HttpError(400, '"retry" must be a non-negative integer.');
    }
    const ttl = filled(form, 'ttl');
    if (ttl !== undefined && !/^[0-9]{1,15}$/.test(ttl)) {
      throw new HttpError(400, '"ttl" must be a whole number of milliseconds.');
    }
    const version = filled(form, 'version');
    if (version !== undefined && !/^-?[0-9]{1,15}(\.[0-9]{1,15})?$/.test(version)) {
      throw new HttpError(400, '"version" must be a number, e.g. 42 or 1.5.');
    }
    const idempotencyKey = req.headers['idempotency-key'];
    await authorizer.authorizePublisher(req, topics);
    const event = await hub.publish(
      {
        topics,
        data: form.get('data') ?? '',
        id: filled(form, 'id'),
        type: filled(form, 'type'),
        retry: retry === undefined ? undefined : Number(retry),
        private: form.has('private'),
        ttlMs: ttl === undefined ? undefined : Number(ttl),
        version: version === undefined ? undefined : Number(version),
      },
      {
        idempotencyKey: Array.isArray(idempotencyKey) ? idempotencyKey.join(',') : idempotencyKey,
        tag: options.requestIdOf?.(req),
      },
    );
    return event.id;
  }

  return { publish, refusal };
}

/** `POST /.well-known/mercure` on node:http: see `createPublisher`, the logic shared with Fetch. */
export function createPublishHandler(hub: Hub, options: PublishHandlerOptions = {}): RequestHandler {
  return publishHandlerOf(createPublisher(hub, options), options);
}

/** The node:http handler of a publisher (shared with a server that also publishes another way). */
export function publishHandlerOf(
  publisher: Publisher,
  options: Pick<PublishHandlerOptions, 'extraHeaders'>,
): RequestHandler {
  return (req, res) => {
    publisher.publish(req, nodeRequestBody(req, res)).then(
      (id) => sendText(res, id, PUBLISHED_HEADERS, options.extraHeaders?.(req)),
      (error: unknown) => {
        const answer = closingUnreadBody(req, publisher.refusal(error));
        const extra = options.extraHeaders?.(req);
        sendError(res, extra ? answer.withHeaders(extra) : answer);
      },
    );
  };
}

/**
 * A 200 answer whose body is one line of text (an event's id). The head goes to Node as a flat list
 * of names and values, which it writes as given: an object spread from `headers` with a field added
 * took V8's slow path for defining properties on every publish.
 */
export function sendText(
  res: ServerResponse,
  text: string,
  headers: Readonly<Record<string, string>>,
  extra?: Readonly<Record<string, string>>,
): void {
  const head: string[] = [];
  for (const name in headers) head.push(name, headers[name] as string);
  head.push('Content-Length', String(Buffer.byteLength(text)));
  if (extra !== undefined) for (const name in extra) head.push(name, extra[name] as string);
  res.writeHead(200, head);
  endWith(res, text);
}

/** A field's value; an empty field counts as a missing one, as in the Mercure reference hub. */
function filled(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name);
  return value === null || value === '' ? undefined : value;
}
