// The library API of osbuild. The CLI (src/cli) is a thin layer over what is exported here.
export * from './rootfs/entry.js';
export * from './oci/types.js';
