// The registry as a source and a target of images: pull into the store, push from it.
export { pull, type PullOptions, type PullResult } from './pull.js';
export { push, type PushOptions, type PushResult } from './push.js';
export { Registries, type RetryEvent } from './session.js';
export { findCredential, dockerConfigDir } from './credentials.js';
export { parseChallenge, type Challenge } from './challenge.js';
export { MANIFEST_ACCEPT, MANIFEST_TYPES } from './manifests.js';
export type { RegistryOptions, Credential } from './options.js';
export type { PullEvent, PushEvent } from './events.js';
