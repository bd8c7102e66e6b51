/**
 * "Never loses a run": a training process killed at an arbitrary moment (SIGKILL, no chance to clean up),
 * even in the middle of writing a checkpoint, leaves a run that loads and resumes.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadForResume } from '../../src/io/checkpoint';
import { useTestBackend } from '../helpers/backend';
import { VAE_BIN, runVae } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

/** Starts training, waits for its first checkpoint, then SIGKILLs it `afterMs` later. */
function trainAndKill(runDir: string, afterMs: number): Promise<void> {
  // Two steps an epoch, so most of the time goes into evaluating and writing checkpoints.
  const child = spawn(process.execPath, [VAE_BIN, '-q', 'train', '--limit-train', '256', '--limit-test', '100',
    '--epochs', '1000', '--hidden', '64', '--out', runDir], { stdio: 'ignore' });
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (fs.existsSync(path.join(runDir, 'checkpoint.json'))) {
        clearInterval(poll);
        setTimeout(() => child.kill('SIGKILL'), afterMs);
      }
    }, 20);
    child.on('exit', () => { clearInterval(poll); resolve(); });
  });
}

test('SIGKILL at any moment leaves a checkpoint that loads and resumes', async () => {
  const work = tmpDir('vae-crash-');
  const runDir = path.join(work, 'run');
  let epochsBefore = 0;
  // Kills land at different moments of the epoch-save cycle (an epoch and its save take ~100 ms here).
  for (const ms of [0, 37, 81, 130, 190, 263]) {
    await trainAndKill(runDir, ms);
    const loaded = await loadForResume(runDir);
    expect(loaded.state.epochsDone).toBeGreaterThanOrEqual(epochsBefore);
    epochsBefore = loaded.state.epochsDone;
    loaded.vae.dispose();
    // The next run resumes from what the killed one left.
    const r = runVae(['-q', 'train', '--resume', runDir, '--epochs', String(epochsBefore + 1)], work);
    // Nothing but, where the killed run held the folder, the warning that its lock is taken over.
    expect(r.stderr).toMatch(/^(warning: \S+ was locked by process \d+ \(started [^)]+\), which is gone: taking it over\n)?$/);
    expect(r.status).toBe(0);
    epochsBefore += 1;
  }
  // Leftovers of killed saves are cleaned up by the next save.
  expect(fs.readdirSync(runDir).filter((e) => e.includes('.tmp-') || e.includes('.old-'))).toEqual([]);
});
