// Drives the page's secret-conversation core (static/secret-core.js, with the vendored MLS library)
// against a real Natter server, for tests/secret.rs: four devices (alice; bob on two sessions;
// carol) create a secret group, exchange messages, commit at the same time, and carol leaves.
// Prints one JSON object of what each device read; the Rust test judges it.
// Usage: node protocol.mjs '{"base": "...", "people": [{"cookie": "...", "csrf": "...", "id": 1}, ...]}'
import { Device, httpServer } from '../../static/secret-core.js';

// Say what failed in a line: Node's own report quotes the minified library's one line whole.
const fail = (e) => {
  console.error(`FAILED: ${e && e.name}: ${e && e.message}`);
  process.exit(1);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const config = JSON.parse(process.argv[2]);
const memory = () => {
  const m = new Map();
  return { get: async (k) => m.get(k), put: async (k, v) => { m.set(k, v); } };
};
const serverOf = (p) => httpServer({ base: config.base, headers: { Cookie: p.cookie, 'X-CSRF-Token': p.csrf } });
const servers = config.people.map(serverOf);
const devices = [];
for (const server of servers) devices.push(await Device.open(server, memory()));
const [alice, bob, bobPhone, carol] = devices;
const [aliceId, bobId, , carolId] = config.people.map((p) => p.id);
const texts = (read) => read.map((r) => r.text ?? `ERROR: ${r.error}`);
const out = { devices: devices.map((d) => d.id) };

// alice creates the group; her device adds every device of bob and carol in one commit.
const { conversation } = await servers[0].post('/secret/groups', { title: 'Secret plans', members: [bobId, carolId] });
out.conversation = conversation;
await alice.createGroup(conversation);
await alice.maintain(conversation);
out.joined = [];
for (const d of [bob, bobPhone, carol]) out.joined.push(await d.joinWaiting());
out.members = (await alice.members(conversation)).map((m) => m.device).sort((a, b) => a - b);

// Safety numbers: each pair of people computes the same one from its own group state.
const numberFor = async (d, user) => (await d.safetyNumbers(conversation)).find((n) => n.user === user)?.number;
out.safety = {
  aliceForBob: await numberFor(alice, bobId),
  bobForAlice: await numberFor(bob, aliceId),
  bobPhoneForAlice: await numberFor(bobPhone, aliceId),
  aliceForCarol: await numberFor(alice, carolId),
};

await alice.send(conversation, 'hello from alice');
out.hello = {};
for (const [name, d] of [['bob', bob], ['bobPhone', bobPhone], ['carol', carol]]) out.hello[name] = texts(await d.catchUp(conversation));
await bobPhone.send(conversation, 'from bob, on his phone');
out.fromPhone = {};
for (const [name, d] of [['alice', alice], ['bob', bob], ['carol', carol], ['bobPhone', bobPhone]]) {
  out.fromPhone[name] = texts(await d.catchUp(conversation));
}

// bob and carol commit at once, both at the same epoch: the server takes one, refuses the other
// as stale, and that device catches up and commits again.
const settled = await Promise.allSettled([bob.commit(conversation), carol.commit(conversation)]);
out.concurrent = settled.map((s) => (s.status === 'fulfilled' ? s.value.epoch : `rejected: ${s.reason}`));
out.staleRetries = bob.staleRetries + carol.staleRetries;
await alice.send(conversation, 'after both commits');
out.afterCommits = {};
for (const [name, d] of [['bob', bob], ['bobPhone', bobPhone], ['carol', carol]]) {
  out.afterCommits[name] = texts(await d.catchUp(conversation));
}

// carol leaves: the server lists her device for removal, alice's device removes it, and what
// alice writes next is not carol's to read, even when handed the ciphertext.
const left = await fetch(`${config.base}/conversations/${conversation}/leave`, {
  method: 'POST',
  headers: { Cookie: config.people[3].cookie, 'X-CSRF-Token': config.people[3].csrf },
  body: new URLSearchParams({ csrf: config.people[3].csrf }),
  redirect: 'manual',
});
out.leaveStatus = left.status;
const toRemove = await servers[0].get(`/conversations/${conversation}/secret/to-remove`);
out.toRemove = toRemove;
await alice.commit(conversation, toRemove);
await alice.send(conversation, 'carol cannot read this');
out.afterLeaving = { bob: texts(await bob.catchUp(conversation)) };
try {
  await carol.catchUp(conversation);
  out.carolFetch = 'allowed';
} catch (e) {
  out.carolFetch = String(e.message);
}
const handed = await servers[1].get(`/conversations/${conversation}/secret/messages?after=0`);
const { seq: carolSeq } = await carol.state(conversation);
let given = handed.filter((r) => r.seq > carolSeq);
carol.server = { get: async () => { const g = given; given = []; return g; }, post: async () => null };
out.carolHanded = texts(await carol.catchUp(conversation));
out.aliceUserId = aliceId;
console.log(JSON.stringify(out));
