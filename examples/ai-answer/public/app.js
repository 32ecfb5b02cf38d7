/* global document, window, location, fetch */
// The page of examples/ai-answer: asks for an answer, renders its tokens as they stream, and rejoins
// it after a reload (the answer id is in the URL's hash) from the server's snapshot.
import { createClient } from '/client/index.js';

const view = {
  answer: document.getElementById('answer'),
  status: document.getElementById('status'),
  connection: document.getElementById('connection'),
  stop: document.getElementById('stop'),
};

/** What tests (and curious readers) can inspect: the answer as built from the stream. */
window.answerView = { id: '', text: '', status: 'idle', tokenEvents: 0, finalEvents: 0, textFromTokens: '' };
let client;

function render() {
  view.answer.textContent = window.answerView.text;
  view.status.textContent = window.answerView.status;
  view.stop.disabled = window.answerView.status !== 'generating';
}

/** Joins an answer: its text so far from the snapshot, then the events after the snapshot's id. */
async function follow(id) {
  client?.close();
  const snapshot = await (await fetch(`/answers/${id}`)).json();
  Object.assign(window.answerView, { id, text: snapshot.text, status: snapshot.status, tokenEvents: 0 });
  render();
  client = createClient('/.well-known/mercure', {
    topics: [snapshot.topic],
    lastEventId: snapshot.resumeAfter,
    backoff: { initial: 200 },
  });
  client.onState((change) => (view.connection.textContent = change.state));
  client.on('token', (event) => {
    window.answerView.tokenEvents++;
    window.answerView.text += event.json().text;
    render();
  });
  client.on('final', (event) => {
    const final = event.json();
    window.answerView.finalEvents++;
    // The text built from tokens, kept to show it matches the final one exactly.
    window.answerView.textFromTokens = window.answerView.text;
    Object.assign(window.answerView, { text: final.text, status: final.status });
    render();
    client.close();
  });
  client.onReset(() => follow(id)); // events were missed: start again from a fresh snapshot
}

document.getElementById('ask').addEventListener('submit', async (event) => {
  event.preventDefault();
  const question = document.getElementById('question').value;
  const snapshot = await (await fetch('/answers', { method: 'POST', body: question })).json();
  location.hash = snapshot.id;
  await follow(snapshot.id);
});

// Stop is its own request: closing the page or losing the network never stops the answer.
view.stop.addEventListener('click', () => fetch(`/answers/${window.answerView.id}/stop`, { method: 'POST' }));

if (location.hash.length > 1) void follow(location.hash.slice(1));
