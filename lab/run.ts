/**
 * Lab entry point:
 *
 *   npm run lab -- eviction [--quick] [--out DIR]
 *   npm run lab -- stampede [--quick] [--out DIR]
 *
 * `--quick` runs smaller experiments (well under five minutes on the 2-core machine); `--out`
 * defaults to `docs/experiments/`. Every lab is seeded and reproducible.
 */
import { resolve } from 'node:path';

export interface LabOptions {
  quick: boolean;
  out: string;
}

const USAGE = 'usage: npm run lab -- <eviction|stampede> [--quick] [--out DIR]';

function parseArgs(argv: string[]): { lab: string; options: LabOptions } {
  let lab: string | undefined;
  let quick = false;
  let out = 'docs/experiments';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--out') {
      const dir = argv[++i];
      if (!dir) throw new Error(`--out needs a directory\n${USAGE}`);
      out = dir;
    } else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (!arg.startsWith('-') && lab === undefined) lab = arg;
    else throw new Error(`unexpected argument ${arg}\n${USAGE}`);
  }
  if (!lab) throw new Error(USAGE);
  return { lab, options: { quick, out: resolve(out) } };
}

async function main(): Promise<void> {
  const { lab, options } = parseArgs(process.argv.slice(2));
  const started = performance.now();
  switch (lab) {
    case 'eviction': {
      const { runEvictionLab } = await import('./eviction.js');
      await runEvictionLab(options);
      break;
    }
    case 'stampede': {
      const { runStampedeLab } = await import('./stampede.js');
      await runStampedeLab(options);
      break;
    }
    default:
      throw new Error(`unknown lab "${lab}"\n${USAGE}`);
  }
  console.log(`[lab] ${lab} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
