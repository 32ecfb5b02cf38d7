import type { JWTPayload } from 'jose';
import type { Authorizer, RevocationSink, SubscriberGrant } from '../http/authorizer.js';
import type { HubRequest } from '../http/hub-request.js';
import { headerOf } from '../http/request.js';
import { HttpError } from '../http/errors.js';
import { isSameOrigin } from '../http/cors.js';
import { SelectorCache } from '../hub/topic-selector.js';
import { ClaimShapeError, mercureRights, subjectOf } from './claims.js';
import type { MercureRights } from './claims.js';
import { RateLimiter } from './rate-limit.js';
import { ACCESS_TOKEN_COOKIE, TOKEN_COOKIE, presentedToken, tokenIdentity } from './token.js';
import { checkAccessToken } from './access-token.js';
import type { AccessTokenRules } from './access-token.js';
import type { PresentedToken } from './token.js';
import { KeySetUnavailableError, TokenRejectedError } from './verifier.js';
import type { TokenProblem, TokenVerifier } from './verifier.js';

export interface JwtAuthorizerOptions {
  /** Verifies publisher tokens. Required: with authorization on, publishing always needs a token. */
  publisher: TokenVerifier;
  /** Verifies subscriber tokens; absent: subscriber tokens are ignored (anonymous only). */
  subscriber?: TokenVerifier | undefined;
  /** Let subscribers without a token in (they receive public updates only). */
  allowAnonymous?: boolean;
  /**
   * The clock skew (seconds) the verifier tolerates on `exp`. A stream closes at `exp`; one whose
   * token was accepted only thanks to this leeway closes when the leeway ends.
   */
  leewaySeconds?: number;
  /** Updates per second one publisher token may send; 0 or absent: unlimited. */
  publishRatePerSecond?: number;
  /**
   * Origins whose pages may publish with the cookie (CSRF protection); the hub's own origin always
   * may. Usually the CORS allowlist.
   */
  allowsCredentialsFrom?(origin: string): boolean;
  /** Seconds a client is told to wait when the key set cannot be fetched. Default 5. */
  retryAfterSeconds?: number;
  /**
   * Accepted token issuers (`iss`). Setting this or `audience` requires RFC 9068 access tokens
   * (Mercure draft-08): `typ: at+jwt`, the issuer, the audience and `exp` are checked on every token.
   */
  issuer?: string | readonly string[] | undefined;
  /** The hub's resource identifiers, one of which a token's `aud` must name; see `issuer`. */
  audience?: string | readonly string[] | undefined;
}

const REALM = 'ssehub';
/** How long a cut-off subject's older tokens stay refused; past it, a still-unexpired one works again. */
const REVOCATION_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_REVOKED_SUBJECTS = 100_000;

/**
 * Mercure authorization with JWTs: publishers need a token whose publish grants (`mercure.publish`,
 * or draft-08's `authorization_details`) match every topic of the update; subscribers need a token
 * unless anonymous access is allowed, and receive private updates only for topics their subscribe
 * grants match. With `issuer` or `audience`, tokens must be RFC 9068 access tokens. A stream ends
 * when its token expires.
 */
export class JwtAuthorizer implements Authorizer, RevocationSink {
  private readonly selectors = new SelectorCache();
  private readonly rateLimiter: RateLimiter | undefined;
  /** Subject → tokens issued at or before `cutoff` (seconds) are refused until `until` (ms). */
  private readonly revoked = new Map<string, { cutoff: number; until: number }>();
  private readonly accessTokenRules: AccessTokenRules;
  /**
   * Rights read from a verified payload: the verifiers return the same object for a token they
   * remember, so a publisher's grants (up to 1000 selectors, URL Patterns compiled to check them)
   * are read once per token, not once per update.
   */
  private readonly rightsOf = new WeakMap<JWTPayload, MercureRights>();

  constructor(private readonly options: JwtAuthorizerOptions) {
    const rate = options.publishRatePerSecond ?? 0;
    this.rateLimiter = rate > 0 ? new RateLimiter({ perSecond: rate }) : undefined;
    this.accessTokenRules = { issuers: listOf(options.issuer), audiences: listOf(options.audience) };
  }

  async authorizeSubscriber(req: HubRequest): Promise<SubscriberGrant> {
    const verifier = this.options.subscriber;
    const presented = verifier ? presentedToken(req) : undefined;
    if (!verifier || !presented) {
      if (this.options.allowAnonymous) return {};
      throw missingToken('subscribe');
    }
    const payload = await this.verify(verifier, presented);
    const rights = this.rights(payload);
    return {
      privateTopics: rights.subscribe,
      ...(rights.payload === undefined ? {} : { payload: rights.payload }),
      expiresAt: typeof payload.exp === 'number' ? this.streamEnd(payload.exp * 1000) : undefined,
      subject: checkedClaim(() => subjectOf(payload)),
    };
  }

  /**
   * From the headers: refuses a missing or invalid token, a cookie from a foreign origin, and a
   * token without any publish right, before the body is read. `authorizePublisher` checks the
   * topics afterwards (a verified token is remembered, so it is not verified twice).
   */
  async authenticatePublisher(req: HubRequest): Promise<void> {
    const { rights } = await this.publisherRights(req);
    if (rights.publish.length === 0) {
      throw new HttpError(403, 'Forbidden: this token may not publish: it grants no publish rights.', {
        'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", error_description="token has no publish rights"`,
      });
    }
  }

