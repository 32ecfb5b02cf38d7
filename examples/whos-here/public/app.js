/* global document, window, location, fetch, URLSearchParams */
// The who's-here page: the list of people in a room, from Mercure's subscriptions API, kept live by
// the subscription events that follow it. One stream carries both this page's own presence (its
// subscription to the room) and the changes of everyone else's.
import { createClient } from '/client/index.js';

const params = new URLSearchParams(location.search);
const name = params.get('name') || 'Guest';
const room = params.get('room') || 'lobby';
const list = document.getElementById('people');
const status = document.getElementById('status');
document.getElementById('room').textContent = room;

/** Subscriber id → the list item showing them. */
const shown = new Map();

function show(subscription) {
  if (shown.has(subscription.subscriber)) return;
  const item = document.createElement('li');
  item.dataset.subscriber = subscription.subscriber;
  item.textContent = subscription.payload?.name ?? subscription.subscriber;
  if (item.textContent === name) item.classList.add('me');
  list.append(item);
  shown.set(subscription.subscriber, item);
}

function hide(subscription) {
  shown.get(subscription.subscriber)?.remove();
  shown.delete(subscription.subscriber);
}

const joined = await fetch('/join', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ name, room }),
});
if (!joined.ok) throw new Error(`Could not join: ${joined.status}`);
const { token, topic } = await joined.json();

// The list as of one point in the hub's history, and that point: the events to follow start there.
const people = `/.well-known/mercure/subscriptions/${encodeURIComponent(topic)}`;
const answer = await fetch(people, { headers: { Authorization: `Bearer ${token}` } });
if (!answer.ok) throw new Error(`Could not read who is here: ${answer.status}`);
const snapshot = await answer.json();
for (const subscription of snapshot.subscriptions) show(subscription);

const client = createClient('/.well-known/mercure', {
  topics: [topic, `${people}/{subscriber}`],
  token,
  lastEventId: snapshot.lastEventID,
});
client.onAny((event) => {
  let subscription;
  try {
    subscription = JSON.parse(event.data);
  } catch {
    return; // an update of the room itself, not a subscription event
  }
  if (subscription?.type !== 'Subscription' || subscription.topic !== topic) return;
  if (subscription.active) show(subscription);
  else hide(subscription);
});
client.onState((change) => {
  status.textContent = change.state === 'open' ? `You are ${name}.` : `Reconnecting (${change.state})…`;
});
window.whosHere = { client, names: () => [...shown.values()].map((item) => item.textContent) };
