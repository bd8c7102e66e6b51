/**
 * The GPU objectives by name, as families declare them (Family.gpu: model/families/family.ts's GpuObjectiveSpec).
 * Adding one: a module beside these exporting its GpuObjective (objective.ts), and its line here.
 */
import type { GpuObjectiveSpec } from '../../../model/families/family';
import type { ModelConfig } from '../../../model/run-config';
import type { Vae } from '../../../model/vae';
import { autoencoderObjective } from './autoencoder';
import { cvaeObjective, cvaeUnsupported } from './cvae';
import { elboObjective } from './elbo';
import { m2Objective } from './m2';
import type { GpuObjective, StepOptions } from './objective';
import { vqObjective } from './vq';

type Spec<K extends GpuObjectiveSpec['objective']> = Extract<GpuObjectiveSpec, { objective: K }>;

const OBJECTIVES: { [K in GpuObjectiveSpec['objective']]: {
  make(spec: Spec<K>, o: StepOptions): GpuObjective;
  /** Why it cannot train this model though its family declares it, or null. */
  unsupported?(model: ModelConfig): string | null;
} } = {
  elbo: { make: (_, o) => elboObjective(o) },
  cvae: { make: cvaeObjective, unsupported: cvaeUnsupported },
  autoencoder: { make: autoencoderObjective },
  vq: { make: vqObjective },
  m2: { make: m2Objective },
};

/** The objective a family declares, for an engine of these options. */
export function gpuObjective(spec: GpuObjectiveSpec, o: StepOptions): GpuObjective {
  return (OBJECTIVES[spec.objective].make as (s: GpuObjectiveSpec, o: StepOptions) => GpuObjective)(spec, o);
}

/** Why the WebGPU engine cannot train this model with the objective its family declares (none: undefined), or null when it can. */
export function webGpuUnsupported(vae: Vae, spec: GpuObjectiveSpec | undefined): string | null {
  const m = vae.config;
  if (!spec) return `the ${m.family} model's objective`;
  // Networks besides the encoder and the decoder that the objective does not train.
  const networks = gpuObjective(spec, { rows: 1, samples: 1 }).networks;
  const others = Object.keys(vae.extras).filter((name) => !networks.includes(name));
  if (others.length > 0) return `the ${m.family} model's ${others.join(', ')}`;
  return OBJECTIVES[spec.objective].unsupported?.(m) ?? null;
}