  async authorizePublisher(req: HubRequest, topics: readonly string[]): Promise<void> {
    const { rights, presented } = await this.publisherRights(req);
    const selectors = rights.publish.map((source) => this.selectors.get(source));
    for (const topic of topics) {
      if (!selectors.some((selector) => selector.matches(topic))) {
        const reason = rights.publish.length === 0 ? 'token has no publish rights' : 'topic not allowed';
        throw new HttpError(
          403,
          `Forbidden: this token may not publish to ${JSON.stringify(topic.slice(0, 200))}.`,
          {
            'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", error_description="${reason}"`,
          },
        );
      }
    }
    // Keyed on what the token says, not how it is spelled, or respelling it would reset the limit.
    const wait = this.rateLimiter?.take(tokenIdentity(presented.token)) ?? 0;
    if (wait > 0) {
      throw new HttpError(
        429,
        `Publish rate limit: at most ${this.options.publishRatePerSecond} updates per second per token.`,
        { 'Retry-After': String(wait) },
      );
    }
  }

  private async publisherRights(
    req: HubRequest,
  ): Promise<{ rights: MercureRights; presented: PresentedToken }> {
    const presented = presentedToken(req);
    if (!presented) throw missingToken('publish');
    if (presented.source === 'cookie') this.checkCookieOrigin(req);
    const payload = await this.verify(this.options.publisher, presented);
    return { rights: this.rights(payload), presented };
  }

  private rights(payload: JWTPayload): MercureRights {
    let rights = this.rightsOf.get(payload);
    if (rights === undefined) {
      rights = checkedClaim(() => mercureRights(payload));
      this.rightsOf.set(payload, rights);
    }
    return rights;
  }

  /**
   * Mercure: the hub MUST close the connection at `exp`. A token whose `exp` has already passed by
   * the hub's clock was accepted within the leeway: closing it at once would only make the client
   * reconnect in a loop with it, so it lasts until the leeway ends.
   */
  private streamEnd(expMs: number): number {
    return expMs > Date.now() ? expMs : expMs + (this.options.leewaySeconds ?? 0) * 1000;
  }

  /**
   * Refuses the subject's tokens issued at or before `atMs` (by `iat`; tokens without `iat` too), so
   * a cut-off client cannot simply reconnect with the token it had: it needs a new one.
   */
  revokeSubject(subject: string, atMs: number): void {
    this.revoked.delete(subject);
    if (this.revoked.size >= MAX_REVOKED_SUBJECTS) {
      const oldest = this.revoked.keys().next().value;
      if (oldest !== undefined) this.revoked.delete(oldest);
    }
    this.revoked.set(subject, { cutoff: Math.floor(atMs / 1000), until: atMs + REVOCATION_TTL_MS });
  }

  private async verify(verifier: TokenVerifier, presented: PresentedToken): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      payload = await verifier.verify(presented.token);
    } catch (error) {
      if (error instanceof TokenRejectedError) throw invalidToken(error.problem, presented);
      if (error instanceof KeySetUnavailableError) {
        throw new HttpError(503, 'Cannot verify the token now: signing keys unavailable.', {
          'Retry-After': String(this.options.retryAfterSeconds ?? 5),
        });
      }
      throw error;
    }
    try {
      checkAccessToken(presented.token, payload, this.accessTokenRules);
    } catch (error) {
      if (error instanceof TokenRejectedError) throw invalidToken(error.problem, presented);
      throw error;
    }
    const subject = checkedClaim(() => subjectOf(payload));
    const revocation = subject === undefined ? undefined : this.revoked.get(subject);
    if (revocation && revocation.until > Date.now()) {
      if (typeof payload.iat !== 'number' || payload.iat <= revocation.cutoff) {
        throw invalidToken('token revoked', presented);
      }
    }
    return payload;
  }

  /** A browser sends cookies with cross-site form posts: only allowed pages may publish with one. */
  private checkCookieOrigin(req: HubRequest): void {
    const origin = headerOf(req, 'origin') ?? originOfReferer(headerOf(req, 'referer'));
    if (origin === undefined) {
      throw new HttpError(403, 'Forbidden: a cookie-authorized POST needs an Origin or Referer header.');
    }
    const allowed = isSameOrigin(req, origin) || (this.options.allowsCredentialsFrom?.(origin) ?? false);
    if (!allowed) {
      throw new HttpError(403, `Forbidden: cookie-authorized POST from origin ${origin} is not allowed.`);
    }
  }
}

/** Reads a claim; one of the wrong shape refuses the token (401) rather than being half-understood. */
function checkedClaim<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ClaimShapeError) {
      throw new HttpError(401, `Token refused: ${error.message}.`, {
        'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="invalid claims"`,
      });
    }
    throw error;
  }
}

/** RFC 6750: a request without a token gets a challenge with no error code. */
function missingToken(action: 'publish' | 'subscribe'): HttpError {
  return new HttpError(
    401,
    `Authorization required to ${action}: send a token (Authorization: Bearer header, authorization query parameter, or ${ACCESS_TOKEN_COOKIE} or ${TOKEN_COOKIE} cookie).`,
    { 'WWW-Authenticate': `Bearer realm="${REALM}"` },
  );
}

function invalidToken(problem: TokenProblem, presented: PresentedToken): HttpError {
  return new HttpError(401, `Token refused (${presented.source}): ${problem}.`, {
    'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${problem}"`,
  });
}

function listOf(value: string | readonly string[] | undefined): readonly string[] | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? [value] : value;
}

function originOfReferer(referer: string | undefined): string | undefined {
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
