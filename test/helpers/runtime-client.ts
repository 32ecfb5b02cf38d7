// ssehub/client on the runtime running this file: subscribes to HUB_URL (topic TOPIC, TOKEN), drops
// its connection after the first event and resumes, and prints `ready` once open, then one
// `event <id> <data>` line per event; exits after COUNT events.
import { createClient } from '../../src/client/index.js';

const env = process.env;
const count = Number(env.COUNT ?? '1');
const client = createClient(env.HUB_URL ?? '', {
  topics: [env.TOPIC ?? 'runtime-client'],
  token: env.TOKEN,
  backoff: { initial: 10, max: 50 },
});
let seen = 0;
client.onState((change) => {
  if (change.state === 'open' && client.reconnects === 0) console.log('ready');
});
client.onAny((event) => {
  console.log(`event ${event.id} ${event.data}`);
  seen++;
  // A cut connection: the client must resume from the id it saw, losing and repeating nothing.
  if (seen === 1) client.reconnect();
  if (seen === count) {
    client.close();
    process.exit(0);
  }
});
