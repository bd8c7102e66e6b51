import { ProgressReporter, formatEpochLine } from '../../src/train/progress';
import { EpochResult, StepInfo } from '../../src/train/train';

/** The plain (non-terminal) progress lines a reporter writes for these steps. */
function plainLines(steps: StepInfo[]): string[] {
  const written: string[] = [];
  const stream = { isTTY: false, write: (s: string) => { written.push(s); return true; } } as unknown as NodeJS.WriteStream;
  const reporter = new ProgressReporter(false, stream, () => undefined);
  reporter.onEpochStart(1, 10, 0);
  for (const s of steps) {
    (reporter as unknown as { lastPlain: number }).lastPlain = 0; // as if 10 s had passed
    reporter.onStep(s);
  }
  return written.slice(1).map((l) => l.trim());
}

const step = (fields: Partial<StepInfo>): StepInfo => ({ epoch: 1, step: 3, steps: 10, beta: 1, loss: 100, rec: 90, kl: 10, samplesPerSec: 500, ...fields });

test('a step line names the loss terms of the model: KL for a VAE, none or the sparsity penalty for an autoencoder', () => {
  const [vae, ae, sae] = plainLines([step({}), step({ autoencoder: true, rec: 100, kl: 0 }), step({ autoencoder: true, kl: 10 })]);
  expect(vae).toMatch(/loss 100\.00 \(rec 90\.00, KL 10\.00\)/);
  expect(ae).toMatch(/loss 100\.00 \(rec 100\.00\)  /);
  expect(sae).toMatch(/loss 100\.00 \(rec 90\.00, sparsity 10\.000\)/);
});

test("an autoencoder's epoch line reports reconstruction, not an ELBO", () => {
  const terms = { loss: 88, negElbo: 88, rec: 88, kl: 0 };
  const result: EpochResult = { epoch: 2, epochs: 5, beta: 1, train: terms, test: { ...terms, rec: 87 }, seconds: 3, samplesPerSec: 2000,
    isBest: true, checkpointDir: '', samplesPng: '', autoencoder: true };
  expect(formatEpochLine(result)).toMatch(/^epoch 2\/5  train rec 88\.00  test rec 87\.00  3\.0 s, 2000 samples\/s  \[best\]$/);
  expect(formatEpochLine({ ...result, autoencoder: false })).toMatch(/train -ELBO 88\.00/);
});
