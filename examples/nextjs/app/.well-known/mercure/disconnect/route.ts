// app/.well-known/mercure/disconnect/route.ts: cuts a subject's streams off (POST subject=…).
import { mercure } from '../../../../lib/mercure.js';

export const dynamic = 'force-dynamic';
export const POST = mercure;
