// Writes real MLS messages made by the vendored static/mls.js into
// tests/fixtures/mls/, so the server's framing parser is tested against what
// browsers send: `node contrib/mls/fixtures.mjs` (Node 20 or later).
import { writeFileSync } from "node:fs";
import * as mls from "../../static/mls.js";

const out = new URL("../../tests/fixtures/mls/", import.meta.url);
const impl = await mls.getCiphersuiteImpl(
  mls.getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"),
);
const device = async (id) =>
  mls.generateKeyPackageWithKey(
    { credentialType: "basic", identity: new TextEncoder().encode(id) },
    mls.defaultCapabilities(),
    mls.defaultLifetime,
    [],
    await impl.signature.keygen(),
    impl,
  );
const alice = await device("1:1");
const bob = await device("2:2");
let group = await mls.createGroup(
  new TextEncoder().encode("natter-7"),
  alice.publicPackage,
  alice.privatePackage,
  [],
  impl,
);
const added = await mls.createCommit(
  { state: group, cipherSuite: impl },
  { extraProposals: [{ proposalType: "add", add: { keyPackage: bob.publicPackage } }] },
);
group = added.newState;
const hello = await mls.createApplicationMessage(group, new TextEncoder().encode("hello"), impl);

const files = {
  "key_package.bin": { version: "mls10", wireformat: "mls_key_package", keyPackage: bob.publicPackage },
  "commit_epoch_0.bin": added.commit,
  "welcome.bin": { version: "mls10", wireformat: "mls_welcome", welcome: added.welcome },
  "application_epoch_1.bin": {
    version: "mls10",
    wireformat: "mls_private_message",
    privateMessage: hello.privateMessage,
  },
};
for (const [name, message] of Object.entries(files)) {
  writeFileSync(new URL(name, out), mls.encodeMlsMessage(message));
}
