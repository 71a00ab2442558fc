// The osbuild command line: parse, call the row's handler, show errors, set the exit code.
// start.ts runs it (bundled); importing it runs it.
// Nothing here knows how anything is built: each command is a row of COMMANDS (commands.ts).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../build/defaults.js';
import { defaultCacheDir } from '../defaults.js';
import { exitCodeOf, OsbuildError } from '../errors.js';
import type { Store } from '../oci/store.js';
import { COMMANDS, commandHelp, findCommand, mainHelp, parseArgsOptions, UsageError, type Context, type Values, type Options } from './commands.js';
import { guardTerminal, type Mode } from './progress.js';

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Set once the command line is parsed: how errors are shown. */
let mode: Mode = 'human';

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(mainHelp(version));
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`osbuild ${version}\n`);
    return 0;
  }
  // `osbuild FILE.yml -f iso` is how users type `osbuild build FILE.yml -f iso`.
  const words = /\.ya?ml$/.test(argv[0]) ? ['build', ...argv] : argv;
  const found = findCommand(words);
  if (!found) throw new UsageError(`unknown command ${JSON.stringify(argv.join(' '))}; run \`osbuild --help\``);
  const { command, rest } = found;
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(commandHelp(command, command.moreHelp ? await command.moreHelp() : ''));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: parseArgsOptions(command), allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nUsage: ${command.usage}`);
  }
  if (parsed.positionals.length < command.minArgs) throw new UsageError(`missing argument\nUsage: ${command.usage}`);
  // parseArgs gave each option the type its row declares: the row's handler reads them typed
  const values: Values<Options> = parsed.values;
  mode = values.json === true ? 'json' : values.quiet === true ? 'quiet' : values.verbose === true ? 'verbose' : 'human';
  const cacheDir = typeof values.cache === 'string' ? values.cache : defaultCacheDir();
  let store: Promise<Store> | undefined;
  const ctx: Context = {
    mode,
    cacheDir,
    store: () => (store ??= import('../oci/store.js').then((m) => m.Store.open(join(cacheDir, 'store')))),
  };
  return command.run(parsed.positionals, values, ctx);
}

/** An error as the CLI shows it: `osbuild: error: MESSAGE` (a usage error: `osbuild: MESSAGE`), or one JSON line with --json. */
function showError(err: unknown): void {
  const e = err as Error & { code?: string };
  if (mode === 'json') {
    const fields = err instanceof OsbuildError ? err.toJSON() : { name: e.name, code: e.code, exitCode: exitCodeOf(err), message: e.message ?? String(err) };
    process.stderr.write(JSON.stringify({ type: 'error', ...fields }) + '\n');
    return;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`osbuild: ${err.message}\n`);
    return;
  }
  // the message already says where and what to do; `where` and `hint` are shown only when it does not
  process.stderr.write(`osbuild: error: ${e.message ?? String(err)}\n`);
  if (err instanceof OsbuildError) {
    if (err.where !== undefined && !err.message.includes(err.where)) process.stderr.write(`  where: ${err.where}\n`);
    if (err.hint !== undefined && !err.message.includes(err.hint)) process.stderr.write(`  hint: ${err.hint}\n`);
  }
  if (process.env.OSBUILD_DEBUG) process.stderr.write(`${e.stack}\n`);
}

// Every string the CLI writes (errors, warnings, paths, a guest's console lines under `osbuild
// test`) passes the terminal guard: no message can carry an escape sequence to the terminal.
guardTerminal(process.stdout);
guardTerminal(process.stderr);

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    showError(err);
    process.exitCode = exitCodeOf(err);
  },
);

export { COMMANDS };
