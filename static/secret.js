// Secret conversations on the page. On every signed-in page it keeps this browser registered as
// an MLS device with KeyPackages waiting (so members can add it); on a secret conversation's page
// it joins the group, keeps its devices current, decrypts bubbles into text (textContent only,
// never markup) and encrypts what the composer sends. The MLS work itself is secret-core.js,
// loaded only when needed. State lives in IndexedDB, per user; a Web Lock keeps two tabs from
// changing it at once.
const me = document.body.dataset.me;
const headers = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
const core = () => import('./secret-core.js');

// IndexedDB as the get/put store secret-core.js wants, keys prefixed by the signed-in user.
const database = new Promise((resolve, reject) => {
  const open = indexedDB.open('natter-secret', 1);
  open.onupgradeneeded = () => open.result.createObjectStore('kv');
  open.onsuccess = () => resolve(open.result);
  open.onerror = () => reject(open.error);
});
const request = async (mode, act) => {
  const db = await database;
  return new Promise((resolve, reject) => {
    const r = act(db.transaction('kv', mode).objectStore('kv'));
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
};
const store = {
  get: (key) => request('readonly', (s) => s.get(`${me}:${key}`)),
  put: (key, value) => request('readwrite', (s) => s.put(value, `${me}:${key}`)),
};

const locked = (work) => navigator.locks.request(`natter-secret-${me}`, work);

let opened = null;
/** This browser's device, registered (and topped up) once per page. */
const device = () => {
  opened ??= core().then(({ Device, httpServer }) => locked(() => Device.open(httpServer({ headers }), store)));
  return opened;
};

/** On pages without a secret conversation: register or top up only when the server asks. */
async function keepRegistered() {
  const identity = await store.get('identity');
  const response = await fetch('/secret/devices/this', { credentials: 'same-origin' });
  const known = response.ok ? await response.json() : null;
  if (known && identity && identity.device === known.device && known.wanted === 0) return;
  await device();
}

const composer = document.querySelector('.secret-composer');
const conversation = composer ? Number(composer.dataset.conversation) : null;
const errorLine = document.getElementById('composer-error');
const say = (text) => {
  if (errorLine) errorLine.textContent = text;
};

/** Joins the group if a Welcome waits, and makes the group's devices what they should be. */
async function prepare(dev) {
  return locked(async () => {
    if (!(await dev.state(conversation))) await dev.joinWaiting();
    if (!(await dev.state(conversation))) return false;
    await dev.maintain(conversation);
    return true;
  });
}

const filling = new Set();
/** Puts the text of every bubble still showing its ciphertext in, reading the group's log first. */
async function fill(dev) {
  const waiting = [...document.querySelectorAll('.secret-body[data-ciphertext]')].filter(
    (p) => Number(p.dataset.conversation) === conversation && !filling.has(p),
  );
  if (waiting.length === 0) return;
  waiting.forEach((p) => filling.add(p));
  await locked(async () => {
    if (!(await dev.state(conversation))) await dev.joinWaiting();
    if (await dev.state(conversation)) await dev.catchUp(conversation);
  });
  // What was read may have been a commit that changed who is in the group.
  await showSafetyNumbers(dev);
  const joined = (await store.get(`joined:${conversation}`)) ?? 0;
  for (const p of waiting) {
    const seq = Number(p.dataset.seq);
    const read = await dev.read(conversation, seq);
    p.removeAttribute('data-ciphertext');
    filling.delete(p);
    const file = p.closest('article') && p.closest('article').querySelector('.secret-file');
    if (read && read.text !== undefined) {
      const { text, file: sealed } = unwrap(read.text);
      p.textContent = text;
      p.hidden = !text && !!sealed;
      if (file && sealed) showFile(file, sealed).catch((e) => {
        file.textContent = "Couldn't decrypt this file";
        report(e);
      });
    } else {
      p.textContent = seq <= joined ? 'Sent before this device joined' : "Couldn't decrypt this message";
      p.classList.add('secret-failed');
      if (file) file.textContent = '';
    }
  }
}

// What a message says: `{text, file}` as this module sends it; anything else is plain text.
function unwrap(plaintext) {
  try {
    const parsed = JSON.parse(plaintext);
    if (parsed && typeof parsed.text === 'string') return parsed;
  } catch {
    // not an envelope
  }
  return { text: plaintext };
}

const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
// Pictures the page shows itself; any other file is offered for download.
const PICTURES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** Fetches a file's encrypted bytes, decrypts them with the key its message carried, shows them. */
async function showFile(place, sealed) {
  const response = await fetch(place.dataset.src, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`fetching a file: ${response.status}`);
  const key = await crypto.subtle.importKey('raw', fromBase64(sealed.key), 'AES-GCM', false, ['decrypt']);
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromBase64(sealed.iv) }, key, await response.arrayBuffer());
  const type = PICTURES.includes(sealed.type) ? sealed.type : 'application/octet-stream';
  const url = URL.createObjectURL(new Blob([plain], { type }));
  place.replaceChildren();
  if (PICTURES.includes(type)) {
    const img = document.createElement('img');
    img.src = url;
    img.alt = sealed.name;
    place.append(img);
  } else {
    const link = document.createElement('a');
    link.className = 'attachment file';
    link.href = url;
    link.download = sealed.name;
    link.textContent = `📎 ${sealed.name}`;
    place.append(link);
  }
}

