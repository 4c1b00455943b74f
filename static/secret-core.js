// Secret conversations in the browser, apart from the page: this browser's MLS device (RFC 9420,
// through the vendored ts-mls), its KeyPackages, the groups it is in, and the messages it sends and
// reads. The caller gives it `server` (JSON calls to Natter's Delivery Service) and `store` (where
// state persists: IndexedDB in the page). What reaches the server is public keys and MLS
// ciphertext; the private keys and the plaintext stay here.
import * as mls from './mls.js';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

const text = new TextEncoder();
const bytesOf = (s) => text.encode(s);
export const toBase64 = (bytes) => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
export const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const groupId = (conversation) => bytesOf(`natter:${conversation}`);
// A device's credential names its user and its server-side id, so members map leaves to devices
// and people (what safety numbers are computed over).
const identityOf = (user, device) => bytesOf(`user:${user}/device:${device}`);
const credentialOf = (leaf) => {
  const m = /^user:(\d+)\/device:(\d+)$/.exec(new TextDecoder().decode(leaf.credential.identity));
  return m ? { user: Number(m[1]), device: Number(m[2]) } : { user: null, device: null };
};
const compareBytes = (a, b) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};

/**
 * The safety number of two people: a SHA-512 digest over the signature keys of each one's devices
 * (each person's sorted, the person with the lower id first), as twelve groups of five digits. Both
 * compute the same number from what their own group state holds, so comparing it in person shows
 * that nobody's keys were swapped in between.
 */
export async function safetyNumber(a, b) {
  const [first, second] = a.user < b.user ? [a, b] : [b, a];
  const parts = [bytesOf(`natter safety number v1:${first.user}:${second.user}`)];
  for (const person of [first, second]) parts.push(...[...person.keys].sort(compareBytes));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new DataView(await crypto.subtle.digest('SHA-512', all));
  const groups = [];
  for (let i = 0; i < 12; i++) groups.push(String(digest.getUint32(i * 4) % 100000).padStart(5, '0'));
  return groups.join(' ');
}

/** Thrown when the server refuses a commit or message made for an epoch that is over. */
export class StaleEpoch extends Error {}

/**
 * Calls Natter's Delivery Service: form fields in (arrays as repeated fields), JSON out; a 409 is
 * `StaleEpoch`. `headers` carries the CSRF token (and, outside a browser, the session cookie).
 */
export function httpServer({ base = '', headers = {}, fetchWith = globalThis.fetch.bind(globalThis) } = {}) {
  const call = async (method, path, fields, file) => {
    const init = { method, headers: { ...headers }, credentials: 'same-origin' };
    if (fields) {
      // The CSRF token goes as the form's field too: Natter's forms declare it. With a file, the
      // form is multipart.
      const body = file ? new FormData() : new URLSearchParams();
      if (headers['X-CSRF-Token']) body.append('csrf', headers['X-CSRF-Token']);
      for (const [name, value] of Object.entries(fields)) for (const v of [].concat(value)) body.append(name, v);
      if (file) body.append('file', file, 'encrypted');
      init.body = body;
    }
    const response = await fetchWith(base + path, init);
    if (response.status === 409) throw new StaleEpoch(await response.text());
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    return response.status === 204 ? null : response.json();
  };
  return {
    get: (path) => call('GET', path),
    post: (path, fields) => call('POST', path, fields),
    upload: (path, fields, file) => call('POST', path, fields, file),
  };
}

export class Device {
  constructor(impl, server, store, identity) {
    this.impl = impl;
    this.server = server;
    this.store = store;
    this.identity = identity;
    // How often the server refused something as stale and it was made again (for tests and logs).
    this.staleRetries = 0;
  }

