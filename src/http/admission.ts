import { HttpError } from './errors.js';

export interface AdmissionOptions {
  /** Most open streams in total; 0: unlimited. */
  maxConnections?: number;
  /** Most open streams of one subject (token `sub`); 0: unlimited. Anonymous streams are not counted. */
  maxConnectionsPerSubject?: number;
  /** Seconds a refused client is told to wait. Default 5. */
  retryAfterSeconds?: number;
}

/**
 * Counts open streams and refuses new ones past the limits: 503 when the hub as a whole is full
 * (try again later or elsewhere), 429 when one subject holds too many (that client's problem).
 */
export class ConnectionAdmission {
  private total = 0;
  private readonly bySubject = new Map<string, number>();
  private readonly maxConnections: number;
  private readonly maxPerSubject: number;
  private readonly retryAfter: string;

  constructor(options: AdmissionOptions = {}) {
    this.maxConnections = options.maxConnections ?? 0;
    this.maxPerSubject = options.maxConnectionsPerSubject ?? 0;
    this.retryAfter = String(options.retryAfterSeconds ?? 5);
  }

  get open(): number {
    return this.total;
  }

  /** Reserves a slot or throws an HttpError; the returned function frees it (idempotent). */
  admit(subject: string | undefined): () => void {
    if (this.maxConnections > 0 && this.total >= this.maxConnections) {
      throw new HttpError(503, `Too many connections: the hub is at its limit of ${this.maxConnections}.`, {
        'Retry-After': this.retryAfter,
      });
    }
    const held = subject === undefined ? 0 : (this.bySubject.get(subject) ?? 0);
    if (subject !== undefined && this.maxPerSubject > 0 && held >= this.maxPerSubject) {
      throw new HttpError(
        429,
        `Too many connections for this subject: at most ${this.maxPerSubject} open streams.`,
        { 'Retry-After': this.retryAfter },
      );
    }
    this.total++;
    if (subject !== undefined) this.bySubject.set(subject, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      if (subject === undefined) return;
      const left = (this.bySubject.get(subject) ?? 1) - 1;
      if (left > 0) this.bySubject.set(subject, left);
      else this.bySubject.delete(subject);
    };
  }
}
