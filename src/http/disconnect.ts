import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import type { Authorizer } from './authorizer.js';
import { openAccess } from './authorizer.js';
import { DEFAULT_BODY_TIMEOUT_MS } from '../defaults.js';
import { closingUnreadBody } from './body.js';
import { BodyBudget } from './body-budget.js';
import { answerFor, HttpError, sendError } from './errors.js';
import { readFormRequest } from './form-request.js';
import type { RequestHandler } from './subscribe.js';

export const DISCONNECT_PATH = '/.well-known/mercure/disconnect';

/**
 * The topic a publisher token must be allowed to publish to (`mercure.publish`) to cut off a
 * subject: `*` covers every subject; `/.well-known/mercure/subjects/{sub}` a chosen set of them.
 * Nobody can actually publish there: the path is reserved.
 */
export function subjectRightsTopic(subject: string): string {
  return `/.well-known/mercure/subjects/${encodeURIComponent(subject)}`;
}

export interface DisconnectHandlerOptions {
  authorizer?: Authorizer;
  retryAfterSeconds?: number;
  /** As for publishing: the body's deadline (ms; default 10 s) and the hub-wide body budget. */
  bodyTimeoutMs?: number;
  bodyBudget?: BodyBudget;
  onError?(error: unknown): void;
}

const MAX_BODY_BYTES = 8 * 1024;
const MAX_SUBJECT_LENGTH = 1024;

/**
 * `POST /.well-known/mercure/disconnect` with form field `subject`: closes every stream of that
 * subject (token `sub`) on every hub sharing the store. Answers 200 with the id of the command.
 * Clients reconnect as usual, so pair it with refusing new tokens to that subject (logout, ban).
 */
export function createDisconnectHandler(hub: Hub, options: DisconnectHandlerOptions = {}): RequestHandler {
  const authorizer = options.authorizer ?? openAccess;
  const limits = {
    maxBytes: MAX_BODY_BYTES,
    timeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    budget: options.bodyBudget ?? new BodyBudget(),
  };
  const failure = { action: 'Disconnect not sent', retryAfterSeconds: options.retryAfterSeconds ?? 1 };
  return (req, res) => {
    if (req.method !== 'POST') {
      return sendError(
        res,
        new HttpError(405, `Method ${req.method ?? ''} not allowed: POST a subject.`, { Allow: 'POST' }),
      );
    }
    disconnect(req, res).catch((error: unknown) => {
      const answer = answerFor(error, failure);
      if (answer.code === 'internal') options.onError?.(error);
      sendError(res, closingUnreadBody(req, answer));
    });
  };

  async function disconnect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readFormRequest(req, res, authorizer, limits);
    const subject = form.get('subject');
    if (subject === null || subject === '') throw new HttpError(400, 'Missing "subject" parameter.');
    if (subject.length > MAX_SUBJECT_LENGTH) {
      throw new HttpError(400, `"subject" too long: at most ${MAX_SUBJECT_LENGTH} characters.`);
    }
    await authorizer.authorizePublisher(req, [subjectRightsTopic(subject)]);
    const event = await hub.disconnectSubjectEverywhere(subject);
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(event.id),
      'Cache-Control': 'no-store',
    });
    res.end(event.id);
  }
}
