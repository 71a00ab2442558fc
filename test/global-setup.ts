// One store per test run for the components under test (components/, kernel/), so that a test
// never boots an image built from an older checkout. Debian downloads stay cached between runs
// (OSBUILD_TEST_CACHE, default ~/.cache/osbuild-test); the store itself is thrown away.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

let dir: string | undefined;

export async function setup(project: TestProject) {
  dir = await mkdtemp(join(tmpdir(), 'osbuild-test-run-'));
  project.provide('runDir', dir);
}

export async function teardown() {
  if (dir && !process.env.OSBUILD_KEEP_TEST_RUN) await rm(dir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    runDir: string;
  }
}