  /** Opens this browser's device: its signature key from `store` or a new one, registered. */
  static async open(server, store) {
    const impl = await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(SUITE));
    let identity = await store.get('identity');
    if (!identity) {
      const keys = await impl.signature.keygen();
      identity = { signKey: keys.signKey, publicKey: keys.publicKey };
    }
    const registered = await server.post('/secret/devices', { signature_key: toBase64(identity.publicKey) });
    if (identity.device !== registered.device || identity.user !== registered.user) {
      // A new device (new key, or a new session): KeyPackages made for another one are void.
      identity = { ...identity, device: registered.device, user: registered.user };
      await store.put('identity', identity);
      await store.put('keyPackages', []);
    }
    const device = new Device(impl, server, store, identity);
    // The server says how many more KeyPackages it wants (it keeps a supply for adding this device).
    if (registered.wanted > 0) await device.topUp(registered.wanted);
    return device;
  }

  get id() {
    return this.identity.device;
  }

  /** Makes and uploads `count` KeyPackages, keeping their private parts. */
  async topUp(count) {
    const credential = { credentialType: 'basic', identity: identityOf(this.identity.user, this.id) };
    const keys = { signKey: this.identity.signKey, publicKey: this.identity.publicKey };
    const kept = (await this.store.get('keyPackages')) ?? [];
    const uploads = [];
    for (let i = 0; i < count; i++) {
      const kp = await mls.generateKeyPackageWithKey(credential, mls.defaultCapabilities(), mls.defaultLifetime, [], keys, this.impl);
      const encoded = mls.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage });
      const ref = await mls.makeKeyPackageRef(kp.publicPackage, this.impl.hash);
      kept.push({ ref: toBase64(ref), encoded, private: kp.privatePackage });
      uploads.push(toBase64(encoded));
    }
    await this.store.put('keyPackages', kept);
    await this.server.post('/secret/key-packages', { key_package: uploads });
  }

  async state(conversation) {
    const saved = await this.store.get(`group:${conversation}`);
    if (!saved) return null;
    const decoded = mls.decodeGroupState(saved.state, 0);
    if (!decoded) throw new Error('the saved group state is unreadable');
    // The encoding leaves out the configuration (it holds functions): the defaults it was made with.
    return { state: { ...decoded[0], clientConfig: mls.defaultClientConfig }, seq: saved.seq };
  }

  async save(conversation, state, seq) {
    await this.store.put(`group:${conversation}`, { state: mls.encodeGroupState(state), seq });
  }

  /** Creates the MLS group of a secret conversation the server just made, with this device alone. */
  async createGroup(conversation) {
    const kp = await mls.generateKeyPackageWithKey(
      { credentialType: 'basic', identity: identityOf(this.identity.user, this.id) },
      mls.defaultCapabilities(), mls.defaultLifetime, [],
      { signKey: this.identity.signKey, publicKey: this.identity.publicKey }, this.impl);
    const state = await mls.createGroup(groupId(conversation), kp.publicPackage, kp.privatePackage, [], this.impl);
    await this.save(conversation, state, 0);
  }

  /** Which devices the group has (server ids, their users), with their leaf indexes and keys. */
  async members(conversation) {
    const { state } = await this.state(conversation);
    const out = [];
    state.ratchetTree.forEach((node, i) => {
      if (node && node.nodeType === 'leaf') {
        out.push({ ...credentialOf(node.leaf), leaf: i / 2, key: node.leaf.signaturePublicKey });
      }
    });
    return out;
  }

  /**
   * The safety number of this device's user with each other person in the group, from the keys the
   * group state holds: `[{user, number}]`, by user id.
   */
  async safetyNumbers(conversation) {
    const keys = new Map();
    for (const m of await this.members(conversation)) {
      if (!keys.has(m.user)) keys.set(m.user, []);
      keys.get(m.user).push(m.key);
    }
    const mine = { user: this.identity.user, keys: keys.get(this.identity.user) ?? [] };
    const out = [];
    for (const [user, theirs] of [...keys].sort((x, y) => x[0] - y[0])) {
      if (user !== this.identity.user) out.push({ user, number: await safetyNumber(mine, { user, keys: theirs }) });
    }
    return out;
  }

  /**
   * One commit that adds the devices whose KeyPackages are `claimed` (from the server's claim) and
   * removes `removeDevices`; after a stale refusal it catches up and tries once more with the same
   * KeyPackages, leaving out devices that the commit which won had added or removed meanwhile.
   * With `onlyIfNeeded`, nothing is committed (null) when nothing is left to add or remove.
   */
  async commit(conversation, removeDevices = [], claimed = [], { onlyIfNeeded = false } = {}) {
    for (let attempt = 0; ; attempt++) {
      await this.catchUp(conversation);
      const members = await this.members(conversation);
      const adding = claimed.filter((c) => !members.some((m) => m.device === c.device));
      const removing = removeDevices.filter((d) => members.some((m) => m.device === d));
      if (onlyIfNeeded && adding.length === 0 && removing.length === 0) return null;
      const proposals = [];
      for (const c of adding) {
        const decoded = mls.decodeMlsMessage(fromBase64(c.key_package), 0);
        if (decoded) proposals.push({ proposalType: 'add', add: { keyPackage: decoded[0].keyPackage } });
      }
      for (const device of removing) {
        proposals.push({ proposalType: 'remove', remove: { removed: members.find((m) => m.device === device).leaf } });
      }
      const { state, seq } = await this.state(conversation);
      const result = await mls.createCommit({ state, cipherSuite: this.impl }, { extraProposals: proposals, ratchetTreeExtension: true });
      const welcome = result.welcome
        ? toBase64(mls.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome }))
        : null;
      try {
        const posted = await this.server.post(`/conversations/${conversation}/secret/messages`, {
          message: toBase64(mls.encodeMlsMessage(result.commit)),
          added: adding.map((c) => String(c.device)),
          welcome: adding.map(() => welcome),
          removed: removing.map(String),
        });
        await this.save(conversation, result.newState, posted.seq);
        return posted;
      } catch (e) {
        if (!(e instanceof StaleEpoch) || attempt > 0) throw e;
        this.staleRetries++;
        await this.save(conversation, state, seq);
      }
    }
  }

  /**
   * Keeps the group's devices what the server says they should be: adds the members' devices not
   * in it yet (a new member, a member's new browser) and removes those whose sessions ended or
   * whose users left. Commits only when there is something to do; returns the commit or null.
   */
  async maintain(conversation) {
    const removing = await this.server.get(`/conversations/${conversation}/secret/to-remove`);
    const claimed = await this.server.post(`/conversations/${conversation}/secret/claim`, {});
    if (removing.length === 0 && claimed.length === 0) return null;
    return this.commit(conversation, removing, claimed, { onlyIfNeeded: true });
  }

  /** Joins the groups whose Welcomes wait for this device; returns their conversation ids. */
  async joinWaiting() {
    const joined = [];
    const kept = (await this.store.get('keyPackages')) ?? [];
    for (const w of await this.server.get('/secret/welcomes')) {
      const decoded = mls.decodeMlsMessage(fromBase64(w.welcome), 0);
      const welcome = decoded && decoded[0].welcome;
      const mine = welcome && kept.find((k) => welcome.secrets.some((s) => toBase64(s.newMember) === k.ref));
      if (mine) {
        const kp = mls.decodeMlsMessage(mine.encoded, 0)[0].keyPackage;
        const state = await mls.joinGroup(welcome, kp, mine.private, mls.emptyPskIndex, this.impl);
        // What came before the commit that added this device is not for it.
        await this.save(w.conversation, state, w.seq);
        await this.store.put(`joined:${w.conversation}`, w.seq);
        joined.push(w.conversation);
        // A KeyPackage is used once.
        kept.splice(kept.indexOf(mine), 1);
        await this.store.put('keyPackages', kept);
      }
      await this.server.post(`/secret/welcomes/${w.id}/taken`, {});
    }
    return joined;
  }

  /**
   * Applies what the server has after this device's place in the group's log, in order; returns
   * the messages read: `{seq, sender, device, text}`, or `{seq, sender, device, error}` for one that
   * cannot be decrypted (this device's own sends are read from what it kept when sending). Each is
   * also kept as `text:<conversation>:<seq>` (see `read`): MLS lets a message be decrypted once.
   */
  async catchUp(conversation) {
    const read = [];
    for (;;) {
      let { state, seq } = await this.state(conversation);
      const records = await this.server.get(`/conversations/${conversation}/secret/messages?after=${seq}`);
      if (records.length === 0) return read;
      const batchStart = read.length;
      for (const r of records) {
        seq = r.seq;
        if (r.device === this.id) {
          const sent = await this.read(conversation, r.seq);
          if (sent !== undefined) read.push({ seq: r.seq, sender: r.sender, device: r.device, ...sent });
          continue; // its own commits were applied when made
        }
        try {
          const decoded = mls.decodeMlsMessage(fromBase64(r.message), 0);
          if (!decoded) throw new Error('not an MLS message');
          const result = await mls.processMessage(decoded[0], state, mls.emptyPskIndex, () => 'accept', this.impl);
          state = result.newState;
          if (result.kind === 'applicationMessage') {
            read.push({ seq: r.seq, sender: r.sender, device: r.device, text: new TextDecoder().decode(result.message) });
          }
        } catch (e) {
          read.push({ seq: r.seq, sender: r.sender, device: r.device, error: String(e && e.message || e) });
        }
      }
      // What was read is kept before the state moves past it: a crash in between reads it again.
      for (const r of read.slice(batchStart)) await this.keep(conversation, r.seq, r);
      await this.save(conversation, state, seq);
    }
  }

  /** What this device read (or wrote) as change `seq`: `{text}` or `{error}`, or undefined. */
  async read(conversation, seq) {
    return this.store.get(`text:${conversation}:${seq}`);
  }

  async keep(conversation, seq, { text, error }) {
    await this.store.put(`text:${conversation}:${seq}`, text !== undefined ? { text } : { error });
  }

  /**
   * Encrypts `body` for the group and hands it in (under `clientId`, so a resend is stored once),
   * with `file` (a Blob the caller encrypted, whose key `body` carries) if given; catches up and
   * retries once if the epoch moved.
   */
  async send(conversation, body, clientId, file) {
    for (let attempt = 0; ; attempt++) {
      await this.catchUp(conversation);
      const { state } = await this.state(conversation);
      const result = await mls.createApplicationMessage(state, bytesOf(body), this.impl);
      const message = mls.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: result.privateMessage });
      try {
        const fields = { message: toBase64(message) };
        if (clientId) fields.client_id = clientId;
        const posted = file
          ? await this.server.upload(`/conversations/${conversation}/secret/files`, fields, file)
          : await this.server.post(`/conversations/${conversation}/secret/messages`, fields);
        // A sender cannot decrypt its own message: it keeps what it wrote. Its place in the log stays
        // where the catch-up left it: messages others sent meanwhile are read next time.
        await this.keep(conversation, posted.seq, { text: body });
        await this.save(conversation, result.newState, (await this.state(conversation)).seq);
        return posted;
      } catch (e) {
        if (!(e instanceof StaleEpoch) || attempt > 0) throw e;
        this.staleRetries++;
      }
    }
  }
}
