/**
 * `fliq/receive`: verifying Fliq's callbacks on the receiving side. No runtime dependencies
 * (WebCrypto only); the Hono middleware uses Hono's types, not its code.
 */
export { type FliqVerifyOptions, type FliqVerifyVariables, fliqVerify } from "./hono-middleware";
export { MemoryReplayStore, type ReplayStore } from "./replay-store";
export {
  type CallbackSecrets,
  type CallbackVerificationCode,
  CallbackVerificationError,
  DEFAULT_TOLERANCE_SECONDS,
  type VerifiedCallback,
  type VerifyOptions,
  verifyCallback,
  verifyCallbackParts,
} from "./verify-callback";
