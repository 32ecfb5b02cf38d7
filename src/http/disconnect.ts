import type { Hub } from '../hub/hub.js';
import type { Authorizer } from './authorizer.js';
import { openAccess } from './authorizer.js';
import { DEFAULT_BODY_TIMEOUT_MS } from '../defaults.js';
import { closingUnreadBody, nodeRequestBody } from './body.js';
import { BodyBudget } from './body-budget.js';
import { answerFor, HttpError, sendError } from './errors.js';
import { readFormRequest } from './form-request.js';
import type { HubRequest, RequestBody } from './hub-request.js';
import { sendText } from './publish.js';
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

/** The disconnect logic every server adapter shares: from a request to the command's id. */
export interface Disconnector {
  /** Sends the cut-off and resolves with its id; rejects to refuse it. */
  disconnect(req: HubRequest, body: RequestBody): Promise<string>;
  /** The answer to a refused disconnect (unexpected errors are reported to `onError`). */
  refusal(error: unknown): HttpError;
}

/** The headers of a disconnect's success, answered with the command's id as plain text. */
export const DISCONNECTED_HEADERS = {
  'Content-Type': 'text/plain; charset=utf-8',
  'Cache-Control': 'no-store',
};

/** The answer to any method but POST on the disconnect path. */
export function disconnectMethodRefusal(method: string | undefined): HttpError {
  return new HttpError(405, `Method ${method ?? ''} not allowed: POST a subject.`, { Allow: 'POST' });
}

/**
 * `POST /.well-known/mercure/disconnect` with form field `subject`: closes every stream of that
 * subject (token `sub`) on every hub sharing the store. The answer is 200 with the command's id.
 * Clients reconnect as usual, so pair it with refusing new tokens to that subject (logout, ban).
 */
export function createDisconnector(hub: Hub, options: DisconnectHandlerOptions = {}): Disconnector {
  const authorizer = options.authorizer ?? openAccess;
  const limits = {
    maxBytes: MAX_BODY_BYTES,
    timeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    budget: options.bodyBudget ?? new BodyBudget(),
  };
  const failure = { action: 'Disconnect not sent', retryAfterSeconds: options.retryAfterSeconds ?? 1 };
  function refusal(error: unknown): HttpError {
    const answer = answerFor(error, failure);
    if (answer.code === 'internal') options.onError?.(error);
    return answer;
  }

  async function disconnect(req: HubRequest, body: RequestBody): Promise<string> {
    const form = await readFormRequest(req, body, authorizer, limits);
    const subject = form.get('subject');
    if (subject === null || subject === '') throw new HttpError(400, 'Missing "subject" parameter.');
    if (subject.length > MAX_SUBJECT_LENGTH) {
      throw new HttpError(400, `"subject" too long: at most ${MAX_SUBJECT_LENGTH} characters.`);
    }
    await authorizer.authorizePublisher(req, [subjectRightsTopic(subject)]);
    const event = await hub.disconnectSubjectEverywhere(subject);
    return event.id;
  }

  return { disconnect, refusal };
}

/** The disconnect endpoint on node:http: see `createDisconnector`, the logic shared with Fetch. */
export function createDisconnectHandler(hub: Hub, options: DisconnectHandlerOptions = {}): RequestHandler {
  const disconnector = createDisconnector(hub, options);
  return (req, res) => {
    if (req.method !== 'POST') return sendError(res, disconnectMethodRefusal(req.method));
    disconnector.disconnect(req, nodeRequestBody(req, res)).then(
      (id) => sendText(res, id, DISCONNECTED_HEADERS),
      (error: unknown) => sendError(res, closingUnreadBody(req, disconnector.refusal(error))),
    );
  };
}