/** Encrypts a chosen file with a fresh AES-GCM key: the sealed bytes and what opens them. */
async function seal(file) {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const bytes = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, await file.arrayBuffer());
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', key));
  return {
    blob: new Blob([bytes]),
    sealed: { key: toBase64(raw), iv: toBase64(iv), name: file.name, type: file.type, size: file.size },
  };
}

/** Each person's device keys in the group, as one comparable string per user id. */
async function keySets(dev) {
  const sets = new Map();
  for (const m of await dev.members(conversation)) {
    const key = btoa(String.fromCharCode(...m.key));
    sets.set(m.user, [...(sets.get(m.user) ?? []), key].sort());
  }
  return new Map([...sets].map(([user, keys]) => [user, keys.join(',')]));
}

/**
 * Shows the safety number shared with each other member, from this browser's group state, and says
 * whose devices changed since this person last looked at the numbers (someone's new device, or keys
 * swapped in by someone in between); the viewer's own new devices count too.
 */
async function showSafetyNumbers(dev) {
  if (!(await dev.state(conversation))) return;
  for (const { user, number } of await dev.safetyNumbers(conversation)) {
    const row = document.querySelector(`#safety-numbers li[data-user="${user}"] .number`);
    if (row) row.textContent = number;
  }
  const changed = [];
  for (const [user, keys] of await keySets(dev)) {
    const known = await store.get(`keys:${conversation}:${user}`);
    if (known === undefined) await store.put(`keys:${conversation}:${user}`, keys);
    else if (known !== keys) changed.push(user === Number(me) ? 'your own devices' : nameOf(user));
  }
  const notice = document.getElementById('key-change');
  // Folded, so that opening it again is looking at the new numbers.
  if (changed.length) document.getElementById('safety-numbers').open = false;
  notice.hidden = changed.length === 0;
  notice.textContent = changed.length
    ? `Safety numbers changed (${changed.join(', ')}: a new device, or someone in between): open the lock above to compare them again.`
    : '';
}

const nameOf = (user) => {
  const row = document.querySelector(`#safety-numbers li[data-user="${user}"] strong`);
  return row ? row.textContent : `user ${user}`;
};

/** Opening the lock's menu is looking at the numbers: the key sets shown now count as compared. */
function acknowledgeSafetyNumbers(dev) {
  const details = document.getElementById('safety-numbers');
  details.addEventListener('toggle', async () => {
    if (!details.open || !(await dev.state(conversation))) return;
    for (const [user, keys] of await keySets(dev)) await store.put(`keys:${conversation}:${user}`, keys);
    document.getElementById('key-change').hidden = true;
  });
}

