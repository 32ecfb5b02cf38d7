/**
 * The demo page: subscribes with ssehub's reconnecting client, shows every event with its id, the
 * connection state (and each transition), the number of reconnects and the hub's reset signal, and
 * publishes from a form. The last event id lives in sessionStorage, so a reload resumes.
 */
import { createClient } from '../client/index.js';
import type { SseClient, StateChange } from '../client/index.js';

const HUB = '/.well-known/mercure';
const MAX_LOGGED_TRANSITIONS = 50;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as T;
}

const stateView = element('state');
const reconnectsView = element('reconnects');
const countView = element('count');
const lastIdView = element('last-id');
const eventsView = element<HTMLTableSectionElement>('events');
const noticeView = element('notice');
const stateLog = element<HTMLOListElement>('state-log');

let client: SseClient | undefined;
let count = 0;

function describeChange(change: StateChange): string {
  switch (change.state) {
    case 'connecting':
      return change.attempt === 0 ? 'connecting' : `connecting (retry ${change.attempt})`;
    case 'open':
      return change.resumedAfter ? `open (after ${change.resumedAfter})` : 'open';
    case 'retrying':
      return `retrying: attempt ${change.attempt} in ${change.delay} ms (${change.reason.message})`;
    case 'closed':
      return `closed: ${change.reason.message}`;
  }
}

function showState(change: StateChange): void {
  stateView.textContent = change.state;
  stateView.className = `state-${change.state}`;
  reconnectsView.textContent = String(client?.reconnects ?? 0);
  const entry = document.createElement('li');
  entry.dataset.state = change.state;
  entry.textContent = `${new Date().toLocaleTimeString()} ${describeChange(change)}`;
  stateLog.prepend(entry);
  while (stateLog.children.length > MAX_LOGGED_TRANSITIONS) stateLog.lastElementChild?.remove();
}

function showEvent(type: string, id: string, data: string): void {
  count++;
  countView.textContent = String(count);
  lastIdView.textContent = id || '–';
  const row = eventsView.insertRow(0);
  row.dataset.id = id;
  const idCell = row.insertCell();
  idCell.className = 'id';
  idCell.textContent = id;
  row.insertCell().textContent = type;
  row.insertCell().textContent = data;
}

function subscribe(topic: string): void {
  client?.close();
  count = 0;
  countView.textContent = '0';
  eventsView.replaceChildren();
  noticeView.hidden = true;
  client = createClient(HUB, {
    topics: [topic],
    storage: sessionStorage,
    // The hub's default heartbeat is 15 s; three missed heartbeats mean a dead connection.
    heartbeatTimeout: 45_000,
  });
  client.onState(showState);
  client.onAny((event) => showEvent(event.type, event.id, event.data));
  client.onReset((notice) => {
    noticeView.hidden = false;
    noticeView.textContent =
      `The hub could not resume after ${notice.lastEventId} (${notice.reason}); events may have been ` +
      `missed, so reload the data. The stream goes on after ${notice.resumeFrom}.`;
  });
}

element<HTMLFormElement>('subscribe-form').addEventListener('submit', (event) => {
  event.preventDefault();
  subscribe(element<HTMLInputElement>('topic').value);
});

element<HTMLFormElement>('publish-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const body = new URLSearchParams(
    new FormData(event.target as HTMLFormElement) as unknown as Record<string, string>,
  );
  if (body.get('type') === '') body.delete('type');
  const result = element('publish-result');
  fetch(HUB, { method: 'POST', body }).then(
    async (response) => {
      result.textContent = response.ok
        ? `published ${await response.text()}`
        : `error: ${await response.text()}`;
    },
    (error: unknown) => {
      result.textContent = `error: ${String(error)}`;
    },
  );
});

subscribe(element<HTMLInputElement>('topic').value);
