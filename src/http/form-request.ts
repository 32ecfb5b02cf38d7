import type { Authorizer } from './authorizer.js';
import type { BodyLimits } from './body.js';
import type { BodyBudget } from './body-budget.js';
import { HttpError } from './errors.js';
import { formEncodingOf, parseForm } from './form.js';
import type { HubRequest, RequestBody } from './hub-request.js';
import { headerOf } from './request.js';

export interface FormRequestLimits {
  /** Largest body (413 past it). */
  maxBytes: number;
  /** The whole body must arrive within this (ms) once reading starts (408); 0: no deadline. */
  timeoutMs: number;
  /** Where the body's bytes are accounted hub-wide (503 past it). */
  budget: BodyBudget;
}

/**
 * The form of a publisher's POST (publish, disconnect), in the order that spends least on a client
 * that will be refused: the Content-Type first (415), then the publisher authenticated from the
 * headers alone, then the body read within its limits, its bytes held against the hub-wide budget
 * until the answer is sent. A body a framework (e.g. Express) already parsed is taken as it is.
 */
export async function readFormRequest(
  req: HubRequest,
  body: RequestBody,
  authorizer: Authorizer,
  limits: FormRequestLimits,
): Promise<URLSearchParams> {
  const encoding = formEncodingOf(headerOf(req, 'content-type'));
  await authorizer.authenticatePublisher?.(req);
  const reservation = limits.budget.open();
  // The body is held until the answer is sent (or the connection lost), whatever happens.
  body.onAnswered(reservation.release);
  return formOf(body, encoding, { maxBytes: limits.maxBytes, timeoutMs: limits.timeoutMs, reservation });
}

/** The form fields, from the body, or from a body a framework already parsed. */
async function formOf(body: RequestBody, encoding: string, limits: BodyLimits): Promise<URLSearchParams> {
  const parsed = body.parsed;
  if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
    if (Buffer.byteLength(parsed) > limits.maxBytes) {
      throw new HttpError(413, `Request body too large: at most ${limits.maxBytes} bytes.`);
    }
    // A string was decoded by the framework already; bytes are in the declared charset.
    return typeof parsed === 'string' ? new URLSearchParams(parsed) : parseForm(parsed, encoding);
  }
  if (parsed !== null && typeof parsed === 'object') return formFromObject(parsed);
  return parseForm(await body.read(limits), encoding);
}

function formFromObject(fields: object): URLSearchParams {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) form.append(name, String(item));
  }
  return form;
}
