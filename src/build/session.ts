// One build's execution state, apart from its plan: the content store, the output directory, where
// stream warnings go, the per-build caches (the index of the component folders), the temporary
// names, and the scratch files the outputs share (the whole-system initrd, the squashfs root and
// its small initrd), written once beside the outputs and removed after the last output that
// reads them. The plan says which outputs share which files; the session makes and removes them.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Store } from '../oci/store.js';
import { ownerToken, partialSuffix } from '../oci/owner.js';
import { indexComponents, SPEC_MEMO_KIND, type ComponentIndex } from '../pkg/find.js';
import { assembleRoot } from '../rootfs/assemble.js';
import type { RootType } from '../plan/layout.js';
import type { BuildPlan } from '../plan/plan.js';
import type { SignerKey } from '../formats/efi/signer.js';
import { InitrdScratch, SquashfsScratch } from './media/scratch.js';
import { directBootKernel, initrd, rootInitrd, type StreamWarnings } from './streams.js';
import { SegmentCache } from './segment-cache.js';
import type { RootPlan } from '../rootfs/plan.js';

/** The shared files of one layout: its initrd, and for the squashfs layout the root. */
export interface SharedScratch {
  initrd: InitrdScratch;
  squashfs?: SquashfsScratch;
}

export interface BuildSessionOptions {
  store: Store;
  /** The output directory: outputs, their temporary names and the scratch files live there. */
  outDir: string;
  /** Folders whose subfolders are components, for images the store lacks. */
  componentDirs?: string[];
  /** Where the checks on the assembled stream report what they dropped (rootfs/guard.ts). */
  onWarning?: StreamWarnings;
  /** Reuse and keep compressed initramfs pieces under the store's segments/ (default true). */
  segmentCache?: boolean;
  /** Signs the EFI binaries the outputs hold (Secure Boot); none: unsigned. */
  signer?: SignerKey;
}

export class BuildSession {
  readonly store: Store;
  readonly outDir: string;
  readonly onWarning: StreamWarnings;
  readonly signer?: SignerKey;
  private readonly componentDirs: string[];
  private index?: ComponentIndex;
  private readonly scratches = new Map<RootType, SharedScratch>();
  private plan?: BuildPlan;
  private readonly segments?: SegmentCache;
  private readonly segmentKeys = new Set<string>();

  constructor(opts: BuildSessionOptions) {
    this.store = opts.store;
    this.outDir = opts.outDir;
    this.onWarning = opts.onWarning;
    this.signer = opts.signer;
    this.componentDirs = opts.componentDirs ?? [];
    if (opts.segmentCache !== false) this.segments = new SegmentCache(opts.store.segmentsDir());
  }

  /** An initramfs of `root` for `plan`, through the session's segment cache. */
  initrd(plan: BuildPlan, root: RootPlan, opts: { microcode?: boolean } = {}): AsyncIterable<Uint8Array> {
    return (opts.microcode === false ? rootInitrd : initrd)(this.store, plan, root, {
      onWarning: this.onWarning,
      cache: this.segments,
      onKeys: (keys) => keys.forEach((k) => this.segmentKeys.add(k)),
    });
  }

  /** The kernel file of the direct-boot formats, through the session's segment cache. */
  kernel(plan: BuildPlan): AsyncIterable<Uint8Array> {
    return directBootKernel(this.store, plan, this.segments && { cache: this.segments, onKey: (k) => this.segmentKeys.add(k) });
  }

  /** The index of the component folders, one per build; it reads specs as asked. */
  components(): ComponentIndex {
    return (this.index ??= indexComponents(this.componentDirs, { memo: () => this.store.derived(SPEC_MEMO_KIND) }));
  }

  /** The suffix of one output's temporary files: its writer's owner token, so a later build can tell a dead writer's. */
  partialSuffix(): string {
    return partialSuffix();
  }

  /** The shared files of `layout` for `plan` (the one plan this session writes), made on first read. */
  shared(plan: BuildPlan, layout: RootType): SharedScratch {
    if (this.plan && this.plan !== plan) throw new Error('a build session writes one plan');
    this.plan = plan;
    let s = this.scratches.get(layout);
    if (s) return s;
    const { store } = this;
    const onWarning = this.onWarning;
    const session = this;
    const base = join(this.outDir, `.${plan.name}.scratch-${ownerToken()}-${randomBytes(6).toString('hex')}`);
    if (layout === 'squashfs') {
      const sq = plan.squashfs;
      if (!sq) throw new Error(`the plan of ${plan.name} has no squashfs layout`);
      const squashfs = new SquashfsScratch(`${base}-root.sqfs`, () => assembleRoot(store, plan.root, { onWarning }), {
        epoch: plan.root.epoch,
        compression: sq.compression,
        verity: sq.verity,
      });
      const small = async function* () {
        const root = await squashfs.get();
        yield* session.initrd(plan, sq.initramfs(root));
      };
      s = { initrd: new InitrdScratch(`${base}-initrd.img`, small), squashfs };
    } else {
      s = { initrd: new InitrdScratch(`${base}-initrd.img`, () => this.initrd(plan, plan.root)) };
    }
    this.scratches.set(layout, s);
    return s;
  }

  /** Removes the shared files of `layout` (after their last reader, or when a build fails). */
  async release(layout: RootType): Promise<void> {
    const s = this.scratches.get(layout);
    if (!s) return;
    this.scratches.delete(layout);
    await Promise.all([s.initrd.release(), s.squashfs?.release()]);
  }

  /** Removes every shared file left (a build that stopped part way). */
  async close(): Promise<void> {
    await Promise.all([...this.scratches.keys()].map((l) => this.release(l)));
    await this.segments?.trim(this.segmentKeys);
  }
}
