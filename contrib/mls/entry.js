// What Natter's browser module uses of ts-mls. The names come from ts-mls's
// own files rather than its index, so the bundle never reaches the optional
// pure-JavaScript ("noble") provider and its peer packages: the default
// provider does every operation of MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
// with the browser's WebCrypto.
export { defaultClientConfig } from "./node_modules/ts-mls/dist/src/clientConfig.js";
export { createApplicationMessage } from "./node_modules/ts-mls/dist/src/createMessage.js";
export { createCommit } from "./node_modules/ts-mls/dist/src/createCommit.js";
export {
  createGroup,
  decodeGroupState,
  encodeGroupState,
  joinGroup,
} from "./node_modules/ts-mls/dist/src/clientState.js";
export { decodeMlsMessage, encodeMlsMessage } from "./node_modules/ts-mls/dist/src/message.js";
export { defaultCapabilities } from "./node_modules/ts-mls/dist/src/defaultCapabilities.js";
export { defaultLifetime } from "./node_modules/ts-mls/dist/src/lifetime.js";
export { emptyPskIndex } from "./node_modules/ts-mls/dist/src/pskIndex.js";
export {
  generateKeyPackageWithKey,
  makeKeyPackageRef,
} from "./node_modules/ts-mls/dist/src/keyPackage.js";
export { getCiphersuiteFromName } from "./node_modules/ts-mls/dist/src/crypto/ciphersuite.js";
export { getCiphersuiteImpl } from "./node_modules/ts-mls/dist/src/crypto/getCiphersuiteImpl.js";
export { processMessage } from "./node_modules/ts-mls/dist/src/processMessages.js";
export { zeroOutUint8Array } from "./node_modules/ts-mls/dist/src/util/byteArray.js";
