// app/.well-known/mercure/route.ts: the hub URL as a Next.js App Router route handler; GET answers
// with the event stream (a ReadableStream), POST publishes, OPTIONS answers CORS preflights.
import { mercure } from '../../../lib/mercure.js';

// A stream is never prerendered nor cached.
export const dynamic = 'force-dynamic';
export const GET = mercure;
export const POST = mercure;
export const OPTIONS = mercure;