async function openConversation() {
  const dev = await device();
  acknowledgeSafetyNumbers(dev);
  const ready = await prepare(dev);
  await showSafetyNumbers(dev);
  const fields = document.getElementById('secret-fields');
  if (!ready) {
    say('This device is not in the conversation yet: a member’s device adds it when it is next online.');
  } else {
    fields.disabled = false;
  }
  await fill(dev);
  // Bubbles arrive over the socket (htmx swaps them in): fill each as it comes. A group's heading
  // arrives again when the group changed, a member's new device or ended session included: this
  // device then brings the group's devices up to date (any member device online does).
  new MutationObserver((records) => {
    const regrouped = records.some((r) => [...r.addedNodes].some((n) => n.id === 'chat-heading'));
    if (regrouped) regroup(dev).catch(report);
    fill(dev).catch(report);
  }).observe(document.querySelector('main') || document.body, { childList: true, subtree: true });
  document.getElementById('secret-file').addEventListener('change', showChosen);
  // (Enter submits it too: app.js.)
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    send(dev).catch(report);
  });
}

/**
 * Reads what changed in the group and adds and removes devices as the server lists them, if this
 * device is in the group; then the safety numbers follow.
 */
async function regroup(dev) {
  await locked(async () => {
    if (!(await dev.state(conversation))) return;
    await dev.catchUp(conversation);
    await dev.maintain(conversation);
  });
  await showSafetyNumbers(dev);
}

let clientId = crypto.randomUUID();
async function send(dev) {
  const box = composer.querySelector('textarea');
  const picker = document.getElementById('secret-file');
  const chosen = picker.files[0];
  const text = box.value;
  if (!text.trim() && !chosen) return;
  box.value = '';
  say('');
  try {
    const envelope = { text };
    let blob;
    if (chosen) ({ blob, sealed: envelope.file } = await seal(chosen));
    await locked(async () => {
      await dev.maintain(conversation);
      await dev.send(conversation, JSON.stringify(envelope), clientId, blob);
    });
    clientId = crypto.randomUUID();
    picker.value = '';
    showChosen();
    await showSafetyNumbers(dev);
  } catch (e) {
    // Nothing was stored: the text goes back (and the file stays chosen), to send again.
    box.value = text;
    say('Your message was not sent. Try again.');
    throw e;
  }
}

/** Says which file goes with the next message. */
function showChosen() {
  const chosen = document.getElementById('secret-file').files[0];
  const line = document.getElementById('secret-file-chosen');
  line.hidden = !chosen;
  // A file may go without a caption.
  composer.querySelector('textarea').required = !chosen;
  line.textContent = chosen ? `📎 ${chosen.name} goes with the next message, encrypted` : '';
}

// "New group" with "Secret" ticked: the server makes the conversation, this device makes its MLS
// group and adds the members' devices, then the conversation opens.
for (const form of document.querySelectorAll('form[data-secret-option]')) {
  form.addEventListener('submit', (event) => {
    if (!form.elements.secret || !form.elements.secret.checked) return;
    event.preventDefault();
    createSecret(form).catch((e) => {
      const line = form.querySelector('.form-error');
      if (line) line.textContent = 'The secret conversation could not be created. Try again.';
      report(e);
    });
  });
}

async function createSecret(form) {
  const dev = await device();
  const fields = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (name !== 'secret') fields.append(name, value);
  const response = await fetch('/secret/groups', { method: 'POST', body: fields, headers, credentials: 'same-origin' });
  if (!response.ok) throw new Error(`creating the conversation: ${response.status}`);
  const { conversation: created } = await response.json();
  await locked(async () => {
    await dev.createGroup(created);
    await dev.maintain(created);
  });
  window.location.assign(`/conversations/${created}`);
}

// Failures are told on the page and in the log: never thrown into the void.
function report(e) {
  console.warn('secret conversation:', e);
}

if (me && 'indexedDB' in window && navigator.locks) {
  (conversation ? openConversation() : keepRegistered()).catch((e) => {
    say('Secret conversations cannot work in this browser right now.');
    report(e);
  });
}
