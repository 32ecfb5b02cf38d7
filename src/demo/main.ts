/**
 * The demo page: subscribes with the browser's EventSource, shows every event with its id, the
 * connection state and the number of reconnects, and publishes from a form.
 */

const HUB = '/.well-known/mercure';
const RESET_EVENT_TYPE = 'ssehub-reset';

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

let source: EventSource | undefined;
let reconnects = 0;
let count = 0;
let everOpened = false;

function setState(state: string): void {
  stateView.textContent = state;
  stateView.className = `state-${state}`;
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
  source?.close();
  everOpened = false;
  const url = `${HUB}?topic=${encodeURIComponent(topic)}`;
  source = new EventSource(url);
  setState('connecting');
  source.onopen = () => {
    if (everOpened) reconnects++;
    everOpened = true;
    reconnectsView.textContent = String(reconnects);
    setState('open');
  };
  source.onerror = () => setState(source?.readyState === EventSource.CLOSED ? 'closed' : 'retrying');
  source.onmessage = (event) => showEvent('message', event.lastEventId, String(event.data));
  source.addEventListener(RESET_EVENT_TYPE, (event) => {
    noticeView.hidden = false;
    noticeView.textContent = `The hub could not resume this stream (${String((event as MessageEvent).data)}); reload the data.`;
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
