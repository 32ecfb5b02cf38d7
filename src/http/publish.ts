import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import { HubInputError } from '../hub/validate.js';
import { StoreInputError, StoreUnavailableError } from '../store/errors.js';
import type { Authorizer } from './authorizer.js';
import { openAccess } from './authorizer.js';
import type { BodyLimits } from './body.js';
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES } from '../defaults.js';
import { closingUnreadBody, readBody } from './body.js';
import { BodyBudget } from './body-budget.js';
import { HttpError, sendError } from './errors.js';
import { formEncodingOf, parseForm } from './form.js';
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
  onError?(error: unknown): void;
}

/**
 * `POST /.well-known/mercure` with a form body (`topic` repeatable, `data`, `id`, `type`, `retry`,
 * `private`): stores the update and answers 200 with its id as plain text.
 */
export function createPublishHandler(hub: Hub, options: PublishHandlerOptions = {}): RequestHandler {
  const authorizer = options.authorizer ?? openAccess;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const bodyBudget = options.bodyBudget ?? new BodyBudget();
  const retryAfter = String(options.retryAfterSeconds ?? 1);

  return (req, res) => {
    publish(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) return sendError(res, closingUnreadBody(req, error));
      if (error instanceof HubInputError) return sendError(res, new HttpError(error.status, error.message));
      if (error instanceof StoreInputError) return sendError(res, new HttpError(error.status, error.message));
      if (error instanceof StoreUnavailableError) {
        return sendError(
          res,
          new HttpError(503, `Event not stored: ${error.message}`, { 'Retry-After': retryAfter }),
        );
      }
      options.onError?.(error);
      sendError(res, new HttpError(500, 'Event not stored: internal error.'));
    });
  };

  async function publish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const encoding = formEncodingOf(req.headers['content-type']);
    // Before the body: a client that may not publish at all never gets it read.
    await authorizer.authenticatePublisher?.(req);
    const reservation = bodyBudget.open();
    // The body is held until the answer is sent (or the connection lost), whatever happens.
    res.once('close', reservation.release);
    const form = await formOf(req, encoding, {
      maxBytes: maxBodyBytes,
      timeoutMs: bodyTimeoutMs,
      reservation,
    });
    const topics = form.getAll('topic');
    if (topics.length === 0) throw new HttpError(400, 'Missing "topic" parameter.');
    const retry = filled(form, 'retry');
    if (retry !== undefined && !/^[0-9]{1,10}$/.test(retry)) {
      throw new HttpError(400, '"retry" must be a non-negative integer.');
    }
    await authorizer.authorizePublisher(req, topics);
    const event = await hub.publish({
      topics,
      data: form.get('data') ?? '',
      id: filled(form, 'id'),
      type: filled(form, 'type'),
      retry: retry === undefined ? undefined : Number(retry),
      private: form.has('private'),
    });
    const body = event.id;
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'private, no-store',
    });
    res.end(body);
  }
}

/** A field's value; an empty field counts as a missing one, as in the Mercure reference hub. */
function filled(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name);
  return value === null || value === '' ? undefined : value;
}

/** The form fields, from the body, or from a body a framework (e.g. Express) already parsed. */
async function formOf(req: IncomingMessage, encoding: string, limits: BodyLimits): Promise<URLSearchParams> {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
    if (Buffer.byteLength(parsed) > limits.maxBytes) {
      throw new HttpError(413, `Request body too large: at most ${limits.maxBytes} bytes.`);
    }
    // A string was decoded by the framework already; bytes are in the declared charset.
    return typeof parsed === 'string' ? new URLSearchParams(parsed) : parseForm(parsed, encoding);
  }
  if (parsed !== null && typeof parsed === 'object' && req.readableEnded) return formFromObject(parsed);
  return parseForm(await readBody(req, limits), encoding);
}

function formFromObject(fields: object): URLSearchParams {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) form.append(name, String(item));
  }
  return form;
}
