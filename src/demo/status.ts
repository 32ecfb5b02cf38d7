/**
 * The demo page's hub status panel: polls the hub's `/status` once a second and shows open
 * connections and streams, events per second, the store and whether the hub is ready.
 */

interface HubStatus {
  connections: number;
  subscriptions: number;
  eventsPerSecond: number;
  eventsPublished: number;
  store: { kind: string; ready: boolean };
  ready: boolean;
  readiness: string;
  draining: boolean;
}

const POLL_MS = 1000;
const POLL_WHEN_DOWN_MS = 3000;

function field(name: string): HTMLElement {
  const found = document.getElementById(`status-${name}`);
  if (!found) throw new Error(`missing #status-${name}`);
  return found;
}

const panel = document.getElementById('hub-status');
const views = {
  connections: field('connections'),
  subscriptions: field('subscriptions'),
  rate: field('rate'),
  published: field('published'),
  store: field('store'),
  ready: field('ready'),
};

function show(status: HubStatus): void {
  views.connections.textContent = String(status.connections);
  views.subscriptions.textContent = String(status.subscriptions);
  views.rate.textContent = status.eventsPerSecond.toFixed(1);
  views.published.textContent = String(status.eventsPublished);
  views.store.textContent = `${status.store.kind}${status.store.ready ? '' : ' (unreachable)'}`;
  views.ready.textContent = status.ready ? 'ready' : status.draining ? 'draining' : 'not ready';
  views.ready.title = status.readiness;
  panel?.setAttribute('data-state', status.ready ? 'ready' : 'not-ready');
}

function showUnreachable(reason: string): void {
  for (const view of [views.connections, views.subscriptions, views.rate, views.published, views.store]) {
    view.textContent = '–';
  }
  views.ready.textContent = 'unreachable';
  views.ready.title = reason;
  panel?.setAttribute('data-state', 'unreachable');
}

async function poll(): Promise<void> {
  let next = POLL_MS;
  try {
    const response = await fetch('/status', { cache: 'no-store' });
    if (!response.ok) throw new Error(`/status answered ${response.status}`);
    show((await response.json()) as HubStatus);
  } catch (error) {
    showUnreachable((error as Error).message);
    next = POLL_WHEN_DOWN_MS;
  }
  setTimeout(() => void poll(), next);
}

void poll();
