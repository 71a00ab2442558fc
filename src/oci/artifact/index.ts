// Outputs as OCI artifacts: push a build's files to a registry, pull them back byte for byte.
export { pushArtifact, hashFile, type ArtifactInput, type PushArtifactOptions, type PushArtifactResult } from './push.js';
export { pullArtifact, type PullArtifactOptions, type PullArtifactResult, type PulledFile } from './pull.js';
export { artifactManifest, referrerManifest, referrersTag, readArtifactManifest, fileNameProblem, ANNOTATION, type ArtifactFile, type ArtifactInfo } from './manifest.js';
export { ARTIFACT_TYPE_PREFIX, OUTPUTS_ARTIFACT_TYPE, EMPTY_CONFIG, artifactTypeOf, fileMediaType, sbomMediaType } from './media-types.js';
export { ArtifactError, type ArtifactErrorCode } from './errors.js';
export type { ArtifactEvent } from './events.js';
