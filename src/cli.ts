/**
 * The `vae` program: global flags, the subcommands, and the one-line error policy: a VaeError (or a
 * commander usage error) is one line on stderr and a non-zero exit code; set VAE_DEBUG=1 for stack traces.
 */
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, BackendChoice, BackendInfo, initBackend } from './backend';
import { registerAnalogy } from './commands/analogy';
import { registerArithmetic } from './commands/arithmetic';
import { registerClassify } from './commands/classify';
import { registerComplete } from './commands/complete';
import { registerEncode } from './commands/encode';
import { registerEvaluate } from './commands/evaluate';
import { registerExplore } from './commands/explore';
import { registerInterpolate } from './commands/interpolate';
import { registerLatentMap } from './commands/latent-map';
import { registerManifold } from './commands/manifold';
import { registerReconstruct } from './commands/reconstruct';
import { registerSample } from './commands/sample';
import { registerTrain } from './commands/train';
import { VaeError, errorMessage } from './errors';
import { TOOL_VERSION } from './version';
import { shareMallocArenas } from './native';

export function buildProgram(): Command {
  let backend: BackendInfo | null = null;
  const program = new Command('vae')
    .description('Variational Autoencoders on image data sets, with TensorFlow.js')
    .version(TOOL_VERSION)
    .addOption(new Option('--backend <name>', 'backend: auto tries tensorflow-gpu, webgpu (a GPU through Vulkan, Metal or D3D12; training and evaluate --iw), tensorflow, wasm, cpu in turn')
      .choices(BACKEND_CHOICES as unknown as string[]).default('auto'))
    .option('-q, --quiet', 'no progress or information on stderr', false)
    .showHelpAfterError('(run with --help for usage)')
    .hook('preAction', async (_, action) => {
      // The GPU (webgpu) is for training and for evaluate --iw's decoder; other commands run on the CPU.
      const gpu = action.name() === 'train' || (action.name() === 'evaluate' && action.opts().iw !== undefined);
      backend = await initBackend(program.opts<{ backend: BackendChoice }>().backend, { gpu });
    });
  const context = {
    backend: (): BackendInfo => {
      if (!backend) throw new Error('backend not initialised');
      return backend;
    },
    quiet: (): boolean => program.opts<{ quiet: boolean }>().quiet,
  };
  registerTrain(program, context);
  registerSample(program, context);
  registerReconstruct(program, context);
  registerInterpolate(program, context);
  registerAnalogy(program, context);
  registerComplete(program, context);
  registerClassify(program, context);
  registerEvaluate(program, context);
  registerExplore(program, context);
  registerEncode(program, context);
  registerManifold(program, context);
  registerLatentMap(program, context);
  registerArithmetic(program, context);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  shareMallocArenas();
  // `vae ... | head`: a closed stdout ends the program quietly, as for any Unix tool.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (process.env.VAE_DEBUG) console.error(e);
    const message = errorMessage(e).split('\n')[0];
    process.stderr.write(e instanceof VaeError ? `vae: ${message}\n` : `vae: internal error: ${message} (VAE_DEBUG=1 shows the stack)\n`);
    process.exitCode = e instanceof VaeError ? e.exitCode : 70;
  }
}

if (require.main === module) {
  void main(process.argv);
}
