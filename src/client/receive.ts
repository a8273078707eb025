/**
 * `@fliq/client/receive`: verifying Fliq's callbacks on the receiving side, in any runtime with
 * WebCrypto and no dependencies. For a Hono app, `@fliq/client/hono` wraps this in a middleware.
 */
export { MemoryReplayStore, type ReplayStore } from "./replay-store.js";
export {
  type CallbackSecrets,
  type CallbackVerificationCode,
  CallbackVerificationError,
  DEFAULT_TOLERANCE_SECONDS,
  type VerifiedCallback,
  type VerifyOptions,
  verifyCallback,
  verifyCallbackParts,
} from "./verify-callback.js";
